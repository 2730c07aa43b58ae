"""Helpers for the lifecycle tests: train on "tiny", export, import, and compare raw probabilities."""

from __future__ import annotations

import hashlib

import grpc
import numpy as np

from protos import nn_service_pb2 as pb
from tests.conftest import wait_for_job

CHUNK = 64 * 1024
PROBE_ROWS = np.random.default_rng(7).integers(0, 256, (5, 28, 28), dtype=np.uint8)


def train_tiny(stub, **fields) -> pb.JobStatus:
    """Train a small network on the generated "tiny" dataset; returns its SUCCEEDED status."""
    defaults = dict(dataset="tiny", epochs=1, seed=3, name="lifecycle")
    if "hidden_sizes" not in fields:
        defaults["hidden_size"] = 16
    request = pb.TrainRequest(**{**defaults, **fields})
    status = wait_for_job(stub, stub.Train(request).job_id)
    assert status.state == pb.JOB_STATE_SUCCEEDED, status.error
    return status


def export_file(stub, model_id: str, fmt: str = "") -> bytes:
    """The whole exported file, checked against the size and sha256 its first message declares."""
    responses = list(stub.ExportModel(pb.ExportModelRequest(model_id=model_id, format=fmt)))
    data = b"".join(r.chunk for r in responses)
    assert responses[0].size_bytes == len(data)
    assert responses[0].sha256 == hashlib.sha256(data).hexdigest()
    return data


def import_requests(data: bytes, name: str = "", chunk: int = CHUNK, declare: bool = True,
                    trailing_sha: bool = False):
    """An ImportModel stream: metadata, the chunks, optionally a trailing sha256."""
    digest = hashlib.sha256(data).hexdigest()
    meta = pb.ModelImportMetadata(name=name)
    if declare:
        meta.size_bytes, meta.sha256 = len(data), digest
    yield pb.ImportModelRequest(metadata=meta)
    for start in range(0, len(data), chunk):
        yield pb.ImportModelRequest(chunk=data[start:start + chunk])
    if trailing_sha:
        yield pb.ImportModelRequest(sha256=digest)


def import_error(stub, requests) -> grpc.RpcError:
    """The error an ImportModel stream gets (the test fails if it succeeds)."""
    try:
        stub.ImportModel(requests, timeout=30)
    except grpc.RpcError as error:
        return error
    raise AssertionError("ImportModel accepted a stream it should refuse")


def raw_probabilities(stub, model_id: str, rows: np.ndarray = PROBE_ROWS) -> bytes:
    """Predict's probabilities for uint8 rows, as the raw float32 bytes the server sent."""
    tensor = pb.Tensor(shape=list(rows.shape), dtype=pb.DTYPE_UINT8, raw_data=rows.tobytes())
    return stub.Predict(pb.PredictRequest(model_id=model_id, input=tensor)).probabilities.raw_data
