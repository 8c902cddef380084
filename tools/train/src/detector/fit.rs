//! Training, evaluation (COCO mAP through the runtime's decode and NMS) and
//! ONNX export of the [`Detector`].
//!
//! Loss (SSD): softmax cross-entropy over `10 + 1` classes with hard-negative
//! mining (all positive anchors and the `3x` as many background anchors with
//! the highest loss), plus smooth-L1 on the encoded offsets of the positive
//! anchors, both divided by the number of positives. Augmentation moves the
//! whole scene (boxes with it, never out of the canvas) and jitters contrast
//! and brightness, so boxes stay exact.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};
use burn_onnx::export::OnnxExporter;
use edgerun::detect::Box;
use edgerun_compiler::ModelProto;
use edgerun_compiler::detector::{DetectorSpec, PostConfig};
use edgerun_compiler::pb::attribute_proto::AttributeType;
use edgerun_compiler::pb::{AttributeProto, NodeProto, TensorProto, ValueInfoProto};
use edgerun_data::map::{self, GroundTruth, MapReport, Prediction};
use edgerun_data::mnist::Split;
use edgerun_data::rng::SplitMix64;
use edgerun_data::scenes::{self, Scene, SceneConfig};
use prost::Message;
use serde::{Deserialize, Serialize};

use super::label::{AnchorTarget, Truth, label_anchors};
use super::{CLASSES, Detector, SIZE, default_spec, images_tensor};
use crate::error::{Result, TrainError};
use crate::models::ModelInfo;
use crate::train::{lr_at, new_optimizer, tensor_err};

/// Hard-negative mining: background anchors kept per positive one.
const NEG_PER_POS: usize = 3;
/// Background anchors kept in an image with no object.
const NEG_EMPTY: usize = 16;
/// IoU for an anchor to take a ground truth (after each truth took its best).
const MATCH_IOU: f32 = 0.5;

/// How to train the detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f32,
    /// Training scenes (rendered once from MNIST-train digits).
    pub train_scenes: usize,
    /// Test scenes scored after each epoch (MNIST-test digits).
    pub eval_scenes: usize,
    pub augment: bool,
    pub seed: u64,
    /// A LeNet-5 checkpoint directory to start conv1 and conv2 from.
    pub init_from: Option<PathBuf>,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            epochs: 12,
            batch_size: 32,
            lr: 3e-3,
            weight_decay: 1e-4,
            train_scenes: 8000,
            eval_scenes: 500,
            augment: true,
            seed: 1,
            init_from: None,
        }
    }
}

/// One epoch of training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorEpoch {
    pub epoch: usize,
    pub class_loss: f64,
    pub box_loss: f64,
    pub map_50: f64,
    pub map_50_95: f64,
    pub seconds: f64,
}

/// What [`train_detector`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorReport {
    pub config: DetectorConfig,
    pub info: ModelInfo,
    pub anchors: usize,
    pub seconds: f64,
    pub history: Vec<DetectorEpoch>,
}

/// The training scenes: MNIST-train digits, `seed`.
pub fn train_set(train: &Split, count: usize, seed: u64) -> Result<Vec<Scene>> {
    Ok(scenes::scenes(train, &SceneConfig::default(), seed, count)?)
}

/// The ground truths of a scene, relative to the image.
fn truths(scene: &Scene) -> Vec<Truth> {
    let s = SIZE as f32;
    scene
        .boxes
        .iter()
        .map(|b| Truth {
            bbox: Box::new(b.x0 / s, b.y0 / s, b.x1 / s, b.y1 / s),
            class: b.class,
        })
        .collect()
}

/// Move the scene by a random offset that keeps every box inside the canvas,
/// and jitter contrast and brightness.
fn augment(scene: &Scene, rng: &mut SplitMix64) -> Scene {
    let s = SIZE as f32;
    let (mut lo_x, mut hi_x, mut lo_y, mut hi_y) = (-12.0f32, 12.0f32, -12.0f32, 12.0f32);
    for b in &scene.boxes {
        lo_x = lo_x.max(-b.x0.floor());
        hi_x = hi_x.min((s - b.x1).floor());
        lo_y = lo_y.max(-b.y0.floor());
        hi_y = hi_y.min((s - b.y1).floor());
    }
    let pick = |rng: &mut SplitMix64, lo: f32, hi: f32| -> i32 {
        if hi > lo {
            rng.range_i32(lo as i32, hi as i32)
        } else {
            0
        }
    };
    let (dx, dy) = (pick(rng, lo_x, hi_x), pick(rng, lo_y, hi_y));
    let gain = rng.range_f32(0.75, 1.2);
    let bias = rng.range_f32(-8.0, 20.0);
    let n = SIZE as i32;
    let mut pixels = vec![0u8; SIZE * SIZE];
    for (i, out) in pixels.iter_mut().enumerate() {
        let (x, y) = ((i % SIZE) as i32 - dx, (i / SIZE) as i32 - dy);
        let v = if (0..n).contains(&x) && (0..n).contains(&y) {
            scene.pixels.get((y * n + x) as usize).copied().unwrap_or(0)
        } else {
            0
        };
        *out = (f32::from(v) * gain + bias).clamp(0.0, 255.0) as u8;
    }
    let boxes = scene
        .boxes
        .iter()
        .map(|b| scenes::GtBox {
            x0: b.x0 + dx as f32,
            x1: b.x1 + dx as f32,
            y0: b.y0 + dy as f32,
            y1: b.y1 + dy as f32,
            ..*b
        })
        .collect();
    Scene { pixels, boxes }
}

