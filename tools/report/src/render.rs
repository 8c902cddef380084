//! Reports side by side as Markdown or as one self-contained HTML page
//! (inline CSS and SVG, no script, no external asset).
//!
//! Contents: a table of the runs (target, model, total, cost per MAC, memory)
//! and a memory chart; then per model (reports with the same `.edge` hash), a
//! per-layer table with each report's cost, share of the inference and cost
//! per MAC, a chart of the shares (comparable across units), and per report a
//! chart of the cost per layer and of the cost per MAC in its own unit.
//! Markdown gets text bars instead of SVG (Markdown viewers drop inline SVG).

use crate::{Report, ReportError};
use std::fmt::Write;
use std::path::Path;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Html,
}

impl Format {
    /// From the output file's extension: `.md`/`.markdown` or `.html`/`.htm`.
    pub fn from_path(path: &Path) -> Result<Format, ReportError> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("md" | "markdown") => Ok(Format::Markdown),
            Some("html" | "htm") => Ok(Format::Html),
            _ => Err(ReportError::Usage(format!(
                "{}: the output must end in .md or .html",
                path.display()
            ))),
        }
    }
}

/// Width of a chart's plot area in SVG user units: a bar of value `v` is
/// `v / max * PLOT_WIDTH` wide, `max` being the chart's largest value.
pub const PLOT_WIDTH: f64 = 420.0;
const LABEL_WIDTH: f64 = 230.0;
const VALUE_WIDTH: f64 = 130.0;
const BAR_HEIGHT: f64 = 13.0;
const BAR_GAP: f64 = 2.0;
const GROUP_GAP: f64 = 7.0;
/// Characters of a full-length Markdown text bar.
pub const TEXT_BAR: usize = 24;
const COLORS: [&str; 6] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1",
];

/// A horizontal bar chart: groups of bars, one bar per series.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    pub series: Vec<String>,
    pub groups: Vec<Group>,
}

/// One row of a chart: a label and a value per series (`None`: no bar).
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub label: String,
    pub values: Vec<Option<f64>>,
    /// How each value is printed next to its bar.
    pub texts: Vec<String>,
}

impl Chart {
    fn max(&self) -> f64 {
        self.groups
            .iter()
            .flat_map(|g| g.values.iter().flatten())
            .fold(0.0f64, |a, &v| a.max(v))
    }

    /// Width of the bar of `v` in this chart.
    pub fn bar_width(&self, v: f64) -> f64 {
        let max = self.max();
        if max > 0.0 && v > 0.0 {
            v / max * PLOT_WIDTH
        } else {
            0.0
        }
    }

    /// The chart as an `<svg>` element. Every bar is a
    /// `<rect class="bar" ... width=W data-value=V>` with a `<title>` tooltip.
    pub fn svg(&self) -> String {
        let legend = if self.series.len() > 1 { 18.0 } else { 0.0 };
        let top = 24.0 + legend;
        let mut y = top;
        let mut body = String::new();
        for g in &self.groups {
            let n = g.values.len().max(1) as f64;
            let h = n * BAR_HEIGHT + (n - 1.0) * BAR_GAP;
            let _ = write!(
                body,
                r#"<text class="label" x="{:.1}" y="{:.1}" text-anchor="end" dominant-baseline="middle">{}</text>"#,
                LABEL_WIDTH - 6.0,
                y + h / 2.0,
                esc(&shorten(&g.label, 34))
            );
            for (s, v) in g.values.iter().enumerate() {
                let by = y + s as f64 * (BAR_HEIGHT + BAR_GAP);
                let text = g.texts.get(s).map(String::as_str).unwrap_or("");
                if let Some(v) = v {
                    let w = self.bar_width(*v);
                    let _ = write!(
                        body,
                        r#"<rect class="bar" x="{LABEL_WIDTH:.1}" y="{by:.1}" width="{w:.3}" height="{BAR_HEIGHT:.1}" fill="{}" data-series="{s}" data-value="{v}"><title>{}: {}</title></rect>"#,
                        COLORS[s % COLORS.len()],
                        esc(self.series.get(s).map(String::as_str).unwrap_or("")),
                        esc(text)
                    );
                    let _ = write!(
                        body,
                        r#"<text class="value" x="{:.1}" y="{:.1}" dominant-baseline="middle">{}</text>"#,
                        LABEL_WIDTH + w + 4.0,
                        by + BAR_HEIGHT / 2.0,
                        esc(text)
                    );
                }
            }
            y += h + GROUP_GAP;
        }
        let width = LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH;
        let mut head = format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{:.0}" viewBox="0 0 {width:.0} {:.0}" role="img" font-family="sans-serif" font-size="11"><text class="title" x="4" y="15" font-size="13" font-weight="bold">{}</text>"#,
            y + 4.0,
            y + 4.0,
            esc(&self.title)
        );
        if self.series.len() > 1 {
            let mut x = LABEL_WIDTH;
            for (s, name) in self.series.iter().enumerate() {
                let _ = write!(
                    head,
                    r#"<rect x="{x:.1}" y="24" width="10" height="10" fill="{}"/><text x="{:.1}" y="33">{}</text>"#,
                    COLORS[s % COLORS.len()],
                    x + 14.0,
                    esc(name)
                );
                x += 24.0 + 6.5 * name.chars().count() as f64;
            }
        }
        head + &body + "</svg>"
    }

    /// The chart as a Markdown table with text bars (`TEXT_BAR` characters
    /// for the largest value).
    pub fn markdown(&self) -> String {
        let mut out = format!("**{}**\n\n| | ", md(&self.title));
        if self.series.len() > 1 {
            out += &self
                .series
                .iter()
                .map(|s| md(s))
                .collect::<Vec<_>>()
                .join(" | ");
        }
        out += " |\n|---|";
        out += &"---|".repeat(self.series.len().max(1));
        out += "\n";
        let max = self.max();
        for g in &self.groups {
            let _ = write!(out, "| {} |", md(&g.label));
            for (s, v) in g.values.iter().enumerate() {
                let text = g.texts.get(s).map(String::as_str).unwrap_or("");
                match v {
                    Some(v) => {
                        let _ = write!(out, " `{}` {} |", text_bar(*v, max), md(text));
                    }
                    None => out += " |",
                }
            }
            out += "\n";
        }
        out
    }
}

