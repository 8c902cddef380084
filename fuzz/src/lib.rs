//! Helpers shared by the fuzz targets: run `.edge` bytes through the reader,
//! the interpreter and the output accessors the way a firmware would.

use edgerun::format::write::AlignedBytes;
use edgerun::{DType, Interpreter, Model};

/// The largest arena the targets hand the interpreter; a model that asks for
/// more gets `ArenaTooSmall`, like on a small device.
pub const MAX_ARENA: usize = 1 << 22;

/// Recompute the header checksum so that mutations reach the metadata decoder
/// and the validator instead of stopping at `ChecksumMismatch`.
pub fn reseal(bytes: &mut [u8]) {
    if let Some(payload) = bytes.get(32..) {
        let sum = edgerun::format::checksum(payload).to_le_bytes();
        if let Some(field) = bytes.get_mut(12..16) {
            field.copy_from_slice(&sum);
        }
    }
}

/// Parse `bytes`; if they validate, run the model once on inputs filled from
/// `fill`, then read every output. Returns whether the model validated.
///
/// Every failure must be a typed `edgerun::Error`: a panic or an out-of-bounds
/// access is a bug the fuzzer reports.
pub fn run_edge(bytes: &[u8], fill: u8) -> bool {
    let aligned = AlignedBytes::new(bytes);
    let Ok(model) = Model::parse(&aligned) else {
        return false;
    };
    let _ = model.name();
    for t in model.tensors() {
        let _ = t;
    }
    let mut arena = vec![0u8; model.arena_bytes_unaligned().min(MAX_ARENA)];
    let Ok(mut interp) = Interpreter::new(&model, &mut arena) else {
        return true;
    };
    for i in 0..model.num_inputs() {
        let Ok(desc) = model.input(i) else { continue };
        if let Ok(b) = interp.input_bytes_mut(i) {
            b.fill(fill);
        }
        if desc.dtype == DType::F32 {
            if let Ok(x) = interp.input_f32_mut(i) {
                for (j, v) in x.iter_mut().enumerate() {
                    // Finite values, and NaN / infinities when `fill` asks for them.
                    *v = match fill {
                        0xff => f32::NAN,
                        0xfe => f32::INFINITY,
                        0xfd => f32::NEG_INFINITY,
                        _ => (j as f32 * 0.37 + fill as f32).sin() * 4.0,
                    };
                }
            }
        }
    }
    let _ = interp.invoke();
    for i in 0..model.num_outputs() {
        let _ = interp.output_bytes(i);
        let _ = interp.output_rows(i);
        let _ = interp.output_f32(i);
        let _ = interp.output_i8(i);
        let _ = interp.output_i32(i);
    }
    true
}
