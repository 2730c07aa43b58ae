"""Health Check/Watch (NOT_SERVING on drain), reflection listing, and the per-RPC log line."""

from __future__ import annotations

import logging
import queue
import threading

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from protos import nn_service_pb2 as pb

SERVICE = "nnservice.v1.NNService"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
def channel(nn_server):
    with grpc.insecure_channel(nn_server.target) as ch:
        yield ch


@pytest.mark.parametrize("service", ["", SERVICE])
def test_check_reports_serving(channel, service):
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status == SERVING


def test_check_of_an_unknown_service_is_not_found(channel):
    with pytest.raises(grpc.RpcError) as info:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="nope"), timeout=5)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_watch_sees_not_serving_when_the_server_drains(nn_server, channel):
    health = health_pb2_grpc.HealthStub(channel)
    stream = health.Watch(health_pb2.HealthCheckRequest(service=SERVICE), timeout=10)
    updates: queue.Queue = queue.Queue()

    def read() -> None:
        try:
            for update in stream:
                updates.put(update.status)
        except grpc.RpcError:
            pass  # cancelled at the end of the test

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert updates.get(timeout=5) == SERVING
    nn_server.server.begin_drain()
    assert updates.get(timeout=5) == NOT_SERVING
    # probes still get an answer while draining, NNService does not
    assert health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status == NOT_SERVING
    stream.cancel()
    reader.join(5)


def test_reflection_lists_the_services_and_describes_nnservice(channel):
    db = ProtoReflectionDescriptorDatabase(channel)
    assert {SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= set(db.get_services())
    service = DescriptorPool(db).FindServiceByName(SERVICE)
    assert {m.name for m in service.methods} == {
        "Train", "GetStatus", "Predict", "WatchJob", "CancelJob", "ListJobs", "ListModels", "GetModel",
        "UploadDataset", "ListDatasets", "GetDataset", "DeleteDataset"}


def test_one_log_line_per_rpc_with_method_code_and_milliseconds_at_debug(stub, caplog):
    with caplog.at_level(logging.DEBUG, logger="server.rpc"):
        with pytest.raises(grpc.RpcError):
            stub.GetStatus(pb.GetStatusRequest(job_id="0000000000000000"), timeout=5)
        stub.ListJobs(pb.ListJobsRequest(), timeout=5)
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "server.rpc"]
    assert len(lines) == 2
    assert lines[0][0] == "INFO" and lines[1][0] == "DEBUG"  # only the failure shows at INFO
    assert lines[0][1].startswith("rpc /nnservice.v1.NNService/GetStatus NOT_FOUND ") and lines[0][1].endswith("ms")
    assert lines[1][1].startswith("rpc /nnservice.v1.NNService/ListJobs OK ")
