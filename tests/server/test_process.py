"""server.process: nn-server's own tuning of the garbage collector and of glibc's malloc.

Each check runs in a fresh interpreter: the tuning is process-wide, and pytest's must stay as it is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from server.process import MMAP_THRESHOLD, TRIM_THRESHOLD, tune_malloc

ROOT = Path(__file__).resolve().parents[2]
# Page faults of 50 rounds of three 1 MiB buffers allocated, touched and freed, then tuning, then
# the same again: with glibc's defaults each round maps (or trims and refaults) its buffers anew.
_PROBE = """
import json, resource
from server.process import tune_process
def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        held = [bytearray(1 << 20) for _ in range(3)]
        del held
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
faults()
untuned = faults()
tuned = tune_process()
import gc
print(json.dumps({"tuned": tuned, "untuned": untuned, "after": faults(), "freeze": gc.get_freeze_count()}))
"""


def _probe(code: str = _PROBE, **env) -> dict:
    """Run `code` in a fresh interpreter whose environment holds no malloc settings but `env`;
    return the JSON it printed."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**clean, **env}, check=True,
                         capture_output=True, text=True, timeout=60).stdout
    return json.loads(out)


def test_tuning_freezes_startup_objects_and_stops_malloc_refaulting_large_buffers():
    figures = _probe()
    assert figures["tuned"]["malloc"] == {"mmap_threshold": MMAP_THRESHOLD, "trim_threshold": TRIM_THRESHOLD}
    assert figures["tuned"]["gc_frozen"] == figures["freeze"] > 10_000  # the imported modules' objects
    # 3 MiB a round is 768 pages: untuned, every round faults most of them in again
    assert figures["untuned"] > 50 * 256, figures
    assert figures["after"] < figures["untuned"] / 10, figures


def test_an_operators_malloc_settings_are_left_alone():
    figures = _probe(MALLOC_ARENA_MAX="2")
    assert figures["tuned"]["malloc"] == {}
    assert figures["after"] > figures["untuned"] / 2  # nothing changed
    assert tune_malloc({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"}) == {}


_RELEASE_PROBE = """
import json
from server.process import tune_process, release_free_memory
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
tune_process()
held = [bytearray(1 << 20) for _ in range(40)]  # 40 MiB from the heap, under the mmap threshold
pin = bytearray(2 << 20)  # above them on the heap: its top is not free, so free() trims nothing
del held
freed = rss()
small = release_free_memory(1 << 20)
after_small = rss()
ran = release_free_memory(40 << 20)
print(json.dumps({"freed": freed, "after_small": after_small, "released": rss(), "small": small, "ran": ran}))
"""


def test_release_after_a_large_transfer_gives_the_heaps_free_pages_back():
    figures = _probe(_RELEASE_PROBE)
    assert figures["small"] is False and figures["ran"] is True  # below TRIM_THRESHOLD it does nothing
    assert figures["freed"] - figures["after_small"] < 4 << 20
    assert figures["freed"] - figures["released"] > 30 << 20, figures  # most of the 40 MiB
