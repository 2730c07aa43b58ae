"""Process-wide tuning nn-server applies to itself once it is built: the garbage collector and glibc's malloc.

Both are policies of the whole process, so `python -m server` applies them and the in-process
servers of the tests (and any embedding program) do not. Measured on the 2-core test machine
(docs/performance.md, "Uploads (session 7)"), 100 MB uploads, server CPU per upload:

- **gc.freeze().** The objects alive once the server is built (modules, settings, registries:
  a few hundred thousand) are never garbage, yet every full collection walked them all: one
  took 77 ms, a pause for every RPC in flight. Frozen, a full collection walks only what was
  allocated since. 0.248 -> 0.225 CPU-s.
- **Fixed malloc thresholds.** glibc serves allocations above M_MMAP_THRESHOLD (128 KiB at start,
  then moved by what was freed) with mmap, and gives the heap's free top back to the OS above
  M_TRIM_THRESHOLD; gRPC's 1 MiB messages were mapped, page-faulted and unmapped or trimmed one
  by one (about 9 % of the server's CPU in page faults). Allocations up to 4 MiB now come from
  the heap, and up to 8 MiB of free heap top is kept. 0.207 -> 0.173 CPU-s, for about 10 MB
  more resident between uploads. (glibc's own moving threshold may reach 32 MiB.) Setting only the trim threshold is worse than neither (0.284): any mallopt turns
  off glibc's moving mmap threshold, leaving it at 128 KiB.

The malloc part is skipped when the operator tunes malloc already (any MALLOC_* variable or
GLIBC_TUNABLES) and on C libraries without mallopt.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os

#: mallopt parameter numbers (glibc's malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: Allocations up to this size come from the heap (gRPC messages, upload chunks, Predict batches).
MMAP_THRESHOLD = 4 << 20
#: Free memory at the top of a heap kept for the next allocations, at most.
TRIM_THRESHOLD = 8 << 20


def tune_process() -> dict:
    """Freeze the objects alive now out of the GC, fix malloc's thresholds; return what was done."""
    gc.collect()  # what is garbage now is freed, not frozen
    gc.freeze()
    return {"gc_frozen": gc.get_freeze_count(), "malloc": tune_malloc()}


def tune_malloc(environ=os.environ) -> dict[str, int]:
    """Set M_MMAP_THRESHOLD and M_TRIM_THRESHOLD with glibc's mallopt; {} if left alone."""
    if "GLIBC_TUNABLES" in environ or any(k.startswith("MALLOC_") for k in environ):
        return {}  # the operator's choice
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:
        return {}
    done = {}
    # The mmap threshold first: a later failure must not leave it at 128 KiB (see the docstring).
    for name, param, value in (("mmap_threshold", M_MMAP_THRESHOLD, MMAP_THRESHOLD),
                               ("trim_threshold", M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
        if mallopt(ctypes.c_int(param), ctypes.c_int(value)) != 1:  # 1 is success
            break
        done[name] = value
    return done


def _libc() -> ctypes.CDLL | None:
    """The process's C library, or None where ctypes cannot find one."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None
