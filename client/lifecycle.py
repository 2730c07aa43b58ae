"""Model export and import for the SDK: ExportModel streams -> a file, a file -> ImportModel streams."""
from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import Callable, Iterator, Optional

from protos import nn_service_pb2 as pb

from .datasets import CHUNK_BYTES, UploadProgressBar
from .errors import rpc_errors
from .streams import chunk_message
from .types import JobStatus, ModelInfo

EXPORT_FORMATS = ("npz", "onnx")


class LifecycleCalls:
    """NNClient's model and job lifecycle calls (it provides _call and _stub)."""

    def delete_model(self, model_id: str) -> ModelInfo:
        """Delete a model (Predict then gets NOT_FOUND); the job that trained it keeps its record."""
        return ModelInfo.from_proto(self._call("DeleteModel", pb.DeleteModelRequest(model_id=model_id)))

    def delete_job(self, job_id: str, delete_model: bool = False) -> JobStatus:
        """Delete an ended job's record (refused while it is queued or running), and its model if asked."""
        request = pb.DeleteJobRequest(job_id=job_id, delete_model=delete_model)
        return JobStatus.from_proto(self._call("DeleteJob", request))

    def export_model(self, model_id: str, path, format: str = "npz", *, progress: bool = True,
                     timeout: Optional[float] = None, file=None) -> Path:
        """Write a model to `path` as one file: "npz" (weights, architecture and metadata; what
        import_model takes) or "onnx"; atomically, with a tqdm bar. No deadline unless `timeout`."""
        if format not in EXPORT_FORMATS:
            raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}; got {format!r}")
        request = pb.ExportModelRequest(model_id=model_id, format=format)
        with rpc_errors("ExportModel"):
            return export_to_file(self._stub, request, Path(path), timeout=timeout, progress=progress, file=file)

    def import_model(self, path, name: Optional[str] = None, *, progress: bool = True,
                     timeout: Optional[float] = None, file=None) -> ModelInfo:
        """Import a file export_model wrote (format npz) as a new model with a fresh id; `name`
        replaces the one in the file. Size and sha256 are sent for the server to check."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"no model file at {path}")
        with UploadProgressBar(path.name, path.stat().st_size, enabled=progress, file=file,
                               action="import") as bar:
            with rpc_errors("ImportModel"):
                return ModelInfo.from_proto(self._import_model(import_requests(path, name, bar.update),
                                                                   timeout=timeout))


def import_requests(path: Path, name: Optional[str] = None,
                    sent: Callable[[int], None] = lambda n: None) -> Iterator[pb.ImportModelRequest | bytes]:
    """The metadata (name, size), chunks of at most 1 MiB (`sent(n)` after each), then the
    sha256 of what was sent, hashed on the way (the server checks it); chunks are framed by
    client.streams.chunk_message."""
    yield pb.ImportModelRequest(metadata=pb.ModelImportMetadata(name=name or "", size_bytes=path.stat().st_size))
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
            yield chunk_message(chunk)
            sent(len(chunk))
    yield pb.ImportModelRequest(sha256=digest.hexdigest())


def export_to_file(stub, request: pb.ExportModelRequest, path: Path, *, timeout: Optional[float] = None,
                   progress: bool = True, file=None) -> Path:
    """Write an ExportModel stream to `path` atomically: a temporary sibling, renamed once the size
    and sha256 the first message declared are checked; a tqdm bar in bytes when `progress`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part-{uuid.uuid4().hex[:8]}")
    digest, size, expected, bar = hashlib.sha256(), 0, None, None
    try:
        with open(tmp, "xb") as out:
            for response in stub.ExportModel(request, timeout=timeout):
                if bar is None:
                    expected = (response.size_bytes, response.sha256)
                    bar = UploadProgressBar(request.model_id, response.size_bytes, enabled=progress, file=file,
                                            action="export")
                out.write(response.chunk)
                digest.update(response.chunk)
                size += len(response.chunk)
                bar.update(len(response.chunk))
            out.flush()
            os.fsync(out.fileno())
        if (size, digest.hexdigest()) != expected:
            raise ValueError(f"the export of {request.model_id} arrived damaged ({size} bytes, sha256 "
                             f"{digest.hexdigest()[:12]}...; the server declared {expected}); export it again")
        os.replace(tmp, path)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
        tmp.unlink(missing_ok=True)
    return path
