//! Building blocks of the Armv7E-M DSP kernels (`conv/dsp.rs`, `fc/dsp.rs`).
//!
//! The kernels are written once, generic over [`DspOps`], the three DSP-extension
//! instructions they use:
//! - `SXTB16 x` / `SXTB16 x, ROR #8`: the even / odd bytes of a word, each sign-extended
//!   to an `i16` lane (`[b0, b2]` / `[b1, b3]`);
//! - `SMLAD a, b, acc`: `acc + a.lo * b.lo + a.hi * b.hi` on `i16` lanes (wrapping).
//!
//! [`Native`] issues them with `asm!` (the `core::arch::arm` intrinsics are unstable
//! on Rust 1.95); [`Emulated`] computes the same values in portable Rust, so that
//! the kernels' loop structure (im2col rows, blocking, tails) is tested bit-exact on
//! any host, while `firmware/run-qemu.sh` runs the native instructions.
//!
//! # Layout
//!
//! Activations are widened once to `i16` (`x + input_offset`, in `[-255, 255]`) into
//! rows of words ([`Rows`]), each group of 4 values in the order `[x0, x2] [x1, x3]`
//! (what `SXTB16` and `SXTB16 ROR #8` give of 4 bytes, see [`widen_groups`] and
//! [`finish_row`]). The compiler packs the weights ahead of time as `i16` in the
//! same order, both channels of a pair side by side
//! (`kernels::conv::pack::pack_dsp_rows`), so that per group of 4 values one `LDM`
//! loads the weights of two channels and two `SMLAD`s sum the 4 products of a
//! pixel and a channel. The reduction length is rounded up to whole groups
//! (zero weights, zero-padded rows). Layers without packed weights run the scalar
//! kernels: the firmware's build packs every layer the kernels run
//! (`format::write::for_cortex_m`).
//!
//! The kernels take symmetric weights (weight zero point 0, what int8 quantizers
//! write: edgerun's, TFLite's, onnxruntime's per-channel S8S8); a layer with a
//! weight zero point runs the scalar kernel. Sums are wrapping `i32`, as in the
//! scalar kernels, so the results are bit-exact with them.

use crate::kernels::RequantParams;
use crate::kernels::conv::scalar::requant_out_inline;
use crate::quant::Multiplier;

/// The DSP-extension instructions the kernels use.
pub trait DspOps: Sized {
    /// Lanes `[sext(b0), sext(b2)]` of `x`.
    fn sxtb16(x: u32) -> u32;
    /// Lanes `[sext(b1), sext(b3)]` of `x` (`SXTB16 x, ROR #8`).
    fn sxtb16_ror8(x: u32) -> u32;
    /// `acc + lo(a) * lo(b) + hi(a) * hi(b)`, lanes as `i16`, wrapping.
    fn smlad(a: u32, b: u32, acc: i32) -> i32;
    /// Lane-wise `a + b` on `i16` lanes, wrapping.
    fn sadd16(a: u32, b: u32) -> u32;

    /// The 2-pixel x 2-channel inner loop for `acc.len() / 2` pairs of channels
    /// (`acc.len()` even): pair `j` reads `n` groups of its packed weights
    /// ([`crate::kernels::conv::pack::pack_dsp_rows`]), `w[j * n..(j + 1) * n]`,
    /// each the four words `[c0 even, c0 odd, c1 even, c1 odd]`, against `n`
    /// groups of both rows of `rows` (at most `ROW_WORDS / 2`), into
    /// `acc[2j] = [x0.c0, x1.c0]` and `acc[2j + 1] = [x0.c1, x1.c1]`.
    #[inline(always)]
    fn mac_pairs(rows: &Rows, w: &[[u32; 4]], n: usize, acc: &mut [[i32; 2]]) {
        let (x0, x1) = rows.split_at(ROW_WORDS);
        let (g0, _) = x0.as_chunks::<2>();
        let (g1, _) = x1.as_chunks::<2>();
        for (j, pair) in acc.chunks_exact_mut(2).enumerate() {
            let wj = w.get(j * n..(j + 1) * n).unwrap_or_default();
            let mut a = [0i32; 4]; // [x0.c0, x0.c1, x1.c0, x1.c1]
            for ((xa, xb), w) in g0.iter().zip(g1).zip(wj).take(n) {
                a[0] = Self::smlad(xa[1], w[1], Self::smlad(xa[0], w[0], a[0]));
                a[1] = Self::smlad(xa[1], w[3], Self::smlad(xa[0], w[2], a[1]));
                a[2] = Self::smlad(xb[1], w[1], Self::smlad(xb[0], w[0], a[2]));
                a[3] = Self::smlad(xb[1], w[3], Self::smlad(xb[0], w[2], a[3]));
            }
            if let [x, y] = pair {
                *x = [a[0], a[2]];
                *y = [a[1], a[3]];
            }
        }
    }
}

