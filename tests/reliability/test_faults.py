"""Faults short of a crash: a full or unusable state dir, corrupted weights, broken MNIST, and
clients that vanish mid-stream. Each gets a clear error; the server keeps serving."""

from __future__ import annotations

import errno
import pathlib
import shutil
import threading
import time

import grpc
import pytest

from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc
from server import Settings, create_server
from server.__main__ import main as server_main
from tests.conftest import wait_for_job
from tests.reliability.reliability_testutils import pixels, predict_request, record_figure, stub_for

TINY = dict(hidden_size=8, epochs=2, train_size=500, eval_size=100, batch_size=50, seed=0)
LONG = dict(hidden_size=256, epochs=50, eval_size=100, seed=0)  # minutes of work: stays RUNNING


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("target, fragment", [
    ("server.models.write_synced", "cannot save the model in the state directory"),
    ("server.store.write_bytes_atomic", "cannot write the epoch 1 checkpoint under"),
])
def test_a_full_disk_fails_the_job_clearly_and_models_keep_serving(server_with_model, monkeypatch,
                                                                  target, fragment):
    server, model_id = server_with_model()
    channel, stub = stub_for(server.target)
    with channel:
        before = stub.Predict(predict_request(model_id, pixels(4)), timeout=30).probabilities.raw_data
        monkeypatch.setattr(target, _disk_full)
        job_id = stub.Train(pb.TrainRequest(**TINY), timeout=30).job_id
        final = wait_for_job(stub, job_id, timeout=60)
        assert final.state == pb.JOB_STATE_FAILED
        assert fragment in final.error and "No space left on device" in final.error
        assert "free space" in final.error
        after = stub.Predict(predict_request(model_id, pixels(4)), timeout=30).probabilities.raw_data
        assert after == before
        assert stub.GetStatus(pb.GetStatusRequest(job_id=job_id), timeout=10).state == pb.JOB_STATE_FAILED
    models = server.settings.state_dir / "models"
    assert sorted(p.name for p in models.iterdir()) == [model_id]  # no partial model left behind


def test_a_job_that_cannot_be_recorded_is_refused(server_with_model, monkeypatch):
    server, model_id = server_with_model()
    monkeypatch.setattr("server.store.JobStore.insert", _disk_full)
    channel, stub = stub_for(server.target)
    with channel:
        with pytest.raises(grpc.RpcError) as info:
            stub.Train(pb.TrainRequest(**TINY), timeout=30)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "cannot record the job" in info.value.details() and "No space left" in info.value.details()
        assert len(stub.Predict(predict_request(model_id, pixels(2)), timeout=30).classes) == 2


def test_a_state_dir_that_is_a_file_stops_the_start(tmp_path, caplog):
    blocker = tmp_path / "state"
    blocker.write_text("not a directory")
    with pytest.raises(OSError, match="cannot use the state directory .*must be a writable directory"):
        create_server(Settings(state_dir=blocker / "inner"))
    assert server_main(["--port", "0", "--state-dir", str(blocker)]) == 1
    assert f"cannot use the state directory {blocker}: it is a file" in caplog.text


@pytest.mark.parametrize("offset", [20, 0.5, -60])
def test_corrupt_weights_are_data_loss_remembered_until_the_file_changes(server_with_model, trained_model,
                                                                          monkeypatch, offset):
    with grpc.insecure_channel(trained_model.server.target) as channel:  # the intact model's answer
        good = pb_grpc.NNServiceStub(channel).Predict(predict_request(trained_model.model_id, pixels(5)), timeout=30)
    server, model_id = server_with_model()
    weights = server.settings.state_dir / "models" / model_id / "weights.npz"
    intact = weights.read_bytes()
    at = int(len(intact) * offset) if isinstance(offset, float) else offset % len(intact)
    weights.write_bytes(intact[:at] + bytes([intact[at] ^ 0x01]) + intact[at + 1:])
    reads = []
    real_read_bytes = pathlib.Path.read_bytes

    def counting_read_bytes(path):
        if path.name == "weights.npz":
            reads.append(path)
        return real_read_bytes(path)

    monkeypatch.setattr(pathlib.Path, "read_bytes", counting_read_bytes)
    channel, stub = stub_for(server.target)
    with channel:
        for _ in range(5):
            with pytest.raises(grpc.RpcError) as info:
                stub.Predict(predict_request(model_id, pixels(5)), timeout=30)
            assert info.value.code() == grpc.StatusCode.DATA_LOSS
            assert "weights.npz is corrupt" in info.value.details() and "retrain" in info.value.details()
        assert len(reads) == 1  # read and hashed once, not on every call
        assert stub.GetModel(pb.GetModelRequest(model_id=model_id), timeout=10).model_id == model_id
        shutil.copyfile(trained_model.server.settings.state_dir / "models" / model_id / "weights.npz",
                        weights)  # repaired: the next Predict reads it again and serves it
        repaired = stub.Predict(predict_request(model_id, pixels(5)), timeout=30)
        assert repaired.probabilities.raw_data == good.probabilities.raw_data
        assert list(repaired.classes) == list(good.classes)


