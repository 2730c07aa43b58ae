"""server/metrics.py's parts alone: training steps and epochs from job-feed records (fresh, resumed,
rewound, deleted jobs), the job store's counts by state, and gRPC method types."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from server_testutils import FakeDatasets, Harness, wait_until

from server.interceptors import CallCounter
from server.metrics import GrpcCallsCollector, PredictMeter, TrainingMeter
from server.records import FAILED, QUEUED, RUNNING, SUCCEEDED, JobRecord
from server.store import JobStore

STEPS = "nnservice_training_steps_total"
EPOCHS = "nnservice_training_epoch_duration_seconds_count"
EPOCH_SECONDS = "nnservice_training_epoch_duration_seconds_sum"


def record(job_id: str, iteration: int, epoch_seconds: list[float], state: str = RUNNING) -> JobRecord:
    history = [{"epoch": i + 1, "seconds": s} for i, s in enumerate(epoch_seconds)]
    return JobRecord(job_id=job_id, name="", config={}, state=state, iteration=iteration,
                     epoch=len(history), history=history)


@pytest.fixture
def meter():
    registry = CollectorRegistry()
    return TrainingMeter(registry), registry


def test_a_fresh_job_counts_every_step_and_epoch(meter):
    training, registry = meter
    for change in (record("a", 0, [], QUEUED), record("a", 7, []), record("a", 10, [0.5]),
                   record("a", 20, [0.5, 0.25]), record("a", 20, [0.5, 0.25], SUCCEEDED)):
        training.on_change(change, "a")
    assert registry.get_sample_value(STEPS) == 20
    assert registry.get_sample_value(EPOCHS) == 2
    assert registry.get_sample_value(EPOCH_SECONDS) == 0.75
    assert "0 jobs" in repr(training)  # a finished job is forgotten


def test_a_resumed_job_counts_only_what_it_does_after_the_restart(meter):
    training, registry = meter
    training.on_change(record("r", 50, [1.0, 1.0], QUEUED), "r")  # first sight: the checkpoint's place
    training.on_change(record("r", 75, [1.0, 1.0, 2.0]), "r")
    assert registry.get_sample_value(STEPS) == 25
    assert registry.get_sample_value(EPOCHS) == 1 and registry.get_sample_value(EPOCH_SECONDS) == 2.0


def test_a_rewound_job_counts_the_steps_it_does_again(meter):
    training, registry = meter
    training.on_change(record("d", 0, []), "d")
    training.on_change(record("d", 30, [1.0, 1.0, 1.0]), "d")
    training.on_change(record("d", 20, [1.0, 1.0]), "d")  # a Dask worker lost: back to its checkpoint
    training.on_change(record("d", 30, [1.0, 1.0, 3.0]), "d")
    assert registry.get_sample_value(STEPS) == 40
    assert registry.get_sample_value(EPOCHS) == 4 and registry.get_sample_value(EPOCH_SECONDS) == 6.0
    training.on_change(None, "d")  # deleted
    assert "0 jobs" in repr(training)


def test_a_failed_predict_for_a_missing_model_uses_the_placeholder_label():
    registry = CollectorRegistry()
    predict = PredictMeter(registry)
    predict.failed(None, "nnservice", "NOT_FOUND", 0.0)
    predict.answered("m1", "kserve-http", 4, 0.0)
    get = registry.get_sample_value
    assert get("nnservice_predict_requests_total", {"model": "(unknown)", "protocol": "nnservice",
                                                   "code": "NOT_FOUND"}) == 1
    assert get("nnservice_predict_rows_total", {"model": "m1", "protocol": "kserve-http"}) == 4
    assert get("nnservice_predict_requests_total", {"model": "m1", "protocol": "kserve-http", "code": "OK"}) == 1


def test_the_job_store_counts_by_state_leaving_out_the_active_jobs(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    try:
        for i, state in enumerate((SUCCEEDED, SUCCEEDED, FAILED, RUNNING, QUEUED)):
            store.insert(record(f"j{i}", 0, [], state))
        assert store.count_by_state() == {SUCCEEDED: 2, FAILED: 1, RUNNING: 1, QUEUED: 1}
        assert store.count_by_state(("j3", "j4", "nosuch")) == {SUCCEEDED: 2, FAILED: 1}
    finally:
        store.close()


def test_the_job_manager_counts_active_jobs_by_their_live_state(tmp_path):
    datasets = FakeDatasets()
    datasets.gate.clear()  # the first job holds at its dataset load, RUNNING; the others wait
    harness = Harness(tmp_path / "state", datasets)
    try:
        first = harness.submit()
        wait_until(lambda: harness.jobs.get(first).state == RUNNING)
        harness.submit(), harness.submit()
        assert harness.jobs.count_by_state() == {RUNNING: 1, QUEUED: 2}
        datasets.gate.set()
        wait_until(lambda: harness.jobs.count_by_state().get(SUCCEEDED) == 3)
        assert harness.jobs.count_by_state() == {SUCCEEDED: 3}
    finally:
        datasets.gate.set()
        harness.close()


def test_grpc_call_types_come_from_the_method_descriptors():
    calls = CallCounter()
    for method in ("/nnservice.v1.NNService/Predict", "/nnservice.v1.NNService/UploadDataset",
                   "/nnservice.v1.NNService/WatchJob", "/no.such.Service/Call"):
        calls.add(method, "OK")
    family = next(GrpcCallsCollector(calls).collect())
    kinds = {s.labels["grpc_method"]: s.labels["grpc_type"] for s in family.samples if s.name.endswith("_total")}
    assert kinds == {"Predict": "unary", "UploadDataset": "client_stream", "WatchJob": "server_stream",
                     "Call": "unknown"}
