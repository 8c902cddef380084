#!/usr/bin/env bash
# Miri (the interpreter that detects undefined behaviour) on the runtime's
# scalar int8 kernels and their shared test frame, the .edge reader and the
# interpreter on LeNet-5, NMS (detect::nms and the ONNX NonMaxSuppression
# kernel), the detection helpers and requantization. Property tests run 4 cases
# each under Miri (crate::proptest_cases). The SIMD twins (AVX2, DSP) are not
# built without the std feature or off Cortex-M, so Miri never sees them.
# Installs nightly, miri and rust-src when they are missing. Separate from
# tests/run-all.sh: it takes longer than the CI budget allows.
#   bash tests/miri.sh [TEST FILTERS...]
set -euo pipefail
cd "$(dirname "$0")/.."

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
rustup +nightly component add miri rust-src >/dev/null
# Property tests without their own case count read PROPTEST_CASES, which Miri
# only passes on without isolation (proptest also reads its regression files).
export PROPTEST_CASES="${PROPTEST_CASES:-4}"
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation}"
if [ "$#" -eq 0 ]; then
    set -- scalar:: frame:: format:: nms detect:: quant::
fi
# libm uses inline assembly (sqrtss) on x86_64, which Miri cannot run.
cargo +nightly miri test -p edgerun-runtime --lib --features libm/force-soft-floats -- "$@"
