//! The AVX2 convolution of 3x3 kernels, stride and dilation 1, by Winograd's
//! F(2x2, 3x3) in exact integer arithmetic: 16 multiplications per 2x2 output
//! pixels and channel pair instead of 36, with the same sums as the scalar
//! kernel, bit for bit.
//!
//! Per output tile of 2x2 pixels, input channel and output channel, with the
//! 4x4 input patch `d` (`x + input_offset`, 0 in the padding) and the 3x3
//! kernel `g`:
//!
//! ```text
//! V = B^T d B      B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
//! U = G g G^T      G   = [[2, 0, 0], [1, 1, 1], [1, -1, 1], [0, 0, 2]]
//! Y = A^T M A      A^T = [[1, 1, 1, 0], [0, 1, -1, -1]],  M = sum over input channels of U * V
//! ```
//!
//! `G` is twice the textbook matrix, so `U` is an integer and `Y` is exactly
//! four times the 2x2 convolution sums, which an arithmetic shift by 2 gives
//! back. The ranges: `|d| <= 255`, `|V| <= 4 * 255` and `|U| <= 9 * 128` are
//! `i16`, so the products summed in pairs by `vpmaddwd` are exact; `M` and `Y`
//! are summed with wrapping `i32` additions, which give `Y` modulo `2^32`, and
//! `|Y| = 4 * |sum| < 2^31` with at most [`pack::WINOGRAD_MAX_IN_C`] input
//! channels: `Y` itself.
//!
//! Per row of tiles (two output rows):
//! - the four input rows its tiles read are widened once into the band (the
//!   block loop's, with the geometry of a 4x4 window at stride 2);
//! - input transform: per tile and 16 input channels, `V` (16 vectors of
//!   `i16`, additions only) into `V[tile][vector of channels][position][16]`;
//! - per position, a product of the tiles' `V` with `U` (the compiler's pack,
//!   `[position][block][pair][8][2]`: [`pack::pack_winograd`]) by the block
//!   loop's step ([`Tile::sums`]: four tiles by two blocks of eight output
//!   channels, a broadcast channel pair and a `vpmaddwd` per tile and block,
//!   one run per vector of channels) into `M[tile][block][position][8]`
//!   (`i32`);
//! - output transform: per tile and block, `Y` from the 16 positions of `M`
//!   (additions only), shifted by 2, then bias, [`Requant8`] and [`Narrow8`]
//!   as every loop of the kernel, the four pixels' bytes stored together
//!   (the tiles at the output's edges, and a last partial block, through
//!   [`Out`]).
//!
//! Every position's `M` is stored and read back once: the price of the
//! transforms, which is why the compiler chooses this loop per layer
//! (`pack::winograd_pays`).
//!
//! [`Requant8`]: crate::kernels::avx2::Requant8
//! [`Narrow8`]: crate::kernels::avx2::Narrow8

use super::{Args, Band, Block, OC, Out, PX, Scratch, Tile};
use crate::kernels::avx2::Narrow8;
use crate::kernels::conv::pack::{self, WINOGRAD_CV as CV};
use crate::kernels::conv::scalar::Dims;
use core::arch::x86_64::*;

/// Positions of a transformed tile (4x4).
const POS: usize = 16;
/// `V` values of one tile and vector of channels (`[position][CV]`).
const VB: usize = POS * CV;
/// `M` values of one tile and block (`[position][OC]`).
const MB: usize = POS * OC;

