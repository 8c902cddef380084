//! Host-side baking for board build scripts (feature `codegen`, needs std).
//!
//! [`Bake::write`] loads each `.edge` model, repacks its conv weights for the
//! DSP kernel (`edgerun::format::write::for_cortex_m`: the packs for AVX2 are
//! dropped, the firmware's kernels do not read them), runs the *host* runtime on the first frames of its dataset
//! with the same [`fill_input`] as the firmware, and writes into `OUT_DIR`:
//! the model, the frames, their labels, the host's output bytes, and
//! `baked.rs`, which defines
//!
//! - `MODELS: [edgerun_fw::BakedModel; N]`, the models in the listed order, each
//!   16-byte aligned in flash;
//! - `ARENA_BYTES`, the largest arena of them, to size the static arena;
//! - `BakedKernels`, the [`edgerun::KernelSet`] of exactly the operator kinds
//!   of the baked models: the firmware links those kernels and no others (the
//!   f32 ones only if a baked model has an f32 operator).
//!
//! A board includes it with `include!(concat!(env!("OUT_DIR"), "/baked.rs"))`.
//! Adding a model on a known dataset is one more [`Bake::model`] call.

use crate::input::{Preprocess, argmax, fill_input};
use edgerun::format::write::AlignedBytes;
use edgerun::{Interpreter, Model, OpKind};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, fs, vec};

/// Frames a model can be baked with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dataset {
    /// The first MNIST test digits (28x28, one byte per pixel), from the 500
    /// vendored in `tools/data/vendor`.
    MnistTest,
    /// Frames from an IDX file of unsigned bytes (`[count, ...]`, one byte per
    /// model input element), e.g. the frames `edge-run --board` replays, and
    /// optionally their labels (IDX `[count]`). Paths are relative to the root
    /// or absolute. All the file's frames are baked, up to [`Bake::frames`].
    Idx {
        images: PathBuf,
        labels: Option<PathBuf>,
    },
}

impl Dataset {
    fn key(&self) -> &'static str {
        match self {
            Dataset::MnistTest => "mnist_test",
            Dataset::Idx { .. } => "frames",
        }
    }

    /// `(images, labels, bytes per image)` of the first `n` examples (of
    /// fewer for an [`Dataset::Idx`] file that holds fewer). `labels` is
    /// empty for unlabelled frames.
    fn load(&self, root: &Path, n: usize) -> Result<(Vec<u8>, Vec<u8>, usize), CodegenError> {
        let (images, labels, n) = match self {
            Dataset::MnistTest => {
                let dir = root.join("tools/data/vendor");
                (
                    dir.join("t10k-images-first500-idx3-ubyte"),
                    Some(dir.join("t10k-labels-first500-idx1-ubyte")),
                    n,
                )
            }
            Dataset::Idx { images, labels } => {
                (root.join(images), labels.as_ref().map(|l| root.join(l)), n)
            }
        };
        rerun_if_changed(&images);
        let (img_dims, img) = read_idx(&images, 0x08)?;
        let Some((&count, frame_dims)) = img_dims.split_first().filter(|(_, d)| !d.is_empty())
        else {
            return Err(CodegenError::new(format!(
                "{}: expected a count and a frame shape, got {img_dims:?}",
                images.display()
            )));
        };
        let n = match self {
            Dataset::MnistTest if n > count => {
                return Err(CodegenError::new(format!(
                    "asked for {n} MNIST test digits, {count} are vendored"
                )));
            }
            _ => n.min(count),
        };
        let per = frame_dims.iter().product::<usize>();
        let truncated = || CodegenError::new("frame data shorter than its header says");
        let image_bytes = img.get(..n * per).ok_or_else(truncated)?.to_vec();
        let label_bytes = match labels {
            Some(path) => {
                rerun_if_changed(&path);
                let (lab_dims, lab) = read_idx(&path, 0x08)?;
                if lab_dims != [count] {
                    return Err(CodegenError::new(format!(
                        "{} holds {lab_dims:?} labels for {count} frames",
                        path.display()
                    )));
                }
                lab.get(..n).ok_or_else(truncated)?.to_vec()
            }
            None => Vec::new(),
        };
        Ok((image_bytes, label_bytes, per))
    }
}

