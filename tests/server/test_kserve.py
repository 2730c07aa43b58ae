"""inference.GRPCInferenceService (KServe v2) against a real server: metadata, ModelInfer raw and
typed, requested outputs, versions, the repository index, errors, and ServerReady while draining."""

from __future__ import annotations

import json
import shutil
import struct

import grpc
import numpy as np
import pytest

from protos import grpc_predict_v2_pb2 as kpb
from protos import grpc_predict_v2_pb2_grpc as kpb_grpc
from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc
from server.tensors import encode_array

Input = kpb.ModelInferRequest.InferInputTensor
Output = kpb.ModelInferRequest.InferRequestedOutputTensor


@pytest.fixture(scope="module")
def channel(trained_model):
    with grpc.insecure_channel(trained_model.server.target) as ch:
        yield ch


@pytest.fixture(scope="module")
def kserve(channel):
    return kpb_grpc.GRPCInferenceServiceStub(channel)


@pytest.fixture(scope="module")
def nnservice(channel):
    return pb_grpc.NNServiceStub(channel)


def pixels(rows: int, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(rows, 28, 28), dtype=np.uint8)


def predict(nnservice, model_id: str, x: np.ndarray) -> tuple[np.ndarray, list[int]]:
    answer = nnservice.Predict(pb.PredictRequest(model_id=model_id, input=encode_array(x)), timeout=10)
    probs = np.frombuffer(answer.probabilities.raw_data, "<f4").reshape(list(answer.probabilities.shape))
    return probs, list(answer.classes)


def raw_request(model_id: str, x: np.ndarray, datatype: str, **kw) -> kpb.ModelInferRequest:
    data = x.astype("<f4") if datatype == "FP32" else x
    return kpb.ModelInferRequest(model_name=model_id, inputs=[Input(name="input", datatype=datatype, shape=x.shape)],
                                 raw_input_contents=[data.tobytes()], **kw)