/// The DSP instructions in portable Rust (the reference the native ones must match).
pub struct Emulated;

impl DspOps for Emulated {
    #[inline(always)]
    fn sxtb16(x: u32) -> u32 {
        let lo = x as u8 as i8 as i16 as u16 as u32;
        let hi = (x >> 16) as u8 as i8 as i16 as u16 as u32;
        lo | (hi << 16)
    }
    #[inline(always)]
    fn sxtb16_ror8(x: u32) -> u32 {
        Self::sxtb16(x.rotate_right(8))
    }
    #[inline(always)]
    fn smlad(a: u32, b: u32, acc: i32) -> i32 {
        let p0 = (a as i16 as i32) * (b as i16 as i32);
        let p1 = ((a >> 16) as i16 as i32) * ((b >> 16) as i16 as i32);
        acc.wrapping_add(p0).wrapping_add(p1)
    }
    #[inline(always)]
    fn sadd16(a: u32, b: u32) -> u32 {
        let lo = (a as u16).wrapping_add(b as u16) as u32;
        let hi = ((a >> 16) as u16).wrapping_add((b >> 16) as u16) as u32;
        lo | (hi << 16)
    }
}

/// The text of one group of the packed 2x2 step in `Native::mac_pairs`: one
/// `LDM` of both channels' four weight words (r2..r5), the rows' four words of
/// the group (pixel 1 at `ROW_BYTES`), 8 `SMLAD`; the row pointer advances by
/// the group's 8 bytes. The loop holds it twice (two groups per iteration).
#[cfg(edgerun_dsp)]
macro_rules! group_2x2 {
    () => {
        concat!(
            "ldm {pw}!, {{r2, r3, r4, r5}}\n",
            "ldr.w {x}, [{px}, #{rb}]\n",
            "smlad {a10}, {x}, r2, {a10}\n",
            "smlad {a11}, {x}, r4, {a11}\n",
            "ldr.w {x}, [{px}, #{rb4}]\n",
            "smlad {a10}, {x}, r3, {a10}\n",
            "smlad {a11}, {x}, r5, {a11}\n",
            "ldr {x}, [{px}, #4]\n",
            "smlad {a00}, {x}, r3, {a00}\n",
            "smlad {a01}, {x}, r5, {a01}\n",
            "ldr {x}, [{px}], #8\n",
            "smlad {a00}, {x}, r2, {a00}\n",
            "smlad {a01}, {x}, r4, {a01}\n",
        )
    };
}

/// The DSP instructions themselves (Armv7E-M: Cortex-M4, M7; Cortex-M33 with DSP).
#[cfg(edgerun_dsp)]
pub struct Native;

