//! Training smoke tests on the vendored subset: the loss falls, checkpoints
//! resume to the same model, augmentation keeps labels and shapes.

mod common;

use common::{tiny_mnist, tmp_dir};
use edgerun_data::augment::Augment;
use edgerun_data::mnist::PIXELS;
use edgerun_train::batch::gather;
use edgerun_train::{Arch, TrainConfig, load_checkpoint, logits, train};

fn small(arch: Arch) -> TrainConfig {
    TrainConfig {
        epochs: 3,
        batch_size: 32,
        lr: 2e-3,
        augment: false,
        ..TrainConfig::new(arch)
    }
}

#[test]
fn lenet_loss_falls_and_checkpoints_resume() {
    let data = tiny_mnist();
    let dir = tmp_dir("smoke");
    let r = train(&small(Arch::LeNet5), &data, &dir, false).unwrap();
    assert_eq!(r.epochs, 3);
    let h = &r.history;
    assert!(h[0].train_loss < 2.31, "{h:?}");
    assert!(
        h[2].train_loss < 0.8 * h[0].train_loss,
        "loss did not fall: {h:?}"
    );
    assert!(h[2].test_accuracy > 0.5, "{h:?}");
    for k in 1..=3 {
        assert!(dir.join(format!("model-epoch{k}.bpk")).exists());
    }

    // The same run, stopped after one epoch and resumed, ends with the same model.
    let split = tmp_dir("smoke-split");
    let first = TrainConfig {
        stop_after: Some(1),
        ..small(Arch::LeNet5)
    };
    assert_eq!(train(&first, &data, &split, false).unwrap().epochs, 1);
    let resumed = train(
        &TrainConfig {
            resume: true,
            ..small(Arch::LeNet5)
        },
        &data,
        &split,
        false,
    )
    .unwrap();
    assert_eq!(resumed.epochs, 3);
    let (a, _) = load_checkpoint(&dir).unwrap();
    let (b, state) = load_checkpoint(&split).unwrap();
    assert_eq!(state.epochs_done, 3);
    let imgs = &data.test.images[..20 * PIXELS];
    let (la, lb) = (logits(&a, imgs, 20).unwrap(), logits(&b, imgs, 20).unwrap());
    let diff = la
        .iter()
        .zip(&lb)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(diff < 1e-4, "resumed run differs by {diff}");
    assert!((resumed.test_accuracy - r.test_accuracy).abs() < 1e-9);

    // Resuming with another architecture is refused.
    let err = train(
        &TrainConfig {
            resume: true,
            ..small(Arch::Vgg)
        },
        &data,
        &split,
        false,
    )
    .unwrap_err();
    assert!(err.to_string().contains("checkpoint mismatch"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&split).unwrap();
}

#[test]
fn resnet_and_vgg_loss_falls() {
    let data = tiny_mnist();
    for arch in [Arch::ResNet8, Arch::Vgg] {
        let dir = tmp_dir(arch.name());
        let cfg = TrainConfig {
            epochs: 2,
            train_limit: Some(256),
            ..small(arch)
        };
        let r = train(&cfg, &data, &dir, false).unwrap();
        let h = &r.history;
        assert!(h[1].train_loss < h[0].train_loss, "{arch}: {h:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn augmentation_keeps_labels_and_shapes() {
    let data = tiny_mnist();
    let idx: Vec<usize> = (0..64).rev().collect();
    let aug = Augment::default();
    let (plain_imgs, plain_labels) = gather(&data.train, &idx, None, 3, 0);
    let (imgs, labels) = gather(&data.train, &idx, Some(&aug), 3, 0);
    assert_eq!(labels, plain_labels);
    assert_eq!(
        labels,
        idx.iter()
            .map(|&i| data.train.labels[i])
            .collect::<Vec<_>>()
    );
    assert_eq!(imgs.len(), 64 * PIXELS);
    assert_ne!(imgs, plain_imgs);
    // Deterministic per (seed, epoch, example), whatever the batch.
    let (again, _) = gather(&data.train, &idx[..8], Some(&aug), 3, 0);
    assert_eq!(&again[..], &imgs[..8 * PIXELS]);
    let (other_epoch, _) = gather(&data.train, &idx[..8], Some(&aug), 3, 1);
    assert_ne!(&other_epoch[..], &imgs[..8 * PIXELS]);
    // Augmented training still learns.
    let dir = tmp_dir("aug");
    let r = train(
        &TrainConfig {
            augment: true,
            ..small(Arch::LeNet5)
        },
        &data,
        &dir,
        false,
    )
    .unwrap();
    assert!(
        r.history[2].train_loss < r.history[0].train_loss,
        "{:?}",
        r.history
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_config_is_an_error() {
    let data = tiny_mnist();
    let dir = tmp_dir("bad");
    let cfg = TrainConfig {
        batch_size: 0,
        ..small(Arch::LeNet5)
    };
    assert!(train(&cfg, &data, &dir, false).is_err());
    let cfg = TrainConfig {
        classes: 5,
        ..small(Arch::LeNet5)
    };
    assert!(
        train(&cfg, &data, &dir, false)
            .unwrap_err()
            .to_string()
            .contains("label")
    );
    assert!(load_checkpoint(&dir).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
