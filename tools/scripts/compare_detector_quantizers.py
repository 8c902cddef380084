#!/usr/bin/env python3
"""mAP of the int8 detector made by edgerun's quantizer against the ones
onnxruntime's quantize_static makes from the same float ONNX
(models/detector.onnx), with the same 200 calibration scenes (MNIST-train
digits, seed 77: what `edge-tools quantize --calib scenes-train:200` uses),
scored the same way: COCO mAP on the 1,000 test scenes by `edge-tools eval`.

    pip install onnx==1.23.2 onnxruntime==1.32.0 numpy pillow
    cargo build -p edge-tools
    EDGE_TOOLS=target/debug/edge-tools python3 tools/scripts/compare_detector_quantizers.py

onnxruntime's QDQ files are run by edgerun's runtime, which computes QDQ
exactly as the ONNX spec defines it (tools/scripts/ort_agreement.py shows it
agrees with onnxruntime's reference semantics on every image of the
classifiers); the `edgerun.detector` metadata (anchors, not quantization) is
copied from the float model so that `eval` can decode the boxes.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationMethod
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_quantizers import EDGE_TOOLS, ROOT, ort_quantize  # noqa: E402

CALIB_SEED = 77  # tools/edge-tools/src/detect.rs


def mean_ap(model, scenes):
    r = subprocess.run([EDGE_TOOLS, "eval", model, "--data", f"scenes-test:{scenes}", "--json"], check=True,
                       capture_output=True, text=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "detector.onnx"))
    ap.add_argument("--calib", type=int, default=200, help="calibration scenes")
    ap.add_argument("--scenes", type=int, default=1000, help="test scenes")
    args = ap.parse_args()
    if not os.path.exists(EDGE_TOOLS):
        sys.exit("build edge-tools first: cargo build -p edge-tools (and set EDGE_TOOLS)")
    float_model = onnx.load(args.model)
    meta = {p.key: p.value for p in float_model.metadata_props}
    if "edgerun.detector" not in meta:
        sys.exit(f"{args.model} has no edgerun.detector metadata")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        scene_dir = os.path.join(tmp, "calib")
        subprocess.run([EDGE_TOOLS, "data", "scenes", "--split", "train", "--count", str(args.calib), "--seed",
                        str(CALIB_SEED), "--out", scene_dir, "--png"], check=True, stdout=subprocess.DEVNULL)
        files = sorted(os.listdir(os.path.join(scene_dir, "images")))
        calib = [np.asarray(Image.open(os.path.join(scene_dir, "images", f)), np.float32) / 255.0 for f in files]
        name = float_model.graph.input[0].name
        rows.append({"quantizer": "float", **mean_ap(args.model, args.scenes)})
        pre = os.path.join(tmp, "pre.onnx")
        quant_pre_process(args.model, pre)
        for label, cm in [("ORT MinMax", CalibrationMethod.MinMax), ("ORT Entropy", CalibrationMethod.Entropy)]:
            q = os.path.join(tmp, "ort.int8.onnx")
            ort_quantize(pre, q, name, calib, cm)
            m = onnx.load(q)
            del m.metadata_props[:]
            for k, v in meta.items():
                m.metadata_props.add(key=k, value=v)
            onnx.save(m, q)
            rows.append({"quantizer": label, **mean_ap(q, args.scenes)})
            print(json.dumps(rows[-1]), file=sys.stderr)
        for method in ["minmax", "percentile", "mse", "entropy"]:
            out = os.path.join(tmp, f"edgerun.{method}.int8.onnx")
            subprocess.run([EDGE_TOOLS, "quantize", args.model, "--calib", f"scenes-train:{args.calib}", "--method",
                            method, "-o", out], check=True, stdout=subprocess.DEVNULL)
            rows.append({"quantizer": f"edgerun {method}", **mean_ap(out, args.scenes)})
            print(json.dumps(rows[-1]), file=sys.stderr)
    print("| quantizer | mAP@0.5 | mAP@0.75 | mAP@[.5:.95] |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['quantizer']} | {r['map_50']:.4f} | {r['map_75']:.4f} | {r['map_50_95']:.4f} |")


if __name__ == "__main__":
    main()
