"""Translation of the lifecycle RPCs: ImportModel streams -> (ImportSpec, chunks), files -> ExportModel chunks."""

from __future__ import annotations

from collections.abc import Iterator

from protos import nn_service_pb2 as pb
from server.convert import MAX_NAME_CHARS, model_to_info
from server.dataset_convert import checked_sha256, first_metadata, stream_chunks
from server.errors import InvalidArgument
from server.fsutil import sha256_hex
from server.lifecycle import ImportSpec

# Under the 1 MiB message limit and a multiple of 3: the base64 of every chunk but the last has no
# padding, so joined they are the base64 of the file (grpcurl users decode it with one base64 -d).
EXPORT_CHUNK_BYTES = (1 << 20) - 1


def import_from_requests(requests: Iterator[pb.ImportModelRequest]) -> tuple[ImportSpec, Iterator[bytes | str]]:
    """The checked metadata of an ImportModel stream, and an iterator over its chunks (bytes) and
    its trailing sha256 (a str), as ModelLifecycle.import_model takes them."""
    meta = first_metadata(requests)
    if meta is None:
        raise InvalidArgument("the first ImportModelRequest must carry the metadata (name, size_bytes, sha256)")
    if len(meta.name) > MAX_NAME_CHARS:
        raise InvalidArgument(f"name must be at most {MAX_NAME_CHARS} characters; got {len(meta.name)}")
    spec = ImportSpec(name=meta.name, size_bytes=meta.size_bytes if meta.HasField("size_bytes") else None,
                      sha256=checked_sha256(meta.sha256))
    return spec, stream_chunks(requests)


def export_responses(fmt: str, data: bytes) -> Iterator[pb.ExportModelResponse]:
    """The file in chunks of EXPORT_CHUNK_BYTES; the first message also carries its size, sha256 and format."""
    view = memoryview(data)
    yield pb.ExportModelResponse(chunk=bytes(view[:EXPORT_CHUNK_BYTES]), size_bytes=len(data),
                                 sha256=sha256_hex(data), format=fmt)
    for start in range(EXPORT_CHUNK_BYTES, len(data), EXPORT_CHUNK_BYTES):
        yield pb.ExportModelResponse(chunk=bytes(view[start:start + EXPORT_CHUNK_BYTES]))


def deleted_model_info(meta: dict) -> pb.ModelInfo:
    """The ModelInfo of a deleted model (only its id when its metadata was unreadable)."""
    return model_to_info(meta) if "architecture" in meta else pb.ModelInfo(model_id=meta["model_id"])
