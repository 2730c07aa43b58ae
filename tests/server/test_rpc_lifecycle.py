"""DeleteModel, DeleteJob, ExportModel and ImportModel against real servers on port 0."""

from __future__ import annotations

import io
import json
import threading
import time

import grpc
import numpy as np
import pytest

from nncore.multilayer import MultiLayerNet
from nncore.persist import network_to_bytes
from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc
from tests.server.lifecycle_testutils import (export_file, import_error, import_requests, raw_probabilities,
                                              train_tiny)

INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION


def _stub(server):
    """A stub on a running server (the channel lives as long as the test)."""
    return pb_grpc.NNServiceStub(grpc.insecure_channel(server.target))


def _code(call) -> grpc.StatusCode:
    """The status code a call fails with."""
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code()


def _rewritten(data: bytes, change, member: str = "metadata") -> bytes:
    """The exported file with one JSON member (metadata or architecture) changed by `change(doc)`."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    doc = json.loads(arrays[member].tobytes())
    change(doc)
    arrays[member] = np.frombuffer(json.dumps(doc).encode(), dtype=np.uint8)
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


@pytest.mark.parametrize("fields", [dict(hidden_sizes=[24, 12], batch_norm=True, dropout=0.2),
                                    dict(hidden_size=16, activation="sigmoid")], ids=["deep-bn-dropout", "sigmoid"])
def test_a_model_moves_between_servers_bit_for_bit(make_server, fields):
    source, target = _stub(make_server()), _stub(make_server())
    status = train_tiny(source, **fields)
    data = export_file(source, status.model_id)
    info = target.ImportModel(import_requests(data, trailing_sha=True))
    assert info.model_id and info.model_id != status.model_id
    assert raw_probabilities(target, info.model_id) == raw_probabilities(source, status.model_id)
    original = source.GetModel(pb.GetModelRequest(model_id=status.model_id))
    assert (info.dataset, list(info.class_names), info.name) == ("tiny", list(original.class_names), "lifecycle")
    assert list(info.architecture.input_shape) == [28, 28]
    assert info.input_dtype == original.input_dtype == "uint8"
    assert info.architecture.hidden_sizes == original.architecture.hidden_sizes
    assert info.config.seed == original.config.seed and info.final_metrics == original.final_metrics
    listed = target.ListModels(pb.ListModelsRequest()).models
    assert [m.model_id for m in listed] == [info.model_id]


def test_an_import_survives_a_restart_and_takes_the_name_asked_for(make_server, tmp_path):
    source = _stub(make_server())
    status = train_tiny(source)
    data = export_file(source, status.model_id)
    first = make_server(state_dir=tmp_path / "kept")
    info = _stub(first).ImportModel(import_requests(data, name="moved", chunk=1000))
    first.stop()
    again = _stub(make_server(state_dir=tmp_path / "kept"))
    assert again.GetModel(pb.GetModelRequest(model_id=info.model_id)).name == "moved"
    assert raw_probabilities(again, info.model_id) == raw_probabilities(source, status.model_id)


def test_delete_model_keeps_the_job_and_predict_then_gets_not_found(make_server):
    server = make_server()
    stub = _stub(server)
    status = train_tiny(stub)
    raw_probabilities(stub, status.model_id)  # loaded into memory first
    deleted = stub.DeleteModel(pb.DeleteModelRequest(model_id=status.model_id))
    assert deleted.model_id == status.model_id
    assert _code(lambda: raw_probabilities(stub, status.model_id)) == NOT_FOUND
    assert _code(lambda: stub.GetModel(pb.GetModelRequest(model_id=status.model_id))) == NOT_FOUND
    assert _code(lambda: stub.DeleteModel(pb.DeleteModelRequest(model_id=status.model_id))) == NOT_FOUND
    assert stub.GetStatus(pb.GetStatusRequest(job_id=status.job_id)).state == pb.JOB_STATE_SUCCEEDED
    assert not (server.settings.state_dir / "models" / status.model_id).exists()
    assert [p.name for p in (server.settings.state_dir / "models").iterdir()] == []


def test_delete_job_keeps_its_model_unless_asked(make_server):
    stub = _stub(make_server())
    kept, dropped = train_tiny(stub), train_tiny(stub)
    stub.DeleteJob(pb.DeleteJobRequest(job_id=kept.job_id))
    assert _code(lambda: stub.GetStatus(pb.GetStatusRequest(job_id=kept.job_id))) == NOT_FOUND
    assert raw_probabilities(stub, kept.model_id)
    stub.DeleteJob(pb.DeleteJobRequest(job_id=dropped.job_id, delete_model=True))
    assert _code(lambda: raw_probabilities(stub, dropped.model_id)) == NOT_FOUND
    assert [j.job_id for j in stub.ListJobs(pb.ListJobsRequest()).jobs] == []
    assert _code(lambda: stub.DeleteJob(pb.DeleteJobRequest(job_id=kept.job_id))) == NOT_FOUND


def test_a_queued_or_running_job_cannot_be_deleted(make_server):
    stub = _stub(make_server(max_concurrent_jobs=1))
    long = dict(dataset="tiny", hidden_size=16, epochs=50, seed=1)
    running = stub.Train(pb.TrainRequest(**long)).job_id
    queued = stub.Train(pb.TrainRequest(**long)).job_id
    for job_id in (running, queued):
        with pytest.raises(grpc.RpcError) as info:
            stub.DeleteJob(pb.DeleteJobRequest(job_id=job_id, delete_model=True))
        assert info.value.code() == PRECONDITION and "cancel it first" in info.value.details()
    for job_id in (queued, running):
        stub.CancelJob(pb.CancelJobRequest(job_id=job_id))


def test_a_crash_midway_through_a_delete_leaves_no_half_model(make_server, tmp_path):
    state = tmp_path / "crash"
    first = make_server(state_dir=state)
    status = train_tiny(_stub(first))
    first.stop()
    models = state / "models"
    # What a crash right after the rename (before the removal) leaves behind.
    (models / status.model_id).rename(models / f".tmp-deleting-{status.model_id}-0000")
    again = _stub(make_server(state_dir=state))
    assert _code(lambda: again.GetModel(pb.GetModelRequest(model_id=status.model_id))) == NOT_FOUND
    assert [p.name for p in models.iterdir()] == []


def test_export_and_delete_errors(make_server):
    stub = _stub(make_server())
    status = train_tiny(stub)
    assert _code(lambda: export_file(stub, status.model_id, "tflite")) == INVALID
    assert _code(lambda: export_file(stub, "nope")) == NOT_FOUND
    assert _code(lambda: export_file(stub, "../x")) == INVALID
    assert _code(lambda: stub.DeleteModel(pb.DeleteModelRequest(model_id=""))) == INVALID
    assert _code(lambda: stub.DeleteJob(pb.DeleteJobRequest(job_id="no-such-job"))) == NOT_FOUND


def _bare_network_file() -> bytes:
    """An nncore network file without nnservice metadata."""
    return network_to_bytes(MultiLayerNet(784, [8], 10, seed=0))


@pytest.mark.parametrize("case, why", [
    ("garbage", "not an .npz"), ("bare", "no nnservice metadata"), ("shape", "input_shape"),
    ("classes", "class_names"), ("config", "disagrees"), ("pickle", "pickle"), ("params", "parameters"),
    ("infinite-shape", "infinity"), ("infinite-size", "infinity"), ("deep-json", "RecursionError"),
    ("input-dtype", "input_dtype must be one of uint8, float32")])
def test_a_bad_import_is_refused_and_stores_nothing(make_server, case, why):
    server = make_server(max_parameters=20_000)
    stub = _stub(server)
    data = export_file(stub, train_tiny(stub).model_id)
    bad = {
        "garbage": lambda: b"PK\x03\x04 not really a zip",
        "bare": _bare_network_file,
        "shape": lambda: _rewritten(data, lambda m: m.update(input_shape=[27, 28])),
        "classes": lambda: _rewritten(data, lambda m: m.update(class_names=["a", "b"])),
        "config": lambda: _rewritten(data, lambda m: m["config"].update(hidden_sizes=[99], hidden_size=99)),
        "pickle": lambda: _with_object_array(data),
        "params": lambda: network_to_bytes(MultiLayerNet(784, [64], 10, seed=0), metadata={}),
        "deep-json": lambda: _with_member(data, "metadata", np.frombuffer(b"[" * 100_000, dtype=np.uint8)),
        "infinite-shape": lambda: _rewritten(data, lambda m: m.update(input_shape=[float("inf")])),  # JSON Infinity
        "infinite-size": lambda: _rewritten(data, lambda a: a.update(input_size=float("inf")), "architecture"),
        "input-dtype": lambda: _rewritten(data, lambda m: m.update(input_dtype="float64")),
    }[case]()
    before = sorted(p.name for p in (server.settings.state_dir / "models").iterdir())
    error = import_error(stub, import_requests(bad))
    assert error.code() == INVALID and why in error.details(), error.details()
    after = sorted(p.name for p in (server.settings.state_dir / "models").iterdir())
    assert after == before and len(stub.ListModels(pb.ListModelsRequest()).models) == 1


def _with_object_array(data: bytes) -> bytes:
    """The file with one more member that only pickle could read."""
    return _with_member(data, "evil", np.array([{"a": 1}], dtype=object))


def _with_member(data: bytes, name: str, array: np.ndarray) -> bytes:
    """The file with one member added or replaced."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays[name] = array
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def test_a_file_exported_before_input_dtype_imports_with_it_unknown(make_server):
    stub = _stub(make_server())
    data = _rewritten(export_file(stub, train_tiny(stub).model_id), lambda m: m.pop("input_dtype"))
    info = stub.ImportModel(import_requests(data))
    assert info.input_dtype == ""  # "tiny" is no built-in dataset: the server cannot tell
    pixels = pb.Tensor(shape=[1, 784], dtype=pb.DTYPE_UINT8, raw_data=bytes(784))
    assert len(stub.Predict(pb.PredictRequest(model_id=info.model_id, input=pixels)).classes) == 1


