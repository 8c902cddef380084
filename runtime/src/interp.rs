//! The interpreter: runs a validated [`Model`] in an arena the caller owns.
//! `invoke` never allocates; each operator record is decoded in place and handed
//! to its kernel, or, on hosts with an allocator, decoded once beforehand
//! ([`DecodedOps`], [`Interpreter::with_decoded_ops`]): for a small model
//! such as LeNet-5 the decoding is several percent of an inference.

use crate::error::Error;
use crate::format::schema::{
    Buf, ConvGeom, ConvI8, DType, Mem, Op, OpKind, OpRecord, Requant, TensorDesc,
};
use crate::format::{ALIGN, Model};
use crate::kernels::{self, RequantParams};

/// Description of a model input or output (ONNX layout).
pub type TensorInfo<'m> = TensorDesc<'m>;

/// Called around every operator, e.g. to time it with a cycle counter.
pub trait OpHook {
    fn before_op(&mut self, _index: usize, _name: &str, _kind: OpKind) {}
    fn after_op(&mut self, _index: usize, _name: &str, _kind: OpKind) {}
}

/// A hook that does nothing.
pub struct NoHook;
impl OpHook for NoHook {}

/// The kernels an invocation may call, chosen at compile time
/// ([`Interpreter::invoke_with_kernels`]). Kernels outside the set are never
/// referenced, so the linker drops them: firmware for int8 models uses
/// [`QuantizedKernels`] and leaves out the f32 kernels and NMS (about 40 KB of
/// Cortex-M code). An operator outside the set fails with
/// [`Error::KernelNotBuilt`].
///
/// A set may also name its kinds one by one by overriding [`Self::includes`]
/// (e.g. the operators of the models a firmware bakes in, written by its build
/// script: `edgerun_fw::codegen`); the interpreter calls it with a constant
/// kind for every kernel, so a kind it leaves out drops that kernel from the
/// binary.
pub trait KernelSet {
    /// f32 compute kernels: every `*F32` operator and `Nms`.
    const FLOAT: bool;

    /// Whether the int8 conv and fully connected operators run the fastest twin
    /// of the build (DSP, AVX2, NEON or SDOT; see [`kernels::int8_twin`]), and
    /// the int8 Add, the int8 max pool, QuantizeLinear and the f32 conv their
    /// AVX2 twins on x86_64, or the
    /// portable scalar references. Both give the same bytes (the kernels'
    /// tests check the twins; `runtime/tests/determinism.rs` whole models).
    const SIMD: bool = true;

    /// Whether operators of this kind can run. Keep it a plain `matches!` (or
    /// the default) so that it folds to a constant for a constant `kind`.
    #[inline(always)]
    fn includes(kind: OpKind) -> bool {
        Self::FLOAT || !kind.is_float_compute()
    }
}

/// Every kernel ([`Interpreter::invoke`] uses it).
pub struct AllKernels;
impl KernelSet for AllKernels {
    const FLOAT: bool = true;
}

/// The kernels of int8 models: int8 compute, lookup tables, data movement and
/// the f32 <-> int8 (de)quantization at the model boundary.
pub struct QuantizedKernels;
impl KernelSet for QuantizedKernels {
    const FLOAT: bool = false;
}

/// Every kernel, with the int8 conv, fully connected and binary operators
/// and the f32 conv on their scalar reference twins on every target: the
/// bit-exact contract the SIMD twins are tested against, and what a board
/// simulation runs.
pub struct ReferenceKernels;
impl KernelSet for ReferenceKernels {
    const FLOAT: bool = true;
    const SIMD: bool = false;
}

/// Executes a model in a caller-supplied arena.
pub struct Interpreter<'m, 'a> {
    model: Model<'m>,
    arena: &'a mut [u8],
    /// The model's operator records decoded beforehand, if the caller did.
    ops: Option<&'a [OpRecord<'m>]>,
}

/// A model's operator records, decoded once (they are decoded at every
/// [`Interpreter::invoke`] otherwise), for [`Interpreter::with_decoded_ops`].
#[cfg(feature = "alloc")]
pub struct DecodedOps<'m> {
    /// The blob of the model they came from: the interpreter checks it is
    /// its model's.
    blob: &'m [u8],
    ops: alloc::vec::Vec<OpRecord<'m>>,
}

