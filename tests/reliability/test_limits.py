"""Every limit is configurable (Settings, NNSVC_* variable, flag) and holds at its edge:
exactly at the limit is accepted, one past it gets the documented status code."""

from __future__ import annotations

import time

import grpc
import pytest

from protos import nn_service_pb2 as pb
from server.__main__ import build_parser
from server.settings import ENV_PREFIX, Settings
from tests.reliability.reliability_testutils import pixels, predict_request, stub_for

LIMITS = [  # field, flag, a non-default value
    ("max_message_bytes", "--max-message-bytes", 123456),
    ("max_predict_rows", "--max-predict-rows", 77),
    ("max_hidden_size", "--max-hidden-size", 33),
    ("max_epochs", "--max-epochs", 9),
    ("max_queued_jobs", "--max-queued-jobs", 3),
    ("max_concurrent_jobs", "--max-concurrent-jobs", 5),
]
LONG_JOB = dict(hidden_size=256, epochs=50, eval_size=100)  # minutes of work: stays active
TINY_JOB = dict(train_size=100, eval_size=100, batch_size=50, seed=0)


@pytest.mark.parametrize("field, flag, value", LIMITS)
def test_each_limit_is_set_by_its_variable_and_its_flag(field, flag, value):
    assert getattr(Settings(), field) != value
    assert getattr(Settings.from_env({ENV_PREFIX + field.upper(): str(value)}), field) == value
    assert getattr(build_parser(Settings()).parse_args([flag, str(value)]), field) == value


@pytest.mark.parametrize("field", [name for name, _, _ in LIMITS])
def test_a_limit_below_its_range_is_refused_with_the_range(field):
    with pytest.raises(ValueError, match=rf"{field} must be an integer in \["):
        Settings(**{field: 0})


def test_message_size_limit_is_inclusive(server_with_model):
    request = predict_request("0" * 16, pixels(3))
    size = request.ByteSize()
    for limit, expected in ((size, grpc.StatusCode.NOT_FOUND), (size - 1, grpc.StatusCode.RESOURCE_EXHAUSTED)):
        server, model_id = server_with_model(max_message_bytes=limit)
        request.model_id = model_id  # same length as the placeholder: same size
        assert request.ByteSize() == size
        channel, stub = stub_for(server.target)
        with channel:
            if limit == size:
                assert len(stub.Predict(request, timeout=30).classes) == 3
            else:
                with pytest.raises(grpc.RpcError) as info:
                    stub.Predict(request, timeout=30)
                assert info.value.code() == expected
        server.stop()


def test_predict_rows_limit(server_with_model):
    server, model_id = server_with_model(max_predict_rows=8)
    channel, stub = stub_for(server.target)
    with channel:
        assert len(stub.Predict(predict_request(model_id, pixels(8)), timeout=30).classes) == 8
        square = pixels(8).reshape(8, 28, 28)
        assert len(stub.Predict(predict_request(model_id, square), timeout=30).classes) == 8
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(predict_request(model_id, pixels(9)), timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "input has 9 rows; at most 8 are allowed" in info.value.details()


@pytest.mark.parametrize("field, limit, base", [("hidden_size", 16, dict(epochs=1)),
                                                ("epochs", 2, dict(hidden_size=8))])
def test_training_limits(make_server, field, limit, base):
    server = make_server(**{"max_" + field: limit})
    channel, stub = stub_for(server.target)
    with channel:
        accepted = stub.Train(pb.TrainRequest(**TINY_JOB, **base, **{field: limit}), timeout=30)
        assert getattr(accepted.status.config, field) == limit
        with pytest.raises(grpc.RpcError) as info:
            stub.Train(pb.TrainRequest(**TINY_JOB, **base, **{field: limit + 1}), timeout=30)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f"{field} must be in [1, {limit}]; got {limit + 1}" in info.value.details()
        final = list(stub.WatchJob(pb.WatchJobRequest(job_id=accepted.job_id), timeout=60))[-1]
        assert final.state == pb.JOB_STATE_SUCCEEDED


def _states(stub, job_ids) -> list[int]:
    return [stub.GetStatus(pb.GetStatusRequest(job_id=j), timeout=10).state for j in job_ids]


def _cancel_all(stub, job_ids) -> None:
    for job_id in job_ids:
        stub.CancelJob(pb.CancelJobRequest(job_id=job_id), timeout=10)
    for job_id in job_ids:
        final = list(stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=30))[-1]
        assert final.state == pb.JOB_STATE_CANCELLED


def test_queue_limit_counts_running_plus_queued(make_server):
    server = make_server(max_concurrent_jobs=1, max_queued_jobs=2)
    channel, stub = stub_for(server.target)
    with channel:
        accepted = [stub.Train(pb.TrainRequest(**LONG_JOB), timeout=30).job_id for _ in range(3)]
        with pytest.raises(grpc.RpcError) as info:
            stub.Train(pb.TrainRequest(**LONG_JOB), timeout=30)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "max_concurrent_jobs + max_queued_jobs = 3" in info.value.details()
        _cancel_all(stub, accepted)
        assert stub.Train(pb.TrainRequest(**TINY_JOB, hidden_size=8, epochs=1), timeout=30).job_id


def test_concurrency_limit_runs_exactly_that_many(make_server):
    server = make_server(max_concurrent_jobs=2, max_queued_jobs=4)
    channel, stub = stub_for(server.target)
    with channel:
        jobs = [stub.Train(pb.TrainRequest(**LONG_JOB), timeout=30).job_id for _ in range(3)]
        deadline = time.monotonic() + 30
        while _states(stub, jobs).count(pb.JOB_STATE_RUNNING) < 2:
            assert time.monotonic() < deadline, "two jobs never ran at once"
            time.sleep(0.05)
        for _ in range(10):  # a second of watching: never a third runner
            states = _states(stub, jobs)
            assert states.count(pb.JOB_STATE_RUNNING) == 2 and states[2] == pb.JOB_STATE_QUEUED
            time.sleep(0.1)
        _cancel_all(stub, jobs[:1])
        deadline = time.monotonic() + 30
        while _states(stub, jobs[2:]) != [pb.JOB_STATE_RUNNING]:
            assert time.monotonic() < deadline, "the queued job did not take the free worker"
            time.sleep(0.05)
        _cancel_all(stub, jobs[1:])
