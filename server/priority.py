"""Serving priority: training threads run at a lower CPU priority, and their steps wait while
Predicts are in flight or have just been answered."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

# Where SCHED_IDLE is refused, an idle training thread gets this nice value instead.
IDLE_NICENESS = 19

# A client that sends Predicts back to back leaves well under a millisecond between answer and
# next request; a quiet spell of this length means the burst is over and training may go on.
QUIET_SECONDS = 0.002
# At most this long per training step spent yielding, so training always progresses, however
# busy serving is (Settings.serving_max_pause_ms defaults to it and the server passes that). With
# 5 ms, two jobs each forced a step (1-2 ms, GIL held between NumPy calls) every 5 ms and Predict
# p99 reached 3.0-3.3x idle in some runs; with 20 ms at most 1.9x, while one job under
# back-to-back Predicts made 34-44 instead of 88-92 steps/s (docs/performance.md, "Serving").
MAX_YIELD_SECONDS = 0.020
# How long one wait lasts: time.sleep releases the GIL and the core; ~0.25 ms on Linux.
NAP_SECONDS = 0.0002


class ServingGate:
    """Counts Predicts in flight; `wait_turn()` (called by training before each step) yields to them.

    On 2 cores, two training threads take the CPU a Predict needs: thread priorities (nice) help,
    the GIL does not (a training thread holds it between NumPy calls). Sleeping between steps
    while serving is busy gives the cores and the GIL to the RPC threads. Disabled, it costs one
    attribute test per step and per Predict.
    """

    def __init__(self, enabled: bool = True, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, quiet: float = QUIET_SECONDS,
                 max_yield: float = MAX_YIELD_SECONDS, publish: Callable[[int, float], None] | None = None) -> None:
        self.enabled = enabled
        # Called with (in flight, last done) on every change, under the lock: the host's Dask
        # workers read it (server.hostgate) and wait as job threads do.
        self._publish = publish
        self._clock, self._sleep = clock, sleep
        self._quiet, self._max_yield = quiet, max_yield
        self._lock = threading.Lock()
        self._in_flight = 0
        self._last_done = float("-inf")
        self.yielded = 0.0  # seconds training has spent waiting, in total (for logs and tests)

    def __repr__(self) -> str:
        return f"ServingGate(enabled={self.enabled}, in_flight={self._in_flight})"

    def enter(self) -> None:
        """A Predict starts."""
        if self.enabled:
            with self._lock:
                self._in_flight += 1
                if self._publish is not None:
                    self._publish(self._in_flight, self._last_done)

    def leave(self) -> None:
        """A Predict ends (answered or failed)."""
        if self.enabled:
            now = self._clock()
            with self._lock:
                self._in_flight -= 1
                self._last_done = now
                if self._publish is not None:
                    self._publish(self._in_flight, now)

    def busy(self, now: float | None = None) -> bool:
        """Whether a Predict is in flight or one ended less than `quiet` seconds before `now`
        (default: the clock's now)."""
        now = self._clock() if now is None else now
        return self._in_flight > 0 or now - self._last_done < self._quiet

    def wait_turn(self) -> float:
        """Sleep while serving is busy, at most `max_yield` seconds; returns the time waited."""
        if not self.enabled:
            return 0.0
        waited = pause_while(self.busy, self._max_yield, self._clock, self._sleep)
        self.yielded += waited
        return waited


def pause_while(busy: Callable[[float], bool], max_yield: float, clock: Callable[[], float] = time.monotonic,
                sleep: Callable[[float], None] = time.sleep) -> float:
    """Nap while `busy(now)`, at most `max_yield` seconds; returns the time waited (the one wait
    loop of a job thread's ServingGate and a Dask worker's server.hostgate.HostGate)."""
    start = now = clock()
    while busy(now) and now - start < max_yield:
        sleep(NAP_SECONDS)
        now = clock()
    return now - start


def lower_thread_priority(nicer_by: int = 0, idle: bool = False) -> Callable[[], None]:
    """Lower the calling thread's CPU priority: nice + `nicer_by` and, if `idle`, SCHED_IDLE (nice
    IDLE_NICENESS where that is refused). Linux only, where both apply to the calling thread alone
    (elsewhere PRIO_PROCESS would mean the whole process, RPC threads included): a no-op there.
    Returns a function that restores the thread's policy and niceness where the OS lets it."""
    if not sys.platform.startswith("linux") or not (nicer_by or idle):
        return lambda: None
    tid = threading.get_native_id()
    policy, niceness = os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, tid)
    try:
        if nicer_by:
            os.setpriority(os.PRIO_PROCESS, tid, min(19, niceness + nicer_by))
        if idle:
            try:
                os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            except OSError as exc:
                log.debug("SCHED_IDLE refused (%s); training at nice %d", exc, IDLE_NICENESS)
                os.setpriority(os.PRIO_PROCESS, tid, IDLE_NICENESS)
    except OSError as exc:  # e.g. a sandbox that forbids it: train at the normal priority
        log.debug("cannot lower the priority of training thread %d: %s", tid, exc)

    def restore() -> None:
        try:
            os.sched_setscheduler(0, policy, os.sched_param(0))
            os.setpriority(os.PRIO_PROCESS, tid, niceness)
        except OSError as exc:  # unprivileged: a lowered priority cannot always be raised again
            log.debug("cannot restore the priority of thread %d: %s", tid, exc)
    return restore
