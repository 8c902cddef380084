//! Raw bytes into the `.edge` reader and, when they validate, the interpreter.
//! Each input runs twice: as given (header, checksum) and with the checksum
//! recomputed (metadata decoder, validator, kernels).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fill = data.last().copied().unwrap_or(0);
    edgerun_fuzz::run_edge(data, fill);
    let mut sealed = data.to_vec();
    edgerun_fuzz::reseal(&mut sealed);
    edgerun_fuzz::run_edge(&sealed, fill);
});
