#!/usr/bin/env bash
# Where the firmware's instructions go: builds firmware/qemu-mps2-an386 with
# one digit per model, runs it in QEMU with one translation block per
# instruction (-singlestep) and every executed block logged (-d exec,nochain),
# and sums the executed instructions per function (llvm-nm's symbols) and per
# address. The run covers start-up (the models' checksums), the SysTick
# calibration and one LeNet-5 and one ResNet-8 inference; QEMU logs about
# 60 M lines, so it takes a minute or two. A development tool (run-qemu.sh
# installs what it needs; run that first):
#
#   bash firmware/profile-qemu.sh [OUT]   # OUT.funcs, OUT.pcs, OUT.dis (default target/profile/run)
#
# OUT.funcs lists instructions per function, most first; OUT.pcs is
# "address count" per executed instruction and OUT.dis the disassembly, to
# read a hot loop line by line.
set -euo pipefail
cd "$(dirname "$0")"
out=${1:-target/profile/run}
mkdir -p "$(dirname "$out")"
(cd qemu-mps2-an386 && EDGERUN_FW_FRAMES=1 cargo build --release)
elf=target/thumbv7em-none-eabihf/release/qemu-mps2-an386
bin="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
"$bin/llvm-objdump" -d --no-show-raw-insn --demangle "$elf" >"$out.dis"
timeout 900 qemu-system-arm -cpu cortex-m4 -M mps2-an386 -nographic \
  -semihosting-config enable=on,target=native -icount shift=0 -singlestep \
  -d exec,nochain -D /dev/stdout -kernel "$elf" </dev/null 2>/dev/null |
  awk '/^Trace/ { split($4, a, "/"); c[a[2]]++ } END { for (k in c) print k, c[k] }' >"$out.pcs"
"$bin/llvm-nm" --demangle -S --defined-only "$elf" |
  awk 'NF >= 4 && ($3 == "t" || $3 == "T") { print $1, $2, $4 }' >"$out.syms"
python3 - "$out" <<'PY'
import bisect, sys
out = sys.argv[1]
syms = []
for line in open(out + ".syms"):
    addr, size, name = line.split(" ", 2)
    syms.append((int(addr, 16), int(size, 16), name.strip()))
syms.sort()
starts = [s[0] for s in syms]
total = {}
for line in open(out + ".pcs"):
    pc, n = line.split()
    pc, n = int(pc, 16), int(n)
    i = bisect.bisect_right(starts, pc) - 1
    name = syms[i][2] if i >= 0 and pc < syms[i][0] + syms[i][1] + 2 else hex(pc)
    total[name] = total.get(name, 0) + n
with open(out + ".funcs", "w") as f:
    for name, n in sorted(total.items(), key=lambda kv: -kv[1]):
        f.write(f"{n:>10} {name}\n")
PY
head -n 15 "$out.funcs"
