#!/usr/bin/env bash
# A short, bounded run of every cargo-fuzz target (fuzz/), for CI or before a
# release; not part of tests/run-all.sh (building the targets with libFuzzer and
# AddressSanitizer takes longer than the whole run is allowed to grow).
# Installs the nightly toolchain and cargo-fuzz when they are missing.
#   bash tests/fuzz-short.sh [SECONDS_PER_TARGET]     (default 45)
# New inputs go to a temporary directory; the committed corpus is only read.
# A crash stops the script with the input saved in fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-45}"

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

cargo +nightly fuzz build
for target in $(cargo +nightly fuzz list); do
    printf '\n==> %s (%s s)\n' "$target" "$secs"
    scratch="$(mktemp -d)"
    corpus="fuzz/corpus/$target"
    mkdir -p "$corpus"
    cargo +nightly fuzz run "$target" "$scratch" "$corpus" -- \
        -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 2>&1 |
        grep -E '^#[0-9]+ +(INITED|DONE)|^stat::number_of_executed_units|ERROR|panicked|SUMMARY' || true
    rm -rf "$scratch"
    if compgen -G "fuzz/artifacts/$target/crash-*" >/dev/null; then
        echo "crash in $target: fuzz/artifacts/$target/" >&2
        exit 1
    fi
done
