"""--executor dask: jobs train on a LocalCluster of worker processes (issue 16).

One cluster for the module (two single-threaded worker processes with TRAIN=1, as the compose
profile runs them), so the suite stays fast."""

from __future__ import annotations

import os
import signal

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

distributed = pytest.importorskip("distributed")  # the dev extra installs it; skip_policy forbids this skip in CI

from nncore.persist import load_network  # noqa: E402
from protos import nn_service_pb2 as pb  # noqa: E402
from protos import nn_service_pb2_grpc as pb_grpc  # noqa: E402
from server.app import TRAINING_HEALTH  # noqa: E402
from server.store import JobStore  # noqa: E402
from tests.conftest import wait_for_job  # noqa: E402
from tests.reliability.reliability_testutils import free_port  # noqa: E402
from tests.server.server_testutils import wait_until  # noqa: E402
from tests.server.upload_testutils import upload  # noqa: E402
from tests.upload_files import blobs, csv_bytes  # noqa: E402

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# Long enough that a cancel or a kill lands mid-job; each epoch writes a checkpoint.
LONG_JOB = dict(dataset="mnist", hidden_size=64, epochs=40, train_size=3000, eval_size=500,
                batch_size=50, seed=3)


def local_cluster(workers: int, port: int = 0):
    """Worker processes with one thread and TRAIN=1 each, preloading server.dask_task, as the
    compose profile runs them."""
    return distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                    resources={"TRAIN": 1}, host="127.0.0.1", scheduler_port=port,
                                    dashboard_address=":0", silence_logs=40,
                                    preload=["server.dask_task"])  # passed on to each worker


@pytest.fixture(scope="module")
def cluster():
    """Two workers; the scheduler on a free loopback port."""
    with local_cluster(2) as local:
        yield local


@pytest.fixture
def dask_server(make_server, cluster):
    """A server whose jobs run on the module's cluster."""
    return make_server(executor="dask", dask_scheduler=cluster.scheduler_address)


def _stub(running):
    channel = grpc.insecure_channel(running.target)
    return channel, pb_grpc.NNServiceStub(channel)


def _weights(running, model_id: str) -> dict[str, np.ndarray]:
    net = load_network(running.settings.state_dir / "models" / model_id / "weights.npz")
    return dict(net.params)


def test_a_dask_job_learns_the_same_weights_as_the_thread_executor(make_server, dask_server):
    request = pb.TrainRequest(dataset="tiny", hidden_size=16, epochs=2, batch_size=50, seed=7)
    results = []
    for running in (make_server(), dask_server):
        channel, stub = _stub(running)
        with channel:
            status = wait_for_job(stub, stub.Train(request).job_id)
        assert status.state == pb.JOB_STATE_SUCCEEDED, status.error
        assert [e.epoch for e in status.history] == [1, 2]
        # /metrics' training figures come from the job feed, which both executors publish to (#15)
        registry = running.server.plane.metrics.registry
        assert registry.get_sample_value("nnservice_training_steps_total") == status.iteration > 0
        assert registry.get_sample_value("nnservice_training_epoch_duration_seconds_count") == 2
        results.append(_weights(running, status.model_id))
    local, remote = results
    assert local.keys() == remote.keys()
    for name in local:
        np.testing.assert_array_equal(local[name], remote[name], err_msg=name)


def test_cancel_stops_a_running_dask_job_before_it_ends(dask_server):
    channel, stub = _stub(dask_server)
    with channel:
        job_id = stub.Train(pb.TrainRequest(**LONG_JOB)).job_id
        wait_until(lambda: stub.GetStatus(pb.GetStatusRequest(job_id=job_id)).iteration > 0, timeout=60)
        stub.CancelJob(pb.CancelJobRequest(job_id=job_id))
        status = wait_for_job(stub, job_id)
    assert status.state == pb.JOB_STATE_CANCELLED
    assert status.iteration < status.total_iterations  # it stopped mid-training, not at the end


def test_a_killed_workers_job_resumes_from_its_checkpoint(dask_server, cluster):
    channel, stub = _stub(dask_server)
    with channel, distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        job_id = stub.Train(pb.TrainRequest(**LONG_JOB)).job_id
        # epoch 3 reported: epoch 2's checkpoint is written (a checkpoint follows its epoch's report)
        wait_until(lambda: stub.GetStatus(pb.GetStatusRequest(job_id=job_id)).epoch >= 3, timeout=90)
        busy = [address for address, keys in client.processing().items()
                if any(job_id in str(key) for key in keys)]
        assert len(busy) == 1, client.processing()
        nanny = next(n for n in cluster.workers.values() if n.worker_address == busy[0])
        os.kill(nanny.process.process.pid, signal.SIGKILL)  # the nanny starts a new worker
        status = wait_for_job(stub, job_id)
    assert status.state == pb.JOB_STATE_SUCCEEDED, status.error
    assert [e.epoch for e in status.history] == list(range(1, LONG_JOB["epochs"] + 1))  # nothing lost
    note = status.note  # the job record says what happened
    assert f"worker {busy[0]} was lost mid-job; resumed from epoch" in note
    assert int(note.split("resumed from epoch ")[1].split()[0]) >= 2  # from a checkpoint, not epoch 0


