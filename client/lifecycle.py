"""Model export and import for the SDK: ExportModel streams -> a file, a file -> ImportModel streams."""
from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import Callable, Iterator, Optional

from protos import nn_service_pb2 as pb

from .datasets import CHUNK_BYTES, UploadProgressBar

EXPORT_FORMATS = ("npz", "onnx")


def import_requests(path: Path, name: Optional[str] = None,
                    sent: Callable[[int], None] = lambda n: None) -> Iterator[pb.ImportModelRequest]:
    """The metadata (name, size), chunks of at most 1 MiB (`sent(n)` after each), then the
    sha256 of what was sent, hashed on the way (the server checks it)."""
    yield pb.ImportModelRequest(metadata=pb.ModelImportMetadata(name=name or "", size_bytes=path.stat().st_size))
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
            yield pb.ImportModelRequest(chunk=chunk)
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