/// `round(v / max * TEXT_BAR)` block characters (at least one for `v > 0`).
pub fn text_bar(v: f64, max: f64) -> String {
    if max <= 0.0 || v <= 0.0 {
        return String::new();
    }
    let n = ((v / max) * TEXT_BAR as f64).round().max(1.0) as usize;
    "█".repeat(n.min(TEXT_BAR))
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

/// HTML/SVG text escaping.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A Markdown table cell: no pipes, no line breaks, no HTML.
fn md(s: &str) -> String {
    s.replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('<', "&lt;")
}

/// `1234567.0` -> `1,234,567`; below 100, two decimals.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    if v.abs() < 100.0 && v.fract() != 0.0 {
        return format!("{v:.2}");
    }
    let s = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 { format!("-{out}") } else { out }
}

fn opt_bytes(v: Option<u64>) -> String {
    v.map(|b| num(b as f64)).unwrap_or_else(|| "-".into())
}

/// Cost per MAC, if the op has MACs.
fn per_mac(cost: f64, macs: u64) -> Option<f64> {
    (macs > 0).then(|| cost / macs as f64)
}

/// Percentage of the whole inference.
pub fn share(cost: f64, total: f64) -> f64 {
    if total > 0.0 {
        100.0 * cost / total
    } else {
        0.0
    }
}

/// Reports with the same model (same hash), in order of first appearance.
fn by_model(reports: &[Report]) -> Vec<Vec<(usize, &Report)>> {
    let mut groups: Vec<Vec<(usize, &Report)>> = Vec::new();
    for (i, r) in reports.iter().enumerate() {
        match groups.iter_mut().find(|g| {
            g.first()
                .is_some_and(|(_, f)| f.model.sha256 == r.model.sha256)
        }) {
            Some(g) => g.push((i, r)),
            None => groups.push(vec![(i, r)]),
        }
    }
    groups
}

fn series_name(i: usize, r: &Report) -> String {
    format!("[{}] {}", i + 1, r.label())
}

/// Arena, code, model and weights bytes of every report.
pub fn memory_chart(reports: &[Report]) -> Chart {
    let series = vec![
        "arena (RAM)".to_string(),
        "code (flash)".to_string(),
        "weights (flash)".to_string(),
    ];
    let groups = reports
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let values = vec![
                Some(r.memory.arena_bytes as f64),
                r.memory.code_bytes.map(|b| b as f64),
                r.memory.weights_bytes.map(|b| b as f64),
            ];
            let texts = values
                .iter()
                .map(|v| v.map(|b| format!("{} B", num(b))).unwrap_or_default())
                .collect();
            Group {
                label: format!("[{}] {} {}", i + 1, r.model.name, r.target.board),
                values,
                texts,
            }
        })
        .collect();
    Chart {
        title: "Memory (bytes)".into(),
        series,
        groups,
    }
}

