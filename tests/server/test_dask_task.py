"""The Dask worker's side of a job, in process: its training priority and its dataset cache (#16)."""

from __future__ import annotations

import os
import sys
import threading

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
                        train_size=10, test_size=10, builtin=builtin,
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
