#!/usr/bin/env python3
"""Reshape models/resnet8.int8.onnx to MLPerf Tiny's input, 3x32x32 (CIFAR-10).

edgerun's ResNet-8 is MLPerf Tiny's architecture (conv 16@3x3, three stages of
16/32/64 channels with 1x1 shortcuts, global average pool, fc 10) on MNIST,
1x28x28. To compare arenas with TFLite Micro's ResNet-8 at the same shape, this
writes the same int8 (QDQ) graph with a 1x3x32x32 input: the stem's int8
weights are repeated over the three input channels (their scales are per output
channel, so the bias scale stays right). Only the shapes matter for the memory
plan; the weights are not a CIFAR model and its outputs mean nothing.

    python3 tools/scripts/resnet8_cifar_shape.py /tmp/resnet8-cifar.int8.onnx
    cargo run -p edge-tools -- compile /tmp/resnet8-cifar.int8.onnx -o /tmp/resnet8-cifar.edge
    cargo run -p edge-tools -- inspect /tmp/resnet8-cifar.edge     # arena bytes
"""
import sys

import numpy as np
import onnx
from onnx import numpy_helper

SRC = "models/resnet8.int8.onnx"


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} OUT.onnx")
    model = onnx.load(SRC)
    graph = model.graph
    (inp,) = graph.input
    dims = inp.type.tensor_type.shape.dim
    if [d.dim_value for d in dims[1:]] != [1, 28, 28]:
        sys.exit(f"{SRC}: expected a 1x28x28 input")
    dims[1].dim_value, dims[2].dim_value, dims[3].dim_value = 3, 32, 32

    # The stem: the first Conv, reading the dequantized input.
    stem = next(n for n in graph.node if n.op_type == "Conv")
    deq = next(n for n in graph.node if stem.input[1] in n.output)
    weights = next(t for t in graph.initializer if t.name == deq.input[0])
    w = numpy_helper.to_array(weights)
    if w.shape[1] != 1:
        sys.exit(f"{SRC}: the stem's weights are {w.shape}, expected one input channel")
    weights.CopyFrom(numpy_helper.from_array(np.repeat(w, 3, axis=1), weights.name))

    onnx.checker.check_model(model)
    onnx.save(model, sys.argv[1])
    print(f"wrote {sys.argv[1]}: input 1x3x32x32, stem weights {np.repeat(w, 3, axis=1).shape}")


if __name__ == "__main__":
    main()
