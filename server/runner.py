"""Running one training job: start, progress, checkpoints, end, and recovery after a restart."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable

from nncore.training import Progress, TrainConfig, TrainState

from server.datasets import DatasetRegistry
from server.executor import JobExecutor, TrainWork
from server.models import ModelStore
from server.records import (CANCELLED, CANCELLING, FAILED, QUEUED, RUNNING, SUCCEEDED, JobRecord)
from server.store import CheckpointError, CheckpointStore, JobStore

log = logging.getLogger(__name__)

NOTIFY_INTERVAL = 0.1  # seconds between progress updates to watchers (epoch ends always notify)
SAVE_INTERVAL = 1.0  # seconds between progress writes to SQLite (transitions always write)


class ActiveJob:
    """A job that is queued or running: its record, behind its own condition, and a stop flag."""

    def __init__(self, record: JobRecord, resume: TrainState | None = None) -> None:
        self.record = record
        self.resume = resume
        self.future = None
        self.changed = threading.Condition()  # guards record/version; watchers wait on it
        self.version = 0
        self.stop_reason: str | None = None  # "cancel" or "shutdown"
        self._stop = threading.Event()
        self.notified = self.saved = 0.0
        # Records are copied under `changed` but written outside it, by two threads at times (a
        # cancel and the worker's end): the stamps keep an older copy from overwriting a newer one.
        self._stamp = 0
        self.write_lock = threading.Lock()
        self.written = 0
        self.feed = None  # the manager's JobFeed (server/jobfeed.py), told of every change

    def __repr__(self) -> str:
        return f"ActiveJob({self.record!r}, version={self.version}, stop={self.stop_reason})"

    def snapshot(self) -> JobRecord:
        """A consistent copy of the record."""
        with self.changed:
            return self.record.copy()

    def stamped(self) -> tuple[int, JobRecord]:
        """A copy of the record to write, with its place in the order of copies (hold `changed`)."""
        self._stamp += 1
        return self._stamp, self.record.copy()

    def bump(self) -> None:
        """Mark a change and wake the watchers (call with `changed` held)."""
        self.version += 1
        self.changed.notify_all()
        if self.feed is not None:
            self.feed.publish(self.record)

    def request_stop(self, reason: str) -> None:
        """Ask the training loop to stop; the first reason wins."""
        with self.changed:
            if self.stop_reason is None:
                self.stop_reason = reason
            self._stop.set()
            self.changed.notify_all()

    def should_stop(self) -> bool:
        """Polled by nncore.train every iteration."""
        return self._stop.is_set()


class _Eta:
    """Estimates the time left from the measured time per iteration since this run started."""

    def __init__(self) -> None:
        self.start: tuple[float, int] | None = None

    def __call__(self, now: float, iteration: int, total: int) -> float:
        if self.start is None:
            self.start = (now, iteration - 1)
        t0, i0 = self.start
        done = iteration - i0
        return max(0.0, (now - t0) / done * (total - iteration)) if done > 0 else 0.0


class JobRunner:
    """Runs each job's lifecycle (its training on the executor) and records every change in the job store."""

    def __init__(self, store: JobStore, checkpoints: CheckpointStore, models: ModelStore,
                 datasets: DatasetRegistry, on_done: Callable[[ActiveJob], None],
                 executor: JobExecutor) -> None:
        self._store, self._checkpoints, self._models = store, checkpoints, models
        self._datasets, self._on_done = datasets, on_done
        self._executor = executor

    def __repr__(self) -> str:
        return f"JobRunner({self._store!r})"

    def run(self, job: ActiveJob) -> None:
        """The executor task of one job; never raises."""
        if not self._start(job):
            return
        job_id = job.record.job_id
        try:
            history = self._train(job)
        except Exception as exc:  # a failing job must never take the server down
            log.warning("job %s failed: %s", job_id, exc, exc_info=not isinstance(exc, (OSError, ValueError)))
            self.finish(job, FAILED, error=f"{type(exc).__name__}: {exc}")
            return
        if history.stopped:
            if job.stop_reason == "cancel":
                self.finish(job, CANCELLED)
            else:  # shutdown: the record stays RUNNING on disk and resumes from its checkpoint
                with job.changed:
                    stamped = job.stamped()
                self._write(job, *stamped)
                log.info("job %s: stopped for shutdown at epoch %d", job_id, job.record.epoch)
            return
        try:
            self._models.save(job_id, history.net, self._model_meta(job.snapshot(), history.net))
        except Exception as exc:
            log.error("job %s: cannot save its model: %s", job_id, exc)
            self.finish(job, FAILED, error=f"cannot save the model in the state directory: {exc}; free "
                                           "space or fix its permissions, then submit the job again")
            return
        self.finish(job, SUCCEEDED, model_id=job_id)

    def _start(self, job: ActiveJob) -> bool:
        """QUEUED -> RUNNING, unless the job was cancelled or the server is stopping."""
        with job.changed:
            reason = job.stop_reason
            if reason is None:
                job.record.state = RUNNING
                job.record.started = job.record.started or time.time()
                job.bump()
                stamped = job.stamped()
        if reason == "cancel":
            self.finish(job, CANCELLED)
        if reason is not None:
            return False
        log.info("job %s: QUEUED -> RUNNING", job.record.job_id)
        self._write(job, *stamped)
        return True

    def _train(self, job: ActiveJob):
        """Hand the job's training to the executor, with progress, cancellation and notes."""
        record = job.record
        eta = _Eta()
        work = TrainWork(job_id=record.job_id, config=dict(record.config),
                         entry=self._datasets.entry(record.config["dataset"]), resume=job.resume,
                         on_progress=lambda p: self._progress(job, p, eta), should_stop=job.should_stop,
                         on_note=lambda text, history=None: self.note(job, text, history),
                         job={"name": record.name, "config": record.config, "created": record.created})
        return self._executor.train(work)

    def note(self, job: ActiveJob, text: str, history: list[dict] | None = None) -> None:
        """Say in the job's record what happened to it (a worker lost, the scheduler away), and log
        it; `history`: training started again from a checkpoint with these epoch records."""
        with job.changed:
            job.record.note = text
            if history is not None:  # the reports of a lost worker may be ahead of, or behind, it
                job.record.history = list(history)
            job.bump()
            stamped = job.stamped()
        log.warning("job %s: %s", job.record.job_id, text)
        self._write(job, *stamped)

    def _progress(self, job: ActiveJob, p: Progress, eta: _Eta) -> None:
        """Called every iteration: update the record; notify and persist at a bounded rate."""
        now = time.monotonic()
        with job.changed:
            record = job.record
            record.epoch, record.total_epochs = p.epoch, p.total_epochs
            record.iteration, record.total_iterations, record.loss = p.iteration, p.total_iterations, p.loss
            record.eta_seconds = eta(now, p.iteration, p.total_iterations)
            closing_epoch = p.epoch_record is not None
            if closing_epoch:
                record.history.append(dataclasses.asdict(p.epoch_record))
            if not closing_epoch and now - job.notified < NOTIFY_INTERVAL:
                return
            job.notified = now
            job.bump()
            if not closing_epoch and now - job.saved < SAVE_INTERVAL:
                return
            job.saved = now
            stamped = job.stamped()
        self._write(job, *stamped)

    def _model_meta(self, record: JobRecord, net) -> dict:
        """What model.json says about a model besides its checksum (with its dataset's shape and classes)."""
        entry = self._datasets.entry(record.config["dataset"])
        return {"job_id": record.job_id, "name": record.name, "architecture": net.architecture,
                "config": record.config, "final_metrics": record.history[-1] if record.history else None,
                "history": record.history, "created": time.time(), "dataset": entry.name,
                "input_shape": list(entry.input_shape), "class_names": list(entry.class_names),
                "input_dtype": entry.dtype}

    def transition(self, job: ActiveJob, state: str) -> None:
        """Move an active job to a non-final state (CANCELLING) and record it."""
        with job.changed:
            if job.record.finished:  # it ended while the request was on its way
                return
            old, job.record.state = job.record.state, state
            job.bump()
            stamp, snapshot = job.stamped()
        log.info("job %s: %s -> %s", snapshot.job_id, old, state)
        self._write(job, stamp, snapshot)

    def finish(self, job: ActiveJob, state: str, **fields) -> None:
        """Move a job to a final state, record it, drop its checkpoints and release it."""
        with job.changed:
            record = job.record
            old, record.state, record.ended, record.eta_seconds = record.state, state, time.time(), 0.0
            for name, value in fields.items():
                setattr(record, name, value)
            stamp, snapshot = job.stamped()
        log.info("job %s: %s -> %s%s", snapshot.job_id, old, state,
                 f" ({snapshot.error})" if snapshot.error else "")
        stored = self._write(job, stamp, snapshot)
        if stored:
            self._checkpoints.delete(snapshot.job_id)
        with job.changed:  # watchers hear of the end only once it is on disk
            job.bump()
        if stored:
            self._on_done(job)

    def _write(self, job: ActiveJob, stamp: int, record: JobRecord) -> bool:
        """Persist an active job's record unless a newer copy is already on disk (then True)."""
        with job.write_lock:
            if stamp < job.written:
                return True
            stored = self._persist(record)
            if stored:
                job.written = stamp
            return stored

    def _persist(self, record: JobRecord) -> bool:
        """Write a record; a broken state dir is logged, never raised into a worker thread."""
        try:
            self._store.update(record)
            return True
        except Exception as exc:
            log.error("job %s: cannot record state %s: %s", record.job_id, record.state, exc)
            return False

    def recover(self, record: JobRecord) -> ActiveJob | None:
        """Settle or re-queue a job a previous server left active; returns it if it should run."""
        job_id = record.job_id
        if record.state == CANCELLING:
            return self._settle(record, CANCELLED)
        if self._models.meta(job_id) is not None:  # died after saving the model, before recording it
            return self._settle(record, SUCCEEDED, model_id=job_id)
        try:
            TrainConfig.from_dict({k: v for k, v in record.config.items() if k != "dataset"})
            parts = self._checkpoints.load(job_id)
            resume = TrainState.from_parts(*parts) if parts is not None else None
        except (CheckpointError, ValueError, KeyError, TypeError) as exc:
            return self._settle(record, FAILED,
                                error=f"interrupted by server restart; its checkpoint is unusable: {exc}")
        record.state, record.eta_seconds = QUEUED, 0.0
        record.epoch = resume.epoch if resume else 0
        record.iteration = resume.iteration if resume else 0
        record.history = list(resume.history.get("epochs", [])) if resume else []
        self._persist(record)
        log.info("job %s: interrupted by restart -> QUEUED, resuming %s", job_id,
                 f"from epoch {resume.epoch}" if resume else "from the start")
        return ActiveJob(record, resume)

    def _settle(self, record: JobRecord, state: str, **fields) -> None:
        """Record the final state of a job found active at start-up."""
        old, record.state, record.ended, record.eta_seconds = record.state, state, time.time(), 0.0
        for name, value in fields.items():
            setattr(record, name, value)
        log.info("job %s: %s -> %s after restart%s", record.job_id, old, state,
                 f" ({record.error})" if record.error else "")
        if self._persist(record):
            self._checkpoints.delete(record.job_id)
        return None
