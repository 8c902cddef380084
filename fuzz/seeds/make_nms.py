# Writes seeds/nms.onnx: one NonMaxSuppression node with constant limits, so the
# compiler produces an .edge model whose kernel is NMS (a fuzz seed).
#   python3 fuzz/seeds/make_nms.py fuzz/seeds/nms.onnx
import sys
import onnx
from onnx import TensorProto, helper

boxes = helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 6, 4])
scores = helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 2, 6])
out = helper.make_tensor_value_info("selected", TensorProto.INT64, [None, 3])
inits = [
    helper.make_tensor("max_out", TensorProto.INT64, [1], [3]),
    helper.make_tensor("iou", TensorProto.FLOAT, [1], [0.5]),
    helper.make_tensor("score", TensorProto.FLOAT, [1], [0.1]),
]
node = helper.make_node(
    "NonMaxSuppression", ["boxes", "scores", "max_out", "iou", "score"], ["selected"]
)
graph = helper.make_graph([node], "nms", [boxes, scores], [out], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
onnx.checker.check_model(model)
onnx.save(model, sys.argv[1])
