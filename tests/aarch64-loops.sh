#!/usr/bin/env bash
# Instructions per MAC of the aarch64 NEON and SDOT kernels' inner loops, read
# from the disassembly of the release kernel bench (the code a Pi runs). For
# every innermost loop with multiply instructions in a function of the NEON
# kernels it prints the function, the loop's instruction count, its MACs
# (lanes of the destination: 16 per SDOT, 8 per SMULL/SMULL2 into .8h, 4 per
# SMLAL into .4s), instructions per MAC and how many copies of that loop the
# function holds. The dot-product loop (4 output channels: 4 SDOT or 8
# SMULL/SMULL2) is labelled "dot 4ch"; others ("other") would be, e.g., the
# compiler's vectorized sums of the weight rows, once per call. The depthwise
# loop (16 channels per tap, 4 SMLAL/SMLAL2) is not listed: its tap loop
# holds the rarely taken copy loop of a zero-padded load, so it is not
# innermost.
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

cargo build -q --release -p edgerun-benches --example kernel_bench \
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
      # MACs = lanes of the destination: sdot v.4s (16 bytes) 16, smull
      # v.8h 8, smlal v.4s 4.
      if (ins[i] == "sdot") macs += (txt[i] ~ /\.16b/) ? 16 : 8
      else if (ins[i] ~ /^sm(ull|lal)2?$/) {
        if (txt[i] ~ /^[a-z0-9]+ v[0-9]+\.8h/) macs += 8
        else if (txt[i] ~ /^[a-z0-9]+ v[0-9]+\.4s/) macs += 4
        else if (txt[i] ~ /^[a-z0-9]+ v[0-9]+\.2d/) macs += 2
      }
    }
    if (macs == 0) next
    len = n - s + 1
    what = (macs == 64) ? "dot 4ch" : "other"
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
