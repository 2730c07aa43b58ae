"""Shutdown and restart: running jobs stop at a checkpoint and resume; leftovers are settled."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from server_testutils import FakeDatasets, Harness, wait_until

from server.records import CANCELLED, CANCELLING, FAILED, QUEUED, RUNNING, SUCCEEDED, JobRecord
from server.store import CheckpointStore, JobStore


@pytest.fixture
def datasets() -> FakeDatasets:
    return FakeDatasets()


def weights(state_dir, model_id: str) -> dict:
    with np.load(state_dir / "models" / model_id / "weights.npz", allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def interrupt_after_epoch(state_dir, datasets, monkeypatch, epoch: int, **job):
    """Run a job, shut its manager down just after the checkpoint of `epoch`; returns its status then."""
    saved, release = threading.Event(), threading.Event()
    real_save = CheckpointStore.save

    def save_then_hold(self, job_id, at_epoch, arrays, meta, **kw):
        real_save(self, job_id, at_epoch, arrays, meta, **kw)
        if at_epoch == epoch:
            saved.set()
            release.wait(10)

    monkeypatch.setattr(CheckpointStore, "save", save_then_hold)
    first = Harness(state_dir, datasets)
    job_id = first.submit(**job)
    assert saved.wait(20)
    before = first.jobs.get(job_id)
    stopper = threading.Thread(target=first.jobs.shutdown, args=(10.0,))
    stopper.start()
    wait_until(lambda: first.jobs.get(job_id).state == RUNNING)  # stop requested, still running
    release.set()
    stopper.join(10)
    first.jobs.close()
    monkeypatch.undo()
    return before


def test_a_job_stopped_by_shutdown_resumes_and_ends_like_an_uninterrupted_run(tmp_path, datasets, monkeypatch):
    reference = Harness(tmp_path / "reference", datasets)
    ref_id = reference.submit(epochs=4, seed=7)
    assert reference.finish(ref_id)[-1].state == SUCCEEDED
    reference.close()
    before = interrupt_after_epoch(tmp_path / "state", datasets, monkeypatch, 2, epochs=4, seed=7)
    job_id = before.job_id

    on_disk = JobStore(tmp_path / "state" / "jobs.sqlite3")
    assert on_disk.get(job_id).state == RUNNING  # left resumable, not failed
    on_disk.close()
    second = Harness(tmp_path / "state", datasets)
    second.jobs.recover()
    resumed = second.jobs.get(job_id)
    assert resumed.state in (QUEUED, RUNNING, SUCCEEDED) and resumed.epoch >= 2
    last = second.finish(job_id)[-1]
    second.close()
    assert last.state == SUCCEEDED and [r["epoch"] for r in last.history] == [1, 2, 3, 4]
    assert last.history[0]["seconds"] == before.history[0]["seconds"]  # kept, not re-run
    mine, ref = weights(tmp_path / "state", job_id), weights(tmp_path / "reference", ref_id)
    for name in ref:
        np.testing.assert_array_equal(mine[name], ref[name])


def record(job_id: str, state: str, config: dict) -> JobRecord:
    return JobRecord(job_id=job_id, name="", config=config, state=state, created=1.0, started=2.0,
                     total_epochs=config["epochs"])


def _finished_then(state_dir, datasets, leftovers) -> str:
    """Run one job to its end, then add the records `leftovers(config)` as a dead server would
    have left them; returns the finished job's id."""
    h = Harness(state_dir, datasets)
    done = h.submit()
    h.finish(done)
    config = h.jobs.get(done).config
    h.close()
    store = JobStore(state_dir / "jobs.sqlite3")
    for leftover in leftovers(config):
        store.insert(leftover)
    store.close()
    return done


def test_leftover_jobs_are_settled_or_resumed_on_start(tmp_path, datasets):
    done = _finished_then(tmp_path / "state", datasets, lambda config: [
        record("cancelling", CANCELLING, config), record("queued", QUEUED, config),
        record("broken", RUNNING, config), record("badconfig", RUNNING, dict(config, hidden_size=-1))])
    broken = tmp_path / "state" / "jobs" / "broken"
    broken.mkdir(parents=True)
    (broken / "checkpoint.json").write_text("{not json")

    h = Harness(tmp_path / "state", datasets)
    h.jobs.recover()
    assert h.jobs.get("cancelling").state == CANCELLED
    for job_id in ("broken", "badconfig"):
        failed = h.jobs.get(job_id)
        assert failed.state == FAILED and failed.error.startswith("interrupted by server restart")
    assert not broken.exists()
    assert h.finish("queued")[-1].state == SUCCEEDED  # no checkpoint: ran from the start
    assert h.jobs.get(done).state == SUCCEEDED and h.models.meta(done) is not None
    h.close()


def test_a_job_that_died_after_saving_its_model_is_marked_succeeded(tmp_path, datasets):
    h = Harness(tmp_path / "state", datasets)
    job_id = h.submit()
    h.finish(job_id)
    config = h.jobs.get(job_id).config
    h.close()
    store = JobStore(tmp_path / "state" / "jobs.sqlite3")
    store.update(record(job_id, RUNNING, config))  # as if killed before recording SUCCEEDED
    store.close()
    h = Harness(tmp_path / "state", datasets)
    h.jobs.recover()
    status = h.jobs.get(job_id)
    assert status.state == SUCCEEDED and status.model_id == job_id
    h.close()


@pytest.mark.parametrize("arrays, version, reason", [
    ({"params/W1": np.zeros((2, 2))}, 99, "TrainState version must be 1"),
    ({"weights/W1": np.zeros((2, 2))}, 1, "unknown TrainState array 'weights/W1'"),
])
def test_a_checkpoint_with_a_good_checksum_but_a_wrong_version_or_arrays_fails_the_job(
        tmp_path, datasets, arrays, version, reason):
    _finished_then(tmp_path / "state", datasets, lambda config: [record("odd", RUNNING, config)])
    meta = {"version": version, "epoch": 1, "iteration": 4, "rng_state": {}, "history": {}}
    CheckpointStore(tmp_path / "state" / "jobs").save("odd", 1, arrays, meta)  # its sha256 is right

    h = Harness(tmp_path / "state", datasets)
    h.jobs.recover()
    failed = h.jobs.get("odd")
    assert failed.state == FAILED
    assert failed.error.startswith("interrupted by server restart; its checkpoint is unusable") and reason in failed.error
    assert not (tmp_path / "state" / "jobs" / "odd").exists()
    h.close()
