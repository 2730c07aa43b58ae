"""kill -9 of a real server process during training, then a restart on the same state dir:
records consistent, no partial model, interrupted jobs resumed, finished models unchanged."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from client import NNClient
from tests.reliability.reliability_testutils import ServerProcess, pixels, record_figure

SMALL = dict(hidden_size=16, epochs=1, train_size=2000, eval_size=500, batch_size=100)
LONG = dict(hidden_size=100, epochs=6, train_size=60000, eval_size=1000, batch_size=100)  # seconds


def _wait_for(client: NNClient, job_id: str, predicate, timeout: float = 120.0):
    """Follow the job until predicate(status) holds; returns that status."""
    deadline = time.monotonic() + timeout
    for status in client.watch(job_id, timeout=timeout):
        if predicate(status):
            return status
        assert time.monotonic() < deadline
    raise AssertionError(f"job {job_id} ended as {status.state} before the condition held")


def check_state_dir(state_dir: Path) -> dict[str, str]:
    """The state dir of a stopped server is consistent: SQLite intact, every model complete and
    matching its checksum, no temporary leftovers. Returns {job_id: state}."""
    with sqlite3.connect(state_dir / "jobs.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        states = dict(db.execute("SELECT job_id, state FROM jobs").fetchall())
    models = state_dir / "models"
    assert not [p.name for p in models.iterdir() if p.name.startswith(".tmp-")]
    for folder in models.iterdir():
        meta = json.loads((folder / "model.json").read_text())
        data = (folder / "weights.npz").read_bytes()
        assert hashlib.sha256(data).hexdigest() == meta["sha256"] and len(data) == meta["size_bytes"]
        assert states.get(folder.name) == "SUCCEEDED", f"model {folder.name} without a SUCCEEDED job"
    return states


def test_kill_9_during_training_loses_nothing(tmp_path, mnist_dir, request):
    state_dir, log = tmp_path / "state", tmp_path / "server.log"
    start = lambda: ServerProcess(state_dir, mnist_dir, log, "--max-concurrent-jobs", "1").wait_ready()
    images, faults = pixels(16, seed=3), 0

    server = start()
    with NNClient(server.target, timeout=30) as client:
        done_id, _ = client.train(**SMALL, seed=1)
        assert client.wait(done_id, progress=False, timeout=120).state == "SUCCEEDED"
        before = client.predict(done_id, images).probabilities
        long_id, _ = client.train(**LONG, seed=2)
        queued_id, _ = client.train(**SMALL, seed=3)
        # one epoch checkpointed, the second well under way: then the process dies
        _wait_for(client, long_id, lambda s: s.epoch >= 1 and s.iteration > 1.3 * s.total_iterations / s.total_epochs)
    server.kill9()
    faults += 1
    on_disk = check_state_dir(state_dir)
    assert on_disk[long_id] == "RUNNING" and on_disk[queued_id] == "QUEUED"  # as the crash left them

    server = start()
    with NNClient(server.target, timeout=30) as client:
        resumed = client.status(long_id)
        assert resumed.state in ("QUEUED", "RUNNING", "SUCCEEDED") and len(resumed.history) >= 1
        assert f"job {long_id}: interrupted by restart -> QUEUED, resuming from epoch" in log.read_text()
        fresh_id, _ = client.train(**{**SMALL, "epochs": 2}, seed=4)
        _wait_for(client, long_id, lambda s: s.state == "RUNNING" or s.done)
    server.kill9()  # again, right after a restart: the long job interrupted twice, a new one queued
    faults += 1
    check_state_dir(state_dir)

    server = start()
    with NNClient(server.target, timeout=30) as client:
        finals = {job_id: client.wait(job_id, progress=False, timeout=180)
                  for job_id in (long_id, queued_id, fresh_id)}
        assert {job_id: s.state for job_id, s in finals.items()} == dict.fromkeys(finals, "SUCCEEDED")
        assert [e.epoch for e in finals[long_id].history] == [1, 2, 3, 4, 5, 6]  # resumed, not restarted
        np.testing.assert_array_equal(client.predict(done_id, images).probabilities, before)
        for job_id in finals:
            assert client.predict(job_id, images).probabilities.shape == (16, 10)
        assert client.status(done_id).state == "SUCCEEDED"
    assert server.stop() == 0
    states = check_state_dir(state_dir)
    assert set(states.values()) == {"SUCCEEDED"} and len(states) == 4
    assert not any((state_dir / "jobs").iterdir())  # checkpoints of ended jobs are gone
    record_figure(request, "kill -9 faults survived", faults)
    record_figure(request, "jobs lost or left active after the crashes", 0)
