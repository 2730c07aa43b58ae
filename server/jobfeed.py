"""JobFeed: every job change in one ordered feed, for whoever follows all jobs (dashboard, metrics).

WatchJob follows one job through its ActiveJob's condition; the feed is the all-jobs view. A
change is published with the job's lock held, so publishing only copies the record and notifies;
listeners must be as cheap (count, store a reference) and never block.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Callable

from server.records import JobRecord

log = logging.getLogger(__name__)

KEEP = 4096  # latest records kept for followers catching up; an older follower resynchronises


class JobFeed:
    """A version counter, the latest record of each recently changed job, and listeners."""

    def __init__(self, keep: int = KEEP) -> None:
        self._cond = threading.Condition()
        self._version = 0
        self._latest: OrderedDict[str, tuple[int, JobRecord | None]] = OrderedDict()
        self._keep = keep
        self._evicted = 0  # newest version pushed out of _latest: followers behind it resync
        self._listeners: list[Callable[[JobRecord | None, str], None]] = []

    def __repr__(self) -> str:
        return f"JobFeed(version={self._version}, {len(self._latest)} recent)"

    @property
    def version(self) -> int:
        """The number of changes published so far."""
        return self._version

    def subscribe(self, listener: Callable[[JobRecord | None, str], None]) -> None:
        """Call listener(record, job_id) on every change; record None means the job was deleted."""
        with self._cond:
            self._listeners.append(listener)

    def publish(self, record: JobRecord) -> None:
        """A job changed: keep a copy of its record and wake the followers."""
        self._put(record.job_id, record.copy())

    def deleted(self, job_id: str) -> None:
        """A job's record was deleted."""
        self._put(job_id, None)

    def _put(self, job_id: str, record: JobRecord | None) -> None:
        """Store, notify followers, call listeners."""
        with self._cond:
            self._version += 1
            self._latest[job_id] = (self._version, record)
            self._latest.move_to_end(job_id)
            while len(self._latest) > self._keep:
                self._evicted = self._latest.popitem(last=False)[1][0]
            self._cond.notify_all()
            listeners = tuple(self._listeners)
        for listener in listeners:
            try:
                listener(record, job_id)
            except Exception:  # a listener's bug must never fail a training step
                log.exception("job feed listener %r failed", listener)

    def since(self, version: int, timeout: float = 0.0) -> tuple[int, list[tuple[str, JobRecord | None]], bool]:
        """Changes after `version`, waiting up to `timeout` for one: (new version, [(job_id,
        record or None)], complete); complete is False if some changes were dropped (resync)."""
        with self._cond:
            if self._version <= version and timeout > 0:
                self._cond.wait_for(lambda: self._version > version, timeout)
            changes = [(job_id, record) for job_id, (v, record) in self._latest.items() if v > version]
            return self._version, changes, version >= self._evicted