#[cfg(edgerun_dsp)]
impl DspOps for Native {
    #[inline(always)]
    fn sxtb16(x: u32) -> u32 {
        let r: u32;
        // SAFETY: one register-to-register instruction of the DSP extension, which
        // `cfg(edgerun_dsp)` guarantees; it reads no memory and writes only `r`.
        unsafe {
            core::arch::asm!("sxtb16 {r}, {x}", r = lateout(reg) r, x = in(reg) x,
                options(pure, nomem, nostack, preserves_flags));
        }
        r
    }
    #[inline(always)]
    fn sxtb16_ror8(x: u32) -> u32 {
        let r: u32;
        // SAFETY: as in `sxtb16`.
        unsafe {
            core::arch::asm!("sxtb16 {r}, {x}, ror #8", r = lateout(reg) r, x = in(reg) x,
                options(pure, nomem, nostack, preserves_flags));
        }
        r
    }
    #[inline(always)]
    fn smlad(a: u32, b: u32, acc: i32) -> i32 {
        let r: i32;
        // SAFETY: one register-to-register DSP instruction (see `sxtb16`). SMLAD may
        // set the sticky Q flag on overflow, which nothing reads; the result wraps,
        // as the scalar kernels' `wrapping_add`.
        unsafe {
            core::arch::asm!("smlad {r}, {a}, {b}, {c}", r = lateout(reg) r, a = in(reg) a,
                b = in(reg) b, c = in(reg) acc, options(pure, nomem, nostack));
        }
        r
    }
    #[inline(always)]
    fn sadd16(a: u32, b: u32) -> u32 {
        let r: u32;
        // SAFETY: one register-to-register DSP instruction (see `sxtb16`); it sets
        // the GE flags, which nothing reads.
        unsafe {
            core::arch::asm!("sadd16 {r}, {a}, {b}", r = lateout(reg) r, a = in(reg) a,
                b = in(reg) b, options(pure, nomem, nostack));
        }
        r
    }

    /// [`DspOps::mac_pairs`] in one assembly loop over the pairs, instead of a
    /// call per pair: per pair, the accumulators zeroed, then per group one
    /// `LDM` of both channels' four weight words, 4 row loads and 8 `SMLAD` for
    /// 16 MACs, two groups per iteration (an odd count enters at the second),
    /// so that the loop test costs one instruction per group: 14 instructions
    /// per 16 MACs; then the four accumulators stored.
    #[inline(always)]
    fn mac_pairs(rows: &Rows, w: &[[u32; 4]], n: usize, acc: &mut [[i32; 2]]) {
        let n = n.min(ROW_WORDS / 2);
        let pairs = acc.len() / 2;
        if n == 0 || pairs == 0 || w.len() < pairs.saturating_mul(n) {
            for pair in acc.iter_mut() {
                *pair = [0; 2];
            }
            return;
        }
        // The loop's state in memory (it has no register left): the rows, the
        // bytes of a row's groups, where the next pair's accumulators go, the
        // pairs left.
        let mut ctx = [
            rows.as_ptr() as usize,
            8 * n,
            acc.as_mut_ptr() as usize,
            pairs,
        ];
        // SAFETY: each of the `pairs >= 1` passes runs over `n >= 1` groups
        // from the start of the rows: group `i` reads words `2i`, `2i + 1` of row
        // 0 and row 1 (`2i + 1 < ROW_WORDS` as `n <= ROW_WORDS / 2`), and the
        // inner loop ends when the row pointer reaches `end`, `8n` bytes on
        // (an odd `n` enters at the second group of the loop). A pass reads the
        // next `n` groups of `w` (`pairs * n <= w.len()` in all, word-aligned
        // for `LDM`: `w` is a slice of `[u32; 4]`), then
        // writes 16 bytes at the accumulator pointer, which starts at `acc` and
        // advances 16 bytes per pass: `pairs` passes write `acc.len() * 8`
        // bytes, all of `acc`. `ctx` is read and written through its pointer.
        // `LDM`'s registers are fixed and ascending; the others are clobbered.
        unsafe {
            core::arch::asm!(
                "2:",
                "ldr {px}, [{ctx}]",
                "ldr {x}, [{ctx}, #4]",
                "add {end}, {px}, {x}",
                "mov.w {a00}, #0",
                "mov.w {a01}, #0",
                "mov.w {a10}, #0",
                "mov.w {a11}, #0",
                "tst {x}, #8",
                "bne 4f",
                "3:",
                group_2x2!(),
                "4:",
                group_2x2!(),
                "cmp {px}, {end}",
                "bne 3b",
                "ldr {x}, [{ctx}, #8]",
                "str {a00}, [{x}], #4",
                "str {a10}, [{x}], #4",
                "str {a01}, [{x}], #4",
                "str {a11}, [{x}], #4",
                "str {x}, [{ctx}, #8]",
                "ldr {x}, [{ctx}, #12]",
                "subs {x}, #1",
                "str {x}, [{ctx}, #12]",
                "bne 2b",
                ctx = in(reg) ctx.as_mut_ptr(),
                pw = inout(reg) w.as_ptr() => _,
                px = out(reg) _,
                x = out(reg) _,
                end = out(reg) _,
                a00 = out(reg) _,
                a01 = out(reg) _,
                a10 = out(reg) _,
                a11 = out(reg) _,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                out("r5") _,
                rb = const ROW_BYTES,
                rb4 = const ROW_BYTES + 4,
                options(nostack),
            );
        }
    }
}

