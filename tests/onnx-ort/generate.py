#!/usr/bin/env python3
"""Quantize tests/onnx-qdq/float/cnn_bn.onnx with onnxruntime's quantize_static
(the tool a user would pick instead of edgerun's quantizer) in three formats —
QDQ S8S8, QDQ U8S8 and QOperator U8S8 — calibrated on the first 100 vendored
MNIST test digits, and record outputs on the next 20 digits in the ONNX backend
test layout (model.onnx + test_data_set_N):

- output_0.pb: the QDQ model as ONNX defines it, i.e. onnxruntime with graph
  optimizations disabled (float math between QuantizeLinear/DequantizeLinear;
  it equals onnx's reference evaluator here). For the QOperator model, the
  U8S8 QDQ model's value (same calibration, same parameters).
- ort_output_0.pb: what onnxruntime's optimized int8 kernels return. On this
  model they differ from the definition by up to ~6 LSB.

    pip install onnx==1.23.2 onnxruntime==1.32.0 numpy && python3 tests/onnx-ort/generate.py
"""
import os
import shutil
import struct
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

if ort.__version__ != "1.32.0" or onnx.__version__ != "1.23.2":
    sys.exit(f"error: needs onnxruntime==1.32.0 and onnx==1.23.2 (found {ort.__version__}, {onnx.__version__})")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FLOATS = {
    "": os.path.join(ROOT, "tests", "onnx-qdq", "float", "cnn_bn.onnx"),
    "concat_softmax_": os.path.join(ROOT, "tests", "onnx-qdq", "float", "concat_softmax.onnx"),
}
VENDOR = os.path.join(ROOT, "tools", "data", "vendor", "t10k-images-first500-idx3-ubyte")


def digits():
    raw = open(VENDOR, "rb").read()
    n = struct.unpack(">I", raw[4:8])[0]
    return np.frombuffer(raw[16:], np.uint8).reshape(n, 1, 1, 28, 28).astype(np.float32) / 255.0


class Reader(CalibrationDataReader):
    def __init__(self, xs):
        self.it = iter([{"input": x} for x in xs])

    def get_next(self):
        return next(self.it, None)


xs = digits()
out_root = os.path.join(HERE, "cases")
shutil.rmtree(out_root, ignore_errors=True)
# onnxruntime's recommended pre-processing (shape inference, BatchNorm folding).
PRE = os.path.join(HERE, ".pre.onnx")
for prefix, float_path in FLOATS.items():
    quant_pre_process(float_path, PRE)
    out_name = onnx.load(float_path).graph.output[0].name
    for base, fmt, act in [
        ("ort_qdq_s8s8", QuantFormat.QDQ, QuantType.QInt8),
        ("ort_qdq_u8s8", QuantFormat.QDQ, QuantType.QUInt8),
        ("ort_qoperator_u8s8", QuantFormat.QOperator, QuantType.QUInt8),
    ]:
        name = f"ort_{prefix}{base[4:]}"
        d = os.path.join(out_root, name)
        os.makedirs(d)
        path = os.path.join(d, "model.onnx")
        quantize_static(PRE, path, Reader(xs[:100]), quant_format=fmt, activation_type=act,
                        weight_type=QuantType.QInt8, per_channel=True)
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        plain = ort.SessionOptions()
        plain.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        defining = path if fmt == QuantFormat.QDQ else os.path.join(out_root, f"ort_{prefix}qdq_u8s8", "model.onnx")
        ref = ort.InferenceSession(defining, plain, providers=["CPUExecutionProvider"])
        ops = sorted({n.op_type for n in onnx.load(path).graph.node})
        for k, x in enumerate(xs[100:120]):
            (y,) = sess.run(None, {"input": x})
            (r,) = ref.run(None, {"input": x})
            sd = os.path.join(d, f"test_data_set_{k}")
            os.makedirs(sd)
            open(os.path.join(sd, "input_0.pb"), "wb").write(numpy_helper.from_array(x, "input").SerializeToString())
            open(os.path.join(sd, "output_0.pb"), "wb").write(numpy_helper.from_array(r, out_name).SerializeToString())
            open(os.path.join(sd, "ort_output_0.pb"), "wb").write(numpy_helper.from_array(y, out_name).SerializeToString())
        print(name, ops)
os.remove(PRE)