#[cfg(feature = "alloc")]
impl<'m> DecodedOps<'m> {
    /// Decode every operator record of `model` (validated by its parse).
    pub fn new(model: &Model<'m>) -> Result<Self, Error> {
        Ok(DecodedOps {
            blob: model.blob(),
            ops: model.ops().collect::<Result<_, _>>()?,
        })
    }
}

impl<'m, 'a> Interpreter<'m, 'a> {
    /// Bind a model to an arena. The arena may have any alignment; it must hold
    /// [`Model::arena_bytes_unaligned`] bytes (or [`Model::arena_bytes`] if it is
    /// 16-byte aligned).
    pub fn new(model: &Model<'m>, arena: &'a mut [u8]) -> Result<Self, Error> {
        let needed = model.arena_bytes();
        let pad = arena.as_ptr().align_offset(ALIGN);
        let got = arena.len();
        let end = pad.checked_add(needed).ok_or(Error::Overflow)?;
        let arena = arena
            .get_mut(pad..end)
            .ok_or(Error::ArenaTooSmall { needed: end, got })?;
        Ok(Interpreter {
            model: *model,
            arena,
            ops: None,
        })
    }

    /// [`Interpreter::new`] with the model's operator records decoded
    /// beforehand: `invoke` then reads them instead of decoding the records.
    /// [`Error::InvalidParameter`] when `ops` were decoded from another model.
    #[cfg(feature = "alloc")]
    pub fn with_decoded_ops(
        model: &Model<'m>,
        arena: &'a mut [u8],
        ops: &'a DecodedOps<'m>,
    ) -> Result<Self, Error> {
        if !core::ptr::eq(ops.blob, model.blob()) {
            return Err(Error::InvalidParameter);
        }
        let mut interp = Self::new(model, arena)?;
        interp.ops = Some(&ops.ops);
        Ok(interp)
    }