/// Longest reduction (`k_h * k_w * in_c` of a conv, `k` of a fully connected layer)
/// the DSP kernels widen into their stack rows; longer ones run the scalar kernel.
/// 640 covers 3x3x64 and 5x5x16 windows and LeNet-5's 400-wide fc (two conv rows:
/// 2.5 KiB of stack).
pub const ROW_MAX: usize = crate::kernels::conv::pack::DSP_ROW_MAX;

/// Words of one widened row: `ROW_MAX` `i16` values.
pub const ROW_WORDS: usize = ROW_MAX / 2;

/// Two widened rows back to back (row 1 at word `ROW_WORDS`), so that a kernel reaches
/// both through one pointer (see the module docs for the order of the values).
pub type Rows = [u32; 2 * ROW_WORDS];

/// Byte distance from row 0 to row 1 of [`Rows`].
pub const ROW_BYTES: usize = ROW_WORDS * 4;

/// Groups of 4 values in a row of `len` values, the last one zero-padded.
#[inline(always)]
pub fn groups(len: usize) -> usize {
    len.div_ceil(4)
}

/// Finish a row whose first `len` values were written in natural order: zero the
/// padding up to a multiple of 4, then put each group of 4 in the `[x0, x2] [x1, x3]`
/// order that `SXTB16` gives the weights.
#[inline(always)]
pub fn finish_row(row: &mut [u32], len: usize) {
    let n = groups(len);
    if !len.is_multiple_of(4) {
        let vals: &mut [i16] = bytemuck::cast_slice_mut(row);
        for i in len..4 * n {
            if let Some(v) = vals.get_mut(i) {
                *v = 0;
            }
        }
    }
    let (gs, _) = row.as_chunks_mut::<2>();
    for g in gs.iter_mut().take(n) {
        let [a, b] = *g;
        *g = [(a & 0xffff) | (b << 16), (a >> 16) | (b & 0xffff_0000)];
    }
}

/// Widen `src` to `i16` values `x + offset` into `dst` (natural order, `dst` and
/// `src` of the same length). Four values at a time: one word load, two `SXTB16`,
/// two `SADD16`.
#[inline(always)]
pub fn widen<D: DspOps>(dst: &mut [i16], src: &[i8], offset: i32) {
    let off2 = (offset as u16 as u32).wrapping_mul(0x0001_0001);
    let (d4, dt) = dst.as_chunks_mut::<4>();
    let (s4, st) = bytemuck::cast_slice::<i8, u8>(src).as_chunks::<4>();
    for (d, s) in d4.iter_mut().zip(s4) {
        let w = u32::from_le_bytes(*s);
        let e = D::sadd16(D::sxtb16(w), off2); // [x0, x2]
        let o = D::sadd16(D::sxtb16_ror8(w), off2); // [x1, x3]
        *d = [e as i16, o as i16, (e >> 16) as i16, (o >> 16) as i16];
    }
    for (d, &s) in dt.iter_mut().zip(st) {
        *d = (s as i8 as i32 + offset) as i16;
    }
}

/// `packed` as the micro-kernel's groups of words, when the layer is one the
/// packed layout covers (`runs`) and the pack has exactly the layout's `len`
/// values, 4-byte aligned; else `None`, and the scalar kernel runs.
#[inline(always)]
pub fn packed_groups(
    packed: Option<&[i16]>,
    runs: bool,
    len: Option<usize>,
) -> Option<&[[u32; 4]]> {
    packed
        .filter(|p| runs && Some(p.len()) == len)
        .and_then(|p| bytemuck::try_cast_slice(p).ok())
}

