"""receive_file: chunks hashed and written on a writer thread, errors from either side reported (#13)."""

from __future__ import annotations

import errno
import hashlib
import threading

import numpy as np
import pytest

from server import streams
from server.errors import InvalidArgument
from server.streams import receive_file

LIMIT = 64 << 20


def _writers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "nnsvc-upload-writer"]


def test_every_chunk_is_written_in_order_and_hashed(tmp_path, monkeypatch):
    monkeypatch.setattr(streams, "WRITEBACK_BYTES", 100_000)  # many writebacks on the way
    rng = np.random.default_rng(1)
    chunks = [rng.bytes(int(n)) for n in rng.integers(1, 70_000, size=60)]
    data = b"".join(chunks)
    size, digest = receive_file(tmp_path / "f", iter(chunks), limit=LIMIT, declared_size=len(data),
                                declared_sha256=hashlib.sha256(data).hexdigest())
    assert (size, digest) == (len(data), hashlib.sha256(data).hexdigest())
    assert (tmp_path / "f").read_bytes() == data
    assert not _writers()


def test_a_write_error_on_the_writer_thread_reaches_the_receiver(tmp_path, monkeypatch):
    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(streams, "WRITEBACK_BYTES", 1)
    monkeypatch.setattr(streams, "_start_writeback", full)
    with pytest.raises(OSError) as raised:
        receive_file(tmp_path / "f", iter([b"x" * 1000] * 50), limit=LIMIT, declared_size=None, declared_sha256="")
    assert raised.value.errno == errno.ENOSPC
    assert not _writers()


def test_any_error_on_the_writer_thread_reaches_the_receiver_instead_of_stalling_it(tmp_path, monkeypatch):
    def broken(*args):
        raise ValueError("flush of closed file")

    monkeypatch.setattr(streams, "WRITEBACK_BYTES", 1)
    monkeypatch.setattr(streams, "_start_writeback", broken)
    # More chunks than the queue holds: a writer thread that died would leave put() waiting for ever.
    chunks = iter([b"x" * 1000] * (4 * streams.QUEUED_CHUNKS))
    with pytest.raises(ValueError, match="closed file"):
        receive_file(tmp_path / "f", chunks, limit=LIMIT, declared_size=None, declared_sha256="")
    assert not _writers()


def test_a_stream_that_fails_midway_is_reported_as_such_and_stops_the_writer(tmp_path):
    def stream():
        yield b"a" * 1000
        yield b"b" * 1000
        raise InvalidArgument("the stream was cancelled by the client before it ended")

    with pytest.raises(InvalidArgument, match="cancelled by the client"):
        receive_file(tmp_path / "f", stream(), limit=LIMIT, declared_size=None, declared_sha256="")
    assert not _writers()


def test_the_limits_still_hold_chunk_by_chunk(tmp_path):
    with pytest.raises(InvalidArgument, match="at most 1048576"):
        receive_file(tmp_path / "a", iter([b"x" * (streams.MAX_CHUNK_BYTES + 1)]), limit=LIMIT,
                     declared_size=None, declared_sha256="")
    with pytest.raises(InvalidArgument, match="more than the declared size_bytes=1500"):
        receive_file(tmp_path / "b", iter([b"x" * 1000] * 2), limit=LIMIT, declared_size=1500, declared_sha256="")
