#!/usr/bin/env python3
"""int8 accuracy of edgerun's quantizer against onnxruntime's quantize_static on
the same float ONNX models, the same calibration images (the first N MNIST
training digits, pixel/255) and the full 10k MNIST test set.

    pip install onnx==1.23.2 onnxruntime==1.32.0 numpy
    cargo build --release -p edge-tools
    python3 tools/scripts/compare_quantizers.py models/lenet5.onnx models/resnet8.onnx models/vgg.onnx

onnxruntime is a development/benchmark dependency only; nothing in edgerun
needs it. Prints a Markdown table (float, ORT MinMax, ORT Entropy, edgerun
MinMax / Percentile / MSE / Entropy) for models/README.md.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EDGE_TOOLS = os.environ.get("EDGE_TOOLS") or os.path.join(ROOT, "target", "release", "edge-tools")


def mnist_dir():
    d = os.environ.get("EDGERUN_DATA_DIR")
    if d:
        return os.path.join(d, "mnist")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "edgerun", "mnist")


def idx(path):
    raw = open(path, "rb").read()
    nd = raw[3]
    dims = struct.unpack(">" + "I" * nd, raw[4:4 + 4 * nd])
    return np.frombuffer(raw[4 + 4 * nd:], np.uint8).reshape(dims)


class Reader(CalibrationDataReader):
    def __init__(self, name, xs):
        self.it = iter([{name: x[None, None]} for x in xs])

    def get_next(self):
        return next(self.it, None)


def load_mnist():
    """(train images, test images, test labels), pixels / 255, fetched by edge-tools."""
    subprocess.run([EDGE_TOOLS, "data", "mnist"], check=True, stdout=subprocess.DEVNULL)
    d = mnist_dir()
    train = idx(os.path.join(d, "train-images-idx3-ubyte")).astype(np.float32) / 255.0
    test = idx(os.path.join(d, "t10k-images-idx3-ubyte")).astype(np.float32) / 255.0
    return train, test, idx(os.path.join(d, "t10k-labels-idx1-ubyte"))


def ort_quantize(pre, out, name, calib, method):
    """onnxruntime's quantize_static: QDQ, S8S8, per-channel weights."""
    quantize_static(pre, out, Reader(name, calib), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    per_channel=True, calibrate_method=method,
                    # onnxruntime 1.32 raises "truth value of an array is
                    # ambiguous" in this adjustment with per-channel scales
                    # (qdq_quantizer._adjust_weight_scale_for_int32_bias).
                    extra_options={"QDQDisableWeightAdjustForInt32Bias": True})


def ort_accuracy(path, xs, ys):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    correct = 0
    for x, y in zip(xs, ys):
        (logits,) = sess.run(None, {name: x[None, None]})
        correct += int(np.argmax(logits) == y)
    return correct / len(ys)


def edgerun_accuracy(model, method, calib, tmp):
    out = os.path.join(tmp, f"{os.path.basename(model)}.{method}.int8.onnx")
    edge = out.replace(".onnx", ".edge")
    subprocess.run([EDGE_TOOLS, "quantize", model, "--calib", f"mnist-train:{calib}", "--method", method,
                    "-o", out, "--edge", edge], check=True, stdout=subprocess.DEVNULL)
    r = subprocess.run([EDGE_TOOLS, "eval", edge, "--data", "mnist-test", "--json"], check=True,
                       capture_output=True, text=True)
    return json.loads(r.stdout.strip().splitlines()[-1])["accuracy"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--calib", type=int, default=1000, help="calibration images (first N of MNIST train)")
    args = ap.parse_args()
    if not os.path.exists(EDGE_TOOLS):
        sys.exit("build edge-tools first: cargo build --release -p edge-tools (or set EDGE_TOOLS)")
    train, test, test_y = load_mnist()
    calib = train[: args.calib]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            row = {"model": os.path.basename(model), "float": ort_accuracy(model, test, test_y)}
            pre = os.path.join(tmp, "pre.onnx")
            try:
                quant_pre_process(model, pre)
            except Exception as e:  # noqa: BLE001 - onnxruntime's tool, any failure
                # onnxruntime 1.32's symbolic shape inference does not know
                # Resize's `axes` attribute (AlexNet's in-graph upsampling):
                # quantize the model without its pre-processing then.
                print(f"{model}: quant_pre_process failed ({type(e).__name__}); "
                      "quantizing without it", file=sys.stderr)
                pre = model
            name = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).get_inputs()[0].name
            for label, cm in [("ORT MinMax", CalibrationMethod.MinMax), ("ORT Entropy", CalibrationMethod.Entropy)]:
                q = os.path.join(tmp, "ort.int8.onnx")
                ort_quantize(pre, q, name, calib, cm)
                row[label] = ort_accuracy(q, test, test_y)
            for method in ["minmax", "percentile", "mse", "entropy"]:
                row[f"edgerun {method}"] = edgerun_accuracy(model, method, args.calib, tmp)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    cols = list(rows[0].keys())
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(r[c] if c == "model" else f"{100 * r[c]:.2f}%" for c in cols) + " |")


if __name__ == "__main__":
    main()
