//! Time measurement, behind a trait so the application runs on any board and on
//! the host (with a mock).

/// What a [`Clock`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Unit {
    /// CPU cycles (DWT CYCCNT on a real Cortex-M).
    Cycles,
    /// Retired instructions (QEMU with `-icount shift=0`, where virtual time
    /// advances one nanosecond per instruction).
    Instructions,
    /// Ticks of a mock or other clock.
    Ticks,
}

impl Unit {
    /// The key used in report lines.
    pub const fn name(self) -> &'static str {
        match self {
            Unit::Cycles => "cycles",
            Unit::Instructions => "instructions",
            Unit::Ticks => "ticks",
        }
    }
}

/// A monotonic 64-bit counter.
pub trait Clock {
    /// What [`Clock::now`] counts.
    const UNIT: Unit;
    /// The current count. Must not decrease between two calls.
    fn now(&mut self) -> u64;
}
