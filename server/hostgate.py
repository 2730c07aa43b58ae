"""The serving gate across processes of one host: Dask workers beside the server pause for Predicts.

A job thread of the server waits before each step while Predicts are in flight (ServingGate). A
Dask worker is another process, so the server also publishes the gate's state in a small mapped
file of its state directory, which workers reach already (they write the jobs' checkpoints
there); a worker on the same host (the same kernel boot id) then waits as a job thread does. On
another host the file is either absent or written by another kernel: ignored, so a cluster's
workers never wait on a server they do not share cores with.
"""

from __future__ import annotations

import mmap
import os
import struct
import time
from collections.abc import Callable
from pathlib import Path

from server.priority import pause_while

FILE_NAME = "serving-gate"
# boot id, Predicts in flight, last answer and last write (CLOCK_MONOTONIC, one clock per host),
# the quiet spell and the longest pause per step (the server's settings).
_LAYOUT = struct.Struct("<16sqdddd")
# A file that says "in flight" but was not written for this long belongs to a server that died
# mid-Predict: it no longer holds anyone up.
STALE_SECONDS = 1.0


def boot_id() -> bytes:
    """This kernel's boot id (16 bytes), or b"" where the system has none."""
    try:
        return bytes.fromhex(Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", ""))
    except (OSError, ValueError):
        return b""


class GatePublisher:
    """The server's side: the gate's state written in place into `path` (a live state, not data:
    rewritten on every Predict, so not written atomically; no reader depends on it surviving a
    crash). The mapping lives as long as the process: a Predict may still publish during a stop."""

    def __init__(self, path: Path, quiet: float, max_yield: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.path, self._clock = Path(path), clock
        self._boot, self._quiet, self._max_yield = boot_id(), quiet, max_yield
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            os.ftruncate(fd, _LAYOUT.size)
            self._map = mmap.mmap(fd, _LAYOUT.size)
        finally:
            os.close(fd)
        self.publish(0, float("-inf"))

    def __repr__(self) -> str:
        return f"GatePublisher({str(self.path)!r})"

    def publish(self, in_flight: int, last_done: float) -> None:
        """Write the gate's state (called under ServingGate's lock)."""
        _LAYOUT.pack_into(self._map, 0, self._boot, in_flight, last_done, self._clock(), self._quiet, self._max_yield)


class HostGate:
    """A worker's side: `wait_turn()` before each step sleeps while the server on this host is
    serving, at most the server's pause per step; a no-op without a file from this host's kernel."""

    def __init__(self, state_dir: str | Path, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._clock, self._sleep, self._map = clock, sleep, None
        try:
            with open(Path(state_dir) / FILE_NAME, "rb") as handle:
                mapped = mmap.mmap(handle.fileno(), _LAYOUT.size, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # no file, or a short one: no server here to make way for
            return
        mine = boot_id()
        if not mine or _LAYOUT.unpack_from(mapped)[0] != mine:
            mapped.close()  # written on another host (a shared file system): not our cores
            return
        self._map = mapped

    def __repr__(self) -> str:
        return f"HostGate(active={self.active})"

    @property
    def active(self) -> bool:
        """Whether a server on this host publishes its gate."""
        return self._map is not None

    def busy(self, now: float | None = None) -> bool:
        """Whether the server is serving at `now` (default: the clock's now)."""
        _, in_flight, last_done, written, quiet, _ = _LAYOUT.unpack_from(self._map)
        now = self._clock() if now is None else now
        return (in_flight > 0 and now - written < STALE_SECONDS) or now - last_done < quiet

    def wait_turn(self) -> float:
        """Sleep while the server is serving, at most its pause per step; returns the time waited."""
        if self._map is None:
            return 0.0
        max_yield = _LAYOUT.unpack_from(self._map)[5]
        return pause_while(self.busy, max_yield, self._clock, self._sleep)

    def close(self) -> None:
        """Release the mapping."""
        if self._map is not None:
            self._map.close()
            self._map = None
