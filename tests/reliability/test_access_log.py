"""Access logging: a line only for failed and slow calls (all at DEBUG), an exact per-(method,
code) call counter under concurrency, and --log-format json."""

from __future__ import annotations

import json
import logging
import threading

import grpc
import pytest

from client import NNClient, NNServiceError
from server.interceptors import CallCounter
from protos import nn_service_pb2 as pb
from tests.reliability.reliability_testutils import ServerProcess, pixels, predict_request, stub_for

PREDICT = "/nnservice.v1.NNService/Predict"
GET_STATUS = "/nnservice.v1.NNService/GetStatus"


def test_the_call_counter_is_exact_under_concurrency():
    counter = CallCounter()

    def hammer(i):
        for _ in range(2000):
            counter.add(f"m{i % 2}", "OK" if i % 3 else "NOT_FOUND")

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # threads 0..7: m0 = 0,2,4,6; NOT_FOUND = 0,3,6
    assert counter.snapshot() == {("m0", "NOT_FOUND"): 4000, ("m0", "OK"): 4000,
                                  ("m1", "NOT_FOUND"): 2000, ("m1", "OK"): 6000}


def test_a_real_server_counts_every_call_exactly(server_with_model):
    server, model_id = server_with_model()
    request = predict_request(model_id, pixels(1, seed=5))
    errors = []

    def client_thread():  # bare stubs: exactly the calls counted here, none of the SDK's own
        channel, stub = stub_for(server.target)
        with channel:
            for _ in range(40):
                stub.Predict(request, timeout=30)
            for _ in range(10):
                try:
                    stub.GetStatus(pb.GetStatusRequest(job_id="no-such-job"), timeout=30)
                except grpc.RpcError as exc:
                    errors.append(exc.code())

    threads = [threading.Thread(target=client_thread) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    counts = server.server.calls.snapshot()
    assert errors == [grpc.StatusCode.NOT_FOUND] * 80
    assert counts[PREDICT, "OK"] == 320 and counts[GET_STATUS, "NOT_FOUND"] == 80
    assert {key for key in counts if key[0].startswith("/nnservice.")} == {(PREDICT, "OK"), (GET_STATUS, "NOT_FOUND")}


def _rpc_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "server.rpc"]


def test_at_info_only_failed_and_slow_calls_are_logged(server_with_model, caplog):
    server, model_id = server_with_model()
    channel, stub = stub_for(server.target)
    with channel, caplog.at_level(logging.INFO, logger="server.rpc"):
        for _ in range(50):
            stub.Predict(predict_request(model_id, pixels(1)), timeout=30)
        assert not _rpc_lines(caplog)  # 50 answered Predicts, no line
        with pytest.raises(grpc.RpcError):
            stub.Predict(predict_request("no-such-model", pixels(1)), timeout=30)
    lines = _rpc_lines(caplog)
    assert [(r.levelname, r.method, r.code) for r in lines] == [("INFO", PREDICT, "NOT_FOUND")]
    assert lines[0].ms >= 0 and "(slow)" not in lines[0].getMessage()


def test_a_call_over_the_slow_threshold_is_logged(server_with_model, caplog):
    server, model_id = server_with_model(slow_call_ms=0.0)  # every call is "slow"
    channel, stub = stub_for(server.target)
    with channel, caplog.at_level(logging.INFO, logger="server.rpc"):
        for _ in range(3):
            stub.Predict(predict_request(model_id, pixels(1)), timeout=30)
    lines = _rpc_lines(caplog)
    assert len(lines) == 3 and all(r.code == "OK" and r.getMessage().endswith("ms (slow)") for r in lines)


def test_json_log_format_writes_one_object_per_line(tmp_path, mnist_dir):
    log = tmp_path / "server.log"
    server = ServerProcess(tmp_path / "state", mnist_dir, log, "--log-format", "json").wait_ready()
    with NNClient(server.target, timeout=30) as client:
        with pytest.raises(NNServiceError):
            client.status("no-such-job")
    assert server.stop() == 0
    records = [json.loads(line) for line in log.read_text().splitlines()]  # every line is JSON
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert all(r["time"].endswith("Z") for r in records)
    rpc = [r for r in records if r["logger"] == "server.rpc"]
    assert [(r["method"], r["code"], r["level"]) for r in rpc] == [(GET_STATUS, "NOT_FOUND", "INFO")]
    assert isinstance(rpc[0]["ms"], float) and rpc[0]["message"].startswith(f"rpc {GET_STATUS} NOT_FOUND")
    assert any("listening on port" in r["message"] for r in records)


def test_log_format_from_the_environment_and_a_bad_one(tmp_path, mnist_dir):
    log = tmp_path / "server.log"
    server = ServerProcess(tmp_path / "state", mnist_dir, log, env={"NNSVC_LOG_FORMAT": "JSON"}).wait_ready()
    assert server.stop() == 0
    assert all(json.loads(line)["level"] for line in log.read_text().splitlines())
    bad = ServerProcess(tmp_path / "state", mnist_dir, tmp_path / "bad.log", "--log-format", "xml")
    assert bad.proc.wait(60) == 2
    assert "log_format must be one of text, json, got 'xml'" in (tmp_path / "bad.log").read_text()


def test_the_json_formatter_keeps_extra_fields_and_exceptions_on_one_line():
    from server.logfmt import JsonFormatter

    record = logging.LogRecord("server.x", logging.ERROR, __file__, 1, "job %s failed", ("j1",), None)
    record.job_id = "j1"  # as logging's extra= sets it
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        import sys
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    out = json.loads(line)
    assert (out["level"], out["logger"], out["message"], out["job_id"]) == ("ERROR", "server.x", "job j1 failed", "j1")
    assert "ValueError: bad\nthing" in out["exception"]
    assert not {"args", "msg", "exc_info", "levelno"} & set(out)  # LogRecord's own attributes stay out
