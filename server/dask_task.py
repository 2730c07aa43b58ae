"""The Dask worker's side of a training job: load the data, train, report, checkpoint, save the net.

Runs in a worker process. Everything it writes goes under the state directory the server reads
too (a shared volume): checkpoints as the thread executor writes them, and the trained network
as jobs/<id>/final.npz, which the server turns into a model. Progress goes back as worker
events on one topic; the cancel flag is a distributed.Event the server sets.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from pathlib import Path

import numpy as np
from distributed import Event, get_worker
from nncore.config import TrainConfig
from nncore.persist import network_to_bytes
from nncore.training import Progress, TrainState, train
from threadpoolctl import threadpool_limits

from server.datasets import DatasetEntry, DatasetRegistry
from server.executor import TrainWork, run_training
from server.fsutil import write_bytes_atomic
from server.hostgate import HostGate
from server.priority import lower_thread_priority
from server.store import CheckpointStore

log = logging.getLogger(__name__)

TOPIC = "nnsvc-jobs"  # every job's events, each naming its job
FINAL_FILE = "final.npz"
# Seconds between step events (epoch ends always send): a step's progress reaches WatchJob at
# most this much (plus the trip, milliseconds) after it. Each event is handled by the worker's
# event loop, the scheduler and the server; every 0.1 s they cost the two-worker scaling run
# about a twentieth of a core (docs/performance.md, "Dask (session 6)").
PROGRESS_INTERVAL = 0.5
# Seconds between looks at the cancel Event: each look is a scheduler round trip that the training
# thread waits for. A cancel stops the job within this (plus a step).
STOP_POLL_INTERVAL = 0.25
# The worker's statistical profiler (the Dask dashboard's Profile page) walks the training thread's
# stack on the worker's event loop every 10 ms, taking the GIL from it: 8 % of a scaling job's CPU
# here. dask_setup turns it off unless this variable is "1".
PROFILE_ENV = "NNSVC_DASK_PROFILE"
# Dask settings for nnservice's scheduler and workers (the compose profile sets them, as
# cluster_env() spells them; a test keeps the two alike). Dask's defaults wake every process's
# event loop 50 times a second (tick), sample its CPU and memory twice a second (system monitor)
# and the nanny its worker's memory ten times a second: an idle cluster of a scheduler and two
# workers took 0.12 of a core here, 0.014 with these. What is lost: an event loop blocked longer
# than the tick is noticed at the next one; memory limits are enforced within a second.
CLUSTER_CONFIG = {
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
}
CACHED_DATASETS = 2  # datasets a worker process keeps loaded for its next jobs (MNIST: ~55 MB each)
_loaded: dict[tuple, object] = {}  # (name, source, sizes, checksums) -> Dataset, oldest first


def cluster_env() -> dict[str, str]:
    """CLUSTER_CONFIG as the environment variables Dask reads at start (DASK_A__B__C=value)."""
    return {"DASK_" + "__".join(part.upper().replace("-", "_") for part in key.split(".")): value
            for key, value in CLUSTER_CONFIG.items()}


def stop_event_name(job_id: str) -> str:
    """The distributed.Event the server sets to stop a job."""
    return f"nnsvc-stop-{job_id}"


def final_path(state_dir: Path, job_id: str) -> Path:
    """Where a worker leaves a job's trained network for the server."""
    return Path(state_dir) / "jobs" / job_id / FINAL_FILE


class _Reporter:
    """on_progress on the worker: step events at most every PROGRESS_INTERVAL, every epoch end."""

    def __init__(self, worker, job_id: str) -> None:
        self._worker, self._job_id, self._sent = worker, job_id, 0.0

    def __repr__(self) -> str:
        return f"_Reporter({self._job_id})"

    def send(self, kind: str, **fields) -> None:
        """One event on TOPIC."""
        self._worker.log_event(TOPIC, {"job_id": self._job_id, "kind": kind, **fields})

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        if p.epoch_record is None and now - self._sent < PROGRESS_INTERVAL:
            return
        self._sent = now
        record = dataclasses.asdict(p.epoch_record) if p.epoch_record is not None else None
        self.send("progress", epoch=p.epoch, total_epochs=p.total_epochs, iteration=p.iteration,
                  total_iterations=p.total_iterations, loss=float(p.loss), epoch_record=record)