def code_of(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details()


def test_server_live_ready_and_metadata(kserve):
    assert kserve.ServerLive(kpb.ServerLiveRequest(), timeout=5).live
    assert kserve.ServerReady(kpb.ServerReadyRequest(), timeout=5).ready
    meta = kserve.ServerMetadata(kpb.ServerMetadataRequest(), timeout=5)
    assert meta.name == "nnservice" and meta.version and "model_repository" in meta.extensions


def test_model_metadata_names_the_input_and_both_outputs(kserve, trained_model):
    meta = kserve.ModelMetadata(kpb.ModelMetadataRequest(name=trained_model.model_id), timeout=5)
    assert meta.name == trained_model.model_id and list(meta.versions) == ["1"]
    assert [(t.name, t.datatype, list(t.shape)) for t in meta.inputs] == [("input", "FP32", [-1, 28, 28])]
    assert [(t.name, t.datatype, list(t.shape)) for t in meta.outputs] == [
        ("probabilities", "FP32", [-1, 10]), ("class", "INT64", [-1])]


@pytest.mark.parametrize("rows", [1, 3])
@pytest.mark.parametrize("datatype", ["UINT8", "FP32"])
def test_raw_infer_answers_raw_and_equals_predict(kserve, nnservice, trained_model, rows, datatype):
    x = pixels(rows)
    sent = x if datatype == "UINT8" else x / np.float32(255)
    answer = kserve.ModelInfer(raw_request(trained_model.model_id, sent, datatype, id="req-7"), timeout=10)
    expected, classes = predict(nnservice, trained_model.model_id, sent.astype(x.dtype if datatype == "UINT8" else "<f4"))
    assert answer.id == "req-7" and answer.model_name == trained_model.model_id and answer.model_version == "1"
    assert [(o.name, o.datatype, list(o.shape)) for o in answer.outputs] == [
        ("probabilities", "FP32", [rows, 10]), ("class", "INT64", [rows])]
    assert not any(o.HasField("contents") for o in answer.outputs)
    probs = np.frombuffer(answer.raw_output_contents[0], "<f4").reshape(rows, 10)
    np.testing.assert_array_equal(probs, expected)
    assert list(struct.unpack(f"<{rows}q", answer.raw_output_contents[1])) == classes


def test_typed_contents_answer_typed(kserve, nnservice, trained_model):
    x = pixels(2)
    request = kpb.ModelInferRequest(model_name=trained_model.model_id, inputs=[Input(
        name="input", datatype="UINT8", shape=[2, 784], contents=kpb.InferTensorContents(uint_contents=x.ravel()))])
    answer = kserve.ModelInfer(request, timeout=10)
    expected, classes = predict(nnservice, trained_model.model_id, x)
    assert not answer.raw_output_contents
    np.testing.assert_allclose(np.array(answer.outputs[0].contents.fp32_contents).reshape(2, 10), expected, rtol=1e-6)
    assert list(answer.outputs[1].contents.int64_contents) == classes


def test_only_the_requested_outputs_come_back_in_their_order(kserve, trained_model):
    request = raw_request(trained_model.model_id, pixels(1), "UINT8", outputs=[Output(name="class")])
    answer = kserve.ModelInfer(request, timeout=10)
    assert [o.name for o in answer.outputs] == ["class"] and len(answer.raw_output_contents) == 1
    assert len(answer.raw_output_contents[0]) == 8


@pytest.mark.parametrize("version, ok", [("", True), ("1", True), ("2", False)])
def test_version_one_is_the_only_version(kserve, trained_model, version, ok):
    request = raw_request(trained_model.model_id, pixels(1), "UINT8", model_version=version)
    if ok:
        assert kserve.ModelInfer(request, timeout=10).outputs
        assert kserve.ModelReady(kpb.ModelReadyRequest(name=trained_model.model_id, version=version)).ready
    else:
        code, details = code_of(lambda: kserve.ModelInfer(request, timeout=10))
        assert code == grpc.StatusCode.NOT_FOUND and "only version is '1'" in details


def test_unknown_model_is_not_found(kserve):
    missing = "0" * 16
    for call in (lambda: kserve.ModelInfer(raw_request(missing, pixels(1), "UINT8"), timeout=5),
                 lambda: kserve.ModelMetadata(kpb.ModelMetadataRequest(name=missing), timeout=5),
                 lambda: kserve.ModelReady(kpb.ModelReadyRequest(name=missing), timeout=5)):
        code, details = code_of(call)
        assert code == grpc.StatusCode.NOT_FOUND and missing in details


@pytest.mark.parametrize("change, needle", [
    (dict(datatype="INT32"), "datatype must be FP32"),
    (dict(shape=[1, 27, 28]), "input shape must be"),
    (dict(name="x"), "unknown input 'x'"),
    (dict(raw=b"\0" * 10), "raw input has 10 bytes"),
    (dict(outputs=[Output(name="logits")]), "unknown output 'logits'"),
])
def test_bad_requests_are_invalid_argument_with_a_message(kserve, trained_model, change, needle):
    tensor = Input(name=change.get("name", "input"), datatype=change.get("datatype", "UINT8"),
                   shape=change.get("shape", [1, 28, 28]))
    request = kpb.ModelInferRequest(model_name=trained_model.model_id, inputs=[tensor],
                                    raw_input_contents=[change.get("raw", bytes(784))], outputs=change.get("outputs"))
    code, details = code_of(lambda: kserve.ModelInfer(request, timeout=5))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and needle in details


def test_repository_index_lists_ready_and_damaged_models(make_server, trained_model, tmp_path):
    models = tmp_path / "kserve-state" / "models"
    source = trained_model.server.settings.state_dir / "models" / trained_model.model_id
    shutil.copytree(source, models / trained_model.model_id)
    damaged = "f" * len(trained_model.model_id)
    shutil.copytree(source, models / damaged)
    meta = json.loads((source / "model.json").read_text())
    (models / damaged / "model.json").write_text(json.dumps({**meta, "model_id": damaged, "job_id": damaged}))
    (models / damaged / "weights.npz").write_bytes(b"not a network")
    running = make_server(state_dir=tmp_path / "kserve-state")
    with grpc.insecure_channel(running.target) as ch:
        stub = kpb_grpc.GRPCInferenceServiceStub(ch)
        index = {m.name: m for m in stub.RepositoryIndex(kpb.RepositoryIndexRequest(), timeout=10).models}
        assert index[trained_model.model_id].state == "READY" and index[trained_model.model_id].version == "1"
        assert index[damaged].state == "UNAVAILABLE" and "corrupt" in index[damaged].reason
        ready = stub.RepositoryIndex(kpb.RepositoryIndexRequest(ready=True), timeout=10).models
        assert [m.name for m in ready] == [trained_model.model_id]
        assert not stub.ModelReady(kpb.ModelReadyRequest(name=damaged), timeout=5).ready


def test_server_ready_turns_false_while_draining_and_live_stays(nn_server):
    with grpc.insecure_channel(nn_server.target) as ch:
        stub = kpb_grpc.GRPCInferenceServiceStub(ch)
        nn_server.server.begin_drain()
        assert not stub.ServerReady(kpb.ServerReadyRequest(), timeout=5).ready
        assert stub.ServerLive(kpb.ServerLiveRequest(), timeout=5).live
        code, _ = code_of(lambda: stub.ModelInfer(raw_request("0" * 16, pixels(1), "UINT8"), timeout=5))
        assert code == grpc.StatusCode.UNAVAILABLE


def test_reflection_describes_the_service_and_health_reports_it(channel):
    from google.protobuf.descriptor_pool import DescriptorPool
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    db = ProtoReflectionDescriptorDatabase(channel)
    assert "inference.GRPCInferenceService" in set(db.get_services())
    service = DescriptorPool(db).FindServiceByName("inference.GRPCInferenceService")
    assert {"ModelInfer", "ModelMetadata", "RepositoryIndex", "ServerReady"} <= {m.name for m in service.methods}
    status = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service="inference.GRPCInferenceService"), timeout=5).status
    assert status == health_pb2.HealthCheckResponse.SERVING
