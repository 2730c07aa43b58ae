"""UploadDataset, ListDatasets, GetDataset, DeleteDataset against a real server on port 0."""

from __future__ import annotations

import hashlib
import logging
import threading

import grpc
import numpy as np
import pytest

from client import NNClient
from protos import grpc_predict_v2_pb2 as kpb
from protos import grpc_predict_v2_pb2_grpc as kpb_grpc
from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc
from tests.conftest import wait_for_job
from tests.server.upload_testutils import (stored_entries, upload, upload_error, upload_requests)
from tests.upload_files import (csv_bytes, blobs, idx_members, npz_bytes, split_arrays, zip_bomb,
                                zip_bytes)

INVALID, EXHAUSTED = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.fixture
def server(make_server):
    """A server with small upload limits."""
    return make_server(max_upload_bytes=2 << 20, max_dataset_bytes=4 << 20)


@pytest.fixture
def ds_stub(server):
    """A stub on `server`."""
    with grpc.insecure_channel(server.target) as channel:
        yield pb_grpc.NNServiceStub(channel)


def test_an_idx_zip_upload_is_listed_survives_a_restart_and_trains(make_server, tmp_path):
    state = tmp_path / "kept"
    first = make_server(state_dir=state)
    data = zip_bytes(idx_members(split_arrays(n_train=300, n_test=60, classes=3, shape=(6, 6))))
    with grpc.insecure_channel(first.target) as channel:
        info = upload(pb_grpc.NNServiceStub(channel), data, "blobs", "zip",
                      class_names=["a", "b", "c"], chunk=1000)
    assert (info.name, info.source, list(info.input_shape), info.classes) == \
        ("blobs", pb.DATASET_SOURCE_UPLOADED, [6, 6], 3)
    assert (info.train_size, info.test_size, info.size_bytes, info.dtype) == (300, 60, len(data), "uint8")
    first.stop()
    second = make_server(state_dir=state)
    with grpc.insecure_channel(second.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        names = [d.name for d in stub.ListDatasets(pb.ListDatasetsRequest()).datasets]
        assert names == ["fashion-mnist", "mnist", "blobs"]
        assert list(stub.GetDataset(pb.GetDatasetRequest(name="blobs")).class_names) == ["a", "b", "c"]
        job = stub.Train(pb.TrainRequest(dataset="blobs", hidden_size=16, epochs=10, batch_size=10, seed=1))
        status = wait_for_job(stub, job.job_id)
        assert status.state == pb.JOB_STATE_SUCCEEDED, status.error
        assert status.history[-1].test_accuracy > 0.9
        model = stub.GetModel(pb.GetModelRequest(model_id=status.model_id))
        assert (model.architecture.input_size, model.architecture.output_size) == (36, 3)
        assert model.input_dtype == "uint8"


def test_train_sizes_are_checked_against_the_uploaded_dataset(server, ds_stub):
    data = npz_bytes(**split_arrays(n_train=60, n_test=30))
    upload(ds_stub, data, "small", "npz")
    # an .npz of exactly the checked arrays is kept byte for byte (no second write)
    assert (server.settings.state_dir / "datasets" / "small" / "data.npz").read_bytes() == data
    with pytest.raises(grpc.RpcError) as error:
        ds_stub.Train(pb.TrainRequest(dataset="small", train_size=61))
    assert error.value.code() == INVALID and "train_size must be in [1, 60]" in error.value.details()


def test_a_trailing_sha256_is_checked_like_a_declared_one(ds_stub):
    data = npz_bytes(**split_arrays())
    requests = [*upload_requests(data, "tail", "npz", declare=False),
                pb.UploadDatasetRequest(sha256=hashlib.sha256(data).hexdigest().upper())]
    assert ds_stub.UploadDataset(iter(requests), timeout=60).sha256 == hashlib.sha256(data).hexdigest()


def test_csv_without_a_test_split_uses_test_fraction(ds_stub):
    x, t = blobs(100, classes=2, shape=(5,))
    info = upload(ds_stub, csv_bytes(x, t), "table", "csv", test_fraction=0.25, seed=3)
    assert (info.train_size, info.test_size, list(info.input_shape)) == (75, 25, [5])


def _bad_uploads():
    """(id, requests, code, words in the message) for each kind of bad upload."""
    good = npz_bytes(**split_arrays())
    bad_labels = split_arrays()
    bad_labels["t_test"] = bad_labels["t_test"] + 5
    mismatched = split_arrays()
    mismatched["t_train"] = mismatched["t_train"][:-1]
    pickled = {"x_train": np.array([object()] * 4), "t_train": np.arange(4) % 2}
    return [
        ("truncated", upload_requests(good[:-100], "d", "npz", size_bytes=len(good)), INVALID, "truncated"),
        ("wrong-sha256", upload_requests(good, "d", "npz", sha256="0" * 64), INVALID, "sha256 mismatch"),
        ("wrong-trailing-sha256", [*upload_requests(good, "d", "npz", declare=False),
                                   pb.UploadDatasetRequest(sha256="1" * 64)], INVALID, "sha256 mismatch"),
        ("chunk-after-sha256", [*upload_requests(good, "d", "npz", declare=False),
                                pb.UploadDatasetRequest(sha256=hashlib.sha256(good).hexdigest()),
                                pb.UploadDatasetRequest(chunk=b"x")], INVALID, "must be the last"),
        ("mismatched", upload_requests(npz_bytes(**mismatched), "d", "npz"), INVALID, "59 labels"),
        ("labels-out-of-range", upload_requests(npz_bytes(**bad_labels), "d", "npz", class_names=["a", "b", "c"]),
         INVALID, "labels must be in [0, 2]"),
        ("pickled", upload_requests(npz_bytes(**pickled), "d", "npz"), INVALID, "pickled arrays are refused"),
        ("zip-bomb", upload_requests(zip_bomb(16 << 20), "d", "zip"), EXHAUSTED, "max_dataset_bytes"),
        ("over-size-declared", upload_requests(b"x", "d", "npz", size_bytes=3 << 20), EXHAUSTED, "max_upload_bytes"),
        ("over-size-sent", upload_requests(bytes(3 << 20), "d", "npz", declare=False, chunk=1 << 20),
         EXHAUSTED, "max_upload_bytes"),
        ("stops-midway", upload_requests(good[: len(good) // 2], "d", "npz", declare=False), INVALID, "not a valid npz"),
        ("big-chunk", upload_requests(bytes((1 << 20) + 1), "d", "npz", declare=False, chunk=2 << 20),
         INVALID, "at most 1048576"),
        ("no-metadata", [pb.UploadDatasetRequest(chunk=good)], INVALID, "first UploadDatasetRequest"),
        ("bad-name", upload_requests(good, "../x", "npz"), INVALID, "dataset name must be"),
        ("upper-case-name", upload_requests(good, "Mine", "npz"), INVALID, "lowercase letters"),
        ("builtin-name", upload_requests(good, "mnist", "npz"), grpc.StatusCode.ALREADY_EXISTS, "built in"),
        ("bad-format", upload_requests(good, "d", "parquet"), INVALID, "format must be one of"),
        ("empty", upload_requests(b"", "d", "npz", declare=False), INVALID, "holds no data"),
    ]


@pytest.mark.parametrize("requests, code, words", [c[1:] for c in _bad_uploads()],
                         ids=[c[0] for c in _bad_uploads()])
def test_bad_uploads_are_refused_naming_the_problem_and_leave_nothing(server, ds_stub, requests, code, words):
    error = upload_error(ds_stub, requests)
    assert error.code() == code and words in error.details(), error.details()
    assert stored_entries(server.settings.state_dir) == []
    names = [d.name for d in ds_stub.ListDatasets(pb.ListDatasetsRequest()).datasets]
    assert names == ["fashion-mnist", "mnist"]
    assert upload(ds_stub, npz_bytes(**split_arrays()), "after", "npz").name == "after"  # still healthy


def test_a_cancelled_upload_leaves_nothing_behind(server, ds_stub):
    sent_half = threading.Event()

    def requests():
        data = npz_bytes(**split_arrays(n_train=2000))
        yield from upload_requests(data[: len(data) // 2], "cut", "npz", size_bytes=len(data), chunk=4096)
        sent_half.set()
        threading.Event().wait(30)  # hold the stream open until the client cancels it

    future = ds_stub.UploadDataset.future(requests(), timeout=60)
    assert sent_half.wait(30)
    future.cancel()
    with pytest.raises(grpc.FutureCancelledError):
        future.result()
    for _ in range(200):  # the server notices the cancel asynchronously
        if stored_entries(server.settings.state_dir) == []:
            break
        threading.Event().wait(0.05)
    assert stored_entries(server.settings.state_dir) == []
    assert upload(ds_stub, npz_bytes(**split_arrays()), "cut", "npz").name == "cut"


def test_names_are_unique_and_delete_waits_for_jobs_that_use_the_dataset(ds_stub):
    data = npz_bytes(**split_arrays(n_train=3000, n_test=100, shape=(8,)))
    upload(ds_stub, data, "busy", "npz")
    error = upload_error(ds_stub, upload_requests(data, "busy", "npz"))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    job = ds_stub.Train(pb.TrainRequest(dataset="busy", epochs=50, batch_size=1, hidden_size=8))
    with pytest.raises(grpc.RpcError) as refused:
        ds_stub.DeleteDataset(pb.DeleteDatasetRequest(name="busy"))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "used by" in refused.value.details()
    ds_stub.CancelJob(pb.CancelJobRequest(job_id=job.job_id))
    assert wait_for_job(ds_stub, job.job_id).state == pb.JOB_STATE_CANCELLED
    assert ds_stub.DeleteDataset(pb.DeleteDatasetRequest(name="busy")).name == "busy"
    for rpc, request in (("GetDataset", pb.GetDatasetRequest(name="busy")),
                         ("DeleteDataset", pb.DeleteDatasetRequest(name="busy"))):
        with pytest.raises(grpc.RpcError) as missing:
            getattr(ds_stub, rpc)(request)
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as builtin:
        ds_stub.DeleteDataset(pb.DeleteDatasetRequest(name="mnist"))
    assert builtin.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_uploads_in_progress_are_bounded_so_slow_clients_keep_threads_free(server, ds_stub):
    release = threading.Event()
    data = npz_bytes(**split_arrays())

    def slow(name):
        yield from upload_requests(data[:100], name, "npz", size_bytes=len(data),
                                   sha256=hashlib.sha256(data).hexdigest())
        release.wait(30)  # a client that stalls midway
        yield pb.UploadDatasetRequest(chunk=data[100:])

    slots = server.settings.grpc_workers // 4
    pending = [ds_stub.UploadDataset.future(slow(f"slow{i}"), timeout=60) for i in range(slots)]
    for _ in range(1000):  # each upload the server holds has its work directory
        if len([e for e in stored_entries(server.settings.state_dir) if e.startswith(".upload-")]) == slots:
            break
        threading.Event().wait(0.02)
    error = upload_error(ds_stub, upload_requests(data, "extra", "npz"))
    assert error.code() == EXHAUSTED and "uploads are in progress" in error.details()
    assert ds_stub.ListDatasets(pb.ListDatasetsRequest()).datasets[1].name == "mnist"  # others still served
    release.set()
    assert sorted(f.result().name for f in pending) == [f"slow{i}" for i in range(slots)]
    assert upload(ds_stub, data, "extra", "npz").name == "extra"


def test_uploads_are_logged_and_refused_while_draining(server, ds_stub, caplog):
    """A completed upload gets its access-log line (at DEBUG, like every OK call); a drain refuses new ones."""
    with caplog.at_level(logging.DEBUG, logger="server.rpc"):
        upload(ds_stub, npz_bytes(**split_arrays()), "logged", "npz")
    assert any(r.getMessage().startswith("rpc /nnservice.v1.NNService/UploadDataset OK ")
               for r in caplog.records if r.name == "server.rpc")
    server.server.begin_drain()
    error = upload_error(ds_stub, upload_requests(npz_bytes(**split_arrays()), "late", "npz"))
    assert error.code() == grpc.StatusCode.UNAVAILABLE and "shutting down" in error.details()
    assert stored_entries(server.settings.state_dir) == ["logged"]


def test_what_a_crashed_upload_left_is_removed_at_the_next_start(make_server, tmp_path):
    leftover = tmp_path / "crashed" / "datasets" / ".upload-0123"
    leftover.mkdir(parents=True)
    (leftover / "upload.npz").write_bytes(b"half a file")
    (leftover.parent / ".deleting-4567").mkdir()
    server = make_server(state_dir=tmp_path / "crashed")
    assert stored_entries(server.settings.state_dir) == []


def test_a_model_of_float_features_takes_them_as_they_are_and_refuses_pixels(ds_stub, server):
    """Standardised features (negative, above 1) are what a float dataset's model expects: the
    SDK sends them unclipped, and uint8 (which every front door would scale as pixels) is refused."""
    rng = np.random.default_rng(4)
    t = np.arange(240) % 2
    x = (rng.normal(size=(240, 3)) + 6.0 * t[:, None] - 3.0).astype(np.float32)  # clusters around -3 and 3
    data = npz_bytes(x_train=x[:180], t_train=t[:180], x_test=x[180:], t_test=t[180:])
    assert upload(ds_stub, data, "measures", "npz").dtype == "float32"
    job = ds_stub.Train(pb.TrainRequest(dataset="measures", hidden_size=8, epochs=10, batch_size=10, seed=1))
    status = wait_for_job(ds_stub, job.job_id)
    assert status.state == pb.JOB_STATE_SUCCEEDED, status.error
    assert ds_stub.GetModel(pb.GetModelRequest(model_id=status.model_id)).input_dtype == "float32"

    with NNClient(server.target) as client:
        assert client.get_model(status.model_id).input_dtype == "float32"
        answer = client.predict(status.model_id, x[180:])  # the job's own test rows, as they are
        assert (answer.classes == t[180:]).mean() == pytest.approx(status.history[-1].test_accuracy)
        assert status.history[-1].test_accuracy > 0.9
        assert client.predict(status.model_id, x[180]).classes.tolist() == [t[180]]  # one row
        with pytest.raises(ValueError, match="finite"):
            client.predict(status.model_id, np.full((1, 3), np.nan))
    pixels = pb.Tensor(shape=[1, 3], dtype=pb.DTYPE_UINT8, raw_data=bytes([1, 2, 3]))
    with pytest.raises(grpc.RpcError) as info:
        ds_stub.Predict(pb.PredictRequest(model_id=status.model_id, input=pixels))
    assert info.value.code() == INVALID and "float32 features" in info.value.details()
    with grpc.insecure_channel(server.target) as channel:
        kserve = kpb_grpc.GRPCInferenceServiceStub(channel)
        tensor = kpb.ModelInferRequest.InferInputTensor(name="input", datatype="UINT8", shape=[1, 3])
        with pytest.raises(grpc.RpcError) as info:
            kserve.ModelInfer(kpb.ModelInferRequest(model_name=status.model_id, inputs=[tensor],
                                                    raw_input_contents=[bytes([1, 2, 3])]))
        assert info.value.code() == INVALID and "float32 features" in info.value.details()
        metadata = kserve.ModelMetadata(kpb.ModelMetadataRequest(name=status.model_id))
        assert [i.datatype for i in metadata.inputs] == ["FP32"]