/// Read an IDX file of unsigned bytes (type code `0x08`; big-endian header:
/// magic `00 00 08 rank`, then one u32 per dimension).
fn read_idx(path: &Path, type_code: u32) -> Result<(Vec<usize>, Vec<u8>), CodegenError> {
    let bytes = fs::read(path).map_err(|e| CodegenError::io(path, e))?;
    let word = |i: usize| -> Result<usize, CodegenError> {
        bytes
            .get(4 * i..4 * i + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(|b| u32::from_be_bytes(b) as usize)
            .ok_or_else(|| CodegenError::new(format!("{}: truncated header", path.display())))
    };
    let magic = word(0)?;
    if magic >> 8 != type_code as usize || magic & 0xff == 0 {
        return Err(CodegenError::new(format!(
            "{}: not an IDX file of unsigned bytes",
            path.display()
        )));
    }
    let rank = magic & 0xff;
    let dims = (1..=rank).map(word).collect::<Result<Vec<_>, _>>()?;
    let start = 4 * (rank + 1);
    let len = dims.iter().product::<usize>();
    let data = bytes
        .get(start..start + len)
        .ok_or_else(|| CodegenError::new(format!("{}: truncated data", path.display())))?;
    Ok((dims, data.to_vec()))
}

fn rerun_if_changed(path: &Path) {
    std::println!("cargo:rerun-if-changed={}", path.display());
}

/// A failure while baking, with a message for the build log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodegenError(String);

impl CodegenError {
    fn new(msg: impl Into<String>) -> Self {
        CodegenError(msg.into())
    }
    fn io(path: &Path, e: std::io::Error) -> Self {
        CodegenError(format!("{}: {e}", path.display()))
    }
}

impl core::fmt::Display for CodegenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodegenError {}

struct Spec {
    name: String,
    path: PathBuf,
    dataset: Dataset,
    preprocess: Preprocess,
}

/// What [`Bake::write`] baked for one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baked {
    pub name: String,
    pub frames: usize,
    pub host_correct: usize,
    pub arena_bytes: usize,
    pub macs: u64,
}

/// Models to bake, with how many frames each.
pub struct Bake {
    root: PathBuf,
    frames: usize,
    models: Vec<Spec>,
}

