//! `edge-tools train detector` and `edge-tools eval DETECTOR --data scenes-test`:
//! the SSD-style digit detector on MNIST scenes.

use anyhow::{Context, Result, bail};
use edgerun_compiler::detector::{DetectorSpec, PostConfig};
use edgerun_compiler::engine::{Engine, EngineKind};
use edgerun_data::map::{GroundTruth, MapReport, Prediction};
use edgerun_data::scenes::{self, Scene, SceneConfig};
use edgerun_train::detector::{self, DetectorConfig};
use std::path::{Path, PathBuf};

use crate::train::{TrainCmd, load, print_json};

/// `edge-tools train detector`.
pub fn train_detector_cmd(a: TrainCmd) -> Result<()> {
    let c = &a.common;
    if a.resume || a.stop_after.is_some() {
        bail!(
            "the detector has no --resume / --stop-after yet (it saves its weights after every epoch)"
        );
    }
    let mut cfg = DetectorConfig::default();
    if let Some(e) = c.epochs {
        cfg.epochs = e;
    }
    if let Some(lr) = c.lr {
        cfg.lr = lr;
    }
    cfg.batch_size = c.batch.min(64);
    cfg.seed = c.seed;
    if c.weight_decay > 0.0 {
        cfg.weight_decay = c.weight_decay;
    }
    cfg.augment = !c.no_augment;
    if let Some(n) = c.train_limit {
        cfg.train_scenes = n;
    }
    if let Some(n) = c.test_limit {
        cfg.eval_scenes = n;
    }
    cfg.init_from = a.init_from.clone();
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs/detector"));
    let data = load(c.data.as_deref())?;
    let (model, report) = detector::train_detector(&cfg, &data.train, &data.test, &out, !c.quiet)?;
    let last = report.history.last().context("no epoch ran")?;
    eprintln!(
        "detector: mAP@0.5 {:.3}, mAP@[.5:.95] {:.3} on {} test scenes after {} epochs in {:.0} s ({} params, {} MACs, {} anchors); weights in {}",
        last.map_50,
        last.map_50_95,
        cfg.eval_scenes,
        last.epoch,
        report.seconds,
        report.info.params,
        report.info.macs,
        report.anchors,
        out.display()
    );
    if let Some(onnx) = &a.onnx {
        export_and_check(&model, onnx, &data.test)?;
    }
    if a.json {
        print_json(&report)?;
    }
    Ok(())
}

/// Export the detector and check edgerun's compiled f32 model against burn on
/// 20 test scenes.
pub fn export_and_check(
    model: &detector::Detector,
    onnx: &Path,
    test: &edgerun_data::mnist::Split,
) -> Result<()> {
    let bytes = detector::export_detector(model)?;
    if let Some(dir) = onnx.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(onnx, &bytes).with_context(|| format!("writing {}", onnx.display()))?;
    let sample = scenes::scenes(test, &SceneConfig::default(), detector::TEST_SEED, 20)?;
    let diff = detector::verify_detector(model, &bytes, &sample)?;
    eprintln!(
        "wrote {} ({} bytes); edgerun f32 vs burn on {} test scenes: max |diff| {diff:.2e}",
        onnx.display(),
        bytes.len(),
        sample.len()
    );
    if diff > 1e-3 {
        bail!("the exported detector does not reproduce the trained one (max |diff| {diff:.2e})");
    }
    Ok(())
}

/// Parse `scenes-test[:N]` (default 1000 scenes).
pub fn scenes_spec(spec: &str) -> Result<Option<usize>> {
    let (name, n) = spec.split_once(':').unwrap_or((spec, "1000"));
    if name != "scenes-test" {
        return Ok(None);
    }
    let n = n
        .parse::<usize>()
        .with_context(|| format!("bad count in '{spec}'"))?;
    Ok(Some(n))
}