/// Per-anchor class and box losses of a batch, with hard-negative mining.
fn batch_loss(
    model: &Detector,
    batch: &[Scene],
    anchors: &[Box],
    device: &Device,
) -> Result<(Tensor<1>, f64, f64)> {
    let (b, a) = (batch.len(), anchors.len());
    let pixels: Vec<u8> = batch
        .iter()
        .flat_map(|s| s.pixels.iter().copied())
        .collect();
    let targets: Vec<AnchorTarget> = batch
        .iter()
        .flat_map(|s| label_anchors(anchors, &truths(s), MATCH_IOU, super::VARIANCES))
        .collect();
    let labels: Vec<i64> = targets.iter().map(|t| i64::from(t.label)).collect();
    let pos: Vec<f32> = targets
        .iter()
        .map(|t| if t.label > 0 { 1.0 } else { 0.0 })
        .collect();
    let offsets: Vec<f32> = targets.iter().flat_map(|t| t.offsets).collect();
    let npos = pos.iter().sum::<f32>().max(1.0);

    let (cls, reg) = model.forward(images_tensor(&pixels, b, device));
    let label_t = Tensor::<3, Int>::from_data(TensorData::new(labels, [b, a, 1]), device);
    let ce = log_softmax(cls, 2).gather(2, label_t).reshape([b, a]).neg();
    // Hard negatives, chosen on the host from the current losses.
    let ce_host: Vec<f32> = ce
        .clone()
        .inner()
        .into_data()
        .try_into_vec::<f32>()
        .map_err(tensor_err)?;
    let mut keep = pos.clone();
    for img in 0..b {
        let row = img * a..(img + 1) * a;
        let (Some(p), Some(l)) = (pos.get(row.clone()), ce_host.get(row.clone())) else {
            continue;
        };
        let n_pos = p.iter().filter(|&&v| v > 0.0).count();
        let n_neg = if n_pos == 0 {
            NEG_EMPTY
        } else {
            NEG_PER_POS * n_pos
        };
        let mut negs: Vec<usize> = (0..a).filter(|&j| p.get(j) == Some(&0.0)).collect();
        negs.sort_by(|&x, &y| {
            let (lx, ly) = (l.get(x).copied(), l.get(y).copied());
            ly.partial_cmp(&lx)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(x.cmp(&y))
        });
        for j in negs.into_iter().take(n_neg) {
            if let Some(k) = keep.get_mut(img * a + j) {
                *k = 1.0;
            }
        }
    }
    let keep_t = Tensor::<2>::from_data(TensorData::new(keep, [b, a]), device);
    let class_loss = (ce * keep_t).sum() / npos;
    let pos_t = Tensor::<3>::from_data(TensorData::new(pos, [b, a, 1]), device);
    let target_t = Tensor::<3>::from_data(TensorData::new(offsets, [b, a, 4]), device);
    let d = ((reg - target_t) * pos_t).abs();
    let q = d.clone().clamp_max(1.0);
    let box_loss = (q.clone() * (d - q * 0.5)).sum() / npos;
    let scalar = |t: &Tensor<1>| -> Result<f64> {
        let v: f32 = t.clone().inner().try_into_scalar().map_err(tensor_err)?;
        Ok(f64::from(v))
    };
    let (cl, bl) = (scalar(&class_loss)?, scalar(&box_loss)?);
    Ok((class_loss + box_loss, cl, bl))
}

