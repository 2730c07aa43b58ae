"""Every documented status code from a real server, with messages a person can act on."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc

BAD_ID = "../../etc/passwd"
UNKNOWN = "0123456789abcdef"
LONG_JOB = dict(hidden_size=512, epochs=50, eval_size=100)  # minutes of work: stays active


def call_error(fn, request, **kw) -> grpc.RpcError:
    """Call an RPC (unary or streaming) and return the error it must raise."""
    with pytest.raises(grpc.RpcError) as info:
        result = fn(request, timeout=30, **kw)
        if not isinstance(result, pb.TrainResponse | pb.JobStatus | pb.PredictResponse
                          | pb.ListJobsResponse | pb.ListModelsResponse | pb.ModelInfo):
            list(result)
    return info.value


def image(rows: int = 1, value: float = 0.5) -> pb.Tensor:
    return pb.Tensor(shape=[rows, 784], raw_data=np.full((rows, 784), value, "<f4").tobytes())


@pytest.mark.parametrize("rpc, request_, fragment", [
    ("Train", pb.TrainRequest(hidden_size=0), "hidden_size must be in [1, 512]"),
    ("Train", pb.TrainRequest(epochs=10_000), "epochs must be in [1, 50]"),
    ("Train", pb.TrainRequest(learning_rate=float("nan")), "learning_rate must be finite"),
    ("Train", pb.TrainRequest(activation="tanh"), "activation must be one of relu, sigmoid"),
    ("Train", pb.TrainRequest(optimizer="lbfgs"), "optimizer must be one of sgd, momentum, adagrad, adam"),
    ("Train", pb.TrainRequest(dataset="imagenet"), "unknown dataset 'imagenet'; the server knows: fashion-mnist, mnist"),
    ("Train", pb.TrainRequest(dataset="tiny", train_size=601), "train_size must be in [1, 600]"),
    ("Train", pb.TrainRequest(batch_size=0), "batch_size must be in [1, 60000]"),
    ("GetStatus", pb.GetStatusRequest(job_id=BAD_ID), "job_id must be 1 to 64 characters"),
    ("GetStatus", pb.GetStatusRequest(job_id=""), "job_id must be 1 to 64 characters"),
    ("CancelJob", pb.CancelJobRequest(job_id="a" * 65), "job_id must be 1 to 64 characters"),
    ("WatchJob", pb.WatchJobRequest(job_id="x\x00y"), "job_id must be 1 to 64 characters"),
    ("GetModel", pb.GetModelRequest(model_id=BAD_ID), "model_id must be 1 to 64 characters"),
    ("Predict", pb.PredictRequest(model_id=BAD_ID, input=image()), "model_id must be 1 to 64"),
    ("ListJobs", pb.ListJobsRequest(state=42), "state must be a JobState"),
    ("ListJobs", pb.ListJobsRequest(page_token="zzz"), "page_token is not one returned by ListJobs"),
    ("ListModels", pb.ListModelsRequest(page_token="nope"), "page_token is not one returned by ListModels"),
])
def test_bad_input_is_invalid_argument(stub, rpc, request_, fragment):
    err = call_error(getattr(stub, rpc), request_)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert fragment in err.details()


@pytest.mark.parametrize("input_, fragment", [
    (pb.Tensor(shape=[1, 10], raw_data=b"\0" * 40), "input shape must be [N, 784] or [N, 28, 28] for this model"),
    (pb.Tensor(shape=[2, 784], raw_data=b"\0" * 3136), "raw_data has 3136 bytes"),
    (image(1, float("nan")), "must be finite"),
    (image(1, float("inf")), "must be finite"),
    (pb.Tensor(shape=[0, 784]), "batch is empty"),
    (pb.Tensor(shape=[10001, 784], dtype=pb.DTYPE_UINT8, raw_data=bytes(10001 * 784)), "at most 10000 are allowed"),
])
def test_bad_predict_input_is_invalid_argument_naming_the_models_shapes(tiny_model, input_, fragment):
    with grpc.insecure_channel(tiny_model.server.target) as channel:
        err = call_error(pb_grpc.NNServiceStub(channel).Predict,
                         pb.PredictRequest(model_id=tiny_model.model_id, input=input_))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert fragment in err.details()


@pytest.mark.parametrize("rpc, request_", [
    ("GetStatus", pb.GetStatusRequest(job_id=UNKNOWN)),
    ("CancelJob", pb.CancelJobRequest(job_id=UNKNOWN)),
    ("WatchJob", pb.WatchJobRequest(job_id=UNKNOWN)),
    ("GetModel", pb.GetModelRequest(model_id=UNKNOWN)),
    ("Predict", pb.PredictRequest(model_id=UNKNOWN, input=image())),
])
def test_unknown_ids_are_not_found(stub, rpc, request_):
    err = call_error(getattr(stub, rpc), request_)
    assert err.code() == grpc.StatusCode.NOT_FOUND and UNKNOWN in err.details()


def test_cancelling_a_finished_job_is_failed_precondition(trained_model):
    with grpc.insecure_channel(trained_model.server.target) as channel:
        err = call_error(pb_grpc.NNServiceStub(channel).CancelJob, pb.CancelJobRequest(job_id=trained_model.model_id))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "already ended (SUCCEEDED)" in err.details()


def test_predicting_with_an_unfinished_job_is_failed_precondition_until_cancelled(stub):
    job_id = stub.Train(pb.TrainRequest(**LONG_JOB)).job_id
    err = call_error(stub.Predict, pb.PredictRequest(model_id=job_id, input=image()))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "has no model yet" in err.details()
    assert stub.CancelJob(pb.CancelJobRequest(job_id=job_id)).state in (
        pb.JOB_STATE_CANCELLING, pb.JOB_STATE_CANCELLED)
    final = list(stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=30))[-1]
    assert final.state == pb.JOB_STATE_CANCELLED
    err = call_error(stub.GetModel, pb.GetModelRequest(model_id=job_id))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "ended CANCELLED" in err.details()


def test_a_full_queue_is_resource_exhausted(make_server):
    server = make_server(max_concurrent_jobs=1, max_queued_jobs=1)
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        accepted = [stub.Train(pb.TrainRequest(**LONG_JOB)).job_id for _ in range(2)]
        err = call_error(stub.Train, pb.TrainRequest(**LONG_JOB))
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "queue is full" in err.details()
        stub.CancelJob(pb.CancelJobRequest(job_id=accepted[1]))  # a queued job ends at once...
        assert stub.Train(pb.TrainRequest(**LONG_JOB)).job_id  # ...and frees its slot


def test_an_oversize_message_is_resource_exhausted(stub):
    rows = 8 * 1024 * 1024 // (784 * 4) + 10  # just over the test server's 8 MiB limit
    err = call_error(stub.Predict, pb.PredictRequest(model_id=UNKNOWN, input=image(rows)))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_draining_server_is_unavailable(nn_server, stub):
    nn_server.server.begin_drain()
    for rpc, request_ in [("GetStatus", pb.GetStatusRequest(job_id=UNKNOWN)), ("Train", pb.TrainRequest()),
                          ("WatchJob", pb.WatchJobRequest(job_id=UNKNOWN))]:
        err = call_error(getattr(stub, rpc), request_)
        assert err.code() == grpc.StatusCode.UNAVAILABLE and "shutting down" in err.details()


def test_a_corrupted_model_is_data_loss_and_the_server_keeps_serving(make_server):
    first = make_server()
    with grpc.insecure_channel(first.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        job_id = stub.Train(pb.TrainRequest(hidden_size=8, epochs=1, train_size=500, eval_size=100)).job_id
        assert list(stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=60))[-1].state == pb.JOB_STATE_SUCCEEDED
    first.stop()
    weights = first.settings.state_dir / "models" / job_id / "weights.npz"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0x40
    weights.write_bytes(bytes(data))
    second = make_server(state_dir=first.settings.state_dir)
    with grpc.insecure_channel(second.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        err = call_error(stub.Predict, pb.PredictRequest(model_id=job_id, input=image()))
        assert err.code() == grpc.StatusCode.DATA_LOSS and "corrupt" in err.details()
        assert stub.GetModel(pb.GetModelRequest(model_id=job_id)).model_id == job_id
        assert stub.GetStatus(pb.GetStatusRequest(job_id=job_id)).state == pb.JOB_STATE_SUCCEEDED


def test_missing_mnist_fails_the_job_fast_saying_what_to_do(make_server, tmp_path):
    server = make_server(mnist_dir=tmp_path / "no-mnist-here")
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        job_id = stub.Train(pb.TrainRequest(hidden_size=8, epochs=1)).job_id
        final = list(stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=30))[-1]
        assert final.state == pb.JOB_STATE_FAILED
        assert "no-mnist-here" in final.error and "train-images-idx3-ubyte" in final.error
        health = stub.ListJobs(pb.ListJobsRequest(), timeout=5)  # the server is fine
        assert [j.job_id for j in health.jobs] == [job_id]