    pub fn model(&self) -> &Model<'m> {
        &self.model
    }

    /// Bytes of the arena the model uses.
    pub fn arena_used_bytes(&self) -> usize {
        self.arena.len()
    }

    pub fn input(&self, i: usize) -> Result<TensorInfo<'m>, Error> {
        self.model.input(i)
    }
    pub fn output(&self, i: usize) -> Result<TensorInfo<'m>, Error> {
        self.model.output(i)
    }

    /// Raw bytes of input `i`.
    pub fn input_bytes_mut(&mut self, i: usize) -> Result<&mut [u8], Error> {
        let d = self.model.input(i)?;
        arena_slice_mut(self.arena, d.buf)
    }
    /// Raw bytes of output `i`.
    pub fn output_bytes(&self, i: usize) -> Result<&[u8], Error> {
        let d = self.model.output(i)?;
        arena_slice(self.arena, d.buf)
    }

    pub fn input_f32_mut(&mut self, i: usize) -> Result<&mut [f32], Error> {
        expect_dtype(self.model.input(i)?.dtype, DType::F32)?;
        f32s_mut(self.input_bytes_mut(i)?)
    }
    pub fn input_i8_mut(&mut self, i: usize) -> Result<&mut [i8], Error> {
        expect_dtype(self.model.input(i)?.dtype, DType::I8)?;
        Ok(bytemuck::cast_slice_mut(self.input_bytes_mut(i)?))
    }
    pub fn input_u8_mut(&mut self, i: usize) -> Result<&mut [u8], Error> {
        expect_dtype(self.model.input(i)?.dtype, DType::U8)?;
        self.input_bytes_mut(i)
    }
    pub fn output_f32(&self, i: usize) -> Result<&[f32], Error> {
        expect_dtype(self.model.output(i)?.dtype, DType::F32)?;
        f32s(self.output_bytes(i)?)
    }
    pub fn output_i8(&self, i: usize) -> Result<&[i8], Error> {
        expect_dtype(self.model.output(i)?.dtype, DType::I8)?;
        Ok(bytemuck::cast_slice(self.output_bytes(i)?))
    }
    pub fn output_u8(&self, i: usize) -> Result<&[u8], Error> {
        expect_dtype(self.model.output(i)?.dtype, DType::U8)?;
        self.output_bytes(i)
    }
    pub fn output_i32(&self, i: usize) -> Result<&[i32], Error> {
        expect_dtype(self.model.output(i)?.dtype, DType::I32)?;
        i32s(self.output_bytes(i)?)
    }

    /// The number of valid rows of output `i` after the last [`Self::invoke`],
    /// for an output whose first dimension depends on the data; `None` for an
    /// output whose shape is exactly its static shape.
    ///
    /// The one such output is ONNX NonMaxSuppression's `selected_indices`
    /// ([`Op::Nms`]): its static shape is `[max_rows, 3]` (`i32`), the first
    /// `rows` rows are the selection and the others hold -1.
    pub fn output_rows(&self, i: usize) -> Result<Option<usize>, Error> {
        let d = self.model.output(i)?;
        let mut found = None;
        for rec in self.model.ops() {
            if let Op::Nms(p) = rec?.op
                && p.output.mem == Mem::Arena
                && p.output.offset == d.buf.offset
            {
                found = Some(p);
            }
        }
        let Some(p) = found else {
            return Ok(None);
        };
        let lens = kernels::nms::float::nms_lens(&p)?;
        let bytes = lens.rows.checked_mul(3 * 4).ok_or(Error::Overflow)?;
        if d.dtype != DType::I32 || d.buf.len as usize != bytes {
            return Err(Error::BadGeometry);
        }
        // The count word follows the rows.
        let at = (p.output.offset as usize)
            .checked_add(bytes)
            .ok_or(Error::Overflow)?;
        let count = self
            .arena
            .get(at..at.saturating_add(4))
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(i32::from_le_bytes)
            .ok_or(Error::OutOfBounds)?;
        Ok(Some((count.max(0) as usize).min(lens.rows)))
    }

    /// Copy `data` into f32 input `i` (length must match).
    pub fn set_input_f32(&mut self, i: usize, data: &[f32]) -> Result<(), Error> {
        let dst = self.input_f32_mut(i)?;
        if dst.len() != data.len() {
            return Err(Error::WrongLength {
                expected: dst.len(),
                got: data.len(),
            });
        }
        dst.copy_from_slice(data);
        Ok(())
    }

    /// Run the model once.
    pub fn invoke(&mut self) -> Result<(), Error> {
        self.invoke_with_hook(&mut NoHook)
    }

    /// Run the model once, calling `hook` around every operator.
    pub fn invoke_with_hook(&mut self, hook: &mut impl OpHook) -> Result<(), Error> {
        self.invoke_with_kernels::<AllKernels>(hook)
    }

    /// Run the model once with only the kernels of `K` linked in, calling
    /// `hook` around every operator. Fails with [`Error::KernelNotBuilt`] at
    /// the first operator outside `K`, before running it.
    pub fn invoke_with_kernels<K: KernelSet>(
        &mut self,
        hook: &mut impl OpHook,
    ) -> Result<(), Error> {
        self.each_op(|index, rec, arena, blob| run_record::<K>(index, rec, arena, blob, hook))
    }

    /// Run the model once with every kernel ([`AllKernels`]), each int8
    /// convolution of enough work cut into parts of output rows that the
    /// threads of `threads` compute at the same time
    /// ([`crate::kernels::conv::rows_part`]; convolutions under
    /// [`crate::threads::MIN_MACS_PER_PART`] MACs per part stay whole). The
    /// outputs are [`Interpreter::invoke`]'s, byte for byte.
    #[cfg(feature = "threads")]
    pub fn invoke_threaded(&mut self, threads: &crate::threads::Threads) -> Result<(), Error> {
        self.each_op(|_, rec, arena, blob| match &rec.op {
            Op::ConvI8(p) => conv_i8_op::<AllKernels>(p, arena, blob, Some(threads)),
            op => run_op::<AllKernels>(op, arena, blob),
        })
    }

    /// `f(index, record, arena, blob)` for every operator in order: the
    /// records decoded beforehand, or decoded one by one.
    #[inline(always)]
    fn each_op(
        &mut self,
        mut f: impl FnMut(usize, &OpRecord<'m>, &mut [u8], &[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let blob = self.model.blob();
        if let Some(ops) = self.ops {
            for (index, rec) in ops.iter().enumerate() {
                f(index, rec, self.arena, blob)?;
            }
            return Ok(());
        }
        for (index, rec) in self.model.ops().enumerate() {
            f(index, &rec?, self.arena, blob)?;
        }
        Ok(())
    }
}

/// Run operator `index` (record `rec`) with the kernels of `K`, calling
/// `hook` around it.
#[inline(always)]
fn run_record<K: KernelSet>(
    index: usize,
    rec: &OpRecord<'_>,
    arena: &mut [u8],
    blob: &[u8],
    hook: &mut impl OpHook,
) -> Result<(), Error> {
    let kind = rec.op.kind();
    if !K::includes(kind) {
        return Err(Error::KernelNotBuilt(kind));
    }
    hook.before_op(index, rec.name, kind);
    run_op::<K>(&rec.op, arena, blob)?;
    hook.after_op(index, rec.name, kind);
    Ok(())
}

fn expect_dtype(got: DType, want: DType) -> Result<(), Error> {
    if got == want {
        Ok(())
    } else {
        Err(Error::WrongDType)
    }
}

fn range(b: Buf) -> Result<core::ops::Range<usize>, Error> {
    let start = b.offset as usize;
    let end = start.checked_add(b.len as usize).ok_or(Error::Overflow)?;
    Ok(start..end)
}

fn arena_slice(arena: &[u8], b: Buf) -> Result<&[u8], Error> {
    if b.mem != Mem::Arena {
        return Err(Error::OutOfBounds);
    }
    arena.get(range(b)?).ok_or(Error::OutOfBounds)
}

fn arena_slice_mut(arena: &mut [u8], b: Buf) -> Result<&mut [u8], Error> {
    if b.mem != Mem::Arena {
        return Err(Error::OutOfBounds);
    }
    arena.get_mut(range(b)?).ok_or(Error::OutOfBounds)
}

pub(crate) fn f32s(b: &[u8]) -> Result<&[f32], Error> {
    bytemuck::try_cast_slice(b).map_err(|_| Error::Misaligned)
}
fn f32s_mut(b: &mut [u8]) -> Result<&mut [f32], Error> {
    bytemuck::try_cast_slice_mut(b).map_err(|_| Error::Misaligned)
}
pub(crate) fn i32s(b: &[u8]) -> Result<&[i32], Error> {
    bytemuck::try_cast_slice(b).map_err(|_| Error::Misaligned)
}
fn i32s_mut(b: &mut [u8]) -> Result<&mut [i32], Error> {
    bytemuck::try_cast_slice_mut(b).map_err(|_| Error::Misaligned)
}
fn i16s(b: &[u8]) -> Result<&[i16], Error> {
    bytemuck::try_cast_slice(b).map_err(|_| Error::Misaligned)
}
fn u32s(b: &[u8]) -> Result<&[u32], Error> {
    bytemuck::try_cast_slice(b).map_err(|_| Error::Misaligned)
}
fn i8s(b: &[u8]) -> &[i8] {
    bytemuck::cast_slice(b)
}
fn i8s_mut(b: &mut [u8]) -> &mut [i8] {
    bytemuck::cast_slice_mut(b)
}

/// Read-only view of everything except one operator's output.
struct Inputs<'x> {
    before: &'x [u8],
    after: &'x [u8],
    out: core::ops::Range<usize>,
    blob: &'x [u8],
}

impl<'x> Inputs<'x> {
    fn get(&self, b: Buf) -> Result<&'x [u8], Error> {
        let r = range(b)?;
        match b.mem {
            Mem::Blob => self.blob.get(r).ok_or(Error::OutOfBounds),
            Mem::Arena if r.end <= self.out.start => self.before.get(r).ok_or(Error::OutOfBounds),
            Mem::Arena if r.start >= self.out.end => {
                let s = r.start - self.out.end;
                let e = r.end - self.out.end;
                self.after.get(s..e).ok_or(Error::OutOfBounds)
            }
            Mem::Arena => Err(Error::Overlap),
        }
    }
    fn get_opt(&self, b: Option<Buf>) -> Result<Option<&'x [u8]>, Error> {
        b.map(|b| self.get(b)).transpose()
    }
    fn requant(&self, rq: &Requant) -> Result<RequantParams<'x>, Error> {
        Ok(RequantParams {
            mult: i32s(self.get(rq.mult)?)?,
            shift: i32s(self.get(rq.shift)?)?,
            output_offset: rq.output_offset,
            act_min: rq.act_min,
            act_max: rq.act_max,
        })
    }
}

