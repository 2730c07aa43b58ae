"""JobManager with a tiny synthetic dataset: succeed, fail, cancel, queue full, watch, list."""

from __future__ import annotations

import threading

import pytest
from server_testutils import FakeDatasets, Harness, wait_until

from server.errors import FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted
from server.records import CANCELLED, CANCELLING, FAILED, QUEUED, RUNNING, SUCCEEDED


@pytest.fixture
def datasets() -> FakeDatasets:
    return FakeDatasets()


@pytest.fixture
def harness(tmp_path, datasets):
    h = Harness(tmp_path / "state", datasets)
    yield h
    datasets.gate.set()
    h.close()


def test_a_job_runs_to_success_and_leaves_a_model(harness, tmp_path):
    job_id = harness.submit(name="ok")
    records = harness.finish(job_id)
    last = records[-1]
    assert last.state == SUCCEEDED and last.model_id == job_id and last.progress == 1.0
    assert [r["epoch"] for r in last.history] == [1, 2] and last.iteration == last.total_iterations == 8
    assert {r.state for r in records} <= {QUEUED, RUNNING, SUCCEEDED}
    assert harness.jobs.get(job_id).state == SUCCEEDED  # now read from SQLite
    assert harness.models.meta(job_id)["final_metrics"]["epoch"] == 2
    assert not (tmp_path / "state" / "jobs" / job_id).exists()  # checkpoints dropped
    assert last.started >= last.created and last.ended >= last.started


def test_a_failing_job_is_failed_with_its_reason_and_the_next_job_runs(harness, datasets):
    datasets.fail_next = FileNotFoundError("MNIST not found in /x: put the four IDX files there")
    failed = harness.finish(harness.submit())[-1]
    assert failed.state == FAILED and "MNIST not found in /x" in failed.error and failed.model_id == ""
    assert harness.finish(harness.submit())[-1].state == SUCCEEDED


def test_an_unwritable_state_dir_fails_the_job_clearly(harness, monkeypatch):
    def disk_full(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("server.store.CheckpointStore.save", disk_full)
    first = harness.finish(harness.submit())[-1]
    assert first.state == FAILED and "No space left on device" in first.error
    monkeypatch.undo()
    monkeypatch.setattr("server.models.ModelStore.save", disk_full)
    second = harness.finish(harness.submit())[-1]
    assert second.state == FAILED and second.error.startswith("cannot save the model")


def test_cancel_a_running_job(harness, datasets):
    datasets.gate.clear()  # the job is RUNNING, held while loading its data
    job_id = harness.submit()
    wait_until(lambda: harness.jobs.get(job_id).state == RUNNING)
    assert harness.jobs.cancel(job_id).state == CANCELLING
    assert harness.jobs.cancel(job_id).state == CANCELLING  # idempotent
    datasets.gate.set()
    last = harness.finish(job_id)[-1]
    assert last.state == CANCELLED and last.model_id == "" and harness.models.meta(job_id) is None


def test_cancel_a_queued_job_at_once(harness, datasets):
    datasets.gate.clear()
    running = harness.submit()
    queued = harness.submit()
    wait_until(lambda: harness.jobs.get(running).state == RUNNING)
    assert harness.jobs.cancel(queued).state == CANCELLED
    assert harness.jobs.get(queued).state == CANCELLED
    datasets.gate.set()
    assert harness.finish(running)[-1].state == SUCCEEDED


def test_cancel_errors(harness):
    job_id = harness.submit()
    harness.finish(job_id)
    with pytest.raises(FailedPrecondition, match=r"already ended \(SUCCEEDED\); only QUEUED or RUNNING"):
        harness.jobs.cancel(job_id)
    with pytest.raises(NotFound, match="no job with id 'ffffffffffffffff'"):
        harness.jobs.cancel("ffffffffffffffff")
    with pytest.raises(InvalidArgument, match="job_id must be"):
        harness.jobs.cancel("../../etc")


def test_a_full_queue_is_resource_exhausted_until_a_slot_frees(harness, datasets):
    datasets.gate.clear()
    ids = [harness.submit() for _ in range(3)]  # 1 running + 2 queued
    with pytest.raises(ResourceExhausted, match=r"queue is full: 3 jobs .* = 3\)"):
        harness.submit()
    harness.jobs.cancel(ids[2])
    ids.append(harness.submit())
    datasets.gate.set()
    assert [harness.finish(i)[-1].state for i in ids] == [SUCCEEDED, SUCCEEDED, CANCELLED, SUCCEEDED]


def test_a_watcher_whose_client_left_stops_waiting(harness, datasets):
    datasets.gate.clear()
    job_id = harness.submit()
    active = threading.Event()
    active.set()
    got = []
    watcher = threading.Thread(target=lambda: got.extend(harness.jobs.watch(job_id, active.is_set)))
    watcher.start()
    wait_until(lambda: len(got) >= 1)
    active.clear()
    harness.jobs.wake(job_id)
    watcher.join(2.0)
    assert not watcher.is_alive() and not got[-1].finished


def test_watching_a_finished_or_unknown_job(harness):
    job_id = harness.submit()
    harness.finish(job_id)
    assert [r.state for r in harness.jobs.watch(job_id, lambda: True)] == [SUCCEEDED]
    with pytest.raises(NotFound):
        list(harness.jobs.watch("0000000000000000", lambda: True))


def test_list_pages_newest_first_with_a_state_filter(harness, datasets):
    ids = [harness.submit(name=f"n{i}") for i in range(3)]
    for job_id in ids:
        harness.finish(job_id)
    datasets.gate.clear()
    running = harness.submit()
    wait_until(lambda: harness.jobs.get(running).state == RUNNING)
    page, token = harness.jobs.list(None, 2, "")
    rest, end = harness.jobs.list(None, 2, token)
    assert [r.job_id for r in page + rest] == [running] + ids[::-1] and end == ""
    assert [r.job_id for r in harness.jobs.list(RUNNING, 0, "")[0]] == [running]
    with pytest.raises(InvalidArgument, match="page_token is not one returned by ListJobs"):
        harness.jobs.list(None, 2, "abc")
    datasets.gate.set()