/// The convolution (module docs) with the transformed weights `u`; `false`
/// (nothing written) when `u` has another length than
/// [`pack::winograd_len`]'s, or a read would leave the scratch buffers, which
/// their sizes rule out.
#[target_feature(enable = "avx2")]
pub(super) fn run(a: &Args<'_>, u: &[i16], out: &mut [i8], s: &mut Scratch) -> bool {
    let d = a.d;
    let (in_c, out_c) = (d.in_c, d.out_c);
    let (tw, th) = (d.out_w.div_ceil(2), d.out_h.div_ceil(2));
    if tw == 0 || th == 0 || d.n == 0 {
        // No output.
        return true;
    }
    // `V` holds whole vectors of channels; the channels past `in_c` meet
    // zero weights.
    let cvs = in_c.div_ceil(CV);
    let blocks = out_c.div_ceil(OC);
    if Some(u.len()) != pack::winograd_len(a.g) || u.len() != POS * blocks * cvs * CV * OC {
        return false;
    }
    // Tile row `tr` reads input rows `2 * tr - pad_top ..` (4 of them), tile
    // `t` band columns `2 * t .. 2 * t + 4`: a 4x4 window at stride 2.
    let td = Dims {
        k_h: 4,
        k_w: 4,
        stride_h: 2,
        stride_w: 2,
        dil_h: 1,
        dil_w: 1,
        out_h: th,
        out_w: tw,
        ..*d
    };
    let Scratch {
        band,
        blocks: consts,
        runs,
        wv,
        wm,
        ..
    } = s;
    let mut band = Band::new(&td, band);
    let row = band.bw * in_c;
    // The last tile's last load (column `bw - 1`, channels up to `CV *
    // cvs`) ends inside the band (its slack covers `CV * cvs - in_c < 16`).
    if 3 * row + (band.bw - 1) * in_c + CV * cvs > band.v.len() {
        return false;
    }
    // Every value of both is written before it is read: resized, not cleared.
    wv.resize(tw * cvs * VB, 0);
    wm.resize(tw * blocks * MB, 0);
    // The runs of the product's steps: one per vector of channels.
    runs.clear();
    runs.extend((0..cvs).map(|c| c * VB));
    consts.clear();
    consts.extend((0..blocks).map(|k| Block::new(k, a.bias, a.rq)));
    let narrow = Narrow8::new(a.rq);
    let geo = Geo { tw, cvs, blocks };
    for b in 0..d.n {
        for tr in 0..th {
            band.fill(a.input, b, tr, a.input_offset);
            // SAFETY: AVX2 (the caller); the band reads end inside it
            // (checked above) and `wv` holds `tw * cvs * VB` values.
            unsafe { input_transform(band.v, row, in_c, &geo, wv) };
            multiply(&geo, wv, runs, u, wm);
            let o = Rows {
                out: &mut *out,
                d,
                consts,
                narrow: &narrow,
                first_row: b * d.out_h + 2 * tr,
                rows: (d.out_h - 2 * tr).min(2),
            };
            output_transform(&geo, wm, o);
        }
    }
    true
}

/// The sizes of a call's buffers.
struct Geo {
    /// Tiles per row of tiles.
    tw: usize,
    /// Vectors of [`CV`] input channels per tile.
    cvs: usize,
    /// Blocks of [`OC`] output channels.
    blocks: usize,
}

/// `V` of every tile of a row (module docs) into `wv` (`[tile][vector of
/// channels][position][CV]`) from the band (rows `row` values apart).
///
/// # Safety
/// AVX2; `3 * row + (2 * tw + 1) * in_c + CV * cvs <= band.len()` and
/// `wv.len() == tw * cvs * VB`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn input_transform(band: &[i16], row: usize, in_c: usize, g: &Geo, wv: &mut [i16]) {
    let bp = band.as_ptr();
    let mut vp = wv.as_mut_ptr();
    for t in 0..g.tw {
        for c in 0..g.cvs {
            let p = bp.wrapping_add(2 * t * in_c + c * CV);
            let rows = [
                p,
                p.wrapping_add(row),
                p.wrapping_add(2 * row),
                p.wrapping_add(3 * row),
            ];
            // `B^T d` per column `j` (`e[j][i]`: row `i`), then `(B^T d) B`
            // per row. (No closures here: LLVM called them out of line.)
            // SAFETY: `2 * t * in_c + CV * c + r * row + j * in_c + 16 <=
            // band.len()` for `r, j < 4` (the caller).
            let e = unsafe {
                [
                    bt(load4(rows, 0)),
                    bt(load4(rows, in_c)),
                    bt(load4(rows, 2 * in_c)),
                    bt(load4(rows, 3 * in_c)),
                ]
            };
            let [
                [a0, a1, a2, a3],
                [b0, b1, b2, b3],
                [c0, c1, c2, c3],
                [d0, d1, d2, d3],
            ] = e;
            let v = [
                bt([a0, b0, c0, d0]),
                bt([a1, b1, c1, d1]),
                bt([a2, b2, c2, d2]),
                bt([a3, b3, c3, d3]),
            ];
            for (i, v) in v.into_iter().enumerate() {
                for (j, v) in v.into_iter().enumerate() {
                    // SAFETY: position `4i + j` of this tile's vector `c`
                    // (`(t * cvs + c) * VB` from the start, `t < tw`, `c <
                    // cvs`): inside `wv`; 32 bytes written unaligned.
                    unsafe { _mm256_storeu_si256(vp.add((4 * i + j) * CV).cast(), v) };
                }
            }
            vp = vp.wrapping_add(VB);
        }
    }
}

