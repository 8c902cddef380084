#!/usr/bin/env bash
# Builds the Cortex-M4F firmware (firmware/qemu-mps2-an386) in release, runs it
# in QEMU (mps2-an386) with a timeout, decodes its defmt output and checks it:
# every baked MNIST digit must give the host runtime's output bit for bit, the
# run must end with "EDGERUN done status=PASS" and exit 0, with no HardFault,
# panic or hang; the code (flash minus baked model and data) must stay within
# its ceiling. Then it runs the on-target kernel tests (defmt-test,
# qemu-mps2-an386/tests/kernels.rs: the DSP and scalar kernels built for the
# target against the outputs of the host's scalar reference), which must print
# "all tests passed!" and exit 0. Last, it leaves one
# benchmark report per model (JSON, see tools/report) and their rendering
# (.md, .html) in firmware/target/reports/. Installs what is missing first
# (qemu-system-arm, defmt-print, the thumbv7em target, llvm-tools).
#
#   bash firmware/run-qemu.sh                   # the check
#   bash firmware/run-qemu.sh --fault-selftest  # a firmware that faults on purpose must fail
#
# Environment: EDGERUN_FW_FRAMES (digits per model, default 500),
# QEMU_TIMEOUT (seconds, default 300).
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'run-qemu: FAIL: %s\n' "$*" >&2; exit 1; }

selftest=0
case "${1:-}" in
  --fault-selftest) selftest=1 ;;
  "") ;;
  *) die "unknown argument $1" ;;
esac

# Code bytes allowed in flash, baked model and data excluded. The goal is the
# 40 KB budget (code_goal below; 39,420 bytes on the mcu branch). The merge of
# the detector record and the LRN operator brought it to 41,668 bytes, over
# the goal: the ceiling was 42 KiB until that is won back (issue 7). The DSP
# kernels' packed weights, prepared requantization and the scalar depthwise
# fast path (issue 8: ResNet-8 from 2.66 to 1.50 instructions per MAC) took
# it to 43,448 bytes: the ceiling was 42.5 KiB. Format 1.5's validation of
# the AVX2 Winograd pack (which a firmware never reads, but parses) took it to
# 43,572: the ceiling is 42.625 KiB.
CODE_CEILING=43648

step "tools"
if ! command -v qemu-system-arm >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq qemu-system-arm >/dev/null
  else
    die "qemu-system-arm is missing: sudo apt-get install qemu-system-arm"
  fi
fi
command -v defmt-print >/dev/null || cargo install defmt-print --locked
rustup target add thumbv7em-none-eabihf >/dev/null
rustup component add llvm-tools >/dev/null
bin="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
qemu-system-arm --version | head -n 1

step "build (release)"
features=()
[ "$selftest" = 1 ] && features=(--features fault-selftest)
(cd qemu-mps2-an386 && cargo build --release "${features[@]}")
elf=target/thumbv7em-none-eabihf/release/qemu-mps2-an386
out=target/qemu-run
mkdir -p "$out"

step "run in QEMU (timeout ${QEMU_TIMEOUT:-300} s)"
set +e
timeout "${QEMU_TIMEOUT:-300}" qemu-system-arm -cpu cortex-m4 -M mps2-an386 -nographic \
  -semihosting-config enable=on,target=native -icount shift=0 \
  -kernel "$elf" </dev/null >"$out/defmt.bin" 2>"$out/qemu.stderr"
rc=$?
set -e
defmt-print -e "$elf" <"$out/defmt.bin" >"$out/log.txt" 2>&1 || true
cat "$out/log.txt"
[ -s "$out/qemu.stderr" ] && { echo "--- qemu stderr"; cat "$out/qemu.stderr"; }

hang=0; fault=0; pass=0
[ "$rc" = 124 ] && hang=1
grep -qE 'EDGERUN (hardfault|panic|unexpected_interrupt)' "$out/log.txt" && fault=1
grep -q 'EDGERUN done status=PASS' "$out/log.txt" && pass=1

if [ "$selftest" = 1 ]; then
  step "fault self-test"
  [ "$hang" = 0 ] || die "the faulting firmware hung instead of exiting"
  [ "$fault" = 1 ] && [ "$rc" != 0 ] || die "a HardFault did not exit QEMU with failure (exit $rc)"
  echo "a HardFault is reported and exits QEMU with status $rc: OK"
  # Leave a normal build behind.
  (cd qemu-mps2-an386 && cargo build --release -q)
  exit 0
