"""Fuzzed requests against one real server: every answer is OK or a documented code, the server
stays SERVING, and the number of cases tried is reported."""

from __future__ import annotations

import collections
import logging
import os
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings

from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc
from tests.reliability.fuzz_strategies import requests
from tests.reliability.reliability_testutils import record_figure

log = logging.getLogger(__name__)

DOCUMENTED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
              grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.RESOURCE_EXHAUSTED}
# NNSVC_FUZZ_EXAMPLES=50000 for a longer hunt; the default keeps the CI run near 10 seconds.
MAX_EXAMPLES = int(os.environ.get("NNSVC_FUZZ_EXAMPLES", "4000"))


def _call(stub, rpc: str, request) -> tuple[grpc.StatusCode, object]:
    """Run one RPC (streams drained) and return its status code and last response."""
    try:
        result = getattr(stub, rpc)(request, timeout=10)
        if rpc == "WatchJob":
            result = list(result)[-1]
        return grpc.StatusCode.OK, result
    except grpc.RpcError as error:
        return error.code(), error.details()


def _assert_accepted_jobs_never_failed(stub) -> None:
    """Every fuzzed job the server accepted ends CANCELLED or SUCCEEDED: validation let through
    nothing the trainer then chokes on."""
    deadline = time.monotonic() + 60
    while True:
        jobs = stub.ListJobs(pb.ListJobsRequest(page_size=500), timeout=10).jobs
        if all(job.state in (pb.JOB_STATE_CANCELLED, pb.JOB_STATE_SUCCEEDED) for job in jobs):
            return
        failed = [(job.job_id, job.error) for job in jobs if job.state == pb.JOB_STATE_FAILED]
        assert not failed, f"accepted jobs failed: {failed}"
        stuck = [(job.job_id, pb.JobState.Name(job.state), job.epoch, job.iteration, job.total_iterations,
                  str(job.config).replace("\n", " ")) for job in jobs
                 if job.state not in (pb.JOB_STATE_CANCELLED, pb.JOB_STATE_SUCCEEDED)]
        assert time.monotonic() < deadline, f"accepted jobs did not end after CancelJob: {stuck}"
        time.sleep(0.1)


def test_fuzzed_requests_get_documented_codes_and_the_server_stays_up(fuzz_server, request):
    server, model_id = fuzz_server
    codes: collections.Counter = collections.Counter()
    started = time.monotonic()
    with grpc.insecure_channel(server.target) as channel:
        stub, health = pb_grpc.NNServiceStub(channel), health_pb2_grpc.HealthStub(channel)

        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=requests([model_id]))
        def run(case):
            rpc, message = case
            code, result = _call(stub, rpc, message)
            codes[(rpc, code.name)] += 1
            assert code in DOCUMENTED, f"{rpc}({message!r:.300}) -> {code.name}: {result}"
            if rpc == "Train" and code == grpc.StatusCode.OK:  # keep the worker free and the CPU cool
                stub.CancelJob(pb.CancelJobRequest(job_id=result.job_id), timeout=10)
            if sum(codes.values()) % 50 == 0:
                assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == \
                    health_pb2.HealthCheckResponse.SERVING

        run()
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == \
            health_pb2.HealthCheckResponse.SERVING
        _assert_accepted_jobs_never_failed(stub)
        assert len(stub.Predict(pb.PredictRequest(model_id=model_id, input=pb.Tensor(
            shape=[1, 784], dtype=pb.DTYPE_UINT8, raw_data=bytes(784))), timeout=10).classes) == 1
    total = sum(codes.values())
    by_code, by_rpc = collections.Counter(), collections.Counter()
    for (rpc, code), count in codes.items():
        by_code[code] += count
        by_rpc[rpc] += count
    record_figure(request, "fuzz cases tried", total)
    record_figure(request, "fuzz answers by code", dict(sorted(by_code.items())))
    record_figure(request, "fuzz cases by rpc", dict(sorted(by_rpc.items())))
    record_figure(request, "fuzz seconds", round(time.monotonic() - started, 1))
    log.info("fuzzed %d cases: %s", total, dict(sorted(codes.items())))
    assert total >= MAX_EXAMPLES // 2  # hypothesis may stop early only when it runs out of new cases
