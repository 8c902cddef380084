//! The int8 kernel cases of the per-kernel benchmarks (the criterion bench
//! `benches/kernels.rs` and the harness-free `examples/kernel_bench.rs`, which
//! runs on a Raspberry Pi without criterion): the conv, fc, Add and max pool
//! layers of LeNet-5, of an MLPerf-Tiny-style ResNet-8 (32x32x3 input,
//! 16/32/64 channels) and of the detector, with deterministic pseudo-random
//! operands, and every twin of each kernel this build and CPU run, the scalar
//! reference first.
//!
//! The AVX2 conv twin runs as a model runs it: with its weights packed ahead
//! of time (`kernels::conv::pack`, as `edge-tools compile` packs them), so the
//! timings are the loops' alone.

use edgerun::format::schema::{
    BinaryI8, BinaryKind, Buf, ConvGeom, FcI8, MAX_RANK, Mem, PoolGeom, PoolKind, Requant,
};
use edgerun::kernels::{RequantParams, binary, conv, fc, pool};

/// One twin of each kernel: the scalar reference or a SIMD twin.
#[derive(Clone, Copy)]
pub struct Twin {
    pub name: &'static str,
    conv: Conv,
    fc: fc::FcI8Fn,
    binary: Option<binary::BinaryI8Fn>,
    pool: Option<pool::PoolI8Fn>,
}

/// How a twin runs a convolution.
#[derive(Clone, Copy)]
enum Conv {
    /// A twin that reads the OHWI weights.
    Plain(conv::ConvI8Fn),
    /// The AVX2 twin with the weights packed ahead of time.
    #[cfg(target_arch = "x86_64")]
    Avx2Packed,
    /// The AVX2 twin's Winograd loop with its pack, for every 3x3 stride-1
    /// case it runs (`conv::pack::winograd_runs`), whether or not the
    /// compiler would choose it there (`winograd_pays`): the two loops side by
    /// side.
    #[cfg(target_arch = "x86_64")]
    Avx2Winograd,
}

/// The scalar reference, then the SIMD twins this CPU runs (AVX2 on x86_64;
/// NEON, and SDOT where the CPU has it, on aarch64).
pub fn twins() -> Vec<Twin> {
    let mut v = vec![Twin {
        name: "scalar",
        conv: Conv::Plain(conv::scalar::conv_i8),
        fc: fc::scalar::fc_i8,
        binary: Some(binary::scalar::binary_i8),
        pool: Some(pool::scalar::pool_i8),
    }];
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        v.push(Twin {
            name: "avx2",
            conv: Conv::Avx2Packed,
            fc: fc::avx2::fc_i8,
            binary: Some(binary::avx2::binary_i8),
            pool: Some(pool::avx2::pool_i8),
        });
        v.push(Twin {
            name: "avx2-winograd",
            conv: Conv::Avx2Winograd,
            fc: fc::avx2::fc_i8,
            binary: None,
            pool: None,
        });
    }
    #[cfg(target_arch = "aarch64")]
    {
        v.push(Twin {
            name: "neon",
            conv: Conv::Plain(conv::neon::conv_i8),
            fc: fc::neon::fc_i8,
            binary: None,
            pool: None,
        });
        if std::arch::is_aarch64_feature_detected!("dotprod") {
            v.push(Twin {
                name: "sdot",
                conv: Conv::Plain(conv::neon::conv_i8_sdot),
                fc: fc::neon::fc_i8_sdot,
                binary: None,
                pool: None,
            });
        }
    }
    v
}

/// `n` pseudo-random bytes (xorshift32 from `seed`).
fn bytes(n: usize, seed: u32) -> Vec<i8> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s as i8
        })
        .collect()
}

/// A buffer descriptor the kernels do not read (they take slices).
const NO: Buf = Buf {
    mem: Mem::Arena,
    offset: 0,
    len: 0,
};

const fn no_requant(output_offset: i32) -> Requant {
    Requant {
        mult: NO,
        shift: NO,
        output_offset,
        act_min: -128,
        act_max: 127,
    }
}

/// The operands of one kernel call.
enum Operands {
    Conv {
        g: ConvGeom,
        weights: Vec<i8>,
        /// The weights packed for the AVX2 twin.
        #[cfg(target_arch = "x86_64")]
        packed: Option<Vec<i16>>,
        /// The weights packed for its Winograd loop, where it runs.
        #[cfg(target_arch = "x86_64")]
        winograd: Option<Vec<i16>>,
        bias: Vec<i32>,
    },
    Fc {
        p: FcI8,
        weights: Vec<i8>,
    },
    Add {
        p: BinaryI8,
        b: Vec<i8>,
    },
    Pool {
        g: PoolGeom,
    },
}

#[cfg(target_arch = "x86_64")]
impl Operands {
    /// A convolution's weights packed for the AVX2 twin.
    fn avx2_packed(&self) -> Option<&[i16]> {
        match self {
            Operands::Conv { packed, .. } => packed.as_deref(),
            _ => None,
        }
    }
}

