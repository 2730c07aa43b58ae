"""The executor seam: where a training job runs (local threads, or a Dask cluster: dask_executor)."""

from __future__ import annotations

import concurrent.futures
import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from nncore.training import History, Progress, TrainConfig, TrainState, build_network, train

from server.datasets import DatasetEntry, DatasetRegistry
from server.priority import ServingGate, lower_thread_priority
from server.store import CheckpointStore

# Job threads run this much nicer than RPC threads (Linux nice is per thread), so a busy core
# goes to Predict first: with two jobs training, Predict p99 fell from ~10 ms to ~5 ms (medians
# of three A/B runs; nice 19 was no better, and training then starves under other load).
JOB_NICENESS = 10
# With serving priority on, job threads are also SCHED_IDLE: a nice value only shrinks their
# share, and a waking RPC thread may still wait a scheduler slice (milliseconds) for a core a job
# holds; the kernel preempts a SCHED_IDLE thread at once. Predict p99 with two jobs training went
# from 3.5-4.3x to 1.8-3.0x its idle p99 (docs/performance.md, "Serving", session 2).


@dataclasses.dataclass
class TrainWork:
    """What one job's training needs, wherever it runs, and the hooks that report back to the runner."""

    job_id: str
    config: dict  # the job's config, "dataset" included
    entry: DatasetEntry
    resume: TrainState | None
    on_progress: Callable[[Progress], None]
    should_stop: Callable[[], bool]
    # What the job record should say (a worker lost, ...), and, if training started again from a
    # checkpoint, the checkpoint's epoch records (the record's history becomes them).
    on_note: Callable[..., None]
    job: dict | None = None  # name, config, created: kept in each checkpoint, to rebuild a lost job database

    def train_config(self) -> TrainConfig:
        """The nncore config (the dataset is the server's business)."""
        return TrainConfig.from_dict({k: v for k, v in self.config.items() if k != "dataset"})


def run_training(work: TrainWork, data, checkpoints: CheckpointStore,
                 should_stop: Callable[[], bool] | None = None) -> History:
    """nncore.train on `data` with the work's progress hook and a checkpoint after every epoch
    (the same code on a job thread and on a Dask worker, hence the same weights)."""
    config = work.train_config()
    net = build_network(config, work.entry.input_size, work.entry.classes)  # the output size is the entry's

    def on_epoch_end(state: TrainState) -> None:
        try:
            checkpoints.save(work.job_id, state.epoch, state.arrays(), state.meta(), job=work.job)
        except OSError as exc:  # full or read-only state dir: say where, and what to do
            raise OSError(f"cannot write the epoch {state.epoch} checkpoint under "
                          f"{checkpoints.root}: {exc.strerror or exc}; free space or fix "
                          "the permissions of the state directory, then submit the job again") from exc

    return train(config, data.x_train, data.t_train, data.x_test, data.t_test, net=net,
                 on_progress=work.on_progress, should_stop=should_stop or work.should_stop,
                 on_epoch_end=on_epoch_end, resume=work.resume)


class JobExecutor(ABC):
    """Where jobs run: submit() schedules a job's lifecycle, train() does its training."""

    name = "?"
    on_status: Callable[[str], None] | None = None  # told status() whenever it changes (health)

    @abstractmethod
    def submit(self, fn: Callable, job) -> concurrent.futures.Future:
        """Schedule fn(job) (the runner's lifecycle of one job); cancel() on the future drops a
        job that has not started."""

    @abstractmethod
    def train(self, work: TrainWork) -> History:
        """Train one job (called by the runner from the function given to submit); returns the
        nncore History (net, stopped); raises what a failing job raised."""

    def status(self) -> str:
        """Why jobs cannot run now ("" when they can): health and logs say it."""
        return ""

    def shutdown(self) -> None:
        """Release the executor's threads and connections (jobs were stopped before)."""


class ThreadExecutor(JobExecutor):
    """The default: jobs train on private server threads, niced (SCHED_IDLE with serving priority)."""

    name = "thread"

    def __init__(self, workers: int, datasets: DatasetRegistry, checkpoints: CheckpointStore,
                 serving: ServingGate | None = None) -> None:
        self._serving = serving or ServingGate(enabled=False)
        self._datasets, self._checkpoints = datasets, checkpoints
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="nnsvc-job",
            initializer=lower_thread_priority, initargs=(JOB_NICENESS, self._serving.enabled))

    def __repr__(self) -> str:
        return f"ThreadExecutor(workers={self._pool._max_workers})"

    def submit(self, fn: Callable, job) -> concurrent.futures.Future:
        """Run fn(job) on a job thread."""
        return self._pool.submit(fn, job)

    def train(self, work: TrainWork) -> History:
        """Train in this (job) thread; each step first yields to Predicts in flight."""
        data = self._datasets.get(work.entry.name)

        def should_stop() -> bool:  # polled before every step: serving goes first
            self._serving.wait_turn()
            return work.should_stop()

        return run_training(work, data, self._checkpoints, should_stop)

    def shutdown(self) -> None:
        """Drop queued jobs' threads (their records stay QUEUED and resume after a restart)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def make_executor(settings, datasets: DatasetRegistry, serving: ServingGate | None) -> JobExecutor:
    """The executor the settings ask for (--executor thread|dask)."""
    checkpoints = CheckpointStore(Path(settings.state_dir) / "jobs")
    if settings.executor == "dask":
        from server.dask_executor import DaskExecutor  # distributed is an optional extra
        return DaskExecutor(settings.dask_scheduler, Path(settings.state_dir), settings.max_concurrent_jobs,
                            idle=settings.dask_idle_training)
    return ThreadExecutor(settings.max_concurrent_jobs, datasets, checkpoints, serving)