fi

[ "$hang" = 0 ] || die "no exit within ${QEMU_TIMEOUT:-300} s (hang)"
[ "$fault" = 0 ] || die "the firmware faulted or panicked"
[ "$rc" = 0 ] || die "QEMU exited with status $rc"
[ "$pass" = 1 ] || die "no 'EDGERUN done status=PASS' line"
grep -q 'EDGERUN result .*status=PASS' "$out/log.txt" || die "a model did not reproduce the host"

step "kernel tests in QEMU (defmt-test: the target's kernels against the host's scalar outputs)"
# tests/kernels.rs: conv and fc (DSP twins and scalar), pooling and
# requantization on cases drawn on both sides from the same seeds; the build
# script baked the host reference kernels' outputs (edgerun_fw::kernel_cases).
kt=$(cd qemu-mps2-an386 && cargo test --release --test kernels --no-run --message-format=json |
  grep '"name":"kernels"' | grep -o '"executable":"[^"]*"' | cut -d'"' -f4 | tail -n 1)
[ -n "$kt" ] && [ -f "$kt" ] || die "kernel tests: no test binary was built"
set +e
timeout "${QEMU_TIMEOUT:-300}" qemu-system-arm -cpu cortex-m4 -M mps2-an386 -nographic \
  -semihosting-config enable=on,target=native \
  -kernel "$kt" </dev/null >"$out/kernel-tests.bin" 2>"$out/kernel-tests.stderr"
krc=$?
set -e
defmt-print -e "$kt" <"$out/kernel-tests.bin" >"$out/kernel-tests.txt" 2>&1 || true
cat "$out/kernel-tests.txt"
[ "$krc" != 124 ] || die "kernel tests: no exit within ${QEMU_TIMEOUT:-300} s (hang)"
[ "$krc" = 0 ] || die "kernel tests exited with status $krc"
grep -q 'all tests passed!' "$out/kernel-tests.txt" || die "kernel tests did not pass"
passed=$(grep -c 'EDGERUN kernel_test .*status=PASS' "$out/kernel-tests.txt" || true)
[ "$passed" = 6 ] || die "kernel tests: $passed of 6 kernel checks passed"

step "flash"
flash=$("$bin/llvm-size" -A "$elf" | awk '$1==".vector_table"||$1==".text"||$1==".rodata"||$1==".data"{f+=$2} END{print f}')
baked=$("$bin/llvm-nm" -S -t d "$elf" | awk '$3 ~ /^[rRdD]$/ && $4 ~ /5baked/ {b+=$2} END{print b+0}')
models=$("$bin/llvm-nm" -S -t d "$elf" | awk '$3 ~ /^[rRdD]$/ && $4 ~ /5baked6MODEL[0-9]+17h/ {b+=$2} END{print b+0}')
code=$((flash - baked))
flash_line="EDGERUN flash total_bytes=$flash code_bytes=$code models_bytes=$models test_data_bytes=$((baked - models)) code_ceiling=$CODE_CEILING code_goal=40960"
echo "$flash_line"
echo "$flash_line" >>"$out/log.txt"
[ "$code" -le "$CODE_CEILING" ] || die "code is $code bytes, over its ceiling of $CODE_CEILING"

step "benchmark reports (target/reports)"
# One JSON report per model from the log (tools/report: the light report tool
# of the root workspace, no tract or burn), then rendered side by side, which
# reads every report back and validates it.
reports="$PWD/target/reports"
log="$PWD/$out/log.txt"
rm -rf "$reports"
(cd .. && cargo run -q -p edgerun-report -- from-firmware-log "$log" \
  --models models --out-dir "$reports") || die "could not make the benchmark reports"
(cd .. && cargo run -q -p edgerun-report -- render "$reports"/*.json -o "$reports/qemu-mps2-an386.md" &&
  cargo run -q -p edgerun-report -- render "$reports"/*.json -o "$reports/qemu-mps2-an386.html") ||
  die "the benchmark reports do not read back"
echo "run-qemu: PASS"
