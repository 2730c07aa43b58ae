"""Receiving a client-streamed file (UploadDataset, ImportModel) under its size and checksum rules."""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Iterable
from pathlib import Path

from server.errors import InvalidArgument, ResourceExhausted
from server.process import release_free_memory

MAX_CHUNK_BYTES = 1 << 20
# Chunks received but not yet hashed and written, at most (so at most ~8 MiB held): the RPC
# thread receives the next chunks while the writer thread hashes and writes earlier ones.
QUEUED_CHUNKS = 8
# Every this many bytes written, the writer asks the kernel to start putting them on disk, so
# the fsync after the stream finds little left to write (100 MB: 10-46 ms of fsync, 48-108 without).
WRITEBACK_BYTES = 16 << 20


class _Writer:
    """Hashes and writes chunks on its own thread, fed by a bounded queue, so hashing and writing
    overlap receiving (hashlib and file writes release the GIL). close() waits for the last
    chunk and raises what a write raised."""

    def __init__(self, out, digest) -> None:
        self._out, self._digest = out, digest
        self._queue: queue.Queue = queue.Queue(QUEUED_CHUNKS)
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name="nnsvc-upload-writer", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"_Writer({self._out.name!r}, queued={self._queue.qsize()})"

    def put(self, chunk: bytes) -> None:
        """Queue a chunk (waits while QUEUED_CHUNKS are queued); raises an earlier write's error."""
        if self._error is not None:
            raise self._error
        self._queue.put(chunk)

    def close(self, check: bool = True) -> None:
        """Wait until every queued chunk is hashed and written; raises a write's error if `check`."""
        self._queue.put(None)
        self._thread.join()
        if check and self._error is not None:
            raise self._error

    def _run(self) -> None:
        written = started = 0
        while (chunk := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain, so put() never blocks on a dead writer
            try:
                self._digest.update(chunk)
                self._out.write(chunk)
                written += len(chunk)
                if written - started >= WRITEBACK_BYTES:
                    _start_writeback(self._out, started, written - started)
                    started = written
            except Exception as exc:  # a full disk, mostly: the RPC thread raises it at its next put()
                self._error = exc  # (and the thread lives on, so put() never blocks on a dead one)


def _start_writeback(out, offset: int, length: int) -> None:
    """Start writing a range of `out` to disk without waiting (Linux: POSIX_FADV_DONTNEED starts
    the writeback of dirty pages; pages still being written stay cached). Advisory only: the
    fsync after the stream is what makes the file durable."""
    if hasattr(os, "posix_fadvise"):
        out.flush()
        os.posix_fadvise(out.fileno(), offset, length, os.POSIX_FADV_DONTNEED)


def receive_file(path: Path, chunks: Iterable[bytes | str], *, limit: int, declared_size: int | None,
                 declared_sha256: str, what: str = "upload") -> tuple[int, str]:
    """Write the chunks to a new file at `path` as they arrive, within `limit` bytes (the
    max_upload_bytes setting); a str among the chunks is a trailing hex sha256. Checks the
    declared size and every declared sha256; returns (size, sha256)."""
    digest, size, digests = hashlib.sha256(), 0, [declared_sha256]
    try:
        with open(path, "xb") as out:
            writer = _Writer(out, digest)
            try:
                for chunk in chunks:
                    if isinstance(chunk, str):  # the trailing sha256
                        digests.append(chunk)
                        continue
                    size += _checked_size(chunk, size, limit, declared_size, what)
                    writer.put(chunk)
            except BaseException:
                writer.close(check=False)  # the stream's own error is the one to report
                raise
            writer.close()
    finally:
        release_free_memory(size)  # the chunks' memory, free now, kept by malloc otherwise
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


def _checked_size(chunk: bytes, size: int, limit: int, declared_size: int | None, what: str) -> int:
    """The chunk's length, if one more chunk of it keeps the stream within its limits."""
    if len(chunk) > MAX_CHUNK_BYTES:
        raise InvalidArgument(f"a chunk holds {len(chunk)} bytes; at most {MAX_CHUNK_BYTES} "
                              "(1 MiB) per message")
    size += len(chunk)
    if size > limit:
        raise ResourceExhausted(f"the {what} exceeds the limit of {limit} bytes (max_upload_bytes)")
    if declared_size is not None and size > declared_size:
        raise InvalidArgument(f"received more than the declared size_bytes={declared_size}")
    return len(chunk)
