"""Receiving a client-streamed file (UploadDataset, ImportModel) under its size and checksum rules."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from server.errors import InvalidArgument, ResourceExhausted

MAX_CHUNK_BYTES = 1 << 20


def receive_file(path: Path, chunks: Iterable[bytes | str], *, limit: int, declared_size: int | None,
                 declared_sha256: str, what: str = "upload") -> tuple[int, str]:
    """Write the chunks to a new file at `path` as they arrive, within `limit` bytes (the
    max_upload_bytes setting); a str among the chunks is a trailing hex sha256. Checks the
    declared size and every declared sha256; returns (size, sha256)."""
    digest, size, digests = hashlib.sha256(), 0, [declared_sha256]
    with open(path, "xb") as out:
        for chunk in chunks:
            if isinstance(chunk, str):  # the trailing sha256
                digests.append(chunk)
                continue
            if len(chunk) > MAX_CHUNK_BYTES:
                raise InvalidArgument(f"a chunk holds {len(chunk)} bytes; at most {MAX_CHUNK_BYTES} "
                                      "(1 MiB) per message")
            size += len(chunk)
            if size > limit:
                raise ResourceExhausted(f"the {what} exceeds the limit of {limit} bytes (max_upload_bytes)")
            if declared_size is not None and size > declared_size:
                raise InvalidArgument(f"received more than the declared size_bytes={declared_size}")
            digest.update(chunk)
            out.write(chunk)
    if size == 0:
        raise InvalidArgument(f"the {what} holds no data: send the file's bytes in chunk messages "
                              "after the metadata")
    if declared_size is not None and size != declared_size:
        raise InvalidArgument(f"the {what} is truncated: received {size} of the declared "
                              f"size_bytes={declared_size} bytes")
    hex_digest = digest.hexdigest()
    for expected in filter(None, digests):
        if expected != hex_digest:
            raise InvalidArgument(f"sha256 mismatch: the received {size} bytes hash to {hex_digest}, "
                                  f"not the declared {expected}")
    return size, hex_digest
