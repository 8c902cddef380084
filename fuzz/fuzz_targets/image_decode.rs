//! edge-run's image path: file bytes into `decode_image` (PNG or JPEG, with
//! size and allocation limits), then `preprocess` to the shapes a model can
//! take. Corrupt images must be errors; any decoded image must preprocess.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = edge_run::source::decode_image("fuzz", data) else {
        return;
    };
    for shape in [&[1, 1, 28, 28][..], &[1, 3, 7, 5], &[1, 784], &[1, 2, 2]] {
        let t = edge_run::preprocess(&frame, shape).expect("a decoded frame preprocesses");
        assert_eq!(t.len(), shape.iter().product::<usize>());
    }
});
