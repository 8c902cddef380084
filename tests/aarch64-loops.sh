#!/usr/bin/env bash
# Instructions per MAC of the aarch64 NEON and SDOT kernels' inner loops, read
# from the disassembly of the release kernel bench (the code a Pi runs). For
# every innermost loop with multiply instructions in a function of the NEON
# kernels it prints the function, the loop's instruction count, its MACs
# (16 per SDOT, 8 per SMULL/SMULL2), instructions per MAC and how many copies
# of that loop the function holds. The dot-product loop (4 output channels:
# 4 SDOT or 8 SMULL/SMULL2) is labelled "dot 4ch"; the others are the
# compiler's vectorized sums of the weight rows (LLVM turns the i8 -> i32 sum
# into SDOT with a vector of ones where it may), once per call.
#
#   bash tests/aarch64-loops.sh           # table
#   bash tests/aarch64-loops.sh --asm     # and the loops' instructions
#
# Needs aarch64-linux-gnu-gcc (linker) and aarch64-linux-gnu-objdump
# (apt-get install gcc-aarch64-linux-gnu). Counting instructions is no timing:
# the Pi numbers come from running the kernel bench there (README).
set -euo pipefail
cd "$(dirname "$0")/.."

show_asm=0
[ "${1:-}" = --asm ] && show_asm=1

cargo build -q --release -p edgerun-runtime --features std --example kernel_bench \
  --target aarch64-unknown-linux-gnu
bin="${CARGO_TARGET_DIR:-target}/aarch64-unknown-linux-gnu/release/examples/kernel_bench"

aarch64-linux-gnu-objdump -d --demangle --no-show-raw-insn "$bin" | awk -v show="$show_asm" '
  # A function header: "000000000004a2c0 <edgerun::kernels::conv::neon::run_sdot>:"
  /^[0-9a-f]+ <.*>:$/ {
    fn = $0; sub(/^[0-9a-f]+ </, "", fn); sub(/>:$/, "", fn); gsub(/::h[0-9a-f]+$/, "", fn)
    n = 0; split("", idx); split("", isloop)
    next
  }
  /^ *[0-9a-f]+:\t/ {
    split($0, f, "\t"); a = f[1]; gsub(/[ :]/, "", a)
    n++; idx[a] = n; ins[n] = f[2]; txt[n] = f[2] " " f[3]
    if (fn !~ /neon::/ || f[2] !~ /^(b\.|b$|cbnz|cbz|tbnz|tbz)/) next
    if (!match(f[3], /[0-9a-f]+ </)) next
    t = substr(f[3], RSTART, RLENGTH - 2)
    if (!(t in idx) || idx[t] >= n) next
    s = idx[t]; isloop[n] = 1
    inner = 1; for (i = s; i < n; i++) if (i in isloop) inner = 0
    if (!inner) next
    macs = 0
    for (i = s; i <= n; i++) {
      if (ins[i] == "sdot") macs += 16
      else if (ins[i] ~ /^smull2?$/) macs += 8
    }
    if (macs == 0) next
    len = n - s + 1
    what = (macs == 64) ? "dot 4ch" : "sum w"
    key = sprintf("%-48s %-8s %3d instructions %4d MACs %6.3f instructions/MAC", fn, what, len, macs, len / macs)
    if (!(key in seen)) order[++keys] = key
    seen[key]++
    if (show && seen[key] == 1) { body[key] = ""; for (i = s; i <= n; i++) body[key] = body[key] "    " txt[i] "\n" }
  }
  END {
    for (k = 1; k <= keys; k++) {
      printf "%s  x%d\n", order[k], seen[order[k]]
      if (show) printf "%s", body[order[k]]
    }
  }
'
