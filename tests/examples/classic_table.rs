//! One Markdown table row per ONNX test case (`model.onnx` +
//! `test_data_set_0/input_0.pb`): MACs, parameters, f32 and int8 arena bytes,
//! and the median latency of native f32, native int8 (quantized by
//! `edgerun_compiler::quantize`, the code behind `edge-tools quantize`,
//! calibrated on the case's own input) and tract f32, all on one thread.
//!
//!     cargo run -p edgerun-tests --example classic_table -- tests/onnx-light [--runs N]
//!
//! It needs neither burn nor a release build of tract (the README table was
//! made with the dev profile: the runtime at opt-level 3, tract at opt-level 2).

use edgerun_compiler::conformance::case_dirs;
use edgerun_compiler::host::HostModel;
use edgerun_compiler::quantize::{QuantizeOptions, parameter_count, quantize};
use edgerun_compiler::tensor::from_pb_bytes;
use edgerun_compiler::{Data, Tensor, compile_model, load_model};
use std::path::{Path, PathBuf};
use std::time::Instant;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

struct Row {
    name: String,
    macs: u64,
    params: usize,
    f32_arena: usize,
    int8_arena: usize,
    f32_ms: f64,
    int8_ms: f64,
    tract_ms: f64,
}

/// Median of `runs` timed calls after one warm-up call, in milliseconds.
fn median_ms(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut ms: Vec<f64> = Vec::with_capacity(runs.max(1));
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        f()?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    Ok(ms[ms.len() / 2])
}

fn native(edge: &[u8], input: &Tensor, runs: usize) -> Result<f64> {
    let mut host = HostModel::new(edge)?;
    let inputs = std::slice::from_ref(input);
    median_ms(runs, || Ok(host.run(inputs).map(|_| ())?))
}

fn tract(model: &Path, input: &Tensor, runs: usize) -> Result<f64> {
    use tract_onnx::prelude::*;
    let e = |e: TractError| format!("tract: {e}");
    let plan = tract_onnx::onnx()
        .model_for_path(model)
        .map_err(e)?
        .with_input_fact(0, f32::fact(&input.shape).into())
        .map_err(e)?
        .into_optimized()
        .map_err(e)?
        .into_runnable()
        .map_err(e)?;
    let Data::F32(v) = &input.data else {
        return Err("the input is not float32".into());
    };
    let x: TValue = tract_ndarray::ArrayD::from_shape_vec(input.shape.clone(), v.clone())?
        .into_tensor()
        .into();
    median_ms(runs, || {
        Ok(plan.run(tvec![x.clone()]).map(|_| ()).map_err(e)?)
    })
}

fn row(dir: &Path, runs: usize, save: Option<&Path>) -> Result<Row> {
    let name = dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let path = dir.join("model.onnx");
    let onnx = load_model(&std::fs::read(&path)?)?;
    let pb = dir.join("test_data_set_0").join("input_0.pb");
    let input = from_pb_bytes(&std::fs::read(&pb)?)?.1;
    let f32_edge = compile_model(&onnx, &Default::default())?;
    let aligned = edgerun::format::write::AlignedBytes::new(&f32_edge.bytes);
    let model = edgerun::Model::parse(&aligned)?;
    let mut macs = 0u64;
    for rec in model.ops() {
        macs += rec?.op.macs();
    }
    eprintln!("{name}: native f32 ...");
    let f32_ms = native(&f32_edge.bytes, &input, runs)?;
    eprintln!("{name}: quantizing (calibrated on its input) ...");
    let inputs = std::slice::from_ref(&input);
    let (q, _) = quantize(&onnx, inputs, &QuantizeOptions::default(), |_, _| {})?;
    let int8_edge = compile_model(&q, &Default::default())?;
    if let Some(save) = save {
        let to = save.join(format!("{name}.int8.edge"));
        std::fs::write(&to, &int8_edge.bytes)?;
        eprintln!("{name}: wrote {}", to.display());
    }
    eprintln!("{name}: native int8 ...");
    let int8_ms = native(&int8_edge.bytes, &input, runs)?;
    eprintln!("{name}: tract f32 ...");
    let tract_ms = tract(&path, &input, runs)?;
    Ok(Row {
        name,
        macs,
        params: parameter_count(&onnx)?,
        f32_arena: f32_edge.arena_bytes,
        int8_arena: int8_edge.arena_bytes,
        f32_ms,
        int8_ms,
        tract_ms,
    })
}

fn main() -> Result<()> {
    let mut runs = 3;
    let mut save: Option<PathBuf> = None;
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--runs" {
            runs = args.next().ok_or("--runs needs a number")?.parse()?;
        } else if a == "--save-int8" {
            save = Some(PathBuf::from(
                args.next().ok_or("--save-int8 needs a directory")?,
            ));
        } else if a == "--help" || a == "-h" {
            println!(
                "usage: classic_table DIR... [--runs N] [--save-int8 OUT_DIR]  (DIR: a case or a directory of cases; OUT_DIR receives each NAME.int8.edge it timed, for `edge-tools bench --report`)"
            );
            return Ok(());
        } else {
            dirs.extend(case_dirs(Path::new(&a))?);
        }
    }
    if dirs.is_empty() {
        return Err("no case directories (with model.onnx) given; try tests/onnx-light".into());
    }
    println!(
        "| model | MACs | params | f32 arena | int8 arena | native f32 | native int8 | tract f32 |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mb = |b: usize| format!("{:.1} MB", b as f64 / 1e6);
    for d in &dirs {
        let r = row(d, runs, save.as_deref()).map_err(|e| format!("{}: {e}", d.display()))?;
        println!(
            "| {} | {:.2} G | {:.2} M | {} | {} | {:.0} ms | {:.0} ms | {:.0} ms |",
            r.name,
            r.macs as f64 / 1e9,
            r.params as f64 / 1e6,
            mb(r.f32_arena),
            mb(r.int8_arena),
            r.f32_ms,
            r.int8_ms,
            r.tract_ms,
        );
    }
    Ok(())
}