/// Split the arena into an operator's output and everything else.
fn split<'x>(
    arena: &'x mut [u8],
    blob: &'x [u8],
    out: Buf,
) -> Result<(Inputs<'x>, &'x mut [u8]), Error> {
    if out.mem != Mem::Arena {
        return Err(Error::OutOfBounds);
    }
    let r = range(out)?;
    if r.end > arena.len() {
        return Err(Error::OutOfBounds);
    }
    let (before, rest) = arena.split_at_mut(r.start);
    let (out_bytes, after) = rest.split_at_mut(r.end - r.start);
    Ok((
        Inputs {
            before,
            after,
            out: r,
            blob,
        },
        out_bytes,
    ))
}

/// Splits work across threads (`threads` feature; an uninhabited type
/// without it, so that `None` is the only value).
#[cfg(feature = "threads")]
type Pool = crate::threads::Threads;
#[cfg(not(feature = "threads"))]
enum Pool {}

/// An int8 convolution: its operands from the arena and the blob, then the
/// kernel of `K`; with `threads`, in parts of output rows, one per thread
/// ([`crate::kernels::conv::rows_part`]), when the convolution is large
/// enough.
fn conv_i8_op<K: KernelSet>(
    p: &ConvI8,
    arena: &mut [u8],
    blob: &[u8],
    threads: Option<&Pool>,
) -> Result<(), Error> {
    use kernels::conv;
    let (m, out) = split(arena, blob, p.output)?;
    let bias = m.get_opt(p.bias)?.map(i32s).transpose()?;
    let (input, weights) = (i8s(m.get(p.input)?), i8s(m.get(p.weights)?));
    let out = i8s_mut(out);
    let rq = m.requant(&p.rq)?;
    let packed = match p.packed {
        Some(pw) if K::SIMD => Some(conv::Packed {
            kind: pw.kind,
            values: i16s(m.get(pw.buf)?)?,
        }),
        _ => None,
    };
    let run = |g: &ConvGeom, input: &[i8], out: &mut [i8]| {
        if K::SIMD {
            conv::conv_i8(
                g,
                input,
                weights,
                packed,
                bias,
                p.input_offset,
                p.weight_offset,
                &rq,
                out,
            )
        } else {
            conv::scalar::conv_i8(
                g,
                input,
                weights,
                bias,
                p.input_offset,
                p.weight_offset,
                &rq,
                out,
            )
        }
    };
    #[cfg(feature = "threads")]
    if let Some(t) = threads {
        let g = &p.geom;
        let n = t.parts(g.out_h, g.macs());
        if n > 1 && g.n == 1 {
            return run_in_parts(g, n, input, out, t, &run);
        }
    }
    #[cfg(not(feature = "threads"))]
    let _ = threads;
    run(&p.geom, input, out)
}

/// `run` on `n` parts of `g`'s output rows, one per task of `t`.
#[cfg(feature = "threads")]
fn run_in_parts(
    g: &ConvGeom,
    n: u32,
    input: &[i8],
    out: &mut [i8],
    t: &Pool,
    run: &(impl Fn(&ConvGeom, &[i8], &mut [i8]) -> Result<(), Error> + Sync),
) -> Result<(), Error> {
    let per = g.out_h.div_ceil(n);
    let mut parts = std::vec::Vec::new();
    // The parts' output ranges follow each other from the start of `out`.
    let mut rest = out;
    for r0 in (0..g.out_h).step_by(per as usize) {
        let rows = r0..(r0 + per).min(g.out_h);
        let (part, in_range, out_range) =
            kernels::conv::rows_part(g, rows).ok_or(Error::BadGeometry)?;
        let (mine, later) = core::mem::take(&mut rest)
            .split_at_mut_checked(out_range.len())
            .ok_or(Error::BadGeometry)?;
        rest = later;
        parts.push((part, input.get(in_range).ok_or(Error::BadGeometry)?, mine));
    }
    t.run(parts, |(part, input, mine)| run(&part, input, mine))
}

