//! edgerun on the STM32F746G-DISCO (Cortex-M7, 1 MiB flash, 320 KiB RAM).
//!
//! The same application as the QEMU build: every baked model runs on its baked
//! MNIST digits, checked bit for bit against the host runtime, with report
//! lines over defmt-RTT (`probe-rs run` decodes them). Time is in CPU cycles
//! from DWT CYCCNT, with the instruction and data caches on.
//!
//! The core runs from the 16 MHz HSI after reset (flash at zero wait states);
//! cycle counts do not depend on the clock, but flash wait states do: raising
//! the clock to 216 MHz (PLL, 7 wait states, ART accelerator) is a TODO, and so
//! is the camera (DCMI + OV9655 on the board's camera connector) as a
//! `FrameSource`.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

use cortex_m::peripheral::DWT;
use cortex_m_rt::entry;
use defmt_rtt as _;
use edgerun_fw::{Aligned16, Clock, Unit, log};
use panic_probe as _;

mod baked {
    include!(concat!(env!("OUT_DIR"), "/baked.rs"));
}
use baked::{ARENA_BYTES, BakedKernels, MODELS};

/// The interrupt vectors: the STM32F746's 98 (IRQ 0 to SPDIF_RX, 97, in the
/// reference manual's table); cortex-m-rt's generic table, without its
/// `device` feature, has 240. None is used yet: each is cortex-m-rt's
/// `DefaultHandler`. (A device crate, e.g. for the camera's DCMI, would supply
/// this table instead.)
#[used]
#[unsafe(link_section = ".vector_table.interrupts")]
#[unsafe(no_mangle)]
static __INTERRUPTS: [unsafe extern "C" fn(); 98] = [DefaultHandler; 98];

unsafe extern "C" {
    /// cortex-m-rt's default handler (an endless loop a debugger can see).
    fn DefaultHandler();
}

/// The core clock after reset: the internal 16 MHz oscillator.
const HSI_HZ: u32 = 16_000_000;

/// CPU cycles from DWT CYCCNT, extended to 64 bits (it must be read at least
/// once per 2^32 cycles, 20 s at 216 MHz; every inference reads it).
struct CycleClock {
    last: u32,
    high: u64,
}

impl Clock for CycleClock {
    const UNIT: Unit = Unit::Cycles;
    fn now(&mut self) -> u64 {
        let now = DWT::cycle_count();
        self.high = self
            .high
            .wrapping_add(u64::from(now.wrapping_sub(self.last)));
        self.last = now;
        self.high
    }
}

#[entry]
fn main() -> ! {
    static mut ARENA: Aligned16<[u8; ARENA_BYTES]> = Aligned16([0; ARENA_BYTES]);

    let Some(mut cp) = cortex_m::Peripherals::take() else {
        defmt::panic!("core peripherals already taken")
    };
    cp.SCB.enable_icache();
    cp.SCB.enable_dcache(&mut cp.CPUID);
    cp.DCB.enable_trace();
    // The Cortex-M7's DWT has a software lock.
    DWT::unlock();
    cp.DWT.enable_cycle_counter();
    let mut clock = CycleClock {
        last: DWT::cycle_count(),
        high: 0,
    };

    log::target("stm32f746g-disco", "cortex-m7", HSI_HZ);
    let mut ok = true;
    for m in MODELS.iter() {
        log::model(m);
        match m.run(BakedKernels, &mut ARENA.0, &mut clock, |_| {}) {
            Ok(report) => {
                log::report::<CycleClock>(m, &report);
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
    // probe-rs run stops at the breakpoint.
    loop {
        cortex_m::asm::bkpt();
    }
}