@pytest.mark.parametrize("damage", [b"{not json", b'{"model_id": "x"}', b"[]"])
def test_damaged_model_metadata_is_data_loss_not_a_missing_model(server_with_model, make_server, damage):
    first, model_id = server_with_model()
    first.stop()
    (first.settings.state_dir / "models" / model_id / "model.json").write_bytes(damage)
    server = make_server(state_dir=first.settings.state_dir)
    channel, stub = stub_for(server.target)
    with channel:
        for call in (lambda: stub.Predict(predict_request(model_id, pixels(1)), timeout=10),
                     lambda: stub.GetModel(pb.GetModelRequest(model_id=model_id), timeout=10)):
            with pytest.raises(grpc.RpcError) as info:
                call()
            assert info.value.code() == grpc.StatusCode.DATA_LOSS
            assert "model.json is unreadable" in info.value.details() and "retrain" in info.value.details()
        assert list(stub.ListModels(pb.ListModelsRequest(), timeout=10).models) == []


def _mnist_copy(mnist_dir, folder, damage=None):
    folder.mkdir()
    for source in mnist_dir.iterdir():
        if "ubyte" in source.name:
            shutil.copyfile(source, folder / source.name)
    if damage is not None:
        damage(folder)
    return folder


def _truncate_labels(folder):
    path = next(folder.glob("train-labels*"))
    data = path.read_bytes()
    if path.suffix == ".gz":
        import gzip
        data = gzip.decompress(data)
        path.write_bytes(gzip.compress(data[:len(data) // 2]))
    else:
        path.write_bytes(data[:len(data) // 2])


def _bad_magic(folder):
    path = next(p for p in folder.glob("t10k-images*"))
    if path.suffix == ".gz":
        path.unlink()
        (folder / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x01" + bytes(100))
    else:
        path.write_bytes(b"\x00\x00\x08\x01" + path.read_bytes()[4:])


@pytest.mark.parametrize("damage, fragments", [
    (lambda folder: next(folder.glob("train-images*")).unlink(), ["train-images-idx3-ubyte", "missing"]),
    (_truncate_labels, ["train-labels", "Replace the damaged file", "--allow-download"]),
    (_bad_magic, ["t10k-images", "Replace the damaged file"]),
])
def test_broken_mnist_fails_the_job_fast_saying_what_to_do(make_server, mnist_dir, tmp_path, request,
                                                          damage, fragments):
    folder = _mnist_copy(mnist_dir, tmp_path / "mnist", damage)
    server = make_server(mnist_dir=folder)
    channel, stub = stub_for(server.target)
    with channel:
        started = time.monotonic()
        job_id = stub.Train(pb.TrainRequest(**TINY), timeout=30).job_id
        final = wait_for_job(stub, job_id, timeout=60)
        assert final.state == pb.JOB_STATE_FAILED and final.iteration == 0
        for fragment in fragments:
            assert fragment in final.error, final.error
        assert str(folder) in final.error
        record_figure(request, "seconds from Train to FAILED", round(time.monotonic() - started, 2))


def _fill_watcher_slots(target: str, job_id: str, slots: int) -> list[tuple[grpc.Channel, object]]:
    """Open `slots` WatchJob streams, each on its own connection, and read their first status."""
    watchers = []
    for _ in range(slots):
        channel = grpc.insecure_channel(target)
        stream = pb_grpc.NNServiceStub(channel).WatchJob(pb.WatchJobRequest(job_id=job_id))
        assert next(stream).job_id == job_id
        watchers.append((channel, stream))
    return watchers


def test_vanished_watchers_cost_nothing(make_server, request):
    server = make_server(grpc_workers=8)
    slots = server.settings.grpc_workers - 2
    channel, stub = stub_for(server.target)
    with channel:
        job_id = stub.Train(pb.TrainRequest(**LONG), timeout=30).job_id
        wait_until(lambda: stub.GetStatus(pb.GetStatusRequest(job_id=job_id), timeout=10).state
                   == pb.JOB_STATE_RUNNING)
        threads, gone = threading.active_count(), 0
        for round_ in range(3):
            watchers = _fill_watcher_slots(server.target, job_id, slots)  # all free again each round
            assert server.server.active_watchers == slots
            with pytest.raises(grpc.RpcError) as info:
                next(stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=10))
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # one past the limit
            for index, (watcher, stream) in enumerate(watchers):  # clients vanish, two ways
                watcher.close() if (index + round_) % 2 else stream.cancel()
            gone += slots
            wait_until(lambda: server.server.active_watchers == 0)
            with pytest.raises(grpc.RpcError) as info:  # deadline expiry on the client
                list(stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=0.5))
            assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            gone += 1
            wait_until(lambda: server.server.active_watchers == 0)
        # The RPC pool may grow to its size once, but not by a thread per vanished client.
        assert threading.active_count() <= threads + server.settings.grpc_workers < threads + gone
        follower = stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=30)
        assert next(follower).state == pb.JOB_STATE_RUNNING
        stub.CancelJob(pb.CancelJobRequest(job_id=job_id), timeout=10)
        assert list(follower)[-1].state == pb.JOB_STATE_CANCELLED
    record_figure(request, "vanished WatchJob clients cleaned up", gone)


def wait_until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)
