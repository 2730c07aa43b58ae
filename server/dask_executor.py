"""DaskExecutor: each training job runs as one task on a Dask worker (--executor dask).

The server stays the control plane: job records, WatchJob, Predict and the model store are its
own. A job's lifecycle still runs on a server thread (a dispatcher), which submits the task,
turns the worker's events into progress, sets the job's cancel Event when it is asked to stop,
and resubmits the task if the scheduler is lost. A worker lost mid-job is Dask's to handle: the
scheduler runs the task again elsewhere, and the task resumes from the job's last checkpoint in
the shared state directory.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from distributed import Client, Event, KilledWorker
from nncore.persist import network_from_bytes
from nncore.records import EpochRecord, History, Progress

from server.dask_task import TOPIC, final_path, stop_event_name, train_job
from server.executor import JobExecutor, TrainWork

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0  # seconds one connection attempt to the scheduler may take
RETRY_SECONDS = 2.0  # between attempts while the scheduler is unreachable
POLL_SECONDS = 0.1  # how often a dispatcher looks at its job's stop flag while the task runs
RESOURCES = {"TRAIN": 1}  # workers started with --resources TRAIN=1 --nthreads 1: one job each


class _Tracked:
    """A job whose task is out on the cluster: its work, and the workers that have started it."""

    def __init__(self, work: TrainWork) -> None:
        self.work, self.workers = work, []
        self.lost = ""  # set when the task had to be submitted again: why

    def __repr__(self) -> str:
        return f"_Tracked({self.work.job_id}, workers={self.workers})"


class DaskExecutor(JobExecutor):
    """Sends each job to a Dask worker through one Client, re-connecting while the scheduler is away."""

    name = "dask"

    def __init__(self, address: str, state_dir: Path, dispatchers: int, idle: bool = True) -> None:
        self._address, self._state_dir = address, Path(state_dir)
        self._idle = idle  # the workers train at SCHED_IDLE (dask_task.training_priority)
        self._pool = concurrent.futures.ThreadPoolExecutor(dispatchers, thread_name_prefix="nnsvc-dask")
        self._lock = threading.Lock()
        self._client: Client | None = None
        self._status = f"connecting to the Dask scheduler at {address}"
        self._connected, self._closed = threading.Event(), threading.Event()
        self._tracked: dict[str, _Tracked] = {}
        self._scheduler = ""  # the id of the scheduler the job events are subscribed on
        self._connector = threading.Thread(target=self._keep_connected, name="nnsvc-dask-connect", daemon=True)
        self._connector.start()

    def __repr__(self) -> str:
        return f"DaskExecutor({self._address!r}, {self.status() or 'connected'})"

    def status(self) -> str:
        """Why jobs cannot be dispatched now ("" when the scheduler is connected)."""
        return self._status

    # --- the connection ----------------------------------------------------------------

    def _keep_connected(self) -> None:
        """Connect, and connect again whenever the client gave up on a lost scheduler."""
        while not self._closed.is_set():
            client = self._client
            try:
                if client is None or client.status in ("closed", "closing", "failed"):
                    self._connect()
                elif client.status != "running":
                    self._set_status(f"the Dask scheduler at {self._address} was lost; reconnecting "
                                     "(queued jobs wait)")
                else:
                    self._follow_scheduler(client)
            except Exception:  # this thread must live on: without it no job is ever dispatched
                log.exception("checking the connection to the Dask scheduler at %s failed", self._address)
            self._closed.wait(RETRY_SECONDS / 4 if self._status else RETRY_SECONDS)

    def _connect(self) -> None:
        """One attempt to connect; subscribes to the job events."""
        try:
            client = Client(self._address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            self._set_status(f"the Dask scheduler at {self._address} is unreachable ({exc}); queued "
                             f"jobs wait, retrying every {RETRY_SECONDS:.0f}s")
            self._closed.wait(RETRY_SECONDS)
            return
        with self._lock:
            old, self._client = self._client, client
        if old is not None:
            old.close()
        self._scheduler = ""  # a new client: subscribe (and report the connection) below
        self._follow_scheduler(client)

    def _follow_scheduler(self, client: Client) -> None:
        """Subscribe to the job events again if the client reconnected to a new scheduler (a
        restarted one knows no subscriptions); then report the connection fine."""
        try:
            scheduler = client.scheduler_info(n_workers=0)["id"]
        except (OSError, TimeoutError) as exc:  # lost between the status check and the call
            log.debug("cannot ask the Dask scheduler who it is: %s", exc)
            return
        if scheduler != self._scheduler:
            client.subscribe_topic(TOPIC, self._on_event)
            self._scheduler = scheduler
        self._set_status("")

    def _set_status(self, status: str) -> None:
        """Record (and log, and tell health) a change of connection status."""
        (self._connected.clear if status else self._connected.set)()
        if status == self._status:
            return
        self._status = status
        if status:
            log.warning("%s", status)
        else:
            log.info("connected to the Dask scheduler at %s", self._address)
        if self.on_status is not None:
            self.on_status(status)

    def _wait_connected(self, work: TrainWork) -> Client | None:
        """The client once connected; None if the job is asked to stop (or the server closes) first."""
        noted = False
        while not self._connected.wait(POLL_SECONDS):
            if work.should_stop() or self._closed.is_set():
                return None
            if not noted and self._status:
                work.on_note(f"waiting: {self._status}")
                noted = True
        return self._client

    # --- JobExecutor -------------------------------------------------------------------

    def submit(self, fn: Callable, job) -> concurrent.futures.Future:
        """Run fn(job) on a dispatcher thread once the scheduler is connected: until then the
        job stays QUEUED (and a cancel ends it there)."""
        def dispatch():
            while not (self._connected.wait(POLL_SECONDS) or job.should_stop() or self._closed.is_set()):
                pass
            if not self._closed.is_set() or job.should_stop():
                fn(job)
        return self._pool.submit(dispatch)

    def train(self, work: TrainWork) -> History:
        """Run the job's task on the cluster until it ends; a lost scheduler means submit again
        (the task resumes from the job's last checkpoint)."""
        with self._lock:
            self._tracked[work.job_id] = _Tracked(work)
        try:
            while True:
                client = self._wait_connected(work)
                if client is None:
                    return _stopped()
                if self._tracked[work.job_id].lost:  # a new scheduler knows no subscriptions
                    client.subscribe_topic(TOPIC, self._on_event)
                outcome = self._run_task(client, work)
                if outcome is not None:
                    return outcome
                self._tracked[work.job_id].lost = "the Dask scheduler was lost while the job ran"
                work.on_note("the Dask scheduler was lost while the job ran; it resumes from its last "
                             "checkpoint when the scheduler is back")
        finally:
            with self._lock:
                self._tracked.pop(work.job_id, None)

    def _run_task(self, client: Client, work: TrainWork) -> History | None:
        """Submit the job's task and wait for it, passing on a stop; None if the scheduler was lost."""
        event = Event(stop_event_name(work.job_id), client=client)
        future = client.submit(train_job, work.job_id, work.config, work.entry, str(self._state_dir), work.job,
                               idle=self._idle, key=f"nnsvc-train-{work.job_id}-{uuid.uuid4().hex[:8]}", pure=False,
                               resources=RESOURCES)
        # Waiting on a callback, not on future.result(timeout=...): that polling went through
        # asyncio.wait_for, which on Python 3.11 can lose a result finishing at the timeout
        # (distributed's sync() then raised UnboundLocalError and the job failed).
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        stopping = False
        try:
            while not done.wait(POLL_SECONDS):
                if work.should_stop() and not stopping:
                    stopping = True
                    if not self._stop_task(event, future, started=bool(self._tracked[work.job_id].workers)):
                        return _stopped()
            return self._outcome(work, future.result())
        except concurrent.futures.CancelledError:
            return _stopped() if stopping else None
        except KilledWorker as exc:
            raise RuntimeError(f"the job's Dask workers died while running it ({exc}); see the "
                               "workers' logs (out of memory?)") from None
        finally:
            future.release()
            if stopping:
                with contextlib.suppress(OSError, TimeoutError):  # the scheduler gone: so is the Event
                    event.clear()

    @staticmethod
    def _stop_task(event: Event, future, started: bool) -> bool:
        """Set the task's stop Event (it stops at its next step) and drop it if it waits for a
        worker; False if the scheduler cannot be told (the task is then left to notice it was
        released: the job stops here and resumes from its checkpoint)."""
        try:
            event.set()
            if not started:
                future.cancel()
            return True
        except (OSError, TimeoutError) as exc:
            log.warning("cannot tell the Dask scheduler to stop a task: %s", exc)
            return False

    def _outcome(self, work: TrainWork, result: dict) -> History:
        """The History the runner expects, with the net the worker left in the state directory."""
        if result["stopped"]:
            return _stopped()
        path = final_path(self._state_dir, work.job_id)
        history = History(net=network_from_bytes(path.read_bytes()))
        path.unlink(missing_ok=True)
        return history

    def _on_event(self, event) -> None:
        """A worker's event (on the client's event loop): progress, or a task (re)started."""
        _, msg = event
        with self._lock:
            tracked = self._tracked.get(msg.get("job_id"))
        if tracked is None:  # a job that ended, or a task left over from before a restart
            return
        if msg["kind"] == "start":
            if tracked.workers:
                why = tracked.lost or f"worker {tracked.workers[-1]} was lost mid-job"
                tracked.work.on_note(f"{why}; resumed from epoch {msg['epoch']} on worker {msg['worker']}",
                                     msg["history"])
                tracked.lost = ""
            tracked.workers.append(msg["worker"])
            return
        record = msg["epoch_record"]
        tracked.work.on_progress(Progress(msg["epoch"], msg["total_epochs"], msg["iteration"],
                                          msg["total_iterations"], msg["loss"],
                                          EpochRecord(**record) if record is not None else None))

    def shutdown(self) -> None:
        """Close the client and the dispatcher threads (jobs were stopped before)."""
        self._closed.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


def _stopped() -> History:
    """The History of a job stopped before it finished."""
    return History(stopped=True)