def test_import_checks_size_and_checksum(make_server):
    server = make_server(max_upload_bytes=100_000)
    stub = _stub(server)
    data = export_file(stub, train_tiny(stub, hidden_size=4).model_id)
    assert len(data) < 100_000
    wrong = list(import_requests(data))
    wrong[0].metadata.sha256 = "0" * 64
    assert import_error(stub, iter(wrong)).code() == INVALID
    short = list(import_requests(data))[:-1]
    assert import_error(stub, iter(short)).code() == INVALID
    big = network_to_bytes(MultiLayerNet(784, [40], 10, seed=0), metadata={})
    assert import_error(stub, import_requests(big, declare=False)).code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert len(stub.ListModels(pb.ListModelsRequest()).models) == 1


def test_a_model_with_damaged_metadata_can_still_be_deleted(make_server, tmp_path):
    state = tmp_path / "damaged"
    first = make_server(state_dir=state)
    status = train_tiny(_stub(first))
    first.stop()
    (state / "models" / status.model_id / "model.json").write_text("{not json")
    stub = _stub(make_server(state_dir=state))
    assert _code(lambda: stub.GetModel(pb.GetModelRequest(model_id=status.model_id))) == grpc.StatusCode.DATA_LOSS
    assert stub.DeleteModel(pb.DeleteModelRequest(model_id=status.model_id)).model_id == status.model_id
    assert [p.name for p in (state / "models").iterdir()] == []


def test_predicts_racing_a_delete_get_answers_or_not_found(make_server):
    stub = _stub(make_server())
    model_id = train_tiny(stub).model_id
    codes, stop = [], threading.Event()

    def predict_until_gone():
        while not stop.is_set():
            try:
                raw_probabilities(stub, model_id)
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as error:
                codes.append(error.code())
                if error.code() == NOT_FOUND:
                    return

    threads = [threading.Thread(target=predict_until_gone) for _ in range(4)]
    for thread in threads:
        thread.start()
    while grpc.StatusCode.OK not in codes and len(codes) < 1000:  # answers are coming (or errors: fail below)
        time.sleep(0.001)
    stub.DeleteModel(pb.DeleteModelRequest(model_id=model_id))
    for thread in threads:
        thread.join(30)
    stop.set()
    assert set(codes) == {grpc.StatusCode.OK, NOT_FOUND} and codes.count(NOT_FOUND) == 4