/// Widen `src` (whole groups of 4 values) to `x + offset` straight into finished
/// groups, the `[x0, x2] [x1, x3]` order [`finish_row`] makes: per 4 values one word
/// load, two `SXTB16`, two `SADD16` and two word stores ([`widen`] and
/// [`finish_row`] take twice as many). `dst` has a word per 2 values.
#[inline(always)]
pub fn widen_groups<D: DspOps>(dst: &mut [u32], src: &[i8], offset: i32) {
    let off2 = (offset as u16 as u32).wrapping_mul(0x0001_0001);
    let (d2, _) = dst.as_chunks_mut::<2>();
    let (s4, _) = bytemuck::cast_slice::<i8, u8>(src).as_chunks::<4>();
    for (d, s) in d2.iter_mut().zip(s4) {
        let w = u32::from_le_bytes(*s);
        *d = [
            D::sadd16(D::sxtb16(w), off2),      // [x0, x2]
            D::sadd16(D::sxtb16_ror8(w), off2), // [x1, x3]
        ];
    }
}

/// Output channels a pass of [`Kernel::rows`] computes and requantizes at a
/// time (their requantization prepared in [`Scratch`]: 12 bytes each, and 8
/// bytes of accumulators). A layer with at most this many channels prepares
/// them once; a wider one prepares each pass again at each pair of pixels.
pub const PASS: usize = 64;

/// One output channel's requantization, prepared: its multiplier with the
/// shift worked out, and its bias.
#[derive(Clone, Copy, Debug)]
struct Prepared {
    m: Multiplier,
    bias: i32,
}

/// The caller's scratch for [`Kernel::rows`] (about 1.3 KiB, on its stack):
/// the prepared requantization of one pass of channels and their accumulators.
pub struct Scratch {
    prep: [Prepared; PASS],
    /// The first channel of the pass `prep` holds, if any.
    prepared: Option<usize>,
    /// `[pixel 0, pixel 1]` per channel of the pass.
    acc: [[i32; 2]; PASS],
}

