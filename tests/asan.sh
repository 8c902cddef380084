#!/usr/bin/env bash
# AddressSanitizer on the runtime's SIMD kernels (Miri cannot run AVX2
# intrinsics or inline assembly): the kernels' shared test frame (every twin
# against the scalar reference, out-of-bounds reads or writes abort), the
# interpreter on the shipped models (runtime/tests/determinism.rs) and the
# format tests, built with -Zsanitizer=address on nightly for x86_64.
# Installs nightly and rust-src when missing. Separate from tests/run-all.sh
# (a second instrumented build of the runtime and its test dependencies).
#   bash tests/asan.sh [TEST FILTERS...]
set -euo pipefail
cd "$(dirname "$0")/.."

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
rustup +nightly component add rust-src >/dev/null
host="$(rustc +nightly -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Zsanitizer=address"
export RUSTDOCFLAGS="-Zsanitizer=address"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
# A separate target dir: instrumented artifacts must not mix with normal ones.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/asan"
cargo +nightly test -Zbuild-std --target "$host" -p edgerun-runtime --features std \
    --lib --test determinism -- "$@"
