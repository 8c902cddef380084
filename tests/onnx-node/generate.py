#!/usr/bin/env python3
"""Vendor ONNX backend node test cases for the ops edgerun cares about.

How to run (from the repository root):

    pip install onnx==1.23.2 numpy && python3 tests/onnx-node/generate.py

The node-test data files are not shipped in the onnx wheel, but their
generators are (onnx.backend.test.case.node). This script runs them and writes
each case out exactly like onnx's own `onnx/backend/test/cmd_tools.py`
(`generate_data`) does:

    tests/onnx-node/cases/<test_name>/model.onnx
    tests/onnx-node/cases/<test_name>/test_data_set_0/input_N.pb
    tests/onnx-node/cases/<test_name>/test_data_set_0/output_N.pb

(input/output files are serialized TensorProto, or SequenceProto /
OptionalProto / MapProto for non-tensor graph inputs/outputs).

It also writes tests/onnx-node/cases/MANIFEST.tsv and tests/onnx-node/README.md.

The output is deterministic: onnx's generator metaclass calls
np.random.seed(0) before every `export*` function, so re-running yields
byte-identical files (verified for onnx 1.23.2). The pinned onnx version is
checked below because other versions generate different cases/data.
"""

from __future__ import annotations

import collections
import os
import shutil
import sys
import warnings

REQUIRED_ONNX_VERSION = "1.23.2"

try:
    import numpy as np
    import onnx
except ImportError as e:  # pragma: no cover
    sys.exit(
        f"error: {e}. Run: pip install onnx=={REQUIRED_ONNX_VERSION} numpy"
    )

if onnx.__version__ != REQUIRED_ONNX_VERSION:
    sys.exit(
        f"error: onnx=={REQUIRED_ONNX_VERSION} is required (found onnx=={onnx.__version__}); "
        f"run: pip install onnx=={REQUIRED_ONNX_VERSION} numpy"
    )

from onnx import TensorProto, numpy_helper  # noqa: E402

# Node tests are kept when every node in the test model's graph is one of these.
KEEP_OPS = [
    "Conv",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Gemm",
    "MatMul",
    "BatchNormalization",
    "Add",
    "Mul",
    "Relu",
    "Clip",
    "Sigmoid",
    "Softmax",
    "Concat",
    "Flatten",
    "Reshape",
    "Transpose",
    "QuantizeLinear",
    "DequantizeLinear",
    "Resize",
    "QLinearConv",
    "QLinearMatMul",
    "NonMaxSuppression",
    # The full-size classic graphs (tests/onnx-light) add these.
    "LRN",
    "Sum",
    "Max",
    "Min",
    "Dropout",
    "Unsqueeze",
]

# Skip a case when its generated files (model + data) exceed this many bytes.
MAX_CASE_BYTES = 2 * 1024 * 1024

HERE = os.path.dirname(os.path.abspath(__file__))
CASES_DIR = os.path.join(HERE, "cases")
README_PATH = os.path.join(HERE, "README.md")


def is_expanded(name: str) -> bool:
    return name.endswith("_expanded") or "_expanded_" in name


def serialize_value(value, value_info) -> bytes:
    """Same dispatch as onnx.backend.test.cmd_tools.generate_data."""
    t = value_info.type
    name = value_info.name
    if t.HasField("map_type"):
        return numpy_helper.from_dict(value, name).SerializeToString()
    if t.HasField("sequence_type"):
        return numpy_helper.from_list(value, name).SerializeToString()
    if t.HasField("optional_type"):
        return numpy_helper.from_optional(value, name).SerializeToString()
    assert t.HasField("tensor_type"), f"unexpected type for {name}"
    if isinstance(value, TensorProto):
        return value.SerializeToString()
    return numpy_helper.from_array(value, name).SerializeToString()


def describe_value(value, value_info) -> str:
    """Human-readable `name:DTYPE[d0,d1,...]` for the manifest."""
    t = value_info.type
    name = value_info.name
    if t.HasField("tensor_type"):
        if isinstance(value, TensorProto):
            dtype = TensorProto.DataType.Name(value.data_type)
            shape = list(value.dims)
        else:
            arr = np.asarray(value)
            dtype = TensorProto.DataType.Name(t.tensor_type.elem_type)
            shape = list(arr.shape)
        return f"{name}:{dtype}[{','.join(str(d) for d in shape)}]"
    if t.HasField("sequence_type"):
        return f"{name}:sequence(len={len(value)})"
    if t.HasField("optional_type"):
        return f"{name}:optional({'none' if value is None else 'some'})"
    if t.HasField("map_type"):
        return f"{name}:map"
    return f"{name}:?"


def build_case_files(case) -> dict[str, bytes]:
    """Return {relative path: bytes} for one test case."""
    model = case.model
    assert model is not None and case.data_sets
    files = {"model.onnx": model.SerializeToString()}
    for i, (inputs, outputs) in enumerate(case.data_sets):
        ds = f"test_data_set_{i}"
        for j, value in enumerate(inputs):
            files[f"{ds}/input_{j}.pb"] = serialize_value(value, model.graph.input[j])
        for j, value in enumerate(outputs):
            files[f"{ds}/output_{j}.pb"] = serialize_value(value, model.graph.output[j])
    return files