/// One benchmark case: a layer with its operands and output buffer.
pub struct Case {
    pub name: &'static str,
    /// How much work a call does, in [`Case::what`]: MACs (conv, fc),
    /// elements (Add) or outputs (pool).
    pub work: f64,
    pub what: &'static str,
    ops: Operands,
    input: Vec<i8>,
    mult: Vec<i32>,
    shift: Vec<i32>,
    output_offset: i32,
    out: Vec<i8>,
}

impl Case {
    /// A square `k x k` convolution of a `hw x hw x in_c` input, symmetric
    /// padding `pad`.
    #[allow(clippy::too_many_arguments)]
    fn conv(
        name: &'static str,
        hw: u32,
        in_c: u32,
        out_c: u32,
        k: u32,
        stride: u32,
        pad: u32,
    ) -> Self {
        let out_hw = (hw + 2 * pad - k) / stride + 1;
        let g = ConvGeom {
            n: 1,
            in_h: hw,
            in_w: hw,
            in_c,
            out_h: out_hw,
            out_w: out_hw,
            out_c,
            k_h: k,
            k_w: k,
            stride_h: stride,
            stride_w: stride,
            dil_h: 1,
            dil_w: 1,
            pad_top: pad,
            pad_left: pad,
            groups: 1,
        };
        let weights = bytes((out_c * k * k * in_c) as usize, 2);
        let n = out_c as usize;
        Case {
            name,
            work: (out_hw * out_hw * out_c * k * k * in_c) as f64,
            what: "MACs",
            ops: Operands::Conv {
                g,
                // What `edge-tools compile` stores; `None` where AVX2 packs
                // nothing.
                #[cfg(target_arch = "x86_64")]
                packed: conv::pack::packed_avx2(&g, 0, &weights).ok().flatten(),
                #[cfg(target_arch = "x86_64")]
                winograd: conv::pack::packed_winograd(&g, 0, &weights).ok().flatten(),
                weights,
                bias: vec![100; n],
            },
            input: bytes((hw * hw * in_c) as usize, 1),
            mult: vec![1 << 30; n],
            shift: vec![-8; n],
            output_offset: -3,
            out: vec![0; (out_hw * out_hw * out_c) as usize],
        }
    }

    /// A fully connected layer, `k` inputs to `n` outputs, one row.
    fn fc(name: &'static str, k: u32, n: u32) -> Self {
        let p = FcI8 {
            rows: 1,
            k,
            n,
            input: NO,
            weights: NO,
            bias: None,
            output: NO,
            input_offset: 5,
            weight_offset: 0,
            rq: no_requant(0),
            packed: None,
        };
        Case {
            name,
            work: (k * n) as f64,
            what: "MACs",
            ops: Operands::Fc {
                p,
                weights: bytes((k * n) as usize, 4),
            },
            input: bytes(k as usize, 3),
            mult: vec![1 << 30; n as usize],
            shift: vec![-8; n as usize],
            output_offset: 0,
            out: vec![0; n as usize],
        }
    }

    /// A residual Add of two `hw x hw x c` tensors (no broadcast) with
    /// TFLite-style parameters (left shift 20, input scales 0.5 and 0.375,
    /// output 2^-19 * 0.6).
    fn add(name: &'static str, hw: u32, c: u32) -> Self {
        let mut shape = [1u32; MAX_RANK];
        shape[MAX_RANK - 3..].copy_from_slice(&[hw, hw, c]);
        let mut stride = [0u32; MAX_RANK];
        stride[MAX_RANK - 3..].copy_from_slice(&[hw * c, c, 1]);
        let p = BinaryI8 {
            kind: BinaryKind::Add,
            shape,
            a_stride: stride,
            b_stride: stride,
            a: NO,
            b: NO,
            output: NO,
            a_offset: 3,
            b_offset: -5,
            left_shift: 20,
            a_mult: 1 << 30,
            a_shift: 0,
            b_mult: 1_610_612_736,
            b_shift: -1,
            rq: no_requant(-2),
        };
        let n = (hw * hw * c) as usize;
        Case {
            name,
            work: n as f64,
            what: "elements",
            ops: Operands::Add { p, b: bytes(n, 6) },
            input: bytes(n, 5),
            mult: vec![1_288_490_189],
            shift: vec![-19],
            output_offset: -2,
            out: vec![0; n],
        }
    }