/// Execute one operator: resolve its buffers, call its kernel. Operators
/// outside `K` are refused without referencing their kernels (every arm is
/// guarded by `K::includes` of its kind).
///
/// Out of line: inlined into the interpreter loop and on into a firmware's
/// `main`, it made the Cortex-M firmware 1.6 KB larger (one huge stack frame)
/// and no faster; the call costs a few instructions per operator.
#[inline(never)]
pub(crate) fn run_op<K: KernelSet>(op: &Op, arena: &mut [u8], blob: &[u8]) -> Result<(), Error> {
    use kernels::*;
    match op {
        Op::ConvF32(p) if K::includes(OpKind::ConvF32) => {
            let (m, out) = split(arena, blob, p.output)?;
            let bias = m.get_opt(p.bias)?.map(f32s).transpose()?;
            let conv_f32 = if K::SIMD {
                conv::conv_f32
            } else {
                conv::float::conv_f32
            };
            conv_f32(
                &p.geom,
                f32s(m.get(p.input)?)?,
                f32s(m.get(p.weights)?)?,
                bias,
                p.act,
                f32s_mut(out)?,
            )
        }
        Op::ConvI8(p) if K::includes(OpKind::ConvI8) => conv_i8_op::<K>(p, arena, blob, None),
        Op::PoolF32(p) if K::includes(OpKind::PoolF32) => {
            let (m, out) = split(arena, blob, p.output)?;
            pool::float::pool_f32(&p.geom, f32s(m.get(p.input)?)?, p.act, f32s_mut(out)?)
        }
        Op::PoolI8(p) if K::includes(OpKind::PoolI8) => {
            let (m, out) = split(arena, blob, p.output)?;
            let pool_i8 = if K::SIMD {
                pool::pool_i8
            } else {
                pool::scalar::pool_i8
            };
            pool_i8(
                &p.geom,
                i8s(m.get(p.input)?),
                p.input_zero_point,
                &m.requant(&p.rq)?,
                i8s_mut(out),
            )
        }
        Op::FcF32(p) if K::includes(OpKind::FcF32) => {
            let (m, out) = split(arena, blob, p.output)?;
            let bias = m.get_opt(p.bias)?.map(f32s).transpose()?;
            fc::float::fc_f32(
                p,
                f32s(m.get(p.input)?)?,
                f32s(m.get(p.weights)?)?,
                bias,
                f32s_mut(out)?,
            )
        }
        Op::FcI8(p) if K::includes(OpKind::FcI8) => {
            let (m, out) = split(arena, blob, p.output)?;
            let bias = m.get_opt(p.bias)?.map(i32s).transpose()?;
            let (input, weights) = (i8s(m.get(p.input)?), i8s(m.get(p.weights)?));
            let rq = m.requant(&p.rq)?;
            if K::SIMD {
                let packed = match p.packed {
                    Some(pw) => Some(kernels::conv::Packed {
                        kind: pw.kind,
                        values: i16s(m.get(pw.buf)?)?,
                    }),
                    None => None,
                };
                fc::fc_i8(p, input, weights, packed, bias, &rq, i8s_mut(out))
            } else {
                fc::scalar::fc_i8(p, input, weights, bias, &rq, i8s_mut(out))
            }
        }
        Op::MatMulF32(p) if K::includes(OpKind::MatMulF32) => {
            let (m, out) = split(arena, blob, p.output)?;
            matmul::float::matmul_f32(p, f32s(m.get(p.a)?)?, f32s(m.get(p.b)?)?, f32s_mut(out)?)
        }
        Op::BinaryF32(p) if K::includes(OpKind::BinaryF32) => {
            let (m, out) = split(arena, blob, p.output)?;
            binary::float::binary_f32(p, f32s(m.get(p.a)?)?, f32s(m.get(p.b)?)?, f32s_mut(out)?)
        }
        Op::BinaryI8(p) if K::includes(OpKind::BinaryI8) => {
            let (m, out) = split(arena, blob, p.output)?;
            let binary_i8 = if K::SIMD {
                binary::binary_i8
            } else {
                binary::scalar::binary_i8
            };
            binary_i8(
                p,
                i8s(m.get(p.a)?),
                i8s(m.get(p.b)?),
                &m.requant(&p.rq)?,
                i8s_mut(out),
            )
        }
        Op::UnaryF32(p) if K::includes(OpKind::UnaryF32) => {
            let (m, out) = split(arena, blob, p.output)?;
            unary::float::unary_f32(p, f32s(m.get(p.input)?)?, f32s_mut(out)?)
        }
        Op::Lut8(p) if K::includes(OpKind::Lut8) => {
            let (m, out) = split(arena, blob, p.output)?;
            unary::scalar::lut8(m.get(p.table)?, m.get(p.input)?, out)
        }
        Op::SoftmaxF32(p) if K::includes(OpKind::SoftmaxF32) => {
            let (m, out) = split(arena, blob, p.output)?;
            softmax::float::softmax_f32(p, f32s(m.get(p.input)?)?, f32s_mut(out)?)
        }
        Op::SoftmaxI8(p) if K::includes(OpKind::SoftmaxI8) => {
            let (m, out) = split(arena, blob, p.output)?;
            softmax::scalar::softmax_i8(
                p,
                i8s(m.get(p.input)?),
                f32s(m.get(p.exp_table)?)?,
                i8s_mut(out),
            )
        }
        Op::CopyChunks(p) if K::includes(OpKind::CopyChunks) => {
            let (m, out) = split(arena, blob, p.output)?;
            copy::scalar::copy_chunks(p, m.get(p.input)?, m.get_opt(p.table)?, out)
        }
        Op::Transpose(p) if K::includes(OpKind::Transpose) => {
            let (m, out) = split(arena, blob, p.output)?;
            copy::scalar::transpose(p, m.get(p.input)?, out)
        }
        Op::Gather(p) if K::includes(OpKind::Gather) => {
            let (m, out) = split(arena, blob, p.output)?;
            copy::scalar::gather(p, u32s(m.get(p.maps)?)?, m.get(p.input)?, out)
        }
        Op::Quantize(p) if K::includes(OpKind::Quantize) => {
            let (m, out) = split(arena, blob, p.output)?;
            let quantize = if K::SIMD {
                quantize::quantize
            } else {
                quantize::scalar::quantize
            };
            quantize(
                p,
                f32s(m.get(p.input)?)?,
                f32s(m.get(p.scales)?)?,
                i32s(m.get(p.zero_points)?)?,
                out,
            )
        }
        Op::Dequantize(p) if K::includes(OpKind::Dequantize) => {
            let (m, out) = split(arena, blob, p.output)?;
            let raw = m.get(p.input)?;
            let input = match p.in_dtype {
                DType::I8 => quantize::scalar::QInput::I8(i8s(raw)),
                DType::U8 => quantize::scalar::QInput::U8(raw),
                DType::I32 => quantize::scalar::QInput::I32(i32s(raw)?),
                DType::F32 => return Err(Error::InvalidParameter),
            };
            quantize::scalar::dequantize(
                p,
                input,
                f32s(m.get(p.scales)?)?,
                i32s(m.get(p.zero_points)?)?,
                f32s_mut(out)?,
            )
        }
        Op::ChannelAffineF32(p) if K::includes(OpKind::ChannelAffineF32) => {
            let (m, out) = split(arena, blob, p.output)?;
            affine::float::channel_affine_f32(
                p,
                f32s(m.get(p.scale)?)?,
                f32s(m.get(p.shift)?)?,
                f32s(m.get(p.input)?)?,
                f32s_mut(out)?,
            )
        }
        Op::Nms(p) if K::includes(OpKind::Nms) => {
            let (m, out) = split(arena, blob, p.output)?;
            nms::float::nms_f32(
                p,
                f32s(m.get(p.boxes)?)?,
                f32s(m.get(p.scores)?)?,
                i32s_mut(out)?,
            )
            .map(|_| ())
        }
        Op::LrnF32(p) if K::FLOAT => {
            let (m, out) = split(arena, blob, p.output)?;
            lrn::float::lrn_f32(p, f32s(m.get(p.input)?)?, f32s_mut(out)?)
        }
        _ => Err(Error::KernelNotBuilt(op.kind())),
    }
}
