"""Job threads run at a lower CPU priority than RPC threads, so training yields the CPU to Predict."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from server.executor import JOB_NICENESS
from server.priority import lower_thread_priority
from server.jobs import JobManager


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux-only")
def test_a_job_thread_becomes_nicer_and_the_caller_does_not():
    seen = {}

    def job_thread():
        tid = threading.get_native_id()
        before = os.getpriority(os.PRIO_PROCESS, tid)
        lower_thread_priority(JOB_NICENESS)
        seen["before"], seen["after"] = before, os.getpriority(os.PRIO_PROCESS, tid)

    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread = threading.Thread(target=job_thread)
    thread.start()
    thread.join()
    assert seen["after"] == min(19, seen["before"] + JOB_NICENESS)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine  # RPC threads keep theirs


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SCHED_IDLE is Linux-only")
def test_idle_makes_only_the_job_thread_sched_idle():
    seen = {}

    def job_thread():
        lower_thread_priority(idle=True)
        seen["policy"] = os.sched_getscheduler(0)

    mine = os.sched_getscheduler(0)
    thread = threading.Thread(target=job_thread)
    thread.start()
    thread.join()
    assert seen["policy"] == os.SCHED_IDLE
    assert os.sched_getscheduler(0) == mine == os.SCHED_OTHER


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SCHED_IDLE is Linux-only")
@pytest.mark.parametrize("serving_priority, policy", [(True, "SCHED_IDLE"), (False, "SCHED_OTHER")])
def test_job_threads_are_sched_idle_only_with_serving_priority(tmp_path, serving_priority, policy):
    from server.models import ModelStore
    from server.priority import ServingGate
    from server.settings import Settings
    from tests.server.server_testutils import FakeDatasets, wait_until

    def new_job_threads():  # other tests' servers may leave job threads of their own behind
        return [t for t in threading.enumerate() if t.name.startswith("nnsvc-job") and t not in before]

    datasets = FakeDatasets()
    datasets.gate.clear()  # the job waits in its thread while loading data: we can look at it
    settings = Settings(state_dir=tmp_path, max_hidden_size=64)
    before = set(threading.enumerate())
    jobs = JobManager(settings, ModelStore(tmp_path / "models"), datasets, ServingGate(serving_priority))
    try:
        jobs.submit({"hidden_size": 8, "epochs": 1, "train_size": 100, "eval_size": 50, "batch_size": 50,
                     "dataset": "mnist"}, "probe")
        wait_until(lambda: new_job_threads())
        assert {os.sched_getscheduler(t.native_id) for t in new_job_threads()} == {getattr(os, policy)}
    finally:
        datasets.gate.set()
        jobs.shutdown(timeout=10)
        jobs.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux-only")
def test_where_sched_idle_is_refused_an_idle_thread_gets_the_idle_niceness(monkeypatch):
    from server import priority

    def refuse(*args):
        raise PermissionError("refused here")

    monkeypatch.setattr(priority.os, "sched_setscheduler", refuse)
    seen = {}

    def job_thread():
        priority.lower_thread_priority(idle=True)
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    thread = threading.Thread(target=job_thread)
    thread.start()
    thread.join()
    assert seen["nice"] == priority.IDLE_NICENESS
