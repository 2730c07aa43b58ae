"""GET /metrics against a real server: Predict by model, protocol and code (NOT_FOUND without a new
model label), rows, latency, jobs by state, training steps and epochs, gRPC calls, process metrics,
OpenMetrics, tokens, and --no-metrics."""

from __future__ import annotations

from typing import NamedTuple

import grpc
import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from protos import grpc_predict_v2_pb2 as kpb
from protos import grpc_predict_v2_pb2_grpc as kpb_grpc
from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc
from server import Settings
from server.__main__ import build_parser
from server.dataplane import server_version
from server.metrics import UNKNOWN_MODEL
from server.tensors import encode_array
from tests.conftest import TEST_SETTINGS, RunningServer, start_server, wait_for_job

Input = kpb.ModelInferRequest.InferInputTensor
REQUESTS = "nnservice_predict_requests_total"


class Served(NamedTuple):
    """A server with metrics and HTTP on, its stubs, and the finished status of one tiny job."""

    running: RunningServer
    stub: pb_grpc.NNServiceStub
    kserve: kpb_grpc.GRPCInferenceServiceStub
    job: pb.JobStatus

    def scrape(self) -> dict[tuple, float]:
        """{(sample name, sorted labels): value} of one /metrics answer."""
        return scrape(self.running)


