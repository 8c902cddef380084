//! The IDX format (LeCun's MNIST files): big-endian magic `0x0000 TT DD`
//! (type, number of dimensions), then `DD` big-endian u32 dimensions, then data.

use crate::DataError;
use std::path::Path;

/// An unsigned-byte IDX array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idx {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Parse IDX bytes (`path` only names the source in errors).
pub fn parse(bytes: &[u8], path: &Path) -> Result<Idx, DataError> {
    let be = |at: usize| -> Option<u32> {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let magic = be(0).ok_or(DataError::Truncated {
        path: path.into(),
        got: bytes.len(),
        want: 4,
    })?;
    let (ty, nd) = ((magic >> 8) & 0xff, (magic & 0xff) as usize);
    if magic >> 16 != 0 || ty != 0x08 || nd == 0 || nd > 4 {
        return Err(DataError::BadMagic {
            path: path.into(),
            magic,
        });
    }
    let header = 4 + 4 * nd;
    let dims: Vec<usize> = (0..nd)
        .map(|i| be(4 + 4 * i).map(|d| d as usize))
        .collect::<Option<_>>()
        .ok_or(DataError::Truncated {
            path: path.into(),
            got: bytes.len(),
            want: header,
        })?;
    let want = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .and_then(|n| n.checked_add(header))
        .ok_or(DataError::Truncated {
            path: path.into(),
            got: bytes.len(),
            want: usize::MAX,
        })?;
    if bytes.len() < want {
        return Err(DataError::Truncated {
            path: path.into(),
            got: bytes.len(),
            want,
        });
    }
    Ok(Idx {
        dims,
        data: bytes[header..want].to_vec(),
    })
}

/// Read and parse an IDX file.
pub fn read(path: &Path) -> Result<Idx, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    parse(&bytes, path)
}

/// Serialize an unsigned-byte IDX array.
pub fn write(idx: &Idx) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, idx.dims.len() as u8];
    for &d in &idx.dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(&idx.data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let idx = Idx {
            dims: vec![2, 3],
            data: vec![1, 2, 3, 4, 5, 6],
        };
        assert_eq!(parse(&write(&idx), Path::new("x")).unwrap(), idx);
    }

    #[test]
    fn typed_errors() {
        let p = Path::new("x");
        assert!(matches!(parse(&[], p), Err(DataError::Truncated { .. })));
        assert!(matches!(
            parse(&[0, 0, 0x09, 1, 0, 0, 0, 1, 5], p),
            Err(DataError::BadMagic { .. })
        ));
        assert!(matches!(
            parse(&[1, 0, 0x08, 1, 0, 0, 0, 1, 5], p),
            Err(DataError::BadMagic { .. })
        ));
        assert!(matches!(
            parse(&[0, 0, 0x08, 1, 0, 0, 0, 3, 5], p),
            Err(DataError::Truncated { want: 11, .. })
        ));
        assert!(matches!(
            parse(&[0, 0, 0x08, 2, 0, 0, 0, 3], p),
            Err(DataError::Truncated { .. })
        ));
        // Every truncation of a valid file is an error, never a panic.
        let good = write(&Idx {
            dims: vec![2, 2],
            data: vec![9; 4],
        });
        for n in 0..good.len() {
            assert!(parse(&good[..n], p).is_err());
        }
    }
}
