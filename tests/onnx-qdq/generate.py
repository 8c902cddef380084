#!/usr/bin/env python3
"""Generate QDQ (QuantizeLinear/DequantizeLinear around float ops) test models in
the ONNX backend test layout, with expected outputs from onnx's own reference
evaluator (float math on dequantized values, as ONNX defines QDQ).

    pip install onnx==1.23.2 numpy && python3 tests/onnx-qdq/generate.py

Weights are int8 (per-channel), activations int8 (S8S8) or uint8 (U8S8), biases
int32 at input scale x weight scale: the layouts onnxruntime's quantize_static
writes. The edgerun test (tests/tests/qdq.rs) checks that these compile to int8
kernels only and agree with the reference within the documented rounding.
"""
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

if onnx.__version__ != "1.23.2":
    sys.exit(f"error: onnx==1.23.2 is required (found {onnx.__version__})")

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "cases")
rng = np.random.default_rng(20261127)


class G:
    """A tiny QDQ graph builder."""

    def __init__(self, act_type):
        self.nodes, self.inits, self.n = [], [], 0
        self.act_type = act_type  # TensorProto.INT8 or UINT8

    def name(self, p):
        self.n += 1
        return f"{p}{self.n}"

    def const(self, arr, p="c"):
        n = self.name(p)
        self.inits.append(numpy_helper.from_array(arr, n))
        return n

    def q(self, x, scale, zp):
        np_t = np.int8 if self.act_type == TensorProto.INT8 else np.uint8
        s, z = self.const(np.array(scale, np.float32), "s"), self.const(np.array(zp, np_t), "z")
        y = self.name("q")
        self.nodes.append(helper.make_node("QuantizeLinear", [x, s, z], [y]))
        return (y, scale, zp)

    def dq(self, qv):
        y, scale, zp = qv
        np_t = np.int8 if self.act_type == TensorProto.INT8 else np.uint8
        s, z = self.const(np.array(scale, np.float32), "s"), self.const(np.array(zp, np_t), "z")
        out = self.name("dq")
        self.nodes.append(helper.make_node("DequantizeLinear", [y, s, z], [out]))
        return out

    def qdq(self, x, scale, zp):
        return self.dq(self.q(x, scale, zp))

    def weight(self, shape, axis=0):
        w = rng.integers(-127, 128, size=shape).astype(np.int8)
        ch = shape[axis]
        scales = (rng.uniform(0.002, 0.02, size=ch)).astype(np.float32)
        wn = self.const(w, "w")
        sn = self.const(scales, "ws")
        zn = self.const(np.zeros(ch, np.int8), "wz")
        out = self.name("wdq")
        self.nodes.append(helper.make_node("DequantizeLinear", [wn, sn, zn], [out], axis=axis))
        return out, scales

    def bias(self, n, x_scale, w_scales):
        b = rng.integers(-2000, 2000, size=n).astype(np.int32)
        s = (x_scale * w_scales).astype(np.float32)
        bn, sn = self.const(b, "b"), self.const(s, "bs")
        zn = self.const(np.zeros(n, np.int32), "bz")
        out = self.name("bdq")
        self.nodes.append(helper.make_node("DequantizeLinear", [bn, sn, zn], [out], axis=0))
        return out

    def op(self, op, inputs, **attrs):
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out


def zp(g, v):
    return v if g.act_type == TensorProto.INT8 else v + 128


def conv_relu(act_type):
    g = G(act_type)
    xs = 0.02
    x = g.qdq("x", xs, zp(g, 3))
    w, ws = g.weight((8, 3, 3, 3))
    b = g.bias(8, xs, ws)
    c = g.op("Conv", [x, w, b], pads=[1, 1, 1, 1])
    r = g.op("Relu", [c])
    y = g.dq(g.q(r, 0.05, zp(g, -10)))
    g.nodes.append(helper.make_node("Identity", [y], ["y"]))
    return g, [1, 3, 10, 10]


