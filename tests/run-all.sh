#!/usr/bin/env bash
# Runs every test of edgerun on a fresh machine. Installs what it needs first.
#   bash tests/run-all.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "disk (a full run builds about 4 GB; see the end)"
df -h . | tail -n 1

step "toolchain and targets (rust-toolchain.toml)"
rustup show active-toolchain >/dev/null 2>&1 || rustup toolchain install stable --profile minimal
rustup component add rustfmt clippy >/dev/null
rustup target add thumbv7em-none-eabihf aarch64-unknown-linux-gnu >/dev/null

step "format"
cargo fmt --all -- --check

step "clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings
# The compiler and edge-run without tract (the aarch64 edge-run build).
cargo clippy -p edgerun-compiler -p edge-run --no-default-features --all-targets -- -D warnings

step "runtime builds for Cortex-M4F with no allocator (no default features)"
cargo build -p edgerun-runtime --target thumbv7em-none-eabihf --no-default-features --release

step "aarch64 runtime in QEMU user mode: NEON twins on a Cortex-A72 (Pi 4), SDOT on a Cortex-A76 (Pi 5)"
# The linker and runner are in .cargo/config.toml. Only the runtime crate is
# built for aarch64.
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null \
  || [ ! -e /usr/aarch64-linux-gnu/lib/libc.so.6 ]; then
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user >/dev/null
fi
cargo clippy -p edgerun-runtime --features std --all-targets --target aarch64-unknown-linux-gnu -- -D warnings
cargo clippy -p edgerun-runtime --target aarch64-unknown-linux-gnu -- -D warnings  # no std: NEON only
# The frame's twin_expectations test fails unless the listed twins run (or are
# skipped): SDOT must be found absent on the A72 and present on the A76.
QEMU_CPU=cortex-a72 EDGERUN_REQUIRE_TWINS=neon EDGERUN_EXPECT_SKIP=sdot \
  cargo test -p edgerun-runtime --features std --target aarch64-unknown-linux-gnu
QEMU_CPU=cortex-a76 EDGERUN_REQUIRE_TWINS=neon,sdot \
  cargo test -p edgerun-runtime --features std --target aarch64-unknown-linux-gnu

step "edge-run cross-built for a Raspberry Pi (aarch64, native runtime without tract) and tested under qemu-aarch64"
# Its CLI tests spawn the binary: through qemu-aarch64 too (EDGE_RUN_TEST_RUNNER).
QEMU_CPU=cortex-a72 EDGE_RUN_TEST_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu" \
  cargo test -p edge-run --no-default-features --target aarch64-unknown-linux-gnu

step "firmware: format, clippy (host and Cortex-M), host tests of the app"
(cd firmware && cargo fmt --all -- --check)
(cd firmware && cargo clippy -p edgerun-fw-app --features codegen --all-targets -- -D warnings)
(cd firmware && cargo test -p edgerun-fw-app --features codegen)
(cd firmware/qemu-mps2-an386 && cargo clippy --release --all-targets -- -D warnings)
(cd firmware/stm32f746g-disco && cargo clippy --release -- -D warnings)
# The real board must also build and link (it runs only on hardware).
(cd firmware/stm32f746g-disco && cargo build --release)

step "firmware in QEMU (Cortex-M4F): bit-exact against the host, HardFault exits"
bash firmware/run-qemu.sh
bash firmware/run-qemu.sh --fault-selftest

step "tests (unit, property, conformance, integration)"
# edge-run's `--board rpi4` test runs the aarch64 build just made, and its
# `--board cortex-m4` test the real firmware in the QEMU that run-qemu.sh
# installed.
EDGE_RUN_REQUIRE_AARCH64=1 EDGE_RUN_REQUIRE_QEMU=1 cargo test --workspace

step "ONNX node conformance through the CLI"
# The binary `cargo test` just built for tools/edge-tools/tests/cli.rs (a
# `cargo run` here would resolve features without dev-dependencies and rebuild
# tract and burn from scratch).
./target/debug/edge-tools conformance tests/onnx-node/cases | tail -n 1
# The nine full-size classic graphs (tests/onnx-light) through the same path.
./target/debug/edge-tools conformance tests/onnx-light | tail -n 1

step "disk used by the builds"
du -sh target firmware/target 2>/dev/null || true
df -h . | tail -n 1
