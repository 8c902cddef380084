//! The int8 unary kernel: a 256-entry byte lookup table (every int8 unary op — Relu,
//! Clip, Sigmoid, Tanh, a rescale, u8 <-> i8 — is tabulated exactly by the compiler).

use crate::error::Error;
use crate::kernels::check_len;

/// `out[i] = table[input[i]]`.
///
/// Errors: [`Error::BadGeometry`] when `table` does not have exactly 256 entries or
/// `out` is not as long as `input`.
// A u8 index into a [u8; 256] is always in bounds.
#[allow(clippy::indexing_slicing)]
pub fn lut8(table: &[u8], input: &[u8], out: &mut [u8]) -> Result<(), Error> {
    let table: &[u8; 256] = table.try_into().map_err(|_| Error::BadGeometry)?;
    check_len(out.len(), input.len())?;
    for (o, &x) in out.iter_mut().zip(input) {
        // A u8 index into a [u8; 256]: always in bounds.
        *o = table[x as usize];
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is a failure report
mod tests {
    extern crate std;

    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(64)))]

        #[test]
        fn matches_reference(
            table in proptest::collection::vec(any::<u8>(), 256),
            input in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut out = vec![0u8; input.len()];
            lut8(&table, &input, &mut out).unwrap();
            let want: Vec<u8> = input.iter().map(|&x| *table.get(usize::from(x)).unwrap()).collect();
            prop_assert_eq!(out, want);
        }
    }

    /// An int8 Relu table: byte b is the i8 value b as i8; max(v, 0) as a byte.
    #[test]
    fn golden_relu_table() {
        let table: Vec<u8> = (0..=255u8).map(|b| (b as i8).max(0) as u8).collect();
        let input = [(-128i8) as u8, (-1i8) as u8, 0, 1, 127];
        let mut out = [0u8; 5];
        lut8(&table, &input, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 1, 127]);
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let table = [0u8; 257];
        let mut out = [0u8; 2];
        assert_eq!(
            lut8(&table[..255], &[1, 2], &mut out),
            Err(Error::BadGeometry)
        );
        assert_eq!(lut8(&table, &[1, 2], &mut out), Err(Error::BadGeometry));
        assert_eq!(
            lut8(&table[..256], &[1, 2, 3], &mut out),
            Err(Error::BadGeometry)
        );
        assert_eq!(lut8(&table[..256], &[1, 2], &mut out), Ok(()));
        assert_eq!(lut8(&table[..256], &[], &mut []), Ok(()));
    }
}
