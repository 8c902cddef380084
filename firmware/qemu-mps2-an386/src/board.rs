//! What every binary of this board needs: the semihosting exit and the handlers
//! that turn a HardFault, a stray interrupt or a panic into a failing exit.

use core::sync::atomic::{AtomicBool, Ordering};
use cortex_m::peripheral::SCB;
use cortex_m_rt::{ExceptionFrame, exception};
use cortex_m_semihosting::debug;

/// Leave QEMU through semihosting with the status.
pub fn exit(ok: bool) -> ! {
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Not reached under QEMU; on a debugger without semihosting exit, stop here.
    loop {
        cortex_m::asm::bkpt();
    }
}

#[exception]
unsafe fn HardFault(ef: &ExceptionFrame) -> ! {
    // SAFETY: SCB::PTR points at the always-present System Control Block; these
    // are plain reads of the fault status registers.
    let (hfsr, cfsr) = unsafe { ((*SCB::PTR).hfsr.read(), (*SCB::PTR).cfsr.read()) };
    defmt::error!(
        "EDGERUN hardfault pc={=u32:#010x} lr={=u32:#010x} xpsr={=u32:#010x} hfsr={=u32:#010x} cfsr={=u32:#010x}",
        ef.pc(),
        ef.lr(),
        ef.xpsr(),
        hfsr,
        cfsr
    );
    exit(false)
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    defmt::error!("EDGERUN unexpected_interrupt irqn={=i16}", irqn);
    exit(false)
}

/// The interrupt vectors: QEMU gives the mps2-an386's NVIC 32 external
/// interrupts (cortex-m-rt's generic table, without the `device` feature, has
/// 240). None is used: each goes to `DefaultHandler`, which reports it and
/// exits with failure.
#[used]
#[unsafe(link_section = ".vector_table.interrupts")]
#[unsafe(no_mangle)]
static __INTERRUPTS: [unsafe extern "C" fn(); 32] = [DefaultHandler; 32];

unsafe extern "C" {
    /// cortex-m-rt's trampoline into `DefaultHandler` below.
    fn DefaultHandler();
}

static PANICKED: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // A panic inside the logger must not recurse into it.
    if !PANICKED.swap(true, Ordering::Relaxed) {
        match info.location() {
            Some(l) => defmt::error!("EDGERUN panic at {=str}:{=u32}", l.file(), l.line()),
            None => defmt::error!("EDGERUN panic"),
        }
    }
    exit(false)
}
