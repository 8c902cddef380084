#!/usr/bin/env python3
"""Image-by-image top-1 agreement between onnxruntime running edgerun's int8
QDQ ONNX and edgerun's runtime running the matching .edge, on the 10k MNIST
test digits (pixel/255). The quantizer issue asks for >= 99.9%.

    pip install onnx==1.23.2 onnxruntime==1.32.0 numpy
    cargo build -p edge-tools
    EDGE_TOOLS=target/debug/edge-tools python3 tools/scripts/ort_agreement.py models/lenet5 models/resnet8 models/vgg

Each argument is a path stem: STEM.int8.onnx and STEM.edge must exist. ORT
runs the QDQ file twice: with its graph optimizations off (each
DequantizeLinear -> float op -> QuantizeLinear as the ONNX spec defines them:
the reference semantics of the file) and on (the default: QDQ groups fused into
ORT's own int8 kernels, which round and saturate their own way). Prints a
Markdown table; exits 1 when edgerun agrees with the reference semantics on
fewer than 99.9% of images.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_quantizers import EDGE_TOOLS, load_mnist  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stems", nargs="+", help="e.g. models/lenet5 for models/lenet5.int8.onnx + .edge")
    args = ap.parse_args()
    if not os.path.exists(EDGE_TOOLS):
        sys.exit("build edge-tools first: cargo build -p edge-tools (and set EDGE_TOOLS)")
    _, test, labels = load_mnist()
    print("| model | images | edgerun int8 top-1 | ORT reference QDQ top-1 | same top-1 as edgerun "
          "| ORT fused int8 (default) top-1 | same top-1 as edgerun |")
    print("|---|---|---|---|---|---|---|")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for stem in args.stems:
            preds = []
            for level in [ort.GraphOptimizationLevel.ORT_DISABLE_ALL, ort.GraphOptimizationLevel.ORT_ENABLE_ALL]:
                so = ort.SessionOptions()
                so.graph_optimization_level = level
                so.log_severity_level = 3
                sess = ort.InferenceSession(stem + ".int8.onnx", so, providers=["CPUExecutionProvider"])
                name = sess.get_inputs()[0].name
                preds.append(np.array([int(np.argmax(sess.run(None, {name: x[None, None]})[0])) for x in test]))
            out = os.path.join(tmp, "pred.txt")
            subprocess.run([EDGE_TOOLS, "eval", stem + ".edge", "--data", "mnist-test", "--predictions", out],
                           check=True, stdout=subprocess.DEVNULL)
            ours = np.array([int(line) for line in open(out).read().split()])
            if len(ours) != len(test):
                sys.exit(f"{stem}: {len(ours)} edgerun predictions for {len(test)} images")
            cells = [os.path.basename(stem), str(len(test)), f"{100 * np.mean(ours == labels):.2f}%"]
            for p in preds:
                cells += [f"{100 * np.mean(p == labels):.2f}%",
                          f"{100 * np.mean(p == ours):.2f}% ({int(np.sum(p != ours))} differ)"]
            ok &= float(np.mean(preds[0] == ours)) >= 0.999
            print("| " + " | ".join(cells) + " |", flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