def resnet_block(act_type):
    g = G(act_type)
    xs = 0.03
    x = g.qdq("x", xs, zp(g, -5))
    w1, ws1 = g.weight((4, 4, 3, 3))
    c1 = g.op("Conv", [x, w1, g.bias(4, xs, ws1)], pads=[1, 1, 1, 1])
    h = g.qdq(g.op("Relu", [c1]), 0.04, zp(g, -128))
    w2, ws2 = g.weight((4, 4, 3, 3))
    c2 = g.qdq(g.op("Conv", [h, w2, g.bias(4, 0.04, ws2)], pads=[1, 1, 1, 1]), 0.05, zp(g, 2))
    s = g.qdq(g.op("Relu", [g.op("Add", [c2, x])]), 0.06, zp(g, -128))
    p = g.qdq(g.op("GlobalAveragePool", [s]), 0.03, zp(g, -100))
    f = g.op("Flatten", [p])
    wf, wsf = g.weight((10, 4), axis=0)
    bias = g.const(rng.uniform(-0.5, 0.5, size=10).astype(np.float32), "fcb")
    logits = g.qdq(g.op("Gemm", [f, wf, bias], transB=1), 0.02, zp(g, 0))
    y = g.dq(g.q(g.op("Softmax", [logits], axis=-1), 1 / 256, zp(g, -128)))
    g.nodes.append(helper.make_node("Identity", [y], ["y"]))
    return g, [1, 4, 8, 8]


