"""Process-wide tuning nn-server applies to itself once it is built: the garbage collector and glibc's malloc.

Both are policies of the whole process, so `python -m server` applies them and the in-process
servers of the tests (and any embedding program) do not. Measured on the 2-core test machine
(docs/performance.md, "Uploads (session 7)"), 100 MB uploads, server CPU per upload:

- **gc.freeze().** The objects alive once the server is built (modules, settings, registries:
  75,000-105,000 of them) are never garbage, yet every full collection walked them all: one
  took 77 ms, a pause for every RPC in flight. Frozen, a full collection walks only what was
  allocated since. 0.248 -> 0.225 CPU-s.
- **Fixed malloc thresholds.** glibc serves allocations above M_MMAP_THRESHOLD (128 KiB at start,
  then moved by what was freed) with mmap, and gives the heap's free top back to the OS above
  M_TRIM_THRESHOLD; gRPC's 1 MiB messages were mapped, page-faulted and unmapped or trimmed one
  by one (about 9 % of the server's CPU in page faults). Allocations up to 4 MiB now come from
  the heap, and up to 8 MiB of free heap top is kept. 0.207 -> 0.173 CPU-s. (glibc's own
  moving threshold may reach 32 MiB.) Setting only the trim threshold is worse than neither
  (0.284): any mallopt turns off glibc's moving mmap threshold, leaving it at 128 KiB.

The price of the heap keeping freed chunks is memory held between uploads (about 10 MB more
resident, measured): receive_file calls release_free_memory at the end of every transfer of
8 MiB or more, which hands the free pages of every arena back (glibc's malloc_trim, about 2 ms),
so the resident memory between uploads is what it was without the thresholds (138-169 MB against
138-169; 138-180 without the release; the same CPU per upload). It runs wherever receive_file
does, tuned or not: handing free pages back is harmless anywhere.

The malloc part is skipped when the operator tunes malloc already (any MALLOC_* variable or
GLIBC_TUNABLES) and on C libraries without mallopt.
"""

from __future__ import annotations

import ctypes
import functools
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


def release_free_memory(moved: int) -> bool:
    """After a transfer of `moved` bytes, give the heap's free pages back to the OS (glibc's
    malloc_trim) if it was large enough to leave some; whether it ran."""
    if moved < TRIM_THRESHOLD:
        return False
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is None:
        return False
    trim(ctypes.c_size_t(0))
    return True


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library's symbols as the process has them (None where ctypes cannot load them)."""
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None
