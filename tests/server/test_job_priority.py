"""Job threads run at a lower CPU priority than RPC threads, so training yields the CPU to Predict."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from server.jobs import JOB_NICENESS, _yield_to_rpcs


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux-only")
def test_a_job_thread_becomes_nicer_and_the_caller_does_not():
    seen = {}

    def job_thread():
        tid = threading.get_native_id()
        before = os.getpriority(os.PRIO_PROCESS, tid)
        _yield_to_rpcs()
        seen["before"], seen["after"] = before, os.getpriority(os.PRIO_PROCESS, tid)

    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread = threading.Thread(target=job_thread)
    thread.start()
    thread.join()
    assert seen["after"] == min(19, seen["before"] + JOB_NICENESS)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine  # RPC threads keep theirs