def pool_concat(act_type):
    g = G(act_type)
    x = g.qdq("x", 0.025, zp(g, 7))
    a = g.qdq(g.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2]), 0.025, zp(g, 7))
    b = g.qdq(g.op("AveragePool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]), 0.02, zp(g, 0))
    c = g.qdq(g.op("Concat", [a, b], axis=1), 0.03, zp(g, 1))
    y = g.dq(g.q(g.op("Sigmoid", [c]), 1 / 256, zp(g, -128)))
    g.nodes.append(helper.make_node("Identity", [y], ["y"]))
    return g, [1, 3, 8, 8]


def matmul_mul(act_type):
    g = G(act_type)
    x = g.qdq("x", 0.05, zp(g, 0))
    w, _ = g.weight((16, 6), axis=1)
    m = g.qdq(g.op("MatMul", [x, w]), 0.1, zp(g, 4))
    y = g.dq(g.q(g.op("Mul", [m, m]), 0.2, zp(g, -60)))
    g.nodes.append(helper.make_node("Identity", [y], ["y"]))
    return g, [2, 5, 16]


def write(name, g, shape):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [])  # shape filled below
    y.type.tensor_type.ClearField("shape")
    graph = helper.make_graph(g.nodes, name, [x], [y], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    model.ir_version = 9
    model = onnx.shape_inference.infer_shapes(model)
    onnx.checker.check_model(model)
    xv = rng.normal(0, 1.0, size=shape).astype(np.float32)
    (yv,) = ReferenceEvaluator(model).run(None, {"x": xv})
    d = os.path.join(OUT, name)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    onnx.save(model, os.path.join(d, "model.onnx"))
    with open(os.path.join(d, "test_data_set_0", "input_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(xv, "x").SerializeToString())
    with open(os.path.join(d, "test_data_set_0", "output_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(np.asarray(yv, np.float32), "y").SerializeToString())
    print(name, shape, "->", np.asarray(yv).shape)


shutil.rmtree(OUT, ignore_errors=True)
for t, tag in [(TensorProto.INT8, "s8"), (TensorProto.UINT8, "u8")]:
    for fn in [conv_relu, resnet_block, pool_concat, matmul_mul]:
        g, shape = fn(t)
        write(f"qdq_{fn.__name__}_{tag}", g, shape)


def float_cnn_bn():
    """A float CNN with BatchNorm, Dropout and Identity, for the quantizer tests."""
    nodes, inits = [], []

    def const(arr, name):
        inits.append(numpy_helper.from_array(arr.astype(np.float32), name))
        return name

    def bn(x, c, name):
        nodes.append(helper.make_node(
            "BatchNormalization",
            [x, const(rng.uniform(0.5, 1.5, c), name + "_g"), const(rng.normal(0, 0.1, c), name + "_b"),
             const(rng.normal(0, 0.2, c), name + "_m"), const(rng.uniform(0.5, 2.0, c), name + "_v")],
            [name], epsilon=1e-5))
        return name

    nodes.append(helper.make_node("Conv", ["input", const(rng.normal(0, 0.4, (8, 1, 3, 3)), "w1"),
                                           const(rng.normal(0, 0.1, 8), "b1")], ["c1"], pads=[1, 1, 1, 1]))
    r1 = bn("c1", 8, "bn1")
    nodes.append(helper.make_node("Relu", [r1], ["r1"]))
    nodes.append(helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]))
    nodes.append(helper.make_node("Conv", ["p1", const(rng.normal(0, 0.15, (16, 8, 3, 3)), "w2")], ["c2"]))
    bn("c2", 16, "bn2")
    nodes.append(helper.make_node("Relu", ["bn2"], ["r2"]))
    nodes.append(helper.make_node("GlobalAveragePool", ["r2"], ["g"]))
    nodes.append(helper.make_node("Flatten", ["g"], ["f"]))
    nodes.append(helper.make_node("Dropout", ["f"], ["d"]))
    nodes.append(helper.make_node("Identity", ["d"], ["i"]))
    nodes.append(helper.make_node("Gemm", ["i", const(rng.normal(0, 0.5, (10, 16)), "wf"),
                                           const(rng.normal(0, 0.1, 10), "bf")], ["logits"], transB=1))
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 28, 28])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])
    model = helper.make_model(helper.make_graph(nodes, "cnn_bn", [x], [y], inits),
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    os.makedirs(os.path.join(HERE, "float"), exist_ok=True)
    onnx.save(model, os.path.join(HERE, "float", "cnn_bn.onnx"))
    print("float/cnn_bn.onnx")


float_cnn_bn()


def float_concat_softmax():
    """A float CNN with two pooled branches concatenated and a Softmax output."""
    nodes, inits = [], []

    def const(arr, name):
        inits.append(numpy_helper.from_array(arr.astype(np.float32), name))
        return name

    nodes.append(helper.make_node("Conv", ["input", const(rng.normal(0, 0.4, (6, 1, 3, 3)), "w1"),
                                           const(rng.normal(0, 0.1, 6), "b1")], ["c1"], pads=[1, 1, 1, 1]))
    nodes.append(helper.make_node("Relu", ["c1"], ["r1"]))
    nodes.append(helper.make_node("MaxPool", ["r1"], ["pa"], kernel_shape=[2, 2], strides=[2, 2]))
    nodes.append(helper.make_node("AveragePool", ["r1"], ["pb"], kernel_shape=[2, 2], strides=[2, 2]))
    nodes.append(helper.make_node("Concat", ["pa", "pb"], ["cat"], axis=1))
    nodes.append(helper.make_node("Conv", ["cat", const(rng.normal(0, 0.2, (8, 12, 3, 3)), "w2"),
                                           const(rng.normal(0, 0.1, 8), "b2")], ["c2"]))
    nodes.append(helper.make_node("Relu", ["c2"], ["r2"]))
    nodes.append(helper.make_node("GlobalAveragePool", ["r2"], ["g"]))
    nodes.append(helper.make_node("Flatten", ["g"], ["f"]))
    nodes.append(helper.make_node("Gemm", ["f", const(rng.normal(0, 0.8, (10, 8)), "wf"),
                                           const(rng.normal(0, 0.1, 10), "bf")], ["logits"], transB=1))
    nodes.append(helper.make_node("Softmax", ["logits"], ["probs"], axis=-1))
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 28, 28])
    y = helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 10])
    model = helper.make_model(helper.make_graph(nodes, "concat_softmax", [x], [y], inits),
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(HERE, "float", "concat_softmax.onnx"))
    print("float/concat_softmax.onnx")


float_concat_softmax()
