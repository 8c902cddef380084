//! The throughput ceiling of int8 multiply-accumulate inner loops on this x86_64
//! CPU, in MACs per cycle: the loop edgerun's AVX2 convolution runs (exact)
//! against the loop ONNX Runtime's U8S8 kernels run (which can saturate), and
//! an exact `vpmaddubsw` variant. Each is a fixed block of instructions in
//! `asm!` (registers only, loads from a small L1-resident buffer, no
//! dependence between iterations beyond the accumulators), timed best of 7
//! runs; the clock comes from a chain of dependent `vpaddd` (one cycle each).
//!
//!     cargo run --release -p edgerun-benches --example mac_loops
//!
//! Loops (per iteration, 4 pixels x 16 output channels of one step):
//! - `edgerun (vpmaddwd)`: 2 weight loads, 4 `vpbroadcastd` of an `i16`
//!   activation pair, 8 `vpmaddwd` + 8 `vpaddd`: 128 MACs, every product
//!   exact (`kernels/conv/avx2.rs`).
//! - `U8S8 (vpmaddubsw)`: 4 broadcasts of 4 `u8` activations, 8 x
//!   (`vpmaddubsw`, `vpmaddwd` by ones, `vpaddd`): 256 MACs; the pair sums of
//!   `vpmaddubsw` saturate at `i16` (`255 * 127 * 2 > 32767`), so the result is
//!   not always the exact sum.
//! - `exact vpmaddubsw (sign trick)`: `|x|` and `x` broadcast, `vpsignb` moves
//!   `x`'s sign onto the weights (`|x| <= 128`, `|w| <= 127`: pair sums fit),
//!   then as U8S8: 256 MACs, one more instruction per 32.
//!
//! The numbers say how far a bit-exact kernel can go here; README.md
//! (Performance) quotes a run.

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::asm;
    use std::time::Instant;

    /// L1-resident operands of the loops (weights at 0 and 64, activations
    /// from 128, absolute values from 256).
    static BUF: [u8; 512] = [1; 512];

    macro_rules! looped {
        ($name:ident, $body:literal) => {
            fn $name(n: usize) {
                let p = BUF.as_ptr();
                // SAFETY: the block reads only `BUF` (offsets below 320 of its
                // 512 bytes), writes only the listed vector registers, and the
                // loop counter runs `n` (> 0) times down to 0.
                unsafe {
                    asm!(
                        "vpxor ymm0, ymm0, ymm0", "vpxor ymm1, ymm1, ymm1",
                        "vpxor ymm2, ymm2, ymm2", "vpxor ymm3, ymm3, ymm3",
                        "vpxor ymm4, ymm4, ymm4", "vpxor ymm5, ymm5, ymm5",
                        "vpxor ymm6, ymm6, ymm6", "vpxor ymm7, ymm7, ymm7",
                        "vpcmpeqw ymm15, ymm15, ymm15", "vpsrlw ymm15, ymm15, 15",
                        "/* operands at {p} */", "2:", $body, "dec {n}", "jnz 2b",
                        n = inout(reg) n.max(1) => _, p = in(reg) p,
                        out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _,
                        out("ymm4") _, out("ymm5") _, out("ymm6") _, out("ymm7") _,
                        out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
                        out("ymm12") _, out("ymm13") _, out("ymm14") _, out("ymm15") _,
                        options(nostack, readonly),
                    );
                }
            }
        };
    }

    // Eight dependent one-cycle additions per iteration: the clock.
    looped!(
        chain,
        "vpaddd ymm0, ymm0, ymm9\nvpaddd ymm0, ymm0, ymm9\nvpaddd ymm0, ymm0, ymm9\nvpaddd ymm0, ymm0, ymm9\nvpaddd ymm0, ymm0, ymm9\nvpaddd ymm0, ymm0, ymm9\nvpaddd ymm0, ymm0, ymm9\nvpaddd ymm0, ymm0, ymm9"
    );

    looped!(exact_madd, "vmovdqu ymm8, [{p}]\nvmovdqu ymm9, [{p}+64]
vpbroadcastd ymm10, [{p}+128]\nvpmaddwd ymm11, ymm10, ymm8\nvpaddd ymm0, ymm0, ymm11\nvpmaddwd ymm11, ymm10, ymm9\nvpaddd ymm1, ymm1, ymm11
vpbroadcastd ymm10, [{p}+132]\nvpmaddwd ymm11, ymm10, ymm8\nvpaddd ymm2, ymm2, ymm11\nvpmaddwd ymm11, ymm10, ymm9\nvpaddd ymm3, ymm3, ymm11
vpbroadcastd ymm10, [{p}+136]\nvpmaddwd ymm11, ymm10, ymm8\nvpaddd ymm4, ymm4, ymm11\nvpmaddwd ymm11, ymm10, ymm9\nvpaddd ymm5, ymm5, ymm11
vpbroadcastd ymm10, [{p}+140]\nvpmaddwd ymm11, ymm10, ymm8\nvpaddd ymm6, ymm6, ymm11\nvpmaddwd ymm11, ymm10, ymm9\nvpaddd ymm7, ymm7, ymm11");

    looped!(u8s8, "vmovdqu ymm8, [{p}]\nvmovdqu ymm9, [{p}+64]
vpbroadcastd ymm10, [{p}+128]\nvpmaddubsw ymm11, ymm10, ymm8\nvpmaddwd ymm11, ymm11, ymm15\nvpaddd ymm0, ymm0, ymm11\nvpmaddubsw ymm13, ymm10, ymm9\nvpmaddwd ymm13, ymm13, ymm15\nvpaddd ymm1, ymm1, ymm13
vpbroadcastd ymm10, [{p}+132]\nvpmaddubsw ymm11, ymm10, ymm8\nvpmaddwd ymm11, ymm11, ymm15\nvpaddd ymm2, ymm2, ymm11\nvpmaddubsw ymm13, ymm10, ymm9\nvpmaddwd ymm13, ymm13, ymm15\nvpaddd ymm3, ymm3, ymm13
vpbroadcastd ymm10, [{p}+136]\nvpmaddubsw ymm11, ymm10, ymm8\nvpmaddwd ymm11, ymm11, ymm15\nvpaddd ymm4, ymm4, ymm11\nvpmaddubsw ymm13, ymm10, ymm9\nvpmaddwd ymm13, ymm13, ymm15\nvpaddd ymm5, ymm5, ymm13
vpbroadcastd ymm10, [{p}+140]\nvpmaddubsw ymm11, ymm10, ymm8\nvpmaddwd ymm11, ymm11, ymm15\nvpaddd ymm6, ymm6, ymm11\nvpmaddubsw ymm13, ymm10, ymm9\nvpmaddwd ymm13, ymm13, ymm15\nvpaddd ymm7, ymm7, ymm13");

    looped!(sign_trick, "vmovdqu ymm8, [{p}]\nvmovdqu ymm9, [{p}+64]
vpbroadcastd ymm10, [{p}+128]\nvpbroadcastd ymm12, [{p}+256]\nvpsignb ymm11, ymm8, ymm10\nvpmaddubsw ymm11, ymm12, ymm11\nvpmaddwd ymm11, ymm11, ymm15\nvpaddd ymm0, ymm0, ymm11\nvpsignb ymm13, ymm9, ymm10\nvpmaddubsw ymm13, ymm12, ymm13\nvpmaddwd ymm13, ymm13, ymm15\nvpaddd ymm1, ymm1, ymm13
vpbroadcastd ymm10, [{p}+132]\nvpbroadcastd ymm12, [{p}+260]\nvpsignb ymm11, ymm8, ymm10\nvpmaddubsw ymm11, ymm12, ymm11\nvpmaddwd ymm11, ymm11, ymm15\nvpaddd ymm2, ymm2, ymm11\nvpsignb ymm13, ymm9, ymm10\nvpmaddubsw ymm13, ymm12, ymm13\nvpmaddwd ymm13, ymm13, ymm15\nvpaddd ymm3, ymm3, ymm13
vpbroadcastd ymm10, [{p}+136]\nvpbroadcastd ymm12, [{p}+264]\nvpsignb ymm11, ymm8, ymm10\nvpmaddubsw ymm11, ymm12, ymm11\nvpmaddwd ymm11, ymm11, ymm15\nvpaddd ymm4, ymm4, ymm11\nvpsignb ymm13, ymm9, ymm10\nvpmaddubsw ymm13, ymm12, ymm13\nvpmaddwd ymm13, ymm13, ymm15\nvpaddd ymm5, ymm5, ymm13
vpbroadcastd ymm10, [{p}+140]\nvpbroadcastd ymm12, [{p}+268]\nvpsignb ymm11, ymm8, ymm10\nvpmaddubsw ymm11, ymm12, ymm11\nvpmaddwd ymm11, ymm11, ymm15\nvpaddd ymm6, ymm6, ymm11\nvpsignb ymm13, ymm9, ymm10\nvpmaddubsw ymm13, ymm12, ymm13\nvpmaddwd ymm13, ymm13, ymm15\nvpaddd ymm7, ymm7, ymm13");

    /// A loop: its name, its function (`n` iterations), MACs per iteration.
    type Loop = (&'static str, fn(usize), f64);

    /// Best of 7 timings of `f(n)`, in seconds per iteration.
    fn per_iteration(f: fn(usize), n: usize) -> f64 {
        (0..7)
            .map(|_| {
                let start = Instant::now();
                f(n);
                start.elapsed().as_secs_f64() / n as f64
            })
            .fold(f64::INFINITY, f64::min)
    }

    pub fn main() {
        if !std::is_x86_feature_detected!("avx2") {
            println!("this CPU has no AVX2: nothing to measure");
            return;
        }
        const N: usize = 10_000_000;
        let cycle = per_iteration(chain, N) / 8.0;
        println!(
            "clock {:.2} GHz (a dependent vpaddd per cycle)",
            1e-9 / cycle
        );
        let loops: [Loop; 3] = [
            ("edgerun (vpmaddwd, exact)", exact_madd, 128.0),
            ("U8S8 (vpmaddubsw, saturates)", u8s8, 256.0),
            ("exact vpmaddubsw (sign trick)", sign_trick, 256.0),
        ];
        for (name, f, macs) in loops {
            let cycles = per_iteration(f, N) / cycle;
            println!(
                "{name:<32} {:5.2} cycles per iteration  {:5.1} MACs per cycle",
                cycles,
                macs / cycles
            );
        }
    }
}

fn main() {
    #[cfg(target_arch = "x86_64")]
    x86::main();
    #[cfg(not(target_arch = "x86_64"))]
    println!("mac_loops measures x86_64 AVX2 loops; this is another architecture");
}