class _StopFlag:
    """should_stop on the worker, asked every step: this task released by the scheduler (its
    client, the server, is gone: a running task is never killed, so it must notice; a look at the
    worker's own state, every step) or the server's Event set (looked at every STOP_POLL_INTERVAL)."""

    def __init__(self, worker, job_id: str) -> None:
        self._worker, self._key = worker, worker.get_current_task()
        self._event = Event(stop_event_name(job_id))
        self._checked, self._stopped = 0.0, False

    def __repr__(self) -> str:
        return f"_StopFlag({self._key!r}, stopped={self._stopped})"

    def __call__(self) -> bool:
        if self._stopped:
            return True
        task = self._worker.state.tasks.get(self._key)
        self._stopped = task is None or task.state == "cancelled"
        now = time.monotonic()
        if not self._stopped and now - self._checked >= STOP_POLL_INTERVAL:
            self._checked = now
            self._stopped = self._event.is_set()
        return self._stopped


def _dataset(entry: DatasetEntry):
    """The entry's arrays, loaded here on the worker (by its loader) or kept from an earlier job:
    a built-in dataset, or an uploaded one whose entry names its data's checksum (one replaced
    under the same name has another, so it is read again; one without is read every time)."""
    key = (entry.name, entry.source, entry.train_size, entry.test_size, tuple(entry.input_shape),
           tuple(sorted(entry.checksums.items())))
    data = _loaded.pop(key, None)
    if data is None:
        data = DatasetRegistry([entry]).get(entry.name)
    if not (entry.builtin or entry.checksums):
        return data
    _loaded[key] = data  # now the newest
    while len(_loaded) > CACHED_DATASETS:
        del _loaded[next(iter(_loaded))]
    return data


@contextlib.contextmanager
def training_priority(idle: bool):
    """One BLAS thread while the task trains (a worker is one process per job slot) and, if
    `idle`, this thread SCHED_IDLE (server.priority.lower_thread_priority): on a machine it shares
    with an nn-server, training then takes only CPU that serving does not want. The thread's
    priority is restored after, where the OS lets it (a worker thread runs other tasks)."""
    with threadpool_limits(limits=1, user_api="blas"):
        restore = lower_thread_priority(idle=idle)
        try:
            yield
        finally:
            restore()


def train_job(job_id: str, config: dict, entry: DatasetEntry, state_dir: str, job: dict | None = None,
              idle: bool = False) -> dict:
    """The Dask task of one job: resume from the job's last checkpoint if there is one (a worker
    lost before), train (at idle priority if `idle`, see training_priority), and leave the net in
    final_path(); returns {"stopped": bool}."""
    with training_priority(idle):
        return _train_job(job_id, config, entry, state_dir, job)


def _train_job(job_id: str, config: dict, entry: DatasetEntry, state_dir: str, job: dict | None) -> dict:
    """train_job's work, at the priority it set."""
    worker = get_worker()
    checkpoints = CheckpointStore(Path(state_dir) / "jobs")
    parts = checkpoints.load(job_id)
    resume = TrainState.from_parts(*parts) if parts is not None else None
    reporter = _Reporter(worker, job_id)
    reporter.send("start", worker=worker.address, epoch=resume.epoch if resume else 0,
                  history=list(resume.history.get("epochs", [])) if resume else [])
    stop_flag, gate = _StopFlag(worker, job_id), HostGate(state_dir)

    def should_stop() -> bool:  # polled before every step: a server on this host serves first
        gate.wait_turn()
        return stop_flag()

    work = TrainWork(job_id=job_id, config=config, entry=entry, resume=resume, on_progress=reporter,
                     should_stop=should_stop, on_note=lambda *args: None, job=job)
    data = _dataset(entry)
    try:
        history = run_training(work, data, checkpoints)
    finally:
        gate.close()
    if not history.stopped:
        write_bytes_atomic(final_path(Path(state_dir), job_id), network_to_bytes(history.net))
    return {"stopped": history.stopped}


def dask_setup(worker) -> None:
    """Dask's preload hook (`dask worker --preload server.dask_task`): this module imported and
    one tiny training run at worker start, so a worker's first job does not pay for them (7 s
    for the first one-epoch job on a fresh worker here, 0.1 s for the next: ~3 s of imports,
    ~0.6 s compiling or loading the fused kernels, the rest the loaded machine); and the worker's
    profiler off (PROFILE_ENV)."""
    rng = np.random.default_rng(0)
    x = rng.random((20, 4), dtype=np.float32)
    labels = np.arange(20) % 2
    with training_priority(False):  # one BLAS thread, as in a job
        train(TrainConfig(hidden_size=4, epochs=1, batch_size=10), x, labels, x, labels)
    if os.environ.get(PROFILE_ENV) != "1":
        for name in ("profile", "profile-cycle"):  # the periodic callbacks Worker made for it
            callback = worker.periodic_callbacks.pop(name, None)
            if callback is not None:
                callback.stop()
    log.info("worker %s warmed up for nnservice training jobs", getattr(worker, "address", worker))
