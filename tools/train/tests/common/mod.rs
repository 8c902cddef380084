//! Shared test data: the vendored first 500 MNIST test images (no network).

#![allow(dead_code)]

use edgerun_data::mnist::{Mnist, Split, vendored_subset};
use edgerun_train::batch::take;

/// 400 vendored images to train on, the other 100 to test on.
pub fn tiny_mnist() -> Mnist {
    let s = vendored_subset().unwrap();
    let train = take(&s, 400);
    let test = Split {
        images: s.images[400 * 784..].to_vec(),
        labels: s.labels[400..].to_vec(),
        n: s.n - 400,
    };
    Mnist { train, test }
}

pub fn tmp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("edgerun-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
