//! From MNIST bytes to burn tensors: batching, shuffling and augmentation.

use burn::tensor::{Device, Int, Tensor, TensorData};
use edgerun_data::augment::Augment;
use edgerun_data::mnist::{PIXELS, Split};
use edgerun_data::rng::SplitMix64;

/// `n` images (`n * 784` bytes) as the model input `[n, 1, 28, 28]`, pixel / 255.
pub fn images_tensor(images: &[u8], n: usize, device: &Device) -> Tensor<4> {
    let v: Vec<f32> = images
        .iter()
        .take(n * PIXELS)
        .map(|&p| f32::from(p) / 255.0)
        .collect();
    Tensor::from_data(TensorData::new(v, [n, 1, 28, 28]), device)
}

/// Labels as the `Int` targets of the cross-entropy loss.
pub fn labels_tensor(labels: &[u8], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = labels.iter().map(|&l| i64::from(l)).collect();
    Tensor::from_data(TensorData::new(v, [labels.len()]), device)
}

/// The example order of one epoch: a permutation of `0..n` that depends only
/// on `(seed, epoch)`, so a resumed run sees the same batches.
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    SplitMix64::new(mix(seed, epoch as u64, 0x5eed)).shuffle(&mut order);
    order
}

/// The bytes and labels of the examples `idx` of `split`, augmented when
/// `augment` is given (each example with its own generator, seeded by
/// `(seed, epoch, index)`, so the result does not depend on the batch size).
pub fn gather(
    split: &Split,
    idx: &[usize],
    augment: Option<&Augment>,
    seed: u64,
    epoch: usize,
) -> (Vec<u8>, Vec<u8>) {
    let mut images = Vec::with_capacity(idx.len() * PIXELS);
    let mut labels = Vec::with_capacity(idx.len());
    for &i in idx {
        let (Some(img), Some(&label)) = (split.image(i), split.labels.get(i)) else {
            continue;
        };
        match augment {
            Some(a) => {
                let mut rng = SplitMix64::new(mix(seed, epoch as u64, i as u64));
                images.extend_from_slice(&a.apply(img, &mut rng));
            }
            None => images.extend_from_slice(img),
        }
        labels.push(label);
    }
    (images, labels)
}

/// A 64-bit mix of three words (SplitMix64 of a combination).
fn mix(a: u64, b: u64, c: u64) -> u64 {
    let mut r = SplitMix64::new(a ^ b.rotate_left(21) ^ c.rotate_left(42) ^ 0x9e37_79b9_7f4a_7c15);
    r.next_u64()
}

/// The first `n` examples of `split` (all of them if `n` is larger).
pub fn take(split: &Split, n: usize) -> Split {
    let n = n.min(split.n);
    Split {
        images: split.images.iter().take(n * PIXELS).copied().collect(),
        labels: split.labels.iter().take(n).copied().collect(),
        n,
    }
}

/// The examples of `split` that `keep` accepts (by label), in order, at most
/// `limit` of them, with their labels mapped by `relabel`.
pub fn filter(
    split: &Split,
    limit: usize,
    keep: impl Fn(u8) -> bool,
    relabel: impl Fn(u8) -> u8,
) -> Split {
    let mut out = Split {
        images: Vec::new(),
        labels: Vec::new(),
        n: 0,
    };
    for (i, &l) in split.labels.iter().enumerate() {
        if out.n >= limit {
            break;
        }
        if let (true, Some(img)) = (keep(l), split.image(i)) {
            out.images.extend_from_slice(img);
            out.labels.push(relabel(l));
            out.n += 1;
        }
    }
    out
}

/// `split` with every pixel inverted (`255 - p`): white digits on black
/// become black digits on white.
pub fn invert(split: &Split) -> Split {
    Split {
        images: split.images.iter().map(|&p| 255 - p).collect(),
        labels: split.labels.clone(),
        n: split.n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_a_permutation_and_depends_on_epoch() {
        let a = epoch_order(100, 7, 0);
        let mut s = a.clone();
        s.sort_unstable();
        assert_eq!(s, (0..100).collect::<Vec<_>>());
        assert_eq!(a, epoch_order(100, 7, 0));
        assert_ne!(a, epoch_order(100, 7, 1));
        assert_ne!(a, epoch_order(100, 8, 0));
    }

    #[test]
    fn filter_and_invert() {
        let s = edgerun_data::mnist::vendored_subset().unwrap();
        let f = filter(&s, 30, |l| l < 5, |l| l);
        assert_eq!(f.n, 30);
        assert!(f.labels.iter().all(|&l| l < 5));
        let inv = invert(&f);
        assert_eq!(inv.images[0], 255 - f.images[0]);
        assert_eq!(invert(&inv), f);
    }
}