/// The four vectors at `off` values from each of `rows`.
///
/// # Safety
/// AVX2; 16 values from each `rows[i] + off` are readable.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn load4(rows: [*const i16; 4], off: usize) -> [__m256i; 4] {
    let [r0, r1, r2, r3] = rows;
    // SAFETY: the caller's; 32 bytes read unaligned from each.
    unsafe {
        [
            _mm256_loadu_si256(r0.add(off).cast()),
            _mm256_loadu_si256(r1.add(off).cast()),
            _mm256_loadu_si256(r2.add(off).cast()),
            _mm256_loadu_si256(r3.add(off).cast()),
        ]
    }
}

/// Column `j` of a tile's `M` (positions `j`, `4 + j`, `8 + j`, `12 + j`;
/// `[position][OC]` from `mp`).
///
/// # Safety
/// AVX2; `mp` points to `MB` values, `j < 4`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn column(mp: *const i32, j: usize) -> [__m256i; 4] {
    // SAFETY: `(12 + j) * 8 + 8 <= MB` (the caller); 32 bytes read
    // unaligned from each position.
    unsafe {
        [
            _mm256_loadu_si256(mp.add(j * OC).cast()),
            _mm256_loadu_si256(mp.add((4 + j) * OC).cast()),
            _mm256_loadu_si256(mp.add((8 + j) * OC).cast()),
            _mm256_loadu_si256(mp.add((12 + j) * OC).cast()),
        ]
    }
}

/// `B^T x` of the four `i16` vectors `x` (module docs).
#[inline]
#[target_feature(enable = "avx2")]
fn bt(x: [__m256i; 4]) -> [__m256i; 4] {
    let [x0, x1, x2, x3] = x;
    [
        _mm256_sub_epi16(x0, x2),
        _mm256_add_epi16(x1, x2),
        _mm256_sub_epi16(x2, x1),
        _mm256_sub_epi16(x1, x3),
    ]
}

/// `A^T x` of the four `i32` vectors `x` (module docs).
#[inline]
#[target_feature(enable = "avx2")]
fn at(x: [__m256i; 4]) -> [__m256i; 2] {
    let [x0, x1, x2, x3] = x;
    [
        _mm256_add_epi32(_mm256_add_epi32(x0, x1), x2),
        _mm256_sub_epi32(_mm256_sub_epi32(x1, x2), x3),
    ]
}