impl Bake {
    /// `root` is the repository root; model and data paths are relative to it.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Bake {
            root: root.into(),
            frames: 100,
            models: Vec::new(),
        }
    }

    /// How many frames to bake per model.
    pub fn frames(mut self, n: usize) -> Self {
        self.frames = n;
        self
    }

    /// Bake the `.edge` model at `path` (relative to the root), checked on
    /// `dataset` with inputs made by `preprocess`.
    pub fn model(
        mut self,
        name: &str,
        path: impl AsRef<Path>,
        dataset: Dataset,
        preprocess: Preprocess,
    ) -> Self {
        self.models.push(Spec {
            name: name.to_string(),
            path: path.as_ref().to_path_buf(),
            dataset,
            preprocess,
        });
        self
    }

    /// Write the data files and `baked.rs` into `out_dir`.
    pub fn write(&self, out_dir: &Path) -> Result<Vec<Baked>, CodegenError> {
        if self.models.is_empty() {
            return Err(CodegenError::new("no model to bake"));
        }
        let mut code =
            String::from("// @generated by edgerun_fw::codegen (a build script). Do not edit.\n\n");
        let mut datasets: Vec<Dataset> = vec![];
        let mut entries = String::new();
        let mut baked = vec![];
        let mut kinds: Vec<OpKind> = vec![];
        for (i, spec) in self.models.iter().enumerate() {
            let path = self.root.join(&spec.path);
            rerun_if_changed(&path);
            let file = fs::read(&path).map_err(|e| CodegenError::io(&path, e))?;
            // The firmware's conv kernel reads weights packed for the DSP
            // instructions; the packs for AVX2 would only take flash.
            let bytes = edgerun::format::write::for_cortex_m(&file)
                .map_err(|e| CodegenError::new(format!("{}: {e}", path.display())))?;
            let (images, labels, frame_bytes) = spec.dataset.load(&self.root, self.frames)?;
            let frames = images.len() / frame_bytes.max(1);
            let run = host_outputs(&bytes, &images, &labels, frame_bytes, spec.preprocess)
                .map_err(|e| CodegenError::new(format!("{}: {e}", path.display())))?;
            check_golden(&self.root, &spec.name, &run.expected, run.output_bytes)?;

            for &k in &run.kinds {
                if !kinds.contains(&k) {
                    kinds.push(k);
                }
            }
            let key = spec.dataset.key();
            if !datasets.contains(&spec.dataset) {
                datasets.push(spec.dataset.clone());
                write_file(&out_dir.join(format!("{key}.images.bin")), &images)?;
                write_file(&out_dir.join(format!("{key}.labels.bin")), &labels)?;
                let _ = writeln!(
                    code,
                    "static {upper}_IMAGES: [u8; {ni}] = *include_bytes!({img:?});\n\
                     static {upper}_LABELS: [u8; {nl}] = *include_bytes!({lab:?});",
                    upper = key.to_uppercase(),
                    ni = images.len(),
                    nl = labels.len(),
                    img = out_dir
                        .join(format!("{key}.images.bin"))
                        .display()
                        .to_string(),
                    lab = out_dir
                        .join(format!("{key}.labels.bin"))
                        .display()
                        .to_string(),
                );
            }
            let expected_path = out_dir.join(format!("model{i}.expected.bin"));
            write_file(&expected_path, &run.expected)?;
            let model_path = out_dir.join(format!("model{i}.edge"));
            write_file(&model_path, &bytes)?;
            let _ = writeln!(
                code,
                "static MODEL{i}: ::edgerun_fw::Aligned16<[u8; {len}]> =\n    \
                 ::edgerun_fw::Aligned16(*include_bytes!({model:?}));\n\
                 static MODEL{i}_EXPECTED: [u8; {ne}] = *include_bytes!({exp:?});",
                len = bytes.len(),
                model = model_path.display().to_string(),
                ne = run.expected.len(),
                exp = expected_path.display().to_string(),
            );
            let Preprocess::Divide(divisor) = spec.preprocess;
            let _ = write!(
                entries,
                "    ::edgerun_fw::BakedModel {{\n        \
                 name: {name:?},\n        \
                 bytes: &MODEL{i}.0,\n        \
                 arena_bytes: {arena},\n        \
                 macs: {macs},\n        \
                 preprocess: ::edgerun_fw::Preprocess::Divide(f32::from_bits({bits:#010x})),\n        \
                 frames: ::edgerun_fw::BakedFrames {{\n            \
                 count: {n},\n            \
                 frame_bytes: {frame_bytes},\n            \
                 output_bytes: {out},\n            \
                 images: &{upper}_IMAGES,\n            \
                 labels: &{upper}_LABELS,\n            \
                 expected: &MODEL{i}_EXPECTED,\n        \
                 }},\n        \
                 host_correct: {correct},\n    \
                 }},\n",
                name = spec.name,
                arena = run.arena_bytes,
                macs = run.macs,
                bits = divisor.to_bits(),
                n = frames,
                out = run.output_bytes,
                upper = key.to_uppercase(),
                correct = run.correct,
            );
            baked.push(Baked {
                name: spec.name.clone(),
                frames,
                host_correct: run.correct,
                arena_bytes: run.arena_bytes,
                macs: run.macs,
            });
        }
        let arena = baked.iter().map(|b| b.arena_bytes).max().unwrap_or(0);
        let _ = write!(
            code,
            "\n/// Every baked model, in the order the build script lists them.\n\
             pub static MODELS: [::edgerun_fw::BakedModel; {n}] = [\n{entries}];\n\n\
             /// The largest arena of the baked models (bytes, from a 16-byte aligned start).\n\
             pub const ARENA_BYTES: usize = {arena};\n\n\
             /// The operator kinds of the baked models: the kernels this firmware links.\n\
             pub struct BakedKernels;\n\n\
             impl ::edgerun_fw::KernelSet for BakedKernels {{\n    \
             const FLOAT: bool = {float};\n\n    \
             #[inline(always)]\n    \
             fn includes(kind: ::edgerun_fw::edgerun::OpKind) -> bool {{\n        \
             use ::edgerun_fw::edgerun::OpKind as K;\n        \
             matches!(kind, {list})\n    \
             }}\n\
             }}\n",
            n = baked.len(),
            float = kinds.iter().any(|k| k.is_float_compute()),
            list = kinds
                .iter()
                .map(|k| format!("K::{k:?}"))
                .collect::<Vec<_>>()
                .join(" | "),
        );
        write_file(&out_dir.join("baked.rs"), code.as_bytes())?;
        Ok(baked)
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CodegenError> {
    fs::write(path, bytes).map_err(|e| CodegenError::io(path, e))
}

/// The cross-target determinism check (`runtime/tests/determinism.rs`): the
/// host's outputs for the first frames of a model listed in
/// `runtime/tests/determinism.golden` must hash to its golden digest, which
/// the scalar reference kernels made. The firmware then checks its own
/// outputs against these bytes, so Cortex-M is held to the same digest.
fn check_golden(
    root: &Path,
    name: &str,
    expected: &[u8],
    output_bytes: usize,
) -> Result<(), CodegenError> {
    let path = root.join("runtime/tests/determinism.golden");
    rerun_if_changed(&path);
    let text = fs::read_to_string(&path).map_err(|e| CodegenError::io(&path, e))?;
    let Some(line) = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
    else {
        return Ok(());
    };
    let bad = || CodegenError::new(format!("{}: bad line '{line}'", path.display()));
    let mut fields = line.split_whitespace().skip(1);
    let digest = fields
        .next()
        .and_then(|d| u64::from_str_radix(d, 16).ok())
        .ok_or_else(bad)?;
    let frames: usize = fields.next().and_then(|f| f.parse().ok()).ok_or_else(bad)?;
    let Some(prefix) = expected.get(..frames * output_bytes) else {
        // EDGERUN_FW_FRAMES below the golden count: nothing to compare.
        std::println!(
            "cargo:warning={name}: fewer than {frames} frames baked, determinism not checked"
        );
        return Ok(());
    };
    let mut h = edgerun::digest::Fnv1a::new();
    h.update(prefix);
    if h.finish() != digest {
        return Err(CodegenError::new(format!(
            "{name}: the host runtime's outputs hash to {:016x}, {} says {digest:016x}",
            h.finish(),
            path.display()
        )));
    }
    Ok(())
}

struct HostRun {
    /// The operator kinds of the model, each once.
    kinds: Vec<OpKind>,
    expected: Vec<u8>,
    output_bytes: usize,
    correct: usize,
    arena_bytes: usize,
    macs: u64,
}

/// Run the host runtime on every frame, as the firmware will.
fn host_outputs(
    bytes: &[u8],
    images: &[u8],
    labels: &[u8],
    frame_bytes: usize,
    pre: Preprocess,
) -> Result<HostRun, String> {
    let aligned = AlignedBytes::new(bytes);
    let model = Model::parse(&aligned).map_err(|e| e.to_string())?;
    let mut macs = 0u64;
    let mut kinds = Vec::new();
    for rec in model.ops() {
        let op = rec.map_err(|e| e.to_string())?.op;
        macs += op.macs();
        if !kinds.contains(&op.kind()) {
            kinds.push(op.kind());
        }
    }
    let mut arena = vec![0u8; model.arena_bytes_unaligned()];
    let mut interp = Interpreter::new(&model, &mut arena).map_err(|e| e.to_string())?;
    let mut expected = Vec::new();
    let mut correct = 0;
    for (i, pixels) in images.chunks_exact(frame_bytes).enumerate() {
        fill_input(&mut interp, pixels, pre).map_err(|e| format!("{e:?}"))?;
        // All kernels: a model the firmware cannot run fails there, clearly.
        interp.invoke().map_err(|e| e.to_string())?;
        expected.extend_from_slice(interp.output_bytes(0).map_err(|e| e.to_string())?);
        let label = labels.get(i).map(|&l| usize::from(l));
        if label.is_some() && argmax(&interp).map_err(|e| format!("{e:?}"))? == label {
            correct += 1;
        }
    }
    Ok(HostRun {
        kinds,
        output_bytes: interp.output_bytes(0).map_err(|e| e.to_string())?.len(),
        expected,
        correct,
        arena_bytes: model.arena_bytes(),
        macs,
    })
}

/// How many cases of each kernel [`write_kernel_vectors`] draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelCaseCounts {
    pub conv: usize,
    pub fc: usize,
    pub pool: usize,
    pub requant: usize,
}

