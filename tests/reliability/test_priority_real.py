"""Serving priority on real servers: training steps give way to Predicts in flight (counted in
steps, not timed), and job threads really run SCHED_IDLE (Linux)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from client import NNClient
from server.serving import ModelRegistry
from tests.reliability.reliability_testutils import ServerProcess, pixels

# Many tiny steps, so a fraction of a second spans dozens of them.
STEPPY = dict(hidden_size=32, epochs=20, train_size=60000, eval_size=100, batch_size=10, seed=3)
WINDOW = 0.3  # seconds a Predict is held in flight; well under the 1 s pause bound set below
FREE_STEPS = 20  # steps the job must make in a window alone for a round to count
DEADLINE = 120.0
SCHED_IDLE = 5  # the policy number /proc/<pid>/task/<tid>/sched shows


def _running(client: NNClient, job_id: str) -> None:
    """Follow the job until it has made a step."""
    for status in client.watch(job_id, timeout=DEADLINE):
        if status.iteration > 0:
            return
    raise AssertionError(f"job {job_id} ended before it was seen running")


def _steps_in_window(client: NNClient, job_id: str) -> int:
    """Steps the job makes in WINDOW seconds (GetStatus reads the live counter)."""
    start = client.status(job_id).iteration
    time.sleep(WINDOW)
    return client.status(job_id).iteration - start


def test_training_makes_no_step_while_a_predict_is_in_flight(server_with_model, monkeypatch):
    # A Predict is held inside the server (its model lookup waits on an event), so it stays in
    # flight for a whole window; the window after it, alone, is the control. Steps are counted,
    # not timed: a round counts once the job made FREE_STEPS steps alone, so a busy machine
    # (job threads are SCHED_IDLE) cannot fake a yield.
    server, model_id = server_with_model(serving_max_pause_ms=1000.0)
    entered, release = threading.Event(), threading.Event()
    lookup = ModelRegistry.loaded

    def held(self, wanted):
        entered.set()
        release.wait(DEADLINE)
        return lookup(self, wanted)

    monkeypatch.setattr(ModelRegistry, "loaded", held)
    image = pixels(1, seed=9)
    deadline = time.monotonic() + DEADLINE
    with NNClient(server.target, timeout=DEADLINE) as client:
        job_id, _ = client.train(**STEPPY)
        _running(client, job_id)
        alone = 0
        while alone < FREE_STEPS:
            assert time.monotonic() < deadline, "the job never made enough steps alone to compare"
            entered.clear()
            release.clear()
            predict = threading.Thread(target=client.predict, args=(model_id, image))
            predict.start()
            assert entered.wait(DEADLINE)
            in_flight = _steps_in_window(client, job_id)
            release.set()
            predict.join(DEADLINE)
            alone = _steps_in_window(client, job_id)
        client.cancel(job_id)
    print(f"steps in {WINDOW} s: {in_flight} with a Predict in flight, {alone} alone")
    assert in_flight <= 2  # at most the step that was under way when the Predict arrived


def _idle_tasks(pid: int) -> list[int]:
    """Thread ids of `pid` whose scheduling policy is SCHED_IDLE."""
    idle = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            lines = (task / "sched").read_text().splitlines()
        except OSError:  # the thread ended meanwhile
            continue
        policy = [line.split(":")[1].strip() for line in lines if line.startswith("policy")]
        if policy and int(policy[0]) == SCHED_IDLE:
            idle.append(int(task.name))
    return idle


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SCHED_IDLE is Linux-only")
@pytest.mark.parametrize("flag, idle", [((), True), (("--no-serving-priority",), False)])
def test_job_threads_of_nn_server_run_sched_idle_unless_turned_off(tmp_path, mnist_dir, flag, idle):
    server = ServerProcess(tmp_path / "state", mnist_dir, tmp_path / "server.log", *flag).wait_ready()
    try:
        with NNClient(server.target, timeout=30) as client:
            job_id, _ = client.train(**STEPPY)
            _running(client, job_id)
            tasks = _idle_tasks(server.proc.pid)
            assert client.status(job_id).state == "RUNNING"  # its thread was there when we looked
            client.cancel(job_id)
    finally:
        assert server.stop() == 0
    # one job, one SCHED_IDLE thread; RPC threads keep the normal policy
    assert len(tasks) == (1 if idle else 0)
