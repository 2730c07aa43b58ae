"""ExportModel format="onnx": the file runs in onnxruntime and answers Predict's probabilities."""

from __future__ import annotations

import json
import sys

import grpc
import numpy as np
import onnx
import onnxruntime
import pytest

from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc
from tests.server.lifecycle_testutils import export_file, train_tiny

ROWS = np.random.default_rng(11).random((7, 784), dtype=np.float32)  # features in [0, 1], as trained


def _predict(stub, model_id: str) -> np.ndarray:
    """Predict's probabilities for ROWS (float32 in, raw float32 out)."""
    tensor = pb.Tensor(shape=list(ROWS.shape), dtype=pb.DTYPE_FLOAT32, raw_data=ROWS.tobytes())
    answer = stub.Predict(pb.PredictRequest(model_id=model_id, input=tensor)).probabilities
    return np.frombuffer(answer.raw_data, dtype="<f4").reshape(list(answer.shape))


@pytest.mark.parametrize("fields, ops", [
    (dict(hidden_sizes=[32, 16, 8], batch_norm=True, dropout=0.3), {"Gemm", "BatchNormalization", "Relu", "Softmax"}),
    (dict(hidden_size=12, activation="sigmoid"), {"Gemm", "Sigmoid", "Softmax"}),
], ids=["deep-bn-dropout", "one-layer-sigmoid"])
def test_onnx_export_answers_like_predict(make_server, fields, ops):
    with grpc.insecure_channel(make_server().target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        status = train_tiny(stub, epochs=2, **fields)
        data = export_file(stub, status.model_id, "onnx")
        expected = _predict(stub, status.model_id)
    model = onnx.load_from_string(data)
    assert {n.op_type for n in model.graph.node} == ops
    assert [i.name for i in model.graph.input] == ["input"] and [o.name for o in model.graph.output] == ["probabilities"]
    props = {p.key: p.value for p in model.metadata_props}
    assert (props["model_id"], json.loads(props["class_names"])) == (status.model_id, [f"c{i}" for i in range(10)])
    assert props["input_dtype"] == "uint8"  # the tiny dataset is pixels: the graph takes them scaled to [0, 1]
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    (got,) = session.run(["probabilities"], {"input": ROWS})
    assert got.shape == expected.shape == (7, 10)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    assert not np.allclose(expected, expected[0])  # the rows differ: the comparison means something


def test_onnx_export_without_the_onnx_package_is_a_failed_precondition(make_server, monkeypatch):
    with grpc.insecure_channel(make_server().target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        model_id = train_tiny(stub).model_id
        monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now raises ImportError
        with pytest.raises(grpc.RpcError) as info:
            export_file(stub, model_id, "onnx")
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "nnservice[onnx]" in info.value.details()
        assert export_file(stub, model_id)  # the npz export needs no extra