impl Scratch {
    pub const fn new() -> Self {
        Scratch {
            prep: [Prepared {
                m: Multiplier::ZERO,
                bias: 0,
            }; PASS],
            prepared: None,
            acc: [[0; 2]; PASS],
        }
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

/// The per-call operands of the micro-kernel: the weights in the DSP layout
/// (`len / 4` groups per pair of output channels, `len` a multiple of 4), bias
/// and requantization of the `out_c` output channels.
pub struct Kernel<'a, 'r> {
    pub packed: &'a [[u32; 4]],
    pub bias: Option<&'a [i32]>,
    pub rq: &'a RequantParams<'r>,
    pub len: usize,
    pub out_c: usize,
}

impl Kernel<'_, '_> {
    /// Every output channel of the rows of `rows` into `o0` and `o1` (`out_c`
    /// values each). With `o1` empty, only row 0 is stored (an odd last pixel or
    /// fc row). An odd last channel is paired with zero weights, and its copy
    /// dropped. Per pass of up to [`PASS`] channels: the pairs' dot products
    /// into `s`, then one loop requantizes them.
    #[inline(never)]
    pub fn rows<D: DspOps>(&self, rows: &Rows, o0: &mut [i8], o1: &mut [i8], s: &mut Scratch) {
        let n = self.len / 4;
        let mut c0 = 0;
        while c0 < self.out_c {
            let m = (self.out_c - c0).min(PASS);
            if s.prepared != Some(c0) {
                self.prepare(c0, &mut s.prep);
                s.prepared = Some(c0);
            }
            let acc = s.acc.get_mut(..2 * m.div_ceil(2)).unwrap_or_default();
            let w = self.packed.get(c0 / 2 * n..).unwrap_or_default();
            D::mac_pairs(rows, w, n, acc);
            let prep = s.prep.get(..m).unwrap_or_default();
            let o0 = o0.get_mut(c0..).unwrap_or_default();
            let o1 = o1.get_mut(c0..).unwrap_or_default();
            store(prep, &s.acc, o0, o1, self.rq);
            c0 += m;
        }
    }

    /// Prepare the requantization of the pass of channels from `c0` on.
    #[inline(never)]
    fn prepare(&self, c0: usize, dst: &mut [Prepared; PASS]) {
        let rq = self.rq;
        let (mult, shift) = (rq.mult.get(c0..), rq.shift.get(c0..));
        let pairs = mult
            .unwrap_or_default()
            .iter()
            .zip(shift.unwrap_or_default());
        for ((oc, p), (&m, &s)) in (c0..).zip(dst.iter_mut()).zip(pairs) {
            let bias = self.bias.and_then(|b| b.get(oc)).copied().unwrap_or(0);
            *p = Prepared {
                m: Multiplier::new(m, s),
                bias,
            };
        }
    }
}

/// Requantize every prepared channel's accumulators (`[pixel 0, pixel 1]`)
/// into `o0` and, when it is not empty, `o1`.
#[inline(never)]
fn store(
    prep: &[Prepared],
    acc: &[[i32; 2]],
    o0: &mut [i8],
    o1: &mut [i8],
    rq: &RequantParams<'_>,
) {
    if o1.is_empty() {
        for ((p, a), x) in prep.iter().zip(acc).zip(o0.iter_mut()) {
            *x = requant_out_inline(a[0].wrapping_add(p.bias), p.m, rq);
        }
    } else {
        for (((p, a), x), y) in prep.iter().zip(acc).zip(o0.iter_mut()).zip(o1.iter_mut()) {
            *x = requant_out_inline(a[0].wrapping_add(p.bias), p.m, rq);
            *y = requant_out_inline(a[1].wrapping_add(p.bias), p.m, rq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The emulated instructions on hand-worked words.
    #[test]
    fn emulated_instructions() {
        // bytes (LE) [0x01, 0xff, 0x80, 0x7f] = [1, -1, -128, 127]
        let x = 0x7f80_ff01u32;
        assert_eq!(Emulated::sxtb16(x), 0xff80_0001); // [1, -128]
        assert_eq!(Emulated::sxtb16_ror8(x), 0x007f_ffff); // [-1, 127]
        // [3, -2] . [-4, 5] = -12 - 10 = -22, plus 100
        let a = 0xfffe_0003u32;
        let b = 0x0005_fffcu32;
        assert_eq!(Emulated::smlad(a, b, 100), 78);
        assert_eq!(Emulated::smlad(a, b, i32::MAX), i32::MAX.wrapping_sub(22));
        let mut w = [0x0001_0000u32, 0x0003_0002];
        finish_row(&mut w, 4); // [0, 1, 2, 3] -> [0, 2, 1, 3]
        assert_eq!(w, [0x0002_0000, 0x0003_0001]);
        let mut w = [0x0001_0000u32, 0x7777_0002];
        finish_row(&mut w, 3); // [0, 1, 2, pad] -> [0, 2, 1, 0]
        assert_eq!(w, [0x0002_0000, 0x0000_0001]);
        assert_eq!(Emulated::sadd16(0xffff_7fff, 0x0001_0001), 0x0000_8000);
        let mut d = [0i16; 7];
        let src = [1i8, -2, 3, -128, 127, 0, -1];
        widen::<Emulated>(&mut d, &src, 5);
        assert_eq!(d, [6, 3, 8, -123, 132, 5, 4]);
        // widen_groups = widen + finish_row, for whole groups.
        let mut w = [0u32; 2];
        widen_groups::<Emulated>(&mut w, &src[..4], 5); // [6, 3, 8, -123]
        let lanes: &[i16] = bytemuck::cast_slice(&w);
        assert_eq!(lanes, [6, 8, 3, -123]);
    }

    /// The native instructions agree with the emulated ones (runs on Armv7E-M only).
    #[cfg(edgerun_dsp)]
    #[test]
    fn native_matches_emulated() {
        let mut s = 0x1234_5678u32;
        for _ in 0..1000 {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            let (a, b) = (s, s.rotate_left(11));
            assert_eq!(Native::sxtb16(a), Emulated::sxtb16(a));
            assert_eq!(Native::sxtb16_ror8(a), Emulated::sxtb16_ror8(a));
            assert_eq!(
                Native::smlad(a, b, s as i32),
                Emulated::smlad(a, b, s as i32)
            );
        }
    }
}
