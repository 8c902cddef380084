#!/usr/bin/env bash
# Soak run: edge-run (release) on the simulated camera for FRAMES frames
# (default 100000), with the resident memory (VmRSS from /proc) sampled every
# half second. Prints VmRSS at the start (first sample after the model is
# loaded and the first frames ran), at the end (last sample before exit) and
# the peak, then edge-run's own summary. Fails if edge-run fails or skips a
# frame, or if VmRSS grew by more than 512 KB from start to end.
#   bash tests/soak.sh [FRAMES] [MODEL]
set -euo pipefail
cd "$(dirname "$0")/.."
frames="${1:-100000}"
model="${2:-models/lenet5.edge}"

cargo build --release -p edge-run
bin="${CARGO_TARGET_DIR:-target}/release/edge-run"
out="$(mktemp)"
"$bin" "$model" sim:mnist --frames "$frames" --quiet >"$out" 2>&1 &
pid=$!
samples=()
t0=$(date +%s.%N)
while kill -0 "$pid" 2>/dev/null; do
    kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$kb" ] && samples+=("$kb")
    sleep 0.5
done
wait "$pid"
t1=$(date +%s.%N)
cat "$out"
skipped_ok=0
grep -q '(0 skipped)' "$out" && skipped_ok=1
rm -f "$out"
if [ "$skipped_ok" -ne 1 ]; then
    echo "edge-run skipped frames" >&2
    exit 1
fi
n=${#samples[@]}
if [ "$n" -lt 3 ]; then
    echo "run too short to sample ($n samples); use more frames" >&2
    exit 1
fi
# The first sample can catch the model still loading: start at the second.
start=${samples[1]}
end=${samples[$((n - 1))]}
peak=$(printf '%s\n' "${samples[@]}" | sort -n | tail -1)
printf 'soak: %s frames of %s in %.1f s; VmRSS start %s KB, end %s KB (%+d KB), peak %s KB, %d samples\n' \
    "$frames" "$model" "$(echo "$t1 - $t0" | bc)" "$start" "$end" "$((end - start))" "$peak" "$n"
if [ $((end - start)) -gt 512 ]; then
    echo "resident memory grew by more than 512 KB" >&2
    exit 1
fi
