"""Translation of the dataset RPCs: UploadDataset streams -> (UploadSpec, chunks), metadata -> DatasetInfo."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

import grpc
from nncore.dataformats import FORMATS, MAX_CLASSES

from protos import nn_service_pb2 as pb
from server.convert import MAX_NAME_CHARS
from server.errors import InvalidArgument
from server.uploads import UploadSpec

_SHA256 = re.compile(r"[0-9a-f]{64}")
_UPLOAD_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_SOURCES = {"builtin": pb.DATASET_SOURCE_BUILTIN, "uploaded": pb.DATASET_SOURCE_UPLOADED}


def upload_from_requests(requests: Iterator[pb.UploadDatasetRequest]) -> tuple[UploadSpec, Iterator[bytes | str]]:
    """The checked metadata of an UploadDataset stream, and an iterator over its chunks (bytes)
    and its trailing sha256 (a str), as DatasetStore.upload takes them."""
    meta = first_metadata(requests)
    if meta is None:
        raise InvalidArgument("the first UploadDatasetRequest must carry the metadata (name, format, ...)")
    return metadata_to_spec(meta), stream_chunks(requests)


def first_metadata(requests):
    """The metadata of a file stream's first message, or None if that is not a metadata message
    (a chunk arrives as a memoryview: server.chunkwire)."""
    first = next_request(requests)
    if first is None or type(first) is memoryview or first.WhichOneof("part") != "metadata":
        return None
    return first.metadata


def metadata_to_spec(meta: pb.DatasetUploadMetadata) -> UploadSpec:
    """Validate the metadata message."""
    if not _UPLOAD_NAME.fullmatch(meta.name):  # a folder name, and the registry's name rule
        raise InvalidArgument("dataset name must be 1 to 64 lowercase letters, digits, '_' or '-', "
                              f"starting with a letter or digit; got {meta.name[:80]!r}")
    fmt = meta.format.strip().lower()
    if fmt not in FORMATS:
        raise InvalidArgument(f"format must be one of {', '.join(FORMATS)}; got {meta.format!r}")
    sha = checked_sha256(meta.sha256)
    fraction = meta.test_fraction if meta.HasField("test_fraction") else None
    if fraction is not None and not (math.isfinite(fraction) and 0.0 < fraction < 1.0):
        raise InvalidArgument(f"test_fraction must be in (0, 1); got {fraction}")
    names = tuple(meta.class_names)
    if names and not 2 <= len(names) <= MAX_CLASSES:
        raise InvalidArgument(f"class_names must name 2 to {MAX_CLASSES} classes; got {len(names)}")
    if any(not n or len(n) > MAX_NAME_CHARS for n in names) or len(set(names)) != len(names):
        raise InvalidArgument(f"class_names must be distinct, non-empty and at most {MAX_NAME_CHARS} "
                              "characters each")
    return UploadSpec(name=meta.name, format=fmt,
                      size_bytes=meta.size_bytes if meta.HasField("size_bytes") else None,
                      sha256=sha, test_fraction=fraction, seed=meta.seed, class_names=names)


def next_request(requests):
    """The next request of a client stream, or None at the end; a cancelled stream is reported as such."""
    try:
        return next(requests, None)
    except grpc.RpcError:  # the client cancelled or went away midway
        raise InvalidArgument("the stream was cancelled by the client before it ended") from None


def checked_sha256(value: str) -> str:
    """A hex sha256 in lower case, or "" (none declared)."""
    sha = value.strip().lower()
    if sha and not _SHA256.fullmatch(sha):
        raise InvalidArgument(f"sha256 must be 64 hex digits or empty; got {value[:80]!r}")
    return sha


def stream_chunks(requests) -> Iterator[bytes | memoryview | str]:
    """The bytes of every message after the metadata, then the trailing sha256 if one comes
    (UploadDataset and ImportModel streams have the same parts; a chunk message arrives as a
    memoryview of its payload when server.chunkwire parsed it)."""
    while (request := next_request(requests)) is not None:
        if type(request) is memoryview:
            yield request
            continue
        part = request.WhichOneof("part")
        if part == "metadata":
            raise InvalidArgument("only the first message of the stream may carry metadata; the rest "
                                  "carry chunks")
        if part == "sha256":
            yield checked_sha256(request.sha256)
            if next_request(requests) is not None:
                raise InvalidArgument("the sha256 message must be the last of the stream")
            return
        yield request.chunk


def dataset_to_info(meta: dict) -> pb.DatasetInfo:
    """A dataset's metadata dict -> DatasetInfo."""
    info = pb.DatasetInfo(
        name=meta["name"], source=_SOURCES[meta["source"]], input_shape=meta["input_shape"],
        classes=meta["classes"], class_names=meta.get("class_names", []),
        train_size=meta["train_size"], test_size=meta["test_size"], sha256=meta.get("sha256", ""),
        size_bytes=meta.get("size_bytes", 0), format=meta.get("format", ""), dtype=meta.get("dtype", ""))
    if meta.get("created") is not None:
        info.create_time.FromNanoseconds(round(meta["created"] * 1e9))
    return info
