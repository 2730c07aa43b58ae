"""JobManager: queues training jobs on an executor (threads or Dask), tracks them, and lets clients watch."""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from server.datasets import DatasetRegistry
from server.executor import make_executor
from server.errors import (FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted,
                           Unavailable)
from server.ids import check_id, new_job_id
from server.jobfeed import JobFeed
from server.models import ModelStore
from server.priority import ServingGate
from server.records import CANCELLED, CANCELLING, QUEUED, RUNNING, STATES, JobRecord
from server.runner import ActiveJob, JobRunner
from server.settings import Settings
from server.rebuild import open_job_store
from server.store import CheckpointStore

log = logging.getLogger(__name__)

WATCH_POLL_SECONDS = 0.25  # how often a waiting watcher checks that its client is still there
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


class JobManager:
    """Owns every job's lifecycle: submit, run (on a private executor), cancel, watch, recover."""

    def __init__(self, settings: Settings, models: ModelStore, datasets: DatasetRegistry,
                 serving: ServingGate | None = None) -> None:
        self.settings = settings
        self.datasets = datasets
        state_dir = Path(settings.state_dir)
        self._lock = threading.RLock()
        self._active: dict[str, ActiveJob] = {}
        self._closing = False
        self._checkpoints = CheckpointStore(state_dir / "jobs")
        self._store = open_job_store(state_dir / "jobs.sqlite3", models, self._checkpoints)
        self._executor = make_executor(settings, datasets, serving)
        self._runner = JobRunner(self._store, self._checkpoints, models, datasets,
                                 on_done=self._forget, executor=self._executor)
        self._watchers = threading.BoundedSemaphore(max(1, settings.grpc_workers - 2))
        self._watching = 0  # streams inside watch(), guarded by _lock
        self._models = models
        self.feed = JobFeed()  # every job change, for the dashboard and metrics (#15)

    def __repr__(self) -> str:
        return f"JobManager({len(self._active)} active, closing={self._closing})"

    @property
    def active_watchers(self) -> int:
        """WatchJob streams currently following an active job."""
        with self._lock:
            return self._watching

    # --- lifecycle -------------------------------------------------------------------

    def recover(self) -> None:
        """Resume (or settle) the jobs a previous server left queued, running or cancelling."""
        for record in self._store.active():
            job = self._runner.recover(record)
            if job is not None:
                job.feed = self.feed
                with self._lock:
                    self._active[job.record.job_id] = job
                    job.future = self._executor.submit(self._runner.run, job)

    def shutdown(self, timeout: float) -> None:
        """Stop accepting jobs, stop running ones (they resume from their checkpoint), wait up to `timeout`."""
        with self._lock:
            self._closing = True
            jobs = list(self._active.values())
        for job in jobs:
            job.request_stop("shutdown")  # also wakes the job's watchers
            if job.future is not None:
                job.future.cancel()  # a job that never started stays QUEUED on disk and resumes
        running = [job.future for job in jobs if job.future is not None and not job.future.cancelled()]
        done, pending = concurrent.futures.wait(running, timeout=timeout)
        if pending:
            log.warning("%d job(s) did not stop within %.1fs", len(pending), timeout)
        self._executor.shutdown()

    @property
    def executor(self):
        """Where jobs run (server.executor.JobExecutor): its name and status() are for health and logs."""
        return self._executor

    def close(self) -> None:
        """Close the job database (after shutdown() and after the last RPC)."""
        self._store.close()

    def _forget(self, job: ActiveJob) -> None:
        """Called by the runner once a finished job's record is safely stored."""
        with self._lock:
            self._active.pop(job.record.job_id, None)

    # --- requests --------------------------------------------------------------------

    def submit(self, config: dict, name: str) -> JobRecord:
        """Queue a validated job; RESOURCE_EXHAUSTED when every worker and queue slot is taken."""
        capacity = self.settings.max_concurrent_jobs + self.settings.max_queued_jobs
        with self._lock:
            if self._closing:
                raise Unavailable("the server is shutting down; submit the job again after it restarts")
            busy = sum(1 for job in self._active.values() if not job.record.finished)
            if busy >= capacity:
                raise ResourceExhausted(
                    f"the job queue is full: {busy} jobs running or queued (limit "
                    f"max_concurrent_jobs + max_queued_jobs = {capacity}); retry later or cancel a job")
            self.datasets.entry(config["dataset"])  # still there: remove_dataset() takes this lock too
            record = JobRecord(job_id=new_job_id(), name=name, config=config, created=time.time(),
                               total_epochs=config["epochs"])
            try:
                self._store.insert(record)
            except Exception as exc:  # full or unwritable state dir
                raise ResourceExhausted(f"cannot record the job in {self._store.path}: {exc}") from exc
            log.info("job %s: submitted -> QUEUED (%s)", record.job_id, name or "unnamed")
            first = record.copy()  # the QUEUED status, before a worker can touch the record
            job = ActiveJob(record)
            job.feed = self.feed
            self.feed.publish(record)
            self._active[record.job_id] = job
            job.future = self._executor.submit(self._runner.run, job)
        return first

    def get(self, job_id: str) -> JobRecord:
        """The current record of a job; NOT_FOUND if there is none."""
        check_id(job_id, "job_id")
        job = self._active.get(job_id)
        if job is not None:
            return job.snapshot()
        record = self._store.get(job_id)  # finished jobs leave memory only once stored
        if record is None:
            raise NotFound(f"no job with id {job_id!r}")
        return record

    def cancel(self, job_id: str) -> JobRecord:
        """Cancel a queued or running job; FAILED_PRECONDITION if it already ended."""
        check_id(job_id, "job_id")
        with self._lock:
            job = self._active.get(job_id)
            record = job.snapshot() if job is not None else self.get(job_id)
            if record.finished:
                raise FailedPrecondition(f"job {job_id} already ended ({record.state}); only QUEUED or "
                                         "RUNNING jobs can be cancelled")
            if job is None:  # on disk as active but not (yet) ours: only during start-up recovery
                raise Unavailable(f"job {job_id} is being recovered after a restart; retry in a moment")
            state = record.state
            if state == QUEUED and job.future is not None and job.future.cancel():
                self._runner.finish(job, CANCELLED)
            elif state in (QUEUED, RUNNING):
                job.request_stop("cancel")
                self._runner.transition(job, CANCELLING)
        return job.snapshot()

    def deletable(self, job_id: str) -> JobRecord:
        """The record of an ended job that may be deleted; FAILED_PRECONDITION while it is
        queued, running or cancelling, NOT_FOUND if there is none."""
        record = self.get(job_id)
        if not record.finished or job_id in self._active:
            raise FailedPrecondition(f"job {job_id} is {record.state}; cancel it first (nnctl cancel "
                                     f"{job_id}) and delete it once it has ended")
        return record

    def delete(self, job_id: str) -> JobRecord:
        """Delete an ended job's record and checkpoints (its model is the model store's)."""
        with self._lock:  # no recovery or submit can touch the job meanwhile
            record = self.deletable(job_id)
            if not self._store.delete(job_id):
                raise NotFound(f"no job with id {job_id!r}")
        self._checkpoints.delete(job_id)
        self.feed.deleted(job_id)
        log.info("job %s: deleted", job_id)
        return record

    def list(self, state: str | None, page_size: int, page_token: str) -> tuple[list[JobRecord], str]:
        """A page of jobs, newest first, optionally of one state; returns (jobs, next_page_token)."""
        if state is not None and state not in STATES:
            raise InvalidArgument(f"state must be one of {', '.join(STATES)} or unset; got {state!r}")
        limit = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        before = _parse_token(page_token)
        # Active jobs' rows may lag their live state by a moment: fetch them whatever their stored
        # state, then filter on the live one (a page may come out shorter than page_size).
        active = tuple(self._active) if state is not None else ()
        records, next_seq = self._store.page(state, before, limit, also=active)
        live = []
        for record in records:
            job = self._active.get(record.job_id)
            record = job.snapshot() if job is not None else record
            if state is None or record.state == state:
                live.append(record)
        return live, ("" if next_seq is None else str(next_seq))

    def watch(self, job_id: str, is_active: Callable[[], bool]) -> Iterator[JobRecord]:
        """Yield the job's record now and on every change until it ends or the client leaves."""
        job = self._active.get(job_id)
        if job is None:
            yield self.get(job_id)  # finished (or NOT_FOUND): one status, then the stream ends
            return
        if not self._watchers.acquire(blocking=False):
            raise ResourceExhausted("too many WatchJob streams are open; poll GetStatus instead or retry later")
        with self._lock:
            self._watching += 1
        try:
            yield from self._follow(job, is_active)
        finally:
            with self._lock:
                self._watching -= 1
            self._watchers.release()

    def _follow(self, job: ActiveJob, is_active: Callable[[], bool]) -> Iterator[JobRecord]:
        """The body of watch(): wait on the job's condition, with a timeout to notice gone clients."""
        seen = -1
        while True:
            with job.changed:
                while job.version == seen and not self._closing and is_active():
                    job.changed.wait(WATCH_POLL_SECONDS)
                if not is_active():
                    return
                if job.version == seen:  # woken by shutdown with nothing new to say
                    raise Unavailable("the server is shutting down; the job resumes after the restart: "
                                      "watch it again then (the SDK and nnctl reconnect by themselves)")
                seen = job.version
                record = job.record.copy()
            yield record
            if record.finished:
                return

    def wake(self, job_id: str) -> None:
        """Wake the watchers of a job (e.g. because one of their clients went away)."""
        job = self._active.get(job_id)
        if job is not None:
            with job.changed:
                job.changed.notify_all()

    def jobs_using(self, dataset: str) -> list[str]:
        """Ids of the queued or running jobs that train on `dataset` (a dataset they use must stay)."""
        with self._lock:
            jobs = list(self._active.values())
        return [job.record.job_id for job in jobs
                if job.record.config.get("dataset") == dataset and not job.snapshot().finished]

    def remove_dataset(self, name: str):
        """Unregister a user dataset unless a queued or running job uses it (FAILED_PRECONDITION
        naming them); under the submit lock, so no job can start using it meanwhile."""
        with self._lock:
            users = self.jobs_using(self.datasets.entry(name).name)
            if users:
                raise FailedPrecondition(f"dataset {name!r} is used by queued or running job(s) "
                                         f"{', '.join(users)}; cancel them or wait until they end")
            return self.datasets.unregister(name)

    def count_by_state(self) -> dict[str, int]:
        """Jobs per state, for /metrics: the job store's counts, with the live state of active jobs
        (their stored rows lag by up to a progress write)."""
        with self._lock:
            jobs = list(self._active.values())
        counts = self._store.count_by_state(tuple(job.record.job_id for job in jobs))
        for job in jobs:
            state = job.record.state  # one attribute read: no need to wait on a training step's lock
            counts[state] = counts.get(state, 0) + 1
        return counts

    def state_of(self, job_id: str) -> str | None:
        """The state of a job, or None if there is no such job (used for model lookups)."""
        try:
            return self.get(job_id).state
        except NotFound:
            return None


def _parse_token(token: str) -> int | None:
    """The position encoded in a ListJobs page token ("" = from the newest)."""
    if not token:
        return None
    if not (token.isascii() and token.isdigit()) or len(token) > 18:
        raise InvalidArgument("page_token is not one returned by ListJobs; start again with an empty page_token")
    return int(token)