/// The detector's mAP on `count` test scenes: an ONNX detector (its spec in
/// the metadata) on the native runtime (compiled on load) or tract, or a
/// `.edge` one (its spec in the detector record) on the native runtime.
pub fn eval_detector(
    model: &Path,
    count: usize,
    mnist: Option<&Path>,
    engine: EngineKind,
) -> Result<MapReport> {
    let bytes = std::fs::read(model).with_context(|| format!("reading {}", model.display()))?;
    let not_detector = || {
        format!(
            "{} is not a detector (no '{}' metadata or .edge detector record); --data scenes-test needs one",
            model.display(),
            edgerun_compiler::detector::METADATA_KEY
        )
    };
    let is_edge = bytes.starts_with(&edgerun::format::MAGIC);
    let mut host = Engine::load(&bytes, is_edge, engine)
        .with_context(|| format!("loading {}", model.display()))?;
    let spec = match &host {
        Engine::Native(h) if is_edge => DetectorSpec::from_edge(&h.model()?)?,
        _ => DetectorSpec::from_model(&edgerun_compiler::load_model(&bytes)?)?,
    }
    .with_context(not_detector)?;
    let (si, bi) = (
        host.output_index(&spec.scores_output)?,
        host.output_index(&spec.boxes_output)?,
    );
    let data = load(mnist)?;
    let test = scenes::scenes(
        &data.test,
        &SceneConfig::default(),
        detector::TEST_SEED,
        count,
    )?;
    let anchors = spec.anchors()?;
    let side = spec.input_size as usize;
    let pb = crate::bar(test.len(), "detecting");
    let (mut gts, mut preds): (Vec<GroundTruth>, Vec<Prediction>) = (Vec::new(), Vec::new());
    for (i, scene) in test.iter().enumerate() {
        let x = input_tensor(scene, side)?;
        let out = host.run(&[x])?;
        let (s, b) = (
            out.get(si).context("missing scores")?.to_f32(),
            out.get(bi).context("missing boxes")?.to_f32(),
        );
        let dets = spec.postprocess(&anchors, &s, &b, &PostConfig::EVAL)?;
        detector::collect(i as u64, scene, &dets, &mut gts, &mut preds);
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(edgerun_data::map::evaluate(&gts, &preds))
}

fn input_tensor(scene: &Scene, side: usize) -> Result<edgerun_compiler::Tensor> {
    if scene.pixels.len() != side * side {
        bail!(
            "the detector takes {side}x{side} images, the scene has {} pixels",
            scene.pixels.len()
        );
    }
    Ok(edgerun_compiler::Tensor::f32(
        vec![1, 1, side, side],
        scene.pixels.iter().map(|&p| f32::from(p) / 255.0).collect(),
    ))
}

/// Seed of the calibration scenes (`--calib scenes-train[:N]`): training
/// digits, a seed of their own, so calibration never sees the test scenes.
const CALIB_SEED: u64 = 77;

/// The inputs of `--calib scenes-train[:N]` (default 200 scenes) for a model
/// whose input has `shape` `[1, 1, S, S]`; `None` for another calibration spec.
pub fn calib_scenes(spec: &str, shape: &[usize]) -> Result<Option<Vec<edgerun_compiler::Tensor>>> {
    let (name, n) = spec.split_once(':').unwrap_or((spec, "200"));
    if name != "scenes-train" {
        return Ok(None);
    }
    let n = n
        .parse::<usize>()
        .with_context(|| format!("bad count in '{spec}'"))?;
    let &[1, 1, h, w] = shape else {
        bail!("scenes calibration needs a [1, 1, S, S] input, the model takes {shape:?}");
    };
    if h != w {
        bail!("scenes are square, the model takes {h}x{w}");
    }
    let cfg = SceneConfig {
        size: u32::try_from(h).context("input side")?,
        ..SceneConfig::default()
    };
    let data = load(None)?;
    scenes::scenes(&data.train, &cfg, CALIB_SEED, n)?
        .iter()
        .map(|s| input_tensor(s, h))
        .collect::<Result<Vec<_>>>()
        .map(Some)
}