def _training_health(running) -> int:
    with grpc.insecure_channel(running.target) as channel:
        request = health_pb2.HealthCheckRequest(service=TRAINING_HEALTH)
        return health_pb2_grpc.HealthStub(channel).Check(request, timeout=5).status


def test_jobs_wait_while_the_scheduler_is_unreachable_and_run_once_it_is_up(make_server):
    port = free_port()
    running = make_server(executor="dask", dask_scheduler=f"tcp://127.0.0.1:{port}")
    channel, stub = _stub(running)
    with channel:
        waiting = stub.Train(pb.TrainRequest(dataset="tiny", hidden_size=8, epochs=1, seed=1)).job_id
        doomed = stub.Train(pb.TrainRequest(dataset="tiny", hidden_size=8, epochs=1, seed=2)).job_id
        wait_until(lambda: "unreachable" in running.server._jobs.executor.status())
        assert _training_health(running) == NOT_SERVING
        assert stub.GetStatus(pb.GetStatusRequest(job_id=waiting)).state == pb.JOB_STATE_QUEUED
        stub.CancelJob(pb.CancelJobRequest(job_id=doomed))  # a waiting job can still be cancelled
        assert wait_for_job(stub, doomed).state == pb.JOB_STATE_CANCELLED
        with local_cluster(1, port):
            status = wait_for_job(stub, waiting)
            assert status.state == pb.JOB_STATE_SUCCEEDED, status.error
            wait_until(lambda: _training_health(running) == SERVING)


def test_a_server_restarted_mid_job_resumes_it_on_the_cluster(make_server, cluster, tmp_path):
    settings = dict(executor="dask", dask_scheduler=cluster.scheduler_address, state_dir=tmp_path / "kept")
    first = make_server(**settings)
    channel, stub = _stub(first)
    with channel:
        job_id = stub.Train(pb.TrainRequest(**LONG_JOB)).job_id
        wait_until(lambda: stub.GetStatus(pb.GetStatusRequest(job_id=job_id)).epoch >= 1, timeout=60)
    first.stop(0)  # the task stops at its next step; the record stays RUNNING on disk
    store = JobStore(tmp_path / "kept" / "jobs.sqlite3")
    try:
        left = store.get(job_id)
    finally:
        store.close()
    assert left.state == "RUNNING" and 1 <= left.epoch < LONG_JOB["epochs"], left  # stopped mid-job
    second = make_server(**settings)
    channel, stub = _stub(second)
    with channel:
        status = wait_for_job(stub, job_id)
    assert status.state == pb.JOB_STATE_SUCCEEDED, status.error
    assert [e.epoch for e in status.history] == list(range(1, LONG_JOB["epochs"] + 1))


def test_a_dask_worker_trains_on_an_uploaded_dataset_from_the_shared_state_dir(dask_server):
    x, t = blobs(120, classes=3, shape=(4,))
    channel, stub = _stub(dask_server)
    with channel:
        upload(stub, csv_bytes(x, t), "points", "csv", test_fraction=0.25, seed=1)
        job_id = stub.Train(pb.TrainRequest(dataset="points", hidden_size=8, epochs=2, seed=1)).job_id
        status = wait_for_job(stub, job_id)
        model = stub.GetModel(pb.GetModelRequest(model_id=status.model_id))
    assert status.state == pb.JOB_STATE_SUCCEEDED, status.error
    assert len(status.history) == 2
    assert model.input_dtype == "uint8"  # the CSV's integer features 0..255 are pixels


def test_a_job_running_when_the_scheduler_is_lost_resumes_once_it_is_back(make_server):
    port = free_port()
    running = make_server(executor="dask", dask_scheduler=f"tcp://127.0.0.1:{port}")
    channel, stub = _stub(running)
    with channel:
        with local_cluster(1, port):
            job_id = stub.Train(pb.TrainRequest(**LONG_JOB)).job_id
            wait_until(lambda: stub.GetStatus(pb.GetStatusRequest(job_id=job_id)).epoch >= 2, timeout=60)
        wait_until(lambda: "scheduler" in stub.GetStatus(pb.GetStatusRequest(job_id=job_id)).note)
        assert stub.GetStatus(pb.GetStatusRequest(job_id=job_id)).state == pb.JOB_STATE_RUNNING
        with local_cluster(1, port):
            status = wait_for_job(stub, job_id)
    assert status.state == pb.JOB_STATE_SUCCEEDED, status.error
    assert [e.epoch for e in status.history] == list(range(1, LONG_JOB["epochs"] + 1))
    assert "the Dask scheduler was lost while the job ran; resumed from epoch" in status.note


def test_after_a_scheduler_restart_new_jobs_still_report_their_progress(make_server):
    port = free_port()
    running = make_server(executor="dask", dask_scheduler=f"tcp://127.0.0.1:{port}")
    channel, stub = _stub(running)
    request = pb.TrainRequest(dataset="tiny", hidden_size=8, epochs=3, seed=1)
    with channel:
        for _ in range(2):  # the second scheduler knows nothing of the first one's subscriptions
            with local_cluster(1, port):
                wait_until(lambda: _training_health(running) == SERVING, timeout=60)
                status = wait_for_job(stub, stub.Train(request).job_id)
                assert status.state == pb.JOB_STATE_SUCCEEDED, status.error
                assert [e.epoch for e in status.history] == [1, 2, 3]  # every epoch's event arrived
            wait_until(lambda: _training_health(running) == NOT_SERVING, timeout=60)
