//! Fine-tuning: frozen layers do not change, the new head does.

mod common;

use common::tiny_mnist;
use edgerun_train::finetune::{FinetuneConfig, Task, finetune_model, from_scratch, prepare};
use edgerun_train::{Arch, Net, device};

#[test]
fn frozen_layers_do_not_change_after_steps() {
    let data = tiny_mnist();
    for arch in Arch::ALL {
        let layers = edgerun_train::models::layers(arch).len();
        let freeze = layers - 2; // everything but the last hidden layer and the head
        let pretrained = Net::new(arch, 10, &device());
        let cfg = FinetuneConfig {
            epochs: 1,
            labelled: 64,
            test_limit: Some(32),
            ..FinetuneConfig::new(Task::FiveClass, freeze)
        };
        let before = prepare(pretrained.clone(), &cfg).unwrap();
        let (after, report) = finetune_model(pretrained, &cfg, &data, false).unwrap();
        assert_eq!(after.classes(), 5);
        assert_eq!(report.frozen.len(), freeze);
        for i in 0..layers {
            let (a, b) = (
                before.layer_state(i).unwrap(),
                after.layer_state(i).unwrap(),
            );
            if i < freeze {
                assert_eq!(a, b, "{arch}: frozen layer {} changed", before.layers()[i]);
            } else {
                assert_ne!(
                    a,
                    b,
                    "{arch}: trainable layer {} did not change",
                    before.layers()[i]
                );
            }
        }
    }
}

#[test]
fn freezing_the_head_is_refused_and_scratch_runs() {
    let data = tiny_mnist();
    let net = Net::new(Arch::LeNet5, 10, &device());
    let cfg = FinetuneConfig::new(Task::Inverted, 5);
    assert!(prepare(net, &cfg).is_err());
    let cfg = FinetuneConfig {
        epochs: 1,
        labelled: 64,
        test_limit: Some(32),
        ..FinetuneConfig::new(Task::Inverted, 0)
    };
    let (m, r) = from_scratch(Arch::LeNet5, &cfg, &data, false).unwrap();
    assert!(r.from_scratch && r.frozen.is_empty());
    assert_eq!(
        (m.classes(), r.train_examples, r.test_examples),
        (10, 64, 32)
    );
}