/// Share of the inference per layer, one bar per report (percent, so reports
/// in different units compare).
pub fn share_chart(group: &[(usize, &Report)]) -> Chart {
    let n = group.iter().map(|(_, r)| r.ops.len()).max().unwrap_or(0);
    let groups = (0..n)
        .map(|k| {
            let label = group
                .iter()
                .find_map(|(_, r)| r.ops.get(k))
                .map(|o| format!("{k} {} {}", o.kind, o.name))
                .unwrap_or_default();
            let values: Vec<Option<f64>> = group
                .iter()
                .map(|(_, r)| r.ops.get(k).map(|o| share(o.cost, r.total.cost)))
                .collect();
            let texts = values
                .iter()
                .map(|v| v.map(|p| format!("{p:.1}%")).unwrap_or_default())
                .collect();
            Group {
                label,
                values,
                texts,
            }
        })
        .collect();
    Chart {
        title: "Share of the inference per layer (%)".into(),
        series: group.iter().map(|(i, r)| series_name(*i, r)).collect(),
        groups,
    }
}

/// Cost per layer of one report, in its unit.
pub fn cost_chart(i: usize, r: &Report) -> Chart {
    Chart {
        title: format!("[{}] cost per layer ({})", i + 1, r.unit.name()),
        series: vec![series_name(i, r)],
        groups: r
            .ops
            .iter()
            .map(|o| Group {
                label: format!("{} {} {}", o.index, o.kind, o.name),
                values: vec![Some(o.cost)],
                texts: vec![num(o.cost)],
            })
            .collect(),
    }
}

/// Cost per MAC of the layers with MACs, of one report.
pub fn per_mac_chart(i: usize, r: &Report) -> Chart {
    Chart {
        title: format!("[{}] {} per MAC", i + 1, r.unit.name()),
        series: vec![series_name(i, r)],
        groups: r
            .ops
            .iter()
            .filter_map(|o| {
                per_mac(o.cost, o.macs).map(|v| Group {
                    label: format!("{} {} {}", o.index, o.kind, o.name),
                    values: vec![Some(v)],
                    texts: vec![format!("{v:.2}")],
                })
            })
            .collect(),
    }
}

/// A table: header and rows of cells (already formatted, not escaped).
struct Table {
    head: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn markdown(&self) -> String {
        let mut out = format!(
            "| {} |\n|{}\n",
            self.head
                .iter()
                .map(|h| md(h))
                .collect::<Vec<_>>()
                .join(" | "),
            "---|".repeat(self.head.len())
        );
        for r in &self.rows {
            let _ = writeln!(
                out,
                "| {} |",
                r.iter().map(|c| md(c)).collect::<Vec<_>>().join(" | ")
            );
        }
        out
    }
    fn html(&self) -> String {
        let mut out = String::from("<table><thead><tr>");
        for h in &self.head {
            let _ = write!(out, "<th>{}</th>", esc(h));
        }
        out += "</tr></thead><tbody>";
        for r in &self.rows {
            out += "<tr>";
            for c in r {
                let _ = write!(out, "<td>{}</td>", esc(c));
            }
            out += "</tr>";
        }
        out + "</tbody></table>"
    }
}

/// One row per report.
fn runs_table(reports: &[Report]) -> Table {
    let head = [
        "#",
        "board",
        "cpu",
        "backend",
        "kernels",
        "model",
        "sha256",
        "unit",
        "statistic",
        "total",
        "MACs",
        "per MAC",
        "arena B",
        "code B",
        "model B",
        "weights B",
        "producer",
    ];
    let rows = reports
        .iter()
        .enumerate()
        .map(|(i, r)| {
            vec![
                format!("[{}]", i + 1),
                r.target.board.clone(),
                match r.target.clock_hz {
                    Some(hz) => format!("{} @ {} MHz", r.target.cpu, num(hz as f64 / 1e6)),
                    None => r.target.cpu.clone(),
                },
                r.target.backend.clone(),
                r.target.kernels.clone(),
                r.model.name.clone(),
                r.model.sha256.chars().take(12).collect(),
                r.unit.name().into(),
                format!("{:?} of {}", r.statistic, r.runs).to_lowercase(),
                num(r.total.cost),
                num(r.model.macs as f64),
                per_mac(r.total.cost, r.model.macs)
                    .map(|v| format!("{v:.2}"))
                    .unwrap_or_else(|| "-".into()),
                num(r.memory.arena_bytes as f64),
                opt_bytes(r.memory.code_bytes),
                opt_bytes(r.memory.model_bytes),
                opt_bytes(r.memory.weights_bytes),
                r.producer.clone(),
            ]
        })
        .collect();
    Table {
        head: head.iter().map(|s| s.to_string()).collect(),
        rows,
    }
}

