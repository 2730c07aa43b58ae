"""Races the fuzzer found: a cancel and a job's end writing the same record at the same time."""

from __future__ import annotations

import threading
import time

import grpc
import pytest

from protos import nn_service_pb2 as pb
from server.runner import JobRunner
from server.store import JobStore
from tests.conftest import wait_for_job
from tests.reliability.reliability_testutils import stub_for

LONG = dict(hidden_size=256, epochs=50, eval_size=100, seed=0)


class HeldWrites:
    """Every write of a CANCELLING record waits until the job's own end has begun (its final
    record copied), as if the cancelling thread lost the CPU right before writing: the race the
    fuzzer found, forced every time instead of hoped for with a sleep."""

    def __init__(self) -> None:
        self.finishing, self.written = threading.Event(), threading.Event()

    def __repr__(self) -> str:
        return f"HeldWrites(finishing={self.finishing.is_set()}, written={self.written.is_set()})"

    def reset(self) -> None:
        """Clear both events for the next round."""
        self.finishing.clear()
        self.written.clear()


@pytest.fixture
def held_cancelling_writes(monkeypatch) -> HeldWrites:
    held = HeldWrites()
    real_update, real_finish = JobStore.update, JobRunner.finish

    def update(self, job):
        if job.state != "CANCELLING":
            return real_update(self, job)
        assert held.finishing.wait(30), "the cancelled job never reached its end"
        real_update(self, job)
        held.written.set()

    def finish(self, job, state, **fields):
        held.finishing.set()
        real_finish(self, job, state, **fields)

    monkeypatch.setattr(JobStore, "update", update)
    monkeypatch.setattr(JobRunner, "finish", finish)
    return held


def test_a_late_cancelling_write_never_overwrites_the_end(make_server, held_cancelling_writes):
    """Found by fuzzing (1 job in ~200): CancelJob wrote CANCELLING after the job had stopped and
    recorded CANCELLED, so the job stayed CANCELLING on disk, took a queue slot, and never ended."""
    server = make_server(max_concurrent_jobs=1, max_queued_jobs=1)
    channel, stub = stub_for(server.target)
    with channel:
        for _ in range(3):
            held_cancelling_writes.reset()
            job_id = stub.Train(pb.TrainRequest(**LONG), timeout=30).job_id
            deadline = time.monotonic() + 60
            while stub.GetStatus(pb.GetStatusRequest(job_id=job_id), timeout=10).iteration == 0:
                assert time.monotonic() < deadline, "the job did not start training"
                time.sleep(0.02)
            stub.CancelJob(pb.CancelJobRequest(job_id=job_id), timeout=30)
            assert wait_for_job(stub, job_id, timeout=30).state == pb.JOB_STATE_CANCELLED
            assert held_cancelling_writes.written.wait(30)  # the late write has happened
            assert stub.GetStatus(pb.GetStatusRequest(job_id=job_id), timeout=10).state == pb.JOB_STATE_CANCELLED
        jobs = stub.ListJobs(pb.ListJobsRequest(), timeout=10).jobs
        assert {j.state for j in jobs} == {pb.JOB_STATE_CANCELLED} and len(jobs) == 3
        assert stub.Train(pb.TrainRequest(**LONG), timeout=30).job_id  # every slot is free again