/// Per position, `M = V U` over the input channels (module docs): four tiles
/// by two blocks per step of [`Tile::sums`] (one run per vector of channels,
/// `runs`), stored into `wm` (`[tile][block][position][OC]`).
#[inline]
#[target_feature(enable = "avx2")]
fn multiply(g: &Geo, wv: &[i16], runs: &[usize], u: &[i16], wm: &mut [i32]) {
    // Opaque to the optimizer: with a constant count, LLVM unrolls the pair
    // loop of [`Tile::sums`] whole and reassociates its additions into trees
    // whose sums no longer fit the registers (spilled to the stack).
    let pairs = core::hint::black_box(CV / 2);
    let per_block = g.cvs * pairs * 2 * OC;
    if wv.len() != g.tw * g.cvs * VB
        || u.len() != POS * g.blocks * per_block
        || wm.len() != g.tw * g.blocks * MB
        || runs.len() != g.cvs
    {
        return;
    }
    for (pos, u) in u.chunks_exact(g.blocks * per_block).enumerate() {
        for t0 in (0..g.tw).step_by(PX) {
            let mut k = 0;
            while k < g.blocks {
                let nb = if k + 1 < g.blocks { 2 } else { 1 };
                let tile = Tile {
                    band: wv,
                    offsets: runs,
                    pairs,
                    w: u.get(k * per_block..).unwrap_or_default(),
                    block: per_block,
                    pair: 2 * OC,
                };
                let at = (t0 * g.blocks + k) * MB + pos * OC;
                // SAFETY: AVX2; tile `t0 + i < tw` reads `V` values from
                // `(t0 + i) * cvs * VB + pos * CV` to at most `(cvs - 1) * VB
                // + 2 * pairs` past it, inside `wv` (its length, checked
                // above); `u` holds blocks `k..k + nb` (`k + nb <= blocks`)
                // of every pair after `k * per_block`.
                unsafe {
                    match (g.tw - t0, nb) {
                        (PX.., 2) => sums_to::<PX, 2>(&tile, t0, pos, g, wm, at),
                        (PX.., _) => sums_to::<PX, 1>(&tile, t0, pos, g, wm, at),
                        (3, 2) => sums_to::<3, 2>(&tile, t0, pos, g, wm, at),
                        (3, _) => sums_to::<3, 1>(&tile, t0, pos, g, wm, at),
                        (2, 2) => sums_to::<2, 2>(&tile, t0, pos, g, wm, at),
                        (2, _) => sums_to::<2, 1>(&tile, t0, pos, g, wm, at),
                        (_, 2) => sums_to::<1, 2>(&tile, t0, pos, g, wm, at),
                        _ => sums_to::<1, 1>(&tile, t0, pos, g, wm, at),
                    }
                }
                k += nb;
            }
        }
    }
}

/// Position `pos` of tiles `t0..t0 + P` by `NB` blocks into `m` (tile `i`,
/// block `n` at `at + (i * blocks + n) * MB`; nothing is stored when that
/// would leave `m`, which the sizes rule out).
///
/// # Safety
/// As [`Tile::sums`] for the tiles' `V` offsets `(t0 + i) * cvs * VB + pos
/// * CV`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn sums_to<const P: usize, const NB: usize>(
    tile: &Tile<'_>,
    t0: usize,
    pos: usize,
    g: &Geo,
    m: &mut [i32],
    at: usize,
) {
    let Some(m) = m.get_mut(at..at + ((P - 1) * g.blocks + NB - 1) * MB + OC) else {
        return;
    };
    let x = core::array::from_fn(|i| (t0 + i) * g.cvs * VB + pos * CV);
    // SAFETY: forwarded.
    let acc = unsafe { tile.sums::<P, NB>(x) };
    let p = m.as_mut_ptr();
    for (i, px) in acc.iter().enumerate() {
        for (n, &s) in px.iter().enumerate() {
            // SAFETY: `(i * blocks + n) * MB + 8 <= m.len()` (`i < P`, `n <
            // NB`); 32 bytes written unaligned.
            unsafe { _mm256_storeu_si256(p.add((i * g.blocks + n) * MB).cast(), s) };
        }
    }
}

/// Where a row of tiles' outputs go: output rows `first_row..first_row +
/// rows` (counted over the batch) of `d`.
struct Rows<'a, 'o> {
    out: &'o mut [i8],
    d: &'a Dims,
    consts: &'a [Block],
    narrow: &'a Narrow8,
    first_row: usize,
    /// 2, or 1 for the last row of tiles of an odd height.
    rows: usize,
}

