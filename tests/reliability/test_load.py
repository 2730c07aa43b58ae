"""Load: many concurrent Predict clients while two jobs train (zero errors, p50/p99 reported),
and a burst of Train calls past the queue limit (RESOURCE_EXHAUSTED; every accepted job ends)."""

from __future__ import annotations

import concurrent.futures
import os
import threading
import time

import grpc
import numpy as np

from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc
from tests.conftest import wait_for_job
from tests.reliability.reliability_testutils import pixels, predict_request, record_figure, stub_for

# Bench-sized runs: NNSVC_LOAD_THREADS=32 NNSVC_LOAD_PREDICTS=2000 pytest tests/reliability/test_load.py
THREADS = int(os.environ.get("NNSVC_LOAD_THREADS", "16"))
PREDICTS = int(os.environ.get("NNSVC_LOAD_PREDICTS", "500"))
LONG = dict(hidden_size=128, epochs=50, eval_size=1000, seed=0)  # keeps training through the load
BURST_JOB = dict(hidden_size=64, epochs=3, train_size=30000, eval_size=1000, seed=0)  # ~1 s: outlasts the burst


def _client(target: str, model_id: str, start: threading.Barrier, seed: int) -> tuple[list[float], list[str]]:
    """One client: its own connection, PREDICTS single-image Predicts; (latencies, errors)."""
    latencies, errors = [], []
    requests = [predict_request(model_id, pixels(1, seed * 100_000 + i)) for i in range(PREDICTS)]
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        start.wait()
        for request in requests:
            began = time.perf_counter()
            try:
                reply = stub.Predict(request, timeout=30)
                assert len(reply.classes) == 1
            except (grpc.RpcError, AssertionError) as exc:
                errors.append(repr(exc))
            latencies.append(time.perf_counter() - began)
    return latencies, errors


def _until(condition, what: str, timeout: float = 120.0) -> None:
    """Poll `condition` every 50 ms until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for {what}"
        time.sleep(0.05)


def _iterations(stub, job_ids) -> list[int]:
    return [stub.GetStatus(pb.GetStatusRequest(job_id=j), timeout=10).iteration for j in job_ids]


def test_concurrent_predicts_while_two_jobs_train(server_with_model, request):
    server, model_id = server_with_model(max_concurrent_jobs=2)
    channel, stub = stub_for(server.target)
    with channel:
        jobs = [stub.Train(pb.TrainRequest(**LONG), timeout=30).job_id for _ in range(2)]
        _until(lambda: min(_iterations(stub, jobs)) > 0, "both jobs to start training")
        start = threading.Barrier(THREADS + 1)
        with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
            futures = [pool.submit(_client, server.target, model_id, start, i) for i in range(THREADS)]
            start.wait()
            began = time.perf_counter()
            results = [f.result() for f in futures]
            seconds = time.perf_counter() - began
        states = [stub.GetStatus(pb.GetStatusRequest(job_id=j), timeout=10).state for j in jobs]
        # Job threads are SCHED_IDLE and yield to Predicts: during the flood they may make no
        # step at all. What must hold is that both are alive and train again once it is over.
        after_flood = _iterations(stub, jobs)
        _until(lambda: all(now > then for now, then in zip(_iterations(stub, jobs), after_flood)),
               "both jobs to train again after the Predicts")
        for job_id in jobs:
            stub.CancelJob(pb.CancelJobRequest(job_id=job_id), timeout=10)
    latencies = np.array([t for lat, _ in results for t in lat]) * 1e3
    errors = [e for _, errs in results for e in errs]
    record_figure(request, "predicts", f"{len(latencies)} from {THREADS} threads in {seconds:.1f}s "
                  f"({len(latencies) / seconds:.0f}/s) while 2 jobs trained")
    record_figure(request, "predict latency ms p50/p99/max",
                  f"{np.percentile(latencies, 50):.2f} / {np.percentile(latencies, 99):.2f} / {latencies.max():.2f}")
    record_figure(request, "predict errors", len(errors))
    assert not errors, errors[:5]
    assert len(latencies) == THREADS * PREDICTS
    assert states == [pb.JOB_STATE_RUNNING] * 2  # the jobs lived through the whole load


def test_a_burst_past_the_queue_limit_is_refused_and_accepted_jobs_all_finish(make_server, request):
    server = make_server(max_concurrent_jobs=2, max_queued_jobs=3)
    capacity, burst = 5, 12
    channel, stub = stub_for(server.target)
    start = threading.Barrier(burst)

    def submit(seed: int):
        start.wait()
        try:
            return stub.Train(pb.TrainRequest(**{**BURST_JOB, "seed": seed}), timeout=30).job_id
        except grpc.RpcError as exc:
            return exc.code()

    with channel:
        with concurrent.futures.ThreadPoolExecutor(burst) as pool:
            outcomes = list(pool.map(submit, range(burst)))
        accepted = [o for o in outcomes if isinstance(o, str)]
        refused = [o for o in outcomes if not isinstance(o, str)]
        assert len(accepted) == capacity
        assert refused == [grpc.StatusCode.RESOURCE_EXHAUSTED] * (burst - capacity)
        finals = [wait_for_job(stub, job_id, timeout=120) for job_id in accepted]
        assert [f.state for f in finals] == [pb.JOB_STATE_SUCCEEDED] * capacity
        for final in finals:
            assert final.model_id == final.job_id
            assert stub.GetModel(pb.GetModelRequest(model_id=final.model_id), timeout=10).job_id == final.job_id
    record_figure(request, "burst", f"{burst} concurrent Trains: {len(accepted)} accepted, all SUCCEEDED; "
                  f"{len(refused)} RESOURCE_EXHAUSTED")