def scrape(running: RunningServer, **kw) -> dict[tuple, float]:
    """Every sample of one scrape, keyed by (name, sorted label pairs)."""
    answer = httpx.get(f"http://127.0.0.1:{running.server.http_port}/metrics", timeout=10, **kw)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def value(samples: dict, name: str, **labels) -> float:
    """One sample's value, 0 if absent (a counter not yet incremented)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def served(mnist_cache, tmp_path_factory):
    settings = Settings(**{**TEST_SETTINGS, "state_dir": tmp_path_factory.mktemp("metrics"),
                           "http": True, "http_port": 0})
    running = start_server(settings, mnist_cache)
    try:
        with grpc.insecure_channel(running.target) as channel:
            stub = pb_grpc.NNServiceStub(channel)
            job_id = stub.Train(pb.TrainRequest(dataset="tiny", hidden_size=16, epochs=2, seed=1)).job_id
            job = wait_for_job(stub, job_id)
            assert job.state == pb.JOB_STATE_SUCCEEDED, job
            yield Served(running, stub, kpb_grpc.GRPCInferenceServiceStub(channel), job)
    finally:
        running.stop(0)


def images(rows: int) -> np.ndarray:
    return np.random.default_rng(rows).integers(0, 256, (rows, 28, 28), dtype=np.uint8)


def infer(kserve, model: str, rows: int = 1):
    x = images(rows)
    return kserve.ModelInfer(kpb.ModelInferRequest(
        model_name=model, inputs=[Input(name="input", datatype="UINT8", shape=x.shape)],
        raw_input_contents=[x.tobytes()]), timeout=10)


def refused(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code()


def test_predicts_are_counted_by_model_protocol_and_code(served):
    model, before = served.job.model_id, served.scrape()
    for rows in (1, 1, 3):
        served.stub.Predict(pb.PredictRequest(model_id=model, input=encode_array(images(rows))), timeout=10)
    infer(served.kserve, model)
    infer(served.kserve, model, rows=2)
    assert refused(lambda: served.stub.Predict(pb.PredictRequest(
        model_id="nosuchmodel", input=encode_array(images(1))), timeout=10)) == grpc.StatusCode.NOT_FOUND
    assert refused(lambda: infer(served.kserve, "another-missing-model")) == grpc.StatusCode.NOT_FOUND
    assert refused(lambda: served.stub.Predict(pb.PredictRequest(
        model_id=model, input=encode_array(np.zeros((1, 5), np.uint8))), timeout=10)) == grpc.StatusCode.INVALID_ARGUMENT
    after = served.scrape()

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(REQUESTS, model=model, protocol="nnservice", code="OK") == 3
    assert delta(REQUESTS, model=model, protocol="kserve-grpc", code="OK") == 2
    assert delta(REQUESTS, model=model, protocol="nnservice", code="INVALID_ARGUMENT") == 1  # a real model
    assert delta(REQUESTS, model=UNKNOWN_MODEL, protocol="nnservice", code="NOT_FOUND") == 1
    assert delta(REQUESTS, model=UNKNOWN_MODEL, protocol="kserve-grpc", code="NOT_FOUND") == 1
    models = {dict(labels).get("model") for _, labels in after}
    assert "nosuchmodel" not in models and "another-missing-model" not in models
    assert delta("nnservice_predict_rows_total", model=model, protocol="nnservice") == 5
    assert delta("nnservice_predict_rows_total", model=model, protocol="kserve-grpc") == 3
    latency = "nnservice_predict_duration_seconds"
    assert delta(f"{latency}_count", model=model, protocol="nnservice") == 4  # the error is timed too
    assert delta(f"{latency}_count", model=model, protocol="kserve-grpc") == 2
    assert value(after, f"{latency}_sum", model=model, protocol="nnservice") > 0
    buckets = sorted((float(dict(labels)["le"]), v) for (name, labels), v in after.items()
                     if name == f"{latency}_bucket" and ("model", model) in labels
                     and ("protocol", "nnservice") in labels)
    assert buckets[0][0] <= 0.0001 and buckets[-1] == (float("inf"), value(after, f"{latency}_count",
                                                                            model=model, protocol="nnservice"))
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:]))  # cumulative


def test_jobs_by_state_training_steps_and_epoch_durations_follow_the_job(served):
    samples = served.scrape()
    assert value(samples, "nnservice_jobs", state="SUCCEEDED") == 1
    assert all(value(samples, "nnservice_jobs", state=s) == 0 for s in ("QUEUED", "RUNNING", "FAILED"))
    job = served.job
    assert job.iteration == job.total_iterations > 0
    assert value(samples, "nnservice_training_steps_total") == job.iteration
    assert value(samples, "nnservice_training_epoch_duration_seconds_count") == job.epoch == 2
    assert value(samples, "nnservice_training_epoch_duration_seconds_sum") == pytest.approx(
        sum(epoch.seconds for epoch in job.history))


def test_grpc_calls_are_counted_by_method_code_and_type(served):
    def handled(samples, service, method, code, kind):
        return value(samples, "grpc_server_handled_total", grpc_service=service, grpc_method=method,
                     grpc_code=code, grpc_type=kind)

    before = served.scrape()
    served.stub.GetStatus(pb.GetStatusRequest(job_id=served.job.job_id), timeout=10)
    served.stub.GetStatus(pb.GetStatusRequest(job_id=served.job.job_id), timeout=10)
    assert refused(lambda: served.stub.GetStatus(pb.GetStatusRequest(job_id="nosuchjob"), timeout=10)) \
        == grpc.StatusCode.NOT_FOUND
    after = served.scrape()
    service = "nnservice.v1.NNService"
    assert handled(after, service, "GetStatus", "OK", "unary") - handled(before, service, "GetStatus", "OK", "unary") == 2
    assert handled(after, service, "GetStatus", "NOT_FOUND", "unary") \
        - handled(before, service, "GetStatus", "NOT_FOUND", "unary") == 1
    assert handled(after, service, "Train", "OK", "unary") == 1
    assert handled(after, service, "WatchJob", "OK", "server_stream") >= 1  # the fixture's wait


def test_process_platform_gc_and_build_info_are_exported(served):
    samples = served.scrape()
    names = {name for name, _ in samples}
    assert value(samples, "process_resident_memory_bytes") > 0
    assert value(samples, "process_cpu_seconds_total") > 0
    assert {"python_info", "python_gc_collections_total", "process_open_fds"} <= names
    assert value(samples, "nnservice_build_info", version=server_version()) == 1


def test_openmetrics_when_the_scraper_asks_for_it(served):
    answer = httpx.get(f"http://127.0.0.1:{served.running.server.http_port}/metrics", timeout=10,
                       headers={"Accept": "application/openmetrics-text; version=1.0.0,text/plain;q=0.5"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert answer.text.endswith("# EOF\n") and "nnservice_jobs{state=\"SUCCEEDED\"} 1.0" in answer.text


def test_tokens_guard_metrics(make_server):
    running = make_server(http=True, http_port=0, auth_tokens=("s3cret",))
    url = f"http://127.0.0.1:{running.server.http_port}/metrics"
    refused_scrape = httpx.get(url, timeout=10)
    assert refused_scrape.status_code == 401 and refused_scrape.json()["code"] == "UNAUTHENTICATED"
    samples = scrape(running, headers={"Authorization": "Bearer s3cret"})
    assert value(samples, "nnservice_jobs", state="QUEUED") == 0


def test_no_metrics_records_nothing_and_metrics_answers_404(make_server):
    running = make_server(http=True, http_port=0, metrics=False)
    assert running.server.plane.metrics is None
    with grpc.insecure_channel(running.target) as channel:  # Predict still works (here: NOT_FOUND)
        stub = pb_grpc.NNServiceStub(channel)
        assert refused(lambda: stub.Predict(pb.PredictRequest(model_id="m", input=encode_array(images(1))),
                                            timeout=10)) == grpc.StatusCode.NOT_FOUND
    answer = httpx.get(f"http://127.0.0.1:{running.server.http_port}/metrics", timeout=10)
    assert answer.status_code == 404
    assert answer.json()["code"] == "NOT_FOUND" and "metrics are off" in answer.json()["error"]


def test_metrics_setting_flag_and_environment():
    assert Settings().metrics is True
    parser = build_parser(Settings())
    assert parser.parse_args(["--no-metrics"]).metrics is False
    assert parser.parse_args([]).metrics is True
    assert "--no-metrics" in parser.format_help() and "/metrics" in parser.format_help()
    assert Settings.from_env({"NNSVC_METRICS": "off"}).metrics is False