/// `Y` of every tile of a row from `wm` (module docs), shifted back by 2,
/// requantized and stored, block by block.
#[inline]
#[target_feature(enable = "avx2")]
fn output_transform(g: &Geo, wm: &[i32], mut o: Rows<'_, '_>) {
    for (i, m) in wm.chunks_exact(MB).enumerate().take(g.tw * g.blocks) {
        let (t, k) = (i / g.blocks, i % g.blocks);
        // SAFETY: AVX2 (the caller's target feature); `m` is `MB` long.
        unsafe { tile_out(m, &mut o, t, k) };
    }
}

/// [`output_transform`] of tile `t`, block `k` (its `M`, `[position][OC]`):
/// with all four pixels inside the output and a whole block, narrowed
/// together ([`Narrow8::interleave4`]) and stored 8 bytes per pixel; else
/// through [`Out`], row by row.
///
/// # Safety
/// AVX2; `m.len() == MB`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn tile_out(m: &[i32], o: &mut Rows<'_, '_>, t: usize, k: usize) {
    let mp = m.as_ptr();
    // `A^T M` per column `j` (`s[j][r]`: row `r`), then `(A^T M) A` per
    // row, shifted back by 2. (No closures here: LLVM called them out of
    // line.)
    // SAFETY: `m` is `MB` long (the caller), `j < 4`.
    let s = unsafe {
        [
            at(column(mp, 0)),
            at(column(mp, 1)),
            at(column(mp, 2)),
            at(column(mp, 3)),
        ]
    };
    let [[a0, b0], [a1, b1], [a2, b2], [a3, b3]] = s;
    let ([y00, y01], [y10, y11]) = (at([a0, a1, a2, a3]), at([b0, b1, b2, b3]));
    let y00 = _mm256_srai_epi32::<2>(y00);
    let y01 = _mm256_srai_epi32::<2>(y01);
    let y10 = _mm256_srai_epi32::<2>(y10);
    let y11 = _mm256_srai_epi32::<2>(y11);
    let d = o.d;
    let ow = 2 * t;
    let at = ((o.first_row * d.out_w) + ow) * d.out_c + k * OC;
    let below = d.out_w * d.out_c;
    let whole = o.rows == 2 && ow + 1 < d.out_w && (k + 1) * OC <= d.out_c;
    if let (true, Some(c), Some(dst)) = (
        whole,
        o.consts.get(k),
        o.out.get_mut(at..at + below + d.out_c + OC),
    ) {
        let b = o.narrow.interleave4([
            c.requant(y00),
            c.requant(y01),
            c.requant(y10),
            c.requant(y11),
        ]);
        let (top, bottom) = (_mm256_castsi256_si128(b), _mm256_extracti128_si256::<1>(b));
        let p = dst.as_mut_ptr();
        // SAFETY: the four pixels' 8 bytes start at 0, `out_c`, `below`
        // and `below + out_c` of `dst`, `below + out_c + 8` long.
        unsafe {
            _mm_storel_epi64(p.cast(), top);
            _mm_storeh_pd(p.add(d.out_c).cast(), _mm_castsi128_pd(top));
            _mm_storel_epi64(p.add(below).cast(), bottom);
            _mm_storeh_pd(p.add(below + d.out_c).cast(), _mm_castsi128_pd(bottom));
        }
        return;
    }
    for (r, yr) in [[[y00], [y01]], [[y10], [y11]]]
        .into_iter()
        .enumerate()
        .take(o.rows)
    {
        let out = Out {
            out: &mut *o.out,
            out_c: d.out_c,
            first: (o.first_row + r) * d.out_w + ow,
            block: k,
            consts: o.consts.get(k..k + 1).unwrap_or_default(),
            narrow: o.narrow,
            // The tiles' stores are not in pixel order across rows.
            spill: false,
        };
        if ow + 1 < d.out_w {
            out.store(yr);
        } else {
            out.store([yr[0]]);
        }
    }
}
