//! edgerun on QEMU's mps2-an386 (Cortex-M4F), for CI.
//!
//! Runs every baked model (`build.rs`) on its baked MNIST digits, checks each
//! output against the host runtime's bytes and each prediction against its
//! label, prints `EDGERUN ...` report lines through defmt over semihosting, and
//! exits QEMU with success only if every model reproduced the host exactly.
//! A HardFault, a panic or an unexpected interrupt exits with failure too.
//!
//! Time is counted in instructions: under `-icount shift=0` QEMU advances its
//! virtual clock by 1 ns per instruction, and SysTick runs from the 25 MHz
//! system clock, so one tick is 40 instructions. A calibration loop of known
//! length checks that at start-up. (DWT CYCCNT is not modelled by QEMU.)
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

use core::sync::atomic::{AtomicU32, Ordering};
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{SCB, SYST};
use cortex_m_rt::{entry, exception};
use defmt_semihosting as _;
use edgerun_fw::{Aligned16, Clock, Unit, log};

mod board;
use board::exit;

mod baked {
    include!(concat!(env!("OUT_DIR"), "/baked.rs"));
}
use baked::{ARENA_BYTES, BakedKernels, MODELS};

/// mps2-an386's system clock, which drives SysTick.
const SYSCLK_HZ: u64 = 25_000_000;
/// Virtual nanoseconds per instruction under `-icount shift=0` is 1.
const INSTRUCTIONS_PER_TICK: u64 = 1_000_000_000 / SYSCLK_HZ;
/// SysTick is a 24-bit down-counter; its wraps are counted in `WRAPS`.
const RELOAD: u32 = 0x00FF_FFFF;

static WRAPS: AtomicU32 = AtomicU32::new(0);

/// Instructions retired, from SysTick extended to 64 bits.
struct InstructionClock;

impl InstructionClock {
    fn start(mut syst: SYST) -> Self {
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(RELOAD);
        syst.clear_current();
        syst.enable_interrupt();
        syst.enable_counter();
        // The counter reads 0 until its first reload, one tick after enabling;
        // counting from there keeps the first reading from looking like a
        // full period.
        let mut tries = 0u32;
        while SYST::get_current() == 0 && tries < 1_000 {
            tries += 1;
        }
        InstructionClock
    }

    fn ticks(&self) -> u64 {
        cortex_m::interrupt::free(|_| {
            let mut wraps = WRAPS.load(Ordering::Relaxed);
            let mut current = SYST::get_current();
            // A wrap the handler has not counted yet (interrupts are off here):
            // count it, and re-read the counter, which is past the wrap now.
            if SCB::is_pendst_pending() {
                wraps = wraps.wrapping_add(1);
                current = SYST::get_current();
            }
            u64::from(wraps) * (u64::from(RELOAD) + 1) + u64::from(RELOAD.saturating_sub(current))
        })
    }
}

impl Clock for InstructionClock {
    const UNIT: Unit = Unit::Instructions;
    fn now(&mut self) -> u64 {
        self.ticks() * INSTRUCTIONS_PER_TICK
    }
}

#[exception]
fn SysTick() {
    WRAPS.fetch_add(1, Ordering::Relaxed);
}

/// Run `n` iterations of a two-instruction loop.
fn spin(n: u32) {
    // SAFETY: a countdown in one register; it touches no memory and no stack,
    // and only clobbers the flags, which asm! assumes anyway. It is not marked
    // `nomem` so that the clock reads around it stay on their side of it.
    unsafe {
        core::arch::asm!(
            "2:",
            "subs {0}, {0}, #1",
            "bne 2b",
            inout(reg) n.max(1) => _,
            options(nostack),
        );
    }
}

/// Check that the clock counts instructions: time a loop of known length.
fn calibrate(clock: &mut InstructionClock) -> bool {
    const LOOPS: u32 = 1_000_000;
    let expected = 2 * u64::from(LOOPS);
    let t0 = clock.now();
    spin(LOOPS);
    let measured = clock.now().saturating_sub(t0);
    // Allow 1% (the clock reads themselves and the tick granularity).
    let ok = measured.abs_diff(expected) <= expected / 100;
    defmt::info!(
        "EDGERUN calibration expected_instructions={=u64} measured_instructions={=u64} ok={=bool}",
        expected,
        measured,
        ok
    );
    ok
}

#[entry]
fn main() -> ! {
    static mut ARENA: Aligned16<[u8; ARENA_BYTES]> = Aligned16([0; ARENA_BYTES]);

    let Some(cp) = cortex_m::Peripherals::take() else {
        defmt::error!("EDGERUN error core peripherals already taken");
        exit(false)
    };
    // Counts are instructions, not cycles of a clock: no clock_hz.
    log::target("qemu-mps2-an386", "cortex-m4f", 0);
    let mut clock = InstructionClock::start(cp.SYST);
    let mut ok = calibrate(&mut clock);

    #[cfg(feature = "fault-selftest")]
    {
        defmt::info!("EDGERUN fault-selftest: executing UDF");
        cortex_m::asm::udf();
    }

    for m in MODELS.iter() {
        log::model(m);
        match m.run(BakedKernels, &mut ARENA.0, &mut clock, |_| {}) {
            Ok(report) => {
                log::report::<InstructionClock>(m, &report);
                ok &= m.passed(&report);
            }
            Err(e) => {
                defmt::error!("EDGERUN error model={=str} {}", m.name, e);
                ok = false;
            }
        }
    }
    defmt::info!(
        "EDGERUN done status={=str}",
        if ok { "PASS" } else { "FAIL" }
    );
    exit(ok)
}
