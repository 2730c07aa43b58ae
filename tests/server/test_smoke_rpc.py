"""The smallest end-to-end check: a real server answers, trains and predicts."""

from __future__ import annotations

import grpc

from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc


def test_unknown_job_is_not_found(stub):
    try:
        stub.GetStatus(pb.GetStatusRequest(job_id="0123456789abcdef"))
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.NOT_FOUND
        assert "0123456789abcdef" in err.details()
    else:
        raise AssertionError("expected NOT_FOUND")


def test_trained_model_predicts(trained_model):
    with grpc.insecure_channel(trained_model.server.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        info = stub.GetModel(pb.GetModelRequest(model_id=trained_model.model_id))
    assert info.architecture.hidden_size == 32
    assert info.final_metrics.test_accuracy > 0.5