def main() -> None:
    from onnx.backend.test.case import node as node_test

    keep = set(KEEP_OPS)
    # Collecting runs every generator (all ops); silence their numpy warnings.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        all_cases = node_test.collect_testcases(None)

    selected = []
    for case in all_cases:
        if case.kind != "node" or is_expanded(case.name):
            continue
        ops = [n.op_type for n in case.model.graph.node]
        domains = {n.domain for n in case.model.graph.node}
        if not ops or not set(ops) <= keep or not domains <= {"", "ai.onnx"}:
            continue
        selected.append((case, "+".join(sorted(set(ops)))))
    selected.sort(key=lambda x: x[0].name)

    names = [c.name for c, _ in selected]
    assert len(names) == len(set(names)), "duplicate test names"

    if os.path.isdir(CASES_DIR):
        shutil.rmtree(CASES_DIR)
    os.makedirs(CASES_DIR)

    manifest_rows = []
    per_op = collections.Counter()
    skipped = []
    total_bytes = 0
    total_files = 1  # MANIFEST.tsv
    for case, op_type in selected:
        files = build_case_files(case)
        size = sum(len(b) for b in files.values())
        if size > MAX_CASE_BYTES:
            skipped.append((case.name, op_type, size))
            continue
        case_dir = os.path.join(CASES_DIR, case.name)
        for rel, data in files.items():
            path = os.path.join(case_dir, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        total_bytes += size
        total_files += len(files)
        per_op[op_type] += 1

        g = case.model.graph
        inputs, outputs = case.data_sets[0]
        manifest_rows.append(
            [
                case.name,
                op_type,
                str(len(inputs)),
                str(len(outputs)),
                " ".join(describe_value(v, g.input[j]) for j, v in enumerate(inputs)),
                " ".join(describe_value(v, g.output[j]) for j, v in enumerate(outputs)),
            ]
        )

    with open(os.path.join(CASES_DIR, "MANIFEST.tsv"), "w", encoding="utf-8") as f:
        f.write("#name\top_type\tn_inputs\tn_outputs\tinputs\toutputs\n")
        for row in manifest_rows:
            f.write("\t".join(row) + "\n")

    write_readme(per_op, skipped, total_bytes, total_files, len(manifest_rows))

    for name, op_type, size in skipped:
        print(f"skipped (>{MAX_CASE_BYTES} bytes): {name} [{op_type}] {size} bytes")
    for op in sorted(per_op):
        print(f"{op}\t{per_op[op]}")
    print(f"wrote {len(manifest_rows)} cases, {total_bytes} bytes of files, to {CASES_DIR}")


def write_readme(per_op, skipped, total_bytes, total_files, n_cases) -> None:
    lines = [
        "# ONNX backend node tests (vendored subset)",
        "",
        "`cases/` holds ONNX backend *node* test cases for the operators edgerun",
        "implements, in the standard layout written by the ONNX backend test tools:",
        "",
        "```",
        "cases/<test_name>/model.onnx",
        "cases/<test_name>/test_data_set_0/input_N.pb    # serialized TensorProto",
        "cases/<test_name>/test_data_set_0/output_N.pb   # serialized TensorProto",
        "```",
        "",
        "`cases/MANIFEST.tsv` lists every case (name, op type, input/output counts,",
        "dtypes and shapes), sorted by name.",
        "",
        "## Provenance and license",
        "",
        f"The models and data are generated by the test-case generators shipped in",
        f"the PyPI package `onnx=={REQUIRED_ONNX_VERSION}`",
        "(`onnx.backend.test.case.node`), written out the same way as onnx's",
        "`onnx/backend/test/cmd_tools.py` (`generate_data`) does. They are part of",
        "the ONNX project (https://github.com/onnx/onnx), Copyright (c) ONNX Project",
        "Contributors, licensed under the Apache License 2.0.",
        "",
        "Selection: node tests whose graph contains only these op types:",
        ", ".join(KEEP_OPS) + ".",
        "Function-body expansions (`*_expanded`, `*_expanded_*`) are skipped since",
        "they exercise other ops, as is any case whose files exceed",
        f"{MAX_CASE_BYTES} bytes in total. All dtypes are kept (the runtime reports",
        "the ones it does not support).",
        "",
        "## Regenerating",
        "",
        "```",
        f"pip install onnx=={REQUIRED_ONNX_VERSION} numpy && python3 tests/onnx-node/generate.py",
        "```",
        "",
        "The script refuses to run with any other onnx version, deletes and rewrites",
        "`cases/`, and rewrites this README. Output is byte-for-byte deterministic",
        "(the generators seed `np.random` with 0 before each exporter).",
        "",
        "## Contents",
        "",
        f"{n_cases} cases in {total_files} files; {total_bytes} bytes of case files",
        f"({total_bytes / 1048576:.2f} MiB; `du -sh cases` shows about 8 MiB on a",
        "filesystem with 4 KiB blocks, since most files are tiny).",
        "",
        "| op type | cases |",
        "| --- | ---: |",
    ]
    for op in KEEP_OPS:
        lines.append(f"| {op} | {per_op.get(op, 0)} |")
    for op in sorted(set(per_op) - set(KEEP_OPS)):
        lines.append(f"| {op} | {per_op[op]} |")
    lines.append("")
    if skipped:
        lines.append(f"Skipped for size (> {MAX_CASE_BYTES} bytes):")
        lines.append("")
        for name, op_type, size in skipped:
            lines.append(f"- `{name}` ({op_type}, {size} bytes)")
    else:
        lines.append("No case was skipped for size.")
    lines.append("")
    with open(README_PATH, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