    /// A 2x2 stride-2 max pool of a `hw x hw x c` tensor (input zero point
    /// -128), with the identity requantization the models' pools have (equal
    /// scales and zero points: a clamp to bytes).
    fn max_pool(name: &'static str, hw: u32, c: u32) -> Self {
        let g = PoolGeom {
            kind: PoolKind::Max,
            n: 1,
            in_h: hw,
            in_w: hw,
            c,
            out_h: hw / 2,
            out_w: hw / 2,
            k_h: 2,
            k_w: 2,
            stride_h: 2,
            stride_w: 2,
            dil_h: 1,
            dil_w: 1,
            pad_top: 0,
            pad_left: 0,
            pad_bottom: 0,
            pad_right: 0,
            count_include_pad: false,
        };
        let n = (hw / 2 * hw / 2 * c) as usize;
        Case {
            name,
            work: n as f64,
            what: "outputs",
            ops: Operands::Pool { g },
            input: bytes((hw * hw * c) as usize, 7),
            mult: vec![1 << 30],
            shift: vec![1],
            output_offset: -128,
            out: vec![0; n],
        }
    }

    /// Whether `twin` has a kernel for this case.
    pub fn has(&self, twin: &Twin) -> bool {
        #[cfg(target_arch = "x86_64")]
        if matches!(twin.conv, Conv::Avx2Winograd) {
            // Only its convolutions (the fc, Add and pool are the AVX2 twin's).
            return matches!(
                &self.ops,
                Operands::Conv {
                    winograd: Some(_),
                    ..
                }
            );
        }
        match self.ops {
            Operands::Add { .. } => twin.binary.is_some(),
            Operands::Pool { .. } => twin.pool.is_some(),
            Operands::Conv { .. } | Operands::Fc { .. } => true,
        }
    }

    /// One call of `twin`'s kernel; `Err` when the twin has none for the case
    /// or refuses it.
    pub fn run(&mut self, twin: &Twin) -> Result<(), String> {
        let input = std::hint::black_box(&self.input[..]);
        let rq = RequantParams {
            mult: &self.mult,
            shift: &self.shift,
            output_offset: self.output_offset,
            act_min: -128,
            act_max: 127,
        };
        let out = &mut self.out;
        let done = match &self.ops {
            Operands::Conv {
                g, weights, bias, ..
            } => match twin.conv {
                #[cfg(target_arch = "x86_64")]
                Conv::Avx2Winograd => match &self.ops {
                    Operands::Conv {
                        winograd: Some(u), ..
                    } => conv::avx2::conv_i8_winograd(
                        g,
                        input,
                        weights,
                        u,
                        Some(bias),
                        5,
                        0,
                        &rq,
                        out,
                    ),
                    _ => return Err(format!("{}: no Winograd pack", twin.name)),
                },
                Conv::Plain(f) => f(g, input, weights, Some(bias), 5, 0, &rq, out),
                #[cfg(target_arch = "x86_64")]
                Conv::Avx2Packed => conv::avx2::conv_i8_packed(
                    g,
                    input,
                    weights,
                    self.ops.avx2_packed(),
                    Some(bias),
                    5,
                    0,
                    &rq,
                    out,
                ),
            },
            Operands::Fc { p, weights } => (twin.fc)(p, input, weights, None, &rq, out),
            Operands::Add { p, b } => match twin.binary {
                Some(f) => f(p, input, b, &rq, out),
                None => return Err(format!("{}: no Add twin", twin.name)),
            },
            Operands::Pool { g } => match twin.pool {
                Some(f) => f(g, input, -128, &rq, out),
                None => return Err(format!("{}: no pool twin", twin.name)),
            },
        };
        done.map_err(|e| format!("{} on {}: {e}", twin.name, self.name))
    }
}

/// Every case, in the order of the README's kernel table.
pub fn cases() -> Vec<Case> {
    vec![
        Case::conv("lenet conv1 5x5 1->6 28x28 pad2", 28, 1, 6, 5, 1, 2),
        Case::conv("lenet conv2 5x5 6->16 14x14", 14, 6, 16, 5, 1, 0),
        Case::fc("lenet fc 400->120", 400, 120),
        Case::fc("lenet fc 120->84", 120, 84),
        Case::conv("resnet8 conv 3x3 1->16 28x28", 28, 1, 16, 3, 1, 1),
        Case::conv("detector conv 5x5 1->6 96x96", 96, 1, 6, 5, 1, 2),
        Case::conv("resnet8 conv 3x3 3->16 32x32", 32, 3, 16, 3, 1, 1),
        Case::conv("resnet8 conv 3x3 16->16 32x32", 32, 16, 16, 3, 1, 1),
        Case::conv("resnet8 conv 3x3 16->32 s2", 32, 16, 32, 3, 2, 1),
        Case::conv("resnet8 conv 3x3 32->32 16x16", 16, 32, 32, 3, 1, 1),
        Case::conv("resnet8 conv 3x3 64->64 8x8", 8, 64, 64, 3, 1, 1),
        Case::conv("resnet8 conv 1x1 32->64 s2", 16, 32, 64, 1, 2, 0),
        Case::conv("detector conv 3x3 64->33 12x12", 12, 64, 33, 3, 1, 1),
        Case::add("add 16x28x28", 28, 16),
        Case::add("resnet8 add 32x32x16", 32, 16),
        Case::max_pool("lenet max pool 28x28x6", 28, 6),
        Case::max_pool("detector max pool 96x96x6", 96, 6),
    ]
}