/// The detections of a trained model on `scenes` (burn, float), decoded and
/// NMS'd by the runtime, scored as COCO mAP.
pub fn evaluate_detector(model: &Detector, scenes: &[Scene]) -> Result<MapReport> {
    let device = crate::device();
    let spec = default_spec();
    let anchors = spec.anchors()?;
    let m = model.valid();
    let (mut gts, mut preds) = (Vec::new(), Vec::new());
    for (chunk_no, chunk) in scenes.chunks(100).enumerate() {
        let pixels: Vec<u8> = chunk
            .iter()
            .flat_map(|s| s.pixels.iter().copied())
            .collect();
        let (cls, reg) = m.forward(images_tensor(&pixels, chunk.len(), &device));
        let probs: Vec<f32> = softmax(cls, 2)
            .into_data()
            .try_into_vec::<f32>()
            .map_err(tensor_err)?;
        let offs: Vec<f32> = reg.into_data().try_into_vec::<f32>().map_err(tensor_err)?;
        let (ps, os) = (anchors.len() * (CLASSES + 1), anchors.len() * 4);
        for (k, scene) in chunk.iter().enumerate() {
            let image = (chunk_no * 100 + k) as u64;
            let (Some(p), Some(o)) = (
                probs.get(k * ps..(k + 1) * ps),
                offs.get(k * os..(k + 1) * os),
            ) else {
                return Err(TrainError::Tensor("short detector output".into()));
            };
            collect(
                image,
                scene,
                &spec.postprocess(&anchors, p, o, &PostConfig::EVAL)?,
                &mut gts,
                &mut preds,
            );
        }
    }
    Ok(map::evaluate(&gts, &preds))
}

/// Add one image's ground truths and detections to the mAP inputs.
pub fn collect(
    image: u64,
    scene: &Scene,
    dets: &[edgerun_compiler::detector::PixelDetection],
    gts: &mut Vec<GroundTruth>,
    preds: &mut Vec<Prediction>,
) {
    gts.extend(scene.boxes.iter().map(|b| GroundTruth {
        image,
        class: b.class,
        bbox: [b.x0, b.y0, b.x1, b.y1],
    }));
    preds.extend(dets.iter().map(|d| Prediction {
        image,
        class: d.class as u8,
        score: d.score,
        bbox: [d.bbox.x0, d.bbox.y0, d.bbox.x1, d.bbox.y1],
    }));
}

fn save(model: &Detector, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    let path = dir.join("detector.bpk");
    let tmp = dir.join("detector.bpk.part");
    model
        .clone()
        .save_file(&tmp)
        .map_err(|e| TrainError::record(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| TrainError::io(&path, e))
}

/// Load a detector saved by [`train_detector`] in `dir`.
pub fn load_detector(dir: &Path) -> Result<Detector> {
    let path = dir.join("detector.bpk");
    Detector::new(&crate::device())
        .try_load_file(&path)
        .map_err(|e| TrainError::record(&path, e))
}

/// Train a detector on MNIST scenes, saving it to `dir` after every epoch
/// (`dir/detector.bpk`, `dir/report.json`).
pub fn train_detector(
    cfg: &DetectorConfig,
    train: &Split,
    test: &Split,
    dir: &Path,
    progress: bool,
) -> Result<(Detector, DetectorReport)> {
    if cfg.epochs == 0 || cfg.batch_size == 0 || cfg.train_scenes == 0 {
        return Err(TrainError::Config(
            "epochs, batch size and train scenes must be positive".into(),
        ));
    }
    let t0 = Instant::now();
    let spec = default_spec();
    let anchors = spec.anchors()?;
    let mut model = crate::seeded(cfg.seed, || Detector::new(&crate::device()));
    if let Some(init) = &cfg.init_from {
        let (lenet, _) = crate::load_checkpoint(init)?;
        model = model.init_from_lenet(&lenet)?;
    }
    let train_set = train_set(train, cfg.train_scenes, cfg.seed)?;
    let eval_set = scenes::scenes(
        test,
        &SceneConfig::default(),
        super::TEST_SEED,
        cfg.eval_scenes,
    )?;
    let device: Device = crate::device().autodiff();
    // `train` restores gradient tracking; `fork` moves the model to the
    // autodiff device with a graph of its own.
    let mut model = model.train().fork(&device);
    let mut optim = new_optimizer(cfg.weight_decay);
    let steps = cfg.train_scenes.div_ceil(cfg.batch_size);
    let total = steps * cfg.epochs;
    // Written to `dir/report.json` after every epoch.
    let mut report = DetectorReport {
        config: cfg.clone(),
        info: Detector::info(),
        anchors: anchors.len(),
        seconds: 0.0,
        history: Vec::new(),
    };
    for epoch in 0..cfg.epochs {
        let te = Instant::now();
        let order = crate::batch::epoch_order(train_set.len(), cfg.seed, epoch);
        let pb = crate::train::bar(
            progress,
            steps,
            format!("detector {}/{}", epoch + 1, cfg.epochs),
        );
        let (mut cl_sum, mut bl_sum, mut seen) = (0.0, 0.0, 0usize);
        for (b, idx) in order.chunks(cfg.batch_size).enumerate() {
            let batch: Vec<Scene> = idx
                .iter()
                .filter_map(|&i| train_set.get(i))
                .map(|s| {
                    if cfg.augment {
                        let mut rng = SplitMix64::new(
                            cfg.seed ^ (epoch as u64).rotate_left(32) ^ (b as u64) ^ 0xa5a5,
                        );
                        augment(s, &mut rng)
                    } else {
                        s.clone()
                    }
                })
                .collect();
            let (loss, cl, bl) = batch_loss(&model, &batch, &anchors, &device)?;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr_at(cfg.lr, epoch * steps + b, total), model, grads);
            cl_sum += cl * batch.len() as f64;
            bl_sum += bl * batch.len() as f64;
            seen += batch.len();
            pb.inc(1);
            if b % 10 == 0 {
                pb.set_message(format!(
                    "cls {:.3} box {:.3}",
                    cl_sum / seen.max(1) as f64,
                    bl_sum / seen.max(1) as f64
                ));
            }
        }
        let score = evaluate_detector(&model, &eval_set)?;
        let stats = DetectorEpoch {
            epoch: epoch + 1,
            class_loss: cl_sum / seen.max(1) as f64,
            box_loss: bl_sum / seen.max(1) as f64,
            map_50: score.map_50,
            map_50_95: score.map_50_95,
            seconds: te.elapsed().as_secs_f64(),
        };
        pb.finish_with_message(format!(
            "cls {:.3} box {:.3} | mAP@0.5 {:.3} mAP@[.5:.95] {:.3} on {} test scenes",
            stats.class_loss, stats.box_loss, stats.map_50, stats.map_50_95, cfg.eval_scenes
        ));
        save(&model, dir)?;
        report.history.push(stats);
        report.seconds = t0.elapsed().as_secs_f64();
        crate::train::write_json(&dir.join("report.json"), &report)?;
    }
    Ok((model.valid(), report))
}

fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: v,
        ..Default::default()
    }
}

fn node(
    op: &str,
    name: String,
    inputs: Vec<String>,
    output: &str,
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name,
        input: inputs,
        output: vec![output.into()],
        attribute: attrs,
        ..Default::default()
    }
}

fn float_value(name: &str, dims: &[i64]) -> ValueInfoProto {
    use edgerun_compiler::pb::tensor_shape_proto::{Dimension, dimension};
    use edgerun_compiler::pb::{TensorShapeProto, TypeProto, type_proto};
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: edgerun_compiler::pb::tensor_proto::DataType::Float as i32,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(dimension::Value::DimValue(d)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The detector as float ONNX, batch 1: input `input` `[1, 1, 96, 96]`, outputs
/// `scores` `[1, anchors, 11]` (softmax) and `boxes` `[1, anchors, 4]`, the
/// [`DetectorSpec`] in the metadata.
pub fn export_detector(model: &Detector) -> Result<Vec<u8>> {
    let device = crate::device();
    let m = Detector::new(&device)
        .try_load_record(model.valid().into_record())
        .map_err(|e| TrainError::Export(format!("copying the weights: {e}")))?
        .valid();
    let sample = Tensor::<4>::zeros([1, 1, SIZE, SIZE], &device);
    let onnx = OnnxExporter::new()
        .export(&m, sample, |m: &Detector, x: Tensor<4>| {
            m.heads(x)
                .into_iter()
                .flat_map(|(c, r)| [c, r])
                .collect::<Vec<_>>()
        })
        .map_err(|e| TrainError::Export(e.to_string()))?;
    let mut proto = edgerun_compiler::load_model(onnx.as_bytes())?;
    let spec = default_spec();
    finish_graph(&mut proto, &spec)?;
    spec.attach(&mut proto);
    proto.producer_name = "edgerun-train".into();
    proto.producer_version = env!("CARGO_PKG_VERSION").into();
    Ok(proto.encode_to_vec())
}

/// Rename the input, and turn the six per-level head outputs into the two
/// per-anchor outputs (Transpose, Reshape, Concat, Softmax).
fn finish_graph(proto: &mut ModelProto, spec: &DetectorSpec) -> Result<()> {
    let graph = proto
        .graph
        .as_mut()
        .ok_or_else(|| TrainError::Export("no graph".into()))?;
    let inits: std::collections::HashSet<String> =
        graph.initializer.iter().map(|t| t.name.clone()).collect();
    let input_names: Vec<String> = graph
        .input
        .iter()
        .filter(|i| !inits.contains(&i.name))
        .map(|i| i.name.clone())
        .collect();
    let [old_in] = input_names.as_slice() else {
        return Err(TrainError::Export(format!(
            "{} graph inputs",
            input_names.len()
        )));
    };
    let old_in = old_in.clone();
    for v in graph.input.iter_mut().filter(|v| v.name == old_in) {
        v.name = crate::export::INPUT.into();
    }
    for s in graph.node.iter_mut().flat_map(|n| n.input.iter_mut()) {
        if *s == old_in {
            *s = crate::export::INPUT.into();
        }
    }
    let outs: Vec<String> = graph.output.iter().map(|o| o.name.clone()).collect();
    if outs.len() != 2 * spec.levels.len() {
        return Err(TrainError::Export(format!("{} head outputs", outs.len())));
    }
    let k = spec.score_columns() as i64;
    let mut shape_const = |name: &str, cols: i64| {
        graph.initializer.push(TensorProto {
            name: name.into(),
            dims: vec![3],
            data_type: edgerun_compiler::pb::tensor_proto::DataType::Int64 as i32,
            raw_data: [1i64, -1, cols]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
            ..Default::default()
        });
    };
    shape_const("det_shape_scores", k);
    shape_const("det_shape_boxes", 4);
    let (mut cls, mut reg) = (Vec::new(), Vec::new());
    for (i, out) in outs.iter().enumerate() {
        let (kind, shape) = if i % 2 == 0 {
            ("cls", "det_shape_scores")
        } else {
            ("box", "det_shape_boxes")
        };
        let level = i / 2;
        let t = format!("det_{kind}{level}_nhwc");
        let r = format!("det_{kind}{level}");
        graph.node.push(node(
            "Transpose",
            t.clone(),
            vec![out.clone()],
            &t,
            vec![attr_ints("perm", &[0, 2, 3, 1])],
        ));
        graph.node.push(node(
            "Reshape",
            r.clone(),
            vec![t, shape.into()],
            &r,
            vec![],
        ));
        if i % 2 == 0 { &mut cls } else { &mut reg }.push(r);
    }
    let a = spec.anchor_count()? as i64;
    graph.node.push(node(
        "Concat",
        "det_logits".into(),
        cls,
        "det_logits",
        vec![attr_int("axis", 1)],
    ));
    graph.node.push(node(
        "Softmax",
        "det_softmax".into(),
        vec!["det_logits".into()],
        &spec.scores_output,
        vec![attr_int("axis", 2)],
    ));
    graph.node.push(node(
        "Concat",
        "det_boxes".into(),
        reg,
        &spec.boxes_output,
        vec![attr_int("axis", 1)],
    ));
    graph.output = vec![
        float_value(&spec.scores_output, &[1, a, k]),
        float_value(&spec.boxes_output, &[1, a, 4]),
    ];
    Ok(())
}

/// Largest absolute difference between burn's outputs (softmax scores, box
/// offsets) and those of the exported ONNX compiled by edgerun and run on its
/// f32 runtime, over `scenes`.
pub fn verify_detector(model: &Detector, onnx: &[u8], scenes: &[Scene]) -> Result<f32> {
    let device = crate::device();
    let compiled = edgerun_compiler::compile(onnx, &edgerun_compiler::CompileOptions::default())?;
    let mut host = edgerun_compiler::host::HostModel::new(&compiled.bytes)?;
    let m = model.valid();
    let mut worst = 0.0f32;
    for scene in scenes {
        let (cls, reg) = m.forward(images_tensor(&scene.pixels, 1, &device));
        let want_s: Vec<f32> = softmax(cls, 2)
            .into_data()
            .try_into_vec::<f32>()
            .map_err(tensor_err)?;
        let want_b: Vec<f32> = reg.into_data().try_into_vec::<f32>().map_err(tensor_err)?;
        let x: Vec<f32> = scene.pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
        let out = host.run(&[edgerun_compiler::Tensor::f32(vec![1, 1, SIZE, SIZE], x)])?;
        let [s, b] = out.as_slice() else {
            return Err(TrainError::Export(format!("{} outputs, want 2", out.len())));
        };
        for (got, want) in [(s.to_f32(), &want_s), (b.to_f32(), &want_b)] {
            if got.len() != want.len() {
                return Err(TrainError::Export(format!(
                    "edgerun gave {} values, burn {}",
                    got.len(),
                    want.len()
                )));
            }
            for (g, w) in got.iter().zip(want) {
                worst = worst.max((g - w).abs());
            }
        }
    }
    Ok(worst)
}