/// Per layer: name, kind, shape, MACs, then per report cost, share and per MAC;
/// last, the sum of the layers and the whole inference.
fn layers_table(group: &[(usize, &Report)]) -> Table {
    let mut head: Vec<String> = ["#", "op", "kind", "output", "MACs"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for (i, r) in group {
        head.push(format!("[{}] {}", i + 1, r.unit.name()));
        head.push(format!("[{}] %", i + 1));
        head.push(format!("[{}] per MAC", i + 1));
    }
    let n = group.iter().map(|(_, r)| r.ops.len()).max().unwrap_or(0);
    let mut rows = Vec::new();
    for k in 0..n {
        let first = group.iter().find_map(|(_, r)| r.ops.get(k));
        let mut row = match first {
            Some(o) => vec![
                k.to_string(),
                o.name.clone(),
                o.kind.clone(),
                format!("{:?}", o.output_shape),
                num(o.macs as f64),
            ],
            None => vec![
                k.to_string(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ],
        };
        for (_, r) in group {
            match r.ops.get(k) {
                Some(o) => {
                    row.push(num(o.cost));
                    row.push(format!("{:.1}", share(o.cost, r.total.cost)));
                    row.push(
                        per_mac(o.cost, o.macs)
                            .map(|v| format!("{v:.2}"))
                            .unwrap_or_default(),
                    );
                }
                None => row.extend([String::new(), String::new(), String::new()]),
            }
        }
        rows.push(row);
    }
    let macs = group.first().map(|(_, r)| r.model.macs).unwrap_or(0);
    let mut sum_row = vec![
        String::new(),
        "sum of the layers".into(),
        String::new(),
        String::new(),
        num(macs as f64),
    ];
    let mut total_row = vec![
        String::new(),
        "whole inference".into(),
        String::new(),
        String::new(),
        num(macs as f64),
    ];
    for (_, r) in group {
        let sum: f64 = r.ops.iter().map(|o| o.cost).sum();
        sum_row.extend([
            num(sum),
            format!("{:.1}", share(sum, r.total.cost)),
            per_mac(sum, r.model.macs)
                .map(|v| format!("{v:.2}"))
                .unwrap_or_default(),
        ]);
        total_row.extend([
            num(r.total.cost),
            "100.0".into(),
            per_mac(r.total.cost, r.model.macs)
                .map(|v| format!("{v:.2}"))
                .unwrap_or_default(),
        ]);
    }
    rows.push(sum_row);
    rows.push(total_row);
    Table { head, rows }
}

const CSS: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:1em 0;font-size:13px}\
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}\
th{background:#f0f0f0}td:nth-child(2),td:nth-child(3){text-align:left}\
svg{display:block;margin:1em 0}code{background:#f4f4f4}";

/// Render `reports` side by side.
pub fn render(reports: &[Report], format: Format) -> String {
    let html = format == Format::Html;
    let mut out = String::new();
    let heading = |out: &mut String, level: usize, text: &str| {
        if html {
            let _ = writeln!(out, "<h{level}>{}</h{level}>", esc(text));
        } else {
            let _ = write!(out, "{} {}\n\n", "#".repeat(level), md(text));
        }
    };
    let para = |out: &mut String, text: &str| {
        if html {
            let _ = writeln!(out, "<p>{}</p>", esc(text));
        } else {
            let _ = write!(out, "{}\n\n", md(text));
        }
    };
    let table = |out: &mut String, t: &Table| {
        *out += &if html { t.html() } else { t.markdown() };
        *out += "\n";
    };
    let chart = |out: &mut String, c: &Chart| {
        *out += &if html { c.svg() } else { c.markdown() };
        *out += "\n";
    };
    if html {
        out += "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>edgerun benchmark report</title>";
        let _ = writeln!(out, "<style>{CSS}</style></head><body>");
    }
    heading(&mut out, 1, "edgerun benchmark report");
    para(
        &mut out,
        "Costs are in each run's unit (ns: wall clock on the host; instructions: QEMU with -icount shift=0; cycles: a cycle counter), \
         the statistic over the runs shown. A layer's share is its cost over the whole inference's, which also counts the work between layers. \
         MACs count convolutions and matrix products only.",
    );
    heading(&mut out, 2, "Runs");
    table(&mut out, &runs_table(reports));
    chart(&mut out, &memory_chart(reports));
    for group in by_model(reports) {
        let Some((_, first)) = group.first() else {
            continue;
        };
        heading(
            &mut out,
            2,
            &format!(
                "{} (sha256 {}…, {} operators, {} MACs)",
                first.model.name,
                first.model.sha256.chars().take(12).collect::<String>(),
                first.ops.len(),
                num(first.model.macs as f64)
            ),
        );
        table(&mut out, &layers_table(&group));
        chart(&mut out, &share_chart(&group));
        for (i, r) in &group {
            chart(&mut out, &cost_chart(*i, r));
            chart(&mut out, &per_mac_chart(*i, r));
        }
    }
    if html {
        out += "</body></html>\n";
    }
    out
}
