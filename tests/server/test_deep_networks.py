"""Deep networks against a real server: train, predict, GetModel, restart + resume, refusals."""

from __future__ import annotations

import re

import grpc
import numpy as np
import pytest

from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc

DEEP = dict(hidden_sizes=[32, 16], batch_norm=True, dropout=0.1, weight_decay=1e-4)
PIXELS = pb.Tensor(shape=[2, 784], dtype=pb.DTYPE_UINT8, raw_data=bytes(range(256)) * 6 + bytes(32))


def final_status(stub, job_id: str) -> pb.JobStatus:
    return list(stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=120))[-1]


def test_a_deep_job_with_batch_norm_and_dropout_trains_predicts_and_reports_its_layers(make_server):
    server = make_server()
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        job = stub.Train(pb.TrainRequest(**DEEP, epochs=2, train_size=5000, eval_size=1000, seed=3,
                                         learning_rate=0.01)).job_id
        final = final_status(stub, job)
        assert final.state == pb.JOB_STATE_SUCCEEDED, final.error
        assert final.history[-1].test_accuracy > 0.8
        config = final.config
        assert list(config.hidden_sizes) == [32, 16] and config.hidden_size == 32
        assert config.batch_norm and config.dropout == pytest.approx(0.1)
        assert config.weight_decay == pytest.approx(1e-4)

        arch = stub.GetModel(pb.GetModelRequest(model_id=job)).architecture
        assert list(arch.hidden_sizes) == [32, 16] and arch.batch_norm and arch.dropout == pytest.approx(0.1)
        assert arch.parameter_count == 784 * 32 + 32 + 32 * 16 + 16 + 16 * 10 + 10 + 2 * (32 + 16)
        assert (arch.input_size, arch.hidden_size, arch.output_size) == (784, 32, 10)

        answer = stub.Predict(pb.PredictRequest(model_id=job, input=PIXELS))
        probs = np.frombuffer(answer.probabilities.raw_data, "<f4").reshape(2, 10)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
        assert list(answer.classes) == list(probs.argmax(axis=1))
        one = stub.Predict(pb.PredictRequest(model_id=job, input=pb.Tensor(
            shape=[1, 784], dtype=pb.DTYPE_UINT8, raw_data=PIXELS.raw_data[:784])))
        np.testing.assert_allclose(np.frombuffer(one.probabilities.raw_data, "<f4"), probs[0], rtol=1e-5)


def test_a_batch_norm_job_resumes_from_its_checkpoint_after_a_restart(make_server):
    first = make_server(shutdown_grace=5.0)
    slow = dict(hidden_sizes=[256, 128], batch_norm=True, dropout=0.2, epochs=4, train_size=30000,
                eval_size=500, seed=7)
    with grpc.insecure_channel(first.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        job = stub.Train(pb.TrainRequest(**slow)).job_id
        stream = stub.WatchJob(pb.WatchJobRequest(job_id=job), timeout=120)
        before = next(s for s in stream if s.epoch >= 1)
        stream.cancel()
    first.stop(grace=5.0)

    second = make_server(state_dir=first.settings.state_dir)
    with grpc.insecure_channel(second.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        final = final_status(stub, job)
        assert final.state == pb.JOB_STATE_SUCCEEDED, final.error
        assert [h.epoch for h in final.history] == [1, 2, 3, 4]
        assert final.history[0].seconds == before.history[0].seconds  # restored, not trained again
        arch = stub.GetModel(pb.GetModelRequest(model_id=job)).architecture
        assert list(arch.hidden_sizes) == [256, 128] and arch.batch_norm
        assert stub.Predict(pb.PredictRequest(model_id=job, input=PIXELS)).classes


BAD = [
    (dict(hidden_size=64, hidden_sizes=[64, 32]), "hidden_size .* or hidden_sizes .*, not both"),
    (dict(hidden_sizes=[64, 0]), r"hidden_sizes\[1\] must be in \[1, 4096\]"),
    (dict(hidden_sizes=[64, 5000]), r"hidden_sizes\[1\] must be in \[1, 4096\]"),
    (dict(dropout=1.0), r"dropout must be a number in \[0, 1\)"),
    (dict(dropout=float("nan")), "dropout must be a finite number"),
    (dict(weight_decay=-0.1), r"weight_decay must be a number in \[0, 10.0\]"),
    (dict(hidden_sizes=[4096, 4096]), "has 20,.* parameters; this server allows at most 20,000,000"),
]


def test_bad_combinations_are_invalid_argument(make_server):
    server = make_server(max_hidden_size=4096)
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        for fields, fragment in BAD:
            with pytest.raises(grpc.RpcError) as info:
                stub.Train(pb.TrainRequest(**fields))
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, fields
            assert re.search(fragment, info.value.details()), info.value.details()


def test_max_parameters_is_a_setting(make_server):
    server = make_server(max_parameters=10_000)
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Train(pb.TrainRequest(hidden_size=20))  # 784*20 + 20 + 20*10 + 10 = 15,910
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "15,910 parameters" in info.value.details() and "10,000" in info.value.details()
        assert stub.Train(pb.TrainRequest(hidden_size=10, epochs=1, train_size=100)).job_id