/// Draws the next case of a stream, runs the reference kernel on it into the
/// buffer and returns the output length.
type DrawAndRun = dyn Fn(
    &mut crate::kernel_cases::Rng,
    &mut crate::kernel_cases::Scratch,
    &mut [i8],
) -> Result<usize, edgerun::Error>;

/// Golden vectors for the on-target kernel tests: draws the cases of
/// [`crate::kernel_cases`] and runs the runtime's scalar reference kernels
/// (`conv::scalar`, `fc::scalar`, `pool::scalar`, `quant::requantize`) on them
/// here on the host, then writes their outputs (`kernel_vectors.{conv,fc,pool,
/// requant}.bin`, every case's output after the previous one, requantization
/// results as little-endian `i32`) and `kernel_vectors.rs`, which defines
/// `CONV_CASES` ... `REQUANT_CASES` and the statics `CONV_EXPECTED` ...
/// `REQUANT_EXPECTED` for a test to include. A case the reference refuses is an
/// error: the generator must only draw valid cases.
pub fn write_kernel_vectors(out_dir: &Path, n: KernelCaseCounts) -> Result<(), CodegenError> {
    use crate::kernel_cases::{self as kc, Rng, Scratch};
    use edgerun::kernels::{conv, fc};

    let mut s = std::boxed::Box::new(Scratch::new());
    let mut files: Vec<(&str, usize, Vec<u8>)> = vec![];
    // Each case's output after the previous one's; a case the reference
    // refuses is the generator's bug.
    let mut outputs =
        |op: &'static str, cases: usize, seed: u32, run: &DrawAndRun| -> Result<(), CodegenError> {
            let (mut r, mut bytes, mut out) = (Rng::new(seed), vec![], vec![0i8; kc::OUT_MAX]);
            for i in 0..cases {
                let n = run(&mut r, &mut s, &mut out).map_err(|e| {
                    CodegenError::new(format!(
                        "kernel vectors: the scalar {op} refused case {i} ({e}): fix the generator"
                    ))
                })?;
                bytes.extend(out.iter().take(n).map(|&v| v as u8));
            }
            files.push((op, cases, bytes));
            Ok(())
        };
    outputs("conv", n.conv, kc::CONV_SEED, &|r, s, out| {
        let c = kc::conv(r, s);
        c.run(conv::scalar::conv_i8, out).map(|()| c.out_len)
    })?;
    outputs("fc", n.fc, kc::FC_SEED, &|r, s, out| {
        let c = kc::fc(r, s);
        c.run(fc::scalar::fc_i8, out).map(|()| c.out_len)
    })?;
    outputs("pool", n.pool, kc::POOL_SEED, &|r, s, out| {
        let c = kc::pool(r, s);
        c.run(out).map(|()| c.out_len)
    })?;

    let (mut r, mut bytes) = (Rng::new(kc::REQUANT_SEED), vec![]);
    for _ in 0..n.requant {
        let (acc, mult, shift) = kc::requant(&mut r);
        bytes.extend(edgerun::quant::requantize(acc, mult, shift).to_le_bytes());
    }
    files.push(("requant", n.requant, bytes));

    let mut code = String::from(
        "// @generated by edgerun_fw::codegen::write_kernel_vectors (a build script). Do not edit.\n",
    );
    for (op, cases, bytes) in &files {
        let path = out_dir.join(format!("kernel_vectors.{op}.bin"));
        write_file(&path, bytes)?;
        let upper = op.to_uppercase();
        let _ = write!(
            code,
            "\n/// Cases of `kernel_cases::{op}`, and the host's scalar outputs for them.\n\
             pub const {upper}_CASES: usize = {cases};\n\
             pub static {upper}_EXPECTED: [u8; {len}] = *include_bytes!({path:?});\n",
            len = bytes.len(),
            path = path.display().to_string(),
        );
    }
    write_file(&out_dir.join("kernel_vectors.rs"), code.as_bytes())
}
