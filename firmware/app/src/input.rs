//! From frame bytes to the model input, and from the output to a class.
//!
//! The host code generator ([`crate::codegen`]) fills inputs with the very same
//! function as the firmware, so both run the model on identical bits.

use crate::error::AppError;
use edgerun::{DType, Interpreter};

/// How frame bytes become model input elements.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Preprocess {
    /// f32 input: `byte as f32 / divisor` (e.g. `255.0` for pixels in `[0, 1]`,
    /// as LeNet-5 was trained). A u8 input takes the byte as is and an i8
    /// input `byte - 128`.
    Divide(f32),
}

/// Fill input 0 of `interp` from `pixels` (one byte per element).
pub fn fill_input(
    interp: &mut Interpreter<'_, '_>,
    pixels: &[u8],
    pre: Preprocess,
) -> Result<(), AppError> {
    let desc = interp.input(0)?;
    match (desc.dtype, pre) {
        (DType::F32, Preprocess::Divide(divisor)) => {
            let dst = interp.input_f32_mut(0)?;
            check_len(dst.len(), pixels.len())?;
            for (d, &p) in dst.iter_mut().zip(pixels) {
                *d = p as f32 / divisor;
            }
        }
        (DType::U8, _) => {
            let dst = interp.input_u8_mut(0)?;
            check_len(dst.len(), pixels.len())?;
            dst.copy_from_slice(pixels);
        }
        (DType::I8, _) => {
            let dst = interp.input_i8_mut(0)?;
            check_len(dst.len(), pixels.len())?;
            for (d, &p) in dst.iter_mut().zip(pixels) {
                *d = (p ^ 0x80) as i8;
            }
        }
        (other, _) => return Err(AppError::UnsupportedInput(other)),
    }
    Ok(())
}

fn check_len(expected: usize, got: usize) -> Result<(), AppError> {
    if expected == got {
        Ok(())
    } else {
        Err(AppError::FrameSize { expected, got })
    }
}

/// The index of the largest element of output 0 (the first on ties), or `None`
/// for an empty output or an element type without an order here.
pub fn argmax(interp: &Interpreter<'_, '_>) -> Result<Option<usize>, AppError> {
    let desc = interp.output(0)?;
    Ok(match desc.dtype {
        DType::F32 => first_max(interp.output_f32(0)?.iter().copied()),
        DType::I8 => first_max(interp.output_i8(0)?.iter().copied()),
        DType::U8 => first_max(interp.output_u8(0)?.iter().copied()),
        DType::I32 => first_max(interp.output_i32(0)?.iter().copied()),
        _ => None,
    })
}

fn first_max<T: PartialOrd + Copy>(values: impl Iterator<Item = T>) -> Option<usize> {
    let mut best: Option<(usize, T)> = None;
    for (i, v) in values.enumerate() {
        let better = match best {
            None => true,
            Some((_, b)) => v > b,
        };
        if better {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::first_max;

    #[test]
    fn first_max_picks_the_first_of_ties() {
        assert_eq!(first_max([1i8, 3, 3, 2].into_iter()), Some(1));
        assert_eq!(first_max([-1.0f32, -0.5].into_iter()), Some(1));
        assert_eq!(first_max(core::iter::empty::<i8>()), None);
    }
}
