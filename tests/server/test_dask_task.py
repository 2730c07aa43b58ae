"""The Dask worker's side of a job, in process: its training priority and its dataset cache (#16)."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info

pytest.importorskip("distributed")  # the dev extra installs it; skip_policy forbids this skip in CI

from server import dask_task  # noqa: E402
from server.datasets import DatasetEntry  # noqa: E402


def _in_thread(fn):
    """fn() on a new thread (its priority changes stay there); its result."""
    out = []
    thread = threading.Thread(target=lambda: out.append(fn()))
    thread.start()
    thread.join()
    return out[0]


def _blas_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SCHED_IDLE is Linux's")
def test_idle_training_runs_its_thread_sched_idle_with_one_blas_thread_and_restores_it():
    def observe():
        before = os.sched_getscheduler(0)
        with dask_task.training_priority(True):
            inside = os.sched_getscheduler(0), _blas_threads()
        return before, inside, os.sched_getscheduler(0)

    before, (policy, blas), after = _in_thread(observe)
    assert policy == os.SCHED_IDLE and policy != before
    assert blas <= {1}
    assert after == before


def test_normal_training_keeps_the_threads_policy_and_still_uses_one_blas_thread():
    def observe():
        before = os.sched_getscheduler(0)
        with dask_task.training_priority(False):
            return before, os.sched_getscheduler(0), _blas_threads()

    before, policy, blas = _in_thread(observe)
    assert policy == before and blas <= {1}


def _entry(loads: list, checksum: str, builtin: bool = False) -> DatasetEntry:
    def loader():
        loads.append(checksum)
        x = np.arange(40, dtype=np.float32).reshape(10, 4)
        t = np.arange(10) % 2
        return x, t, x, t
    return DatasetEntry(name="points", loader=loader, input_shape=(4,), class_names=("a", "b"),
                        train_size=10, test_size=10, builtin=builtin, dtype="float32",
                        checksums={"data.npz": checksum} if checksum else {})


@pytest.fixture(autouse=True)
def _empty_cache(monkeypatch):
    monkeypatch.setattr(dask_task, "_loaded", {})


def test_an_uploaded_dataset_is_loaded_once_per_checksum_on_a_worker():
    loads: list = []
    first = dask_task._dataset(_entry(loads, "aa"))
    again = dask_task._dataset(_entry(loads, "aa"))
    replaced = dask_task._dataset(_entry(loads, "bb"))  # the same name uploaded again, other data
    assert loads == ["aa", "bb"]
    assert again is first and replaced is not first


def test_a_dataset_without_a_checksum_is_read_for_every_job():
    loads: list = []
    dask_task._dataset(_entry(loads, ""))
    dask_task._dataset(_entry(loads, ""))
    assert loads == ["", ""]


def test_the_worker_keeps_only_the_newest_datasets(monkeypatch):
    monkeypatch.setattr(dask_task, "CACHED_DATASETS", 2)
    loads: list = []
    for checksum in ["a", "b", "c", "a"]:
        dask_task._dataset(_entry(loads, checksum))
    assert loads == ["a", "b", "c", "a"]  # "a" was dropped when "c" came
    assert len(dask_task._loaded) == dask_task.CACHED_DATASETS


class _Callback:
    """A stand-in for a tornado PeriodicCallback."""

    def __init__(self) -> None:
        self.stopped = False

    def __repr__(self) -> str:
        return f"_Callback(stopped={self.stopped})"

    def stop(self) -> None:
        self.stopped = True


class _Worker:
    """The parts of a distributed.Worker that dask_setup and _StopFlag use."""

    def __init__(self, state: str = "executing") -> None:
        self.address = "tcp://127.0.0.1:1"
        self.periodic_callbacks = {"profile": _Callback(), "profile-cycle": _Callback(), "heartbeat": _Callback()}
        self.state = type("State", (), {"tasks": {"key": type("Task", (), {"state": state})()}})()

    def __repr__(self) -> str:
        return f"_Worker({self.address})"

    def get_current_task(self) -> str:
        return "key"


@pytest.mark.parametrize("env, kept", [(None, False), ("1", True)])
def test_the_preload_turns_the_workers_profiler_off_unless_asked_to_keep_it(monkeypatch, env, kept):
    if env is None:
        monkeypatch.delenv(dask_task.PROFILE_ENV, raising=False)
    else:
        monkeypatch.setenv(dask_task.PROFILE_ENV, env)
    worker = _Worker()
    profile = worker.periodic_callbacks["profile"]
    dask_task.dask_setup(worker)
    assert ("profile" in worker.periodic_callbacks) is kept and profile.stopped is not kept
    assert ("profile-cycle" in worker.periodic_callbacks) is kept
    assert "heartbeat" in worker.periodic_callbacks and not worker.periodic_callbacks["heartbeat"].stopped


class _Event:
    """A stand-in for the job's distributed.Event, counting the looks (scheduler round trips)."""

    def __init__(self, name: str) -> None:
        self.name, self.looks, self.set = name, 0, False

    def __repr__(self) -> str:
        return f"_Event({self.name}, looks={self.looks})"

    def is_set(self) -> bool:
        self.looks += 1
        return self.set


@pytest.fixture
def fake_events(monkeypatch):
    events: list = []
    monkeypatch.setattr(dask_task, "Event", lambda name: events.append(_Event(name)) or events[-1])
    return events


def test_the_stop_flag_asks_the_scheduler_at_most_every_poll_interval(monkeypatch, fake_events):
    clock = [100.0]
    monkeypatch.setattr(dask_task.time, "monotonic", lambda: clock[0])
    flag = dask_task._StopFlag(_Worker(), "job1")
    event = fake_events[0]
    assert not any(flag() for _ in range(50)) and event.looks == 1  # one look, then steps in between
    event.set = True
    assert not flag()
    clock[0] += dask_task.STOP_POLL_INTERVAL
    assert flag() and event.looks == 2 and event.name == dask_task.stop_event_name("job1")


def test_a_task_released_by_the_scheduler_stops_at_its_next_step_without_asking(fake_events):
    worker = _Worker()
    flag = dask_task._StopFlag(worker, "job1")
    assert not flag()
    worker.state.tasks["key"].state = "cancelled"
    looks = fake_events[0].looks
    assert flag() and fake_events[0].looks == looks


def test_the_cluster_settings_reach_dask_as_the_environment_spells_them():
    import dask.config

    config = dask.config.collect_env(dask_task.cluster_env())
    for key, value in dask_task.CLUSTER_CONFIG.items():
        assert dask.config.get(key, config=config) == value


def test_the_compose_profiles_scheduler_and_workers_get_the_cluster_settings():
    import yaml

    services = yaml.safe_load((Path(__file__).parents[2] / "docker-compose.yml").read_text())["services"]
    dask_services = {name: s for name, s in services.items() if "dask" in (s.get("profiles") or [])}
    assert {"dask-scheduler", "dask-worker-1", "dask-worker-2"} <= set(dask_services)
    for name, service in dask_services.items():
        assert service.get("environment") == dask_task.cluster_env(), name
