"""Helpers for the UploadDataset tests: request streams, and what a server holds on disk."""

from __future__ import annotations

import hashlib
from pathlib import Path

import grpc

from protos import nn_service_pb2 as pb

CHUNK = 64 * 1024


def upload_requests(data: bytes, name: str, fmt: str, chunk: int = CHUNK, declare: bool = True, **meta):
    """The metadata message (size and sha256 declared when `declare`), then the chunks."""
    if declare:
        meta.setdefault("size_bytes", len(data))
        meta.setdefault("sha256", hashlib.sha256(data).hexdigest())
    yield pb.UploadDatasetRequest(metadata=pb.DatasetUploadMetadata(name=name, format=fmt, **meta))
    for start in range(0, len(data), chunk):
        yield pb.UploadDatasetRequest(chunk=data[start:start + chunk])


def upload(stub, data: bytes, name: str, fmt: str, **kwargs) -> pb.DatasetInfo:
    """Run UploadDataset with upload_requests(...)."""
    return stub.UploadDataset(upload_requests(data, name, fmt, **kwargs), timeout=60)


def upload_error(stub, requests) -> grpc.RpcError:
    """The error UploadDataset answers to `requests` (fails the test if it succeeds)."""
    try:
        stub.UploadDataset(iter(requests), timeout=60)
    except grpc.RpcError as error:
        return error
    raise AssertionError("the upload was accepted")


def stored_entries(state_dir: Path) -> list[str]:
    """Everything in the server's datasets directory (temporary names included)."""
    root = Path(state_dir) / "datasets"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []
