"""ONNX export of a model (the optional `onnx` extra): Gemm, BatchNormalization, Relu|Sigmoid, Softmax.

One graph per network of any depth: input `input` FP32 [N, features] (pixels scaled to [0, 1],
or float features as they are, as the network was trained: the metadata's `input_dtype` says
which, "uint8" or "float32"), output `probabilities` FP32 [N, classes]. Batch norm stays a
BatchNormalization node with the running statistics (not folded into the Gemm), so the file reads
like the network; dropout at inference scales a layer's input by (1 - ratio), which is the next
Gemm's `alpha`. Nothing here runs unless an export asks for ONNX.
"""

from __future__ import annotations

import json

import numpy as np
from nncore.layers import BN_EPS
from nncore.multilayer import MultiLayerNet

from server.datasets import model_input_dtype
from server.errors import FailedPrecondition

OPSET = 17
IR_VERSION = 8  # what onnx 1.12+ writes for opset 17; older runtimes read it too


def _onnx():
    """The onnx module, or FAILED_PRECONDITION saying how to get it."""
    try:
        import onnx
    except ImportError:
        raise FailedPrecondition("this server cannot export ONNX: the onnx package is not installed "
                                 "(pip install 'nnservice[onnx]'); export format npz works") from None
    return onnx


def onnx_bytes(net: MultiLayerNet, meta: dict) -> bytes:
    """The serialized ONNX model of `net`, with the model's id, dataset and class names as metadata."""
    onnx = _onnx()
    helper = onnx.helper
    nodes, weights = _nodes(net, helper)
    inits = [onnx.numpy_helper.from_array(np.asarray(a, dtype=np.float32), name) for name, a in weights]
    graph = helper.make_graph(
        nodes, "nnservice", inputs=[helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT,
                                                                  ["N", net.input_size])],
        outputs=[helper.make_tensor_value_info("probabilities", onnx.TensorProto.FLOAT, ["N", net.output_size])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="nnservice", doc_string=repr(net))
    model.ir_version = IR_VERSION
    helper.set_model_props(model, {
        "model_id": meta["model_id"], "dataset": meta.get("dataset", ""),
        "input_shape": json.dumps(meta.get("input_shape", [net.input_size])),
        "class_names": json.dumps(meta.get("class_names", [str(c) for c in range(net.output_size)])),
        "input_dtype": model_input_dtype(meta)})
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _nodes(net: MultiLayerNet, helper) -> tuple[list, list[tuple[str, np.ndarray]]]:
    """The graph's nodes, first layer to softmax, and the arrays they name."""
    p, depth, nodes, weights = net.params, net.depth, [], []
    keep = 1.0 - net.dropout_ratio if net.use_dropout else 1.0
    h = "input"
    for i in range(1, depth + 1):
        weights += [(f"W{i}", p[f"W{i}"]), (f"b{i}", p[f"b{i}"])]
        alpha = keep if i > 1 else 1.0  # (h * keep) @ W == keep * (h @ W): dropout's inference scale
        nodes.append(helper.make_node("Gemm", [h, f"W{i}", f"b{i}"], [f"affine{i}"], alpha=alpha))
        h = f"affine{i}"
        if i == depth:
            break
        if net.use_batchnorm:
            names = [f"gamma{i}", f"beta{i}", f"running_mean{i}", f"running_var{i}"]
            weights += [(n, (p if n in p else net.buffers)[n]) for n in names]
            nodes.append(helper.make_node("BatchNormalization", [h, *names], [f"norm{i}"], epsilon=BN_EPS))
            h = f"norm{i}"
        op = "Relu" if net.activation == "relu" else "Sigmoid"
        nodes.append(helper.make_node(op, [h], [f"{op.lower()}{i}"]))
        h = f"{op.lower()}{i}"
    nodes.append(helper.make_node("Softmax", [h], ["probabilities"], axis=1))
    return nodes, weights
