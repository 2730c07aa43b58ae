"""Races the fuzzer found: a cancel and a job's end writing the same record at the same time."""

from __future__ import annotations

import time

import grpc
import pytest

from protos import nn_service_pb2 as pb
from server.store import JobStore
from tests.conftest import wait_for_job
from tests.reliability.reliability_testutils import stub_for

LONG = dict(hidden_size=256, epochs=50, eval_size=100, seed=0)


@pytest.fixture
def slow_cancelling_writes(monkeypatch):
    """Delay every write of a CANCELLING record, as if its thread lost the CPU right before it."""
    real_update = JobStore.update

    def update(self, job):
        if job.state == "CANCELLING":
            time.sleep(0.3)
        real_update(self, job)

    monkeypatch.setattr(JobStore, "update", update)


def test_a_late_cancelling_write_never_overwrites_the_end(make_server, slow_cancelling_writes):
    """Found by fuzzing (1 job in ~200): CancelJob wrote CANCELLING after the job had stopped and
    recorded CANCELLED, so the job stayed CANCELLING on disk, took a queue slot, and never ended."""
    server = make_server(max_concurrent_jobs=1, max_queued_jobs=1)
    channel, stub = stub_for(server.target)
    with channel:
        for _ in range(3):
            job_id = stub.Train(pb.TrainRequest(**LONG), timeout=30).job_id
            while stub.GetStatus(pb.GetStatusRequest(job_id=job_id), timeout=10).iteration == 0:
                time.sleep(0.02)
            stub.CancelJob(pb.CancelJobRequest(job_id=job_id), timeout=10)
            assert wait_for_job(stub, job_id, timeout=30).state == pb.JOB_STATE_CANCELLED
            time.sleep(0.5)  # past the delayed write
            assert stub.GetStatus(pb.GetStatusRequest(job_id=job_id), timeout=10).state == pb.JOB_STATE_CANCELLED
        jobs = stub.ListJobs(pb.ListJobsRequest(), timeout=10).jobs
        assert {j.state for j in jobs} == {pb.JOB_STATE_CANCELLED} and len(jobs) == 3
        assert stub.Train(pb.TrainRequest(**LONG), timeout=30).job_id  # every slot is free again
