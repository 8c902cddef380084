#!/usr/bin/env python3
"""Speed side by side: the same models, batch 1, one thread, in one process tree.

For each model (float ONNX source `models/NAME.onnx`, edgerun's int8
`models/NAME.edge` made from it by `edge-tools quantize`):

  edgerun int8   `edge-tools bench models/NAME.edge --json` (native runtime)
  ORT fp32       onnxruntime on the float ONNX
  ORT int8 S8S8  onnxruntime on its own quantize_static output (QDQ, per-channel,
  ORT int8 U8S8  int8 weights; int8 or uint8 activations), graph optimizations on
  tract fp32     `edge-tools bench models/NAME.onnx --backend tract --json`

onnxruntime runs in this process with intra- and inter-op threads 1; edgerun
and tract run in `edge-tools` subprocesses, one thread. Each timing is the
median over --runs inferences after 10 warm-up runs; the engines take turns,
--rounds times (the order rotates every round), and the table shows the median
of the rounds. Inputs are pseudo-random values in [0, 1) of the model's input
shape, and ORT calibrates on 32 of them (speed does not depend on the scales).
ORT's times include its Python call (a few µs).

    EDGE_TOOLS=target/release/edge-tools python3 tools/scripts/compare_speed.py
    python3 tools/scripts/compare_speed.py --models lenet5 resnet8 --rounds 3 --json

Needs onnxruntime and onnx (pip) and a built edge-tools (release for numbers
worth quoting: cargo build --release -p edge-tools).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EDGE_TOOLS = os.environ.get("EDGE_TOOLS") or os.path.join(ROOT, "target", "release", "edge-tools")
ENGINES = ["edgerun int8", "ORT fp32", "ORT S8S8", "ORT U8S8", "tract fp32"]


def input_spec(path):
    m = onnx.load(path)
    init = {t.name for t in m.graph.initializer}
    inp = next(i for i in m.graph.input if i.name not in init)
    dims = [d.dim_value if d.dim_value > 0 else 1 for d in inp.type.tensor_type.shape.dim]
    return inp.name, dims


class Reader(CalibrationDataReader):
    def __init__(self, name, xs):
        self.it = iter([{name: x} for x in xs])

    def get_next(self):
        return next(self.it, None)


def ort_int8(pre, out, name, calib, activation):
    quantize_static(pre, out, Reader(name, calib), quant_format=QuantFormat.QDQ, activation_type=activation,
                    weight_type=QuantType.QInt8, per_channel=True, calibrate_method=CalibrationMethod.MinMax,
                    # onnxruntime 1.32 fails in this adjustment with per-channel
                    # scales (see compare_quantizers.py).
                    extra_options={"QDQDisableWeightAdjustForInt32Bias": True})


def ort_session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def time_ort(sess, feed, runs):
    for _ in range(10):
        sess.run(None, feed)
    ns = []
    for _ in range(runs):
        t = time.perf_counter_ns()
        sess.run(None, feed)
        ns.append(time.perf_counter_ns() - t)
    return statistics.median(ns) / 1e3


def bench_edge_tools(path, runs, backend):
    r = subprocess.run([EDGE_TOOLS, "bench", path, "--runs", str(runs), "--json", "--backend", backend],
                       check=True, capture_output=True, text=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def measure(name, rounds, runs, tmp):
    onnx_path = os.path.join(ROOT, "models", f"{name}.onnx")
    edge_path = os.path.join(ROOT, "models", f"{name}.edge")
    in_name, shape = input_spec(onnx_path)
    rng = np.random.default_rng(7)
    calib = [rng.random(shape, dtype=np.float32) for _ in range(32)]
    feed = {in_name: rng.random(shape, dtype=np.float32)}
    pre = os.path.join(tmp, f"{name}.pre.onnx")
    quant_pre_process(onnx_path, pre)
    s8, u8 = os.path.join(tmp, f"{name}.s8s8.onnx"), os.path.join(tmp, f"{name}.u8s8.onnx")
    ort_int8(pre, s8, in_name, calib, QuantType.QInt8)
    ort_int8(pre, u8, in_name, calib, QuantType.QUInt8)
    sessions = {"ORT fp32": ort_session(onnx_path), "ORT S8S8": ort_session(s8), "ORT U8S8": ort_session(u8)}
    macs = bench_edge_tools(edge_path, 1, "native")["macs"]
    times = {e: [] for e in ENGINES}
    for r in range(rounds):
        for e in ENGINES[r % len(ENGINES):] + ENGINES[:r % len(ENGINES)]:
            if e == "edgerun int8":
                us = bench_edge_tools(edge_path, runs, "native")["median_us"]
            elif e == "tract fp32":
                us = bench_edge_tools(onnx_path, runs, "tract")["median_us"]
            else:
                us = time_ort(sessions[e], feed, runs)
            times[e].append(us)
        print(f"{name}: round {r + 1}/{rounds}: " + ", ".join(f"{e} {t[-1]:.1f}" for e, t in times.items()),
              file=sys.stderr)
    return {"model": name, "macs": macs, "us": {e: statistics.median(t) for e, t in times.items()},
            "rounds": {e: t for e, t in times.items()}}


def table(rows):
    head = ("| model | MACs | " + " | ".join(f"{e} µs" for e in ENGINES)
            + " | edgerun / ORT fp32 | edgerun / ORT U8S8 | edgerun / ORT S8S8 | tract / edgerun |")
    lines = [head, "|" + "---|" * (2 + len(ENGINES) + 4)]
    for r in rows:
        us = r["us"]
        e = us["edgerun int8"]
        lines.append(f"| {r['model']} | {r['macs']:,} | " + " | ".join(f"{us[k]:.1f}" for k in ENGINES)
                     + f" | {e / us['ORT fp32']:.2f}x | {e / us['ORT U8S8']:.2f}x | {e / us['ORT S8S8']:.2f}x"
                     + f" | {us['tract fp32'] / e:.1f}x |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["lenet5", "resnet8", "detector"],
                    help="names in models/ (NAME.onnx and NAME.edge)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=200, help="timed inferences per engine per round")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    args = ap.parse_args()
    if not os.path.exists(EDGE_TOOLS):
        sys.exit(f"{EDGE_TOOLS} not found: cargo build --release -p edge-tools (or set EDGE_TOOLS)")
    print(f"onnxruntime {ort.__version__}, edge-tools {EDGE_TOOLS}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(m, args.rounds, args.runs, tmp) for m in args.models]
    print(json.dumps(rows, indent=1) if args.json else table(rows))


if __name__ == "__main__":
    main()
