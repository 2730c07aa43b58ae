"""Dataset uploads for the SDK: files or arrays -> UploadDatasetRequest streams, and DatasetInfo."""
from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import datetime as dt
import hashlib
import io
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

import numpy as np
from tqdm import tqdm

from protos import nn_service_pb2 as pb

from . import format as fmt
from .streams import chunk_message
from .types import _time

CHUNK_BYTES = 1 << 20  # the server's limit per message
FORMATS = {".npz": "npz", ".csv": "csv", ".zip": "zip", ".tar.gz": "tar.gz", ".tgz": "tar.gz"}
ARRAY_NAMES = ("x_train", "t_train", "x_test", "t_test")
# Chunks sent but not yet hashed, at most: a few, so a slow hash of one chunk does not hold up
# the sending (median of 6 runs 506 MB/s with 4, 481 with 1), and at most 4 MiB are held for it.
HASH_AHEAD = 4


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """A dataset the server can train on (built in or uploaded)."""

    name: str
    source: str                     # "builtin" | "uploaded"
    input_shape: tuple[int, ...]
    classes: int
    class_names: tuple[str, ...]
    train_size: int
    test_size: int
    dtype: str
    format: str
    sha256: str
    size_bytes: int
    create_time: Optional[dt.datetime]

    @classmethod
    def from_proto(cls, m: pb.DatasetInfo) -> "DatasetInfo":
        """From the DatasetInfo message."""
        source = pb.DatasetSource.Name(m.source).removeprefix("DATASET_SOURCE_").lower()
        return cls(m.name, source, tuple(m.input_shape), m.classes, tuple(m.class_names), m.train_size,
                   m.test_size, m.dtype, m.format, m.sha256, m.size_bytes, _time(m, "create_time"))


@dataclasses.dataclass(frozen=True)
class DatasetUpload:
    """One file to upload: its bytes (in memory or on disk), its format and its metadata;
    `hash_while_sending` sends the file's sha256 as the last message."""

    metadata: pb.DatasetUploadMetadata
    path: Optional[Path] = None
    data: Optional[bytes] = None
    hash_while_sending: bool = False

    @property
    def size(self) -> int:
        """The file's size in bytes."""
        return self.metadata.size_bytes

    def requests(self, sent: Callable[[int], None] = lambda n: None) -> Iterator[pb.UploadDatasetRequest | bytes]:
        """The metadata message, chunks of at most 1 MiB (`sent(n)` after each; framed by
        client.streams.chunk_message), then the sha256."""
        yield pb.UploadDatasetRequest(metadata=self.metadata)
        digest = _Hasher() if self.hash_while_sending else None
        try:
            for chunk in _chunks(self.path, self.data):
                if digest is not None:
                    digest.update(chunk)
                yield chunk_message(chunk)
                sent(len(chunk))
        finally:
            hex_digest = digest.close() if digest is not None else ""
        if hex_digest:
            yield pb.UploadDatasetRequest(sha256=hex_digest)


class _Hasher:
    """sha256 on a thread of its own, up to HASH_AHEAD chunks behind the sending (hashlib
    releases the GIL): hashing in line took as long as sending the bytes over loopback."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="nnclient-sha256")
        self._pending: collections.deque[concurrent.futures.Future] = collections.deque()

    def __repr__(self) -> str:
        return f"_Hasher(pending={len(self._pending)})"

    def update(self, chunk: bytes | memoryview) -> None:
        """Queue `chunk` for hashing after the previous ones (waits while HASH_AHEAD are queued)."""
        while len(self._pending) >= HASH_AHEAD:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._digest.update, chunk))

    def close(self) -> str:
        """The hex digest of every chunk; releases the thread."""
        while self._pending:
            self._pending.popleft().result()
        self._pool.shutdown()
        return self._digest.hexdigest()


def prepare_upload(source, name: str, *, format: Optional[str] = None, test_fraction: Optional[float] = None,
                   seed: Optional[int] = None, class_names: Sequence[str] = (),
                   sha256: bool | str = True) -> DatasetUpload:
    """A DatasetUpload from a path (.npz/.csv/.zip/.tar.gz) or from arrays (packed as .npz).

    sha256: True hashes the file while sending it and sends the digest last, a hex string
    declares that digest up front (e.g. a published one), False sends none; the server checks
    the bytes it received against any digest sent."""
    if isinstance(source, (str, Path)):
        path, data = Path(source), None
        if not path.is_file():
            raise ValueError(f"no dataset file at {path}")
        format = format or _format_of(path)
        size = path.stat().st_size
    else:
        path, data, format = None, pack_arrays(source), "npz"
        size = len(data)
    metadata = pb.DatasetUploadMetadata(name=name, format=format, size_bytes=size,
                                        sha256=sha256 if isinstance(sha256, str) else "",
                                        class_names=list(class_names))
    if test_fraction is not None:
        metadata.test_fraction = test_fraction
    if seed is not None:
        metadata.seed = seed
    return DatasetUpload(metadata, path, data, hash_while_sending=sha256 is True)


def pack_arrays(arrays) -> bytes:
    """An in-memory .npz of a dict {x_train, t_train[, x_test, t_test]} or a tuple in that order."""
    if not isinstance(arrays, dict):
        arrays = dict(zip(ARRAY_NAMES, arrays))
    unknown = sorted(set(arrays) - set(ARRAY_NAMES))
    if unknown or not {"x_train", "t_train"} <= set(arrays):
        raise ValueError(f"arrays must be x_train, t_train and optionally x_test, t_test; got {sorted(arrays)}")
    packed = {k: np.asarray(v) for k, v in arrays.items()}
    if any(a.dtype.hasobject for a in packed.values()):
        raise ValueError("object arrays cannot be uploaded: give numeric arrays")
    buffer = io.BytesIO()
    np.savez(buffer, **packed)
    return buffer.getvalue()


class UploadProgressBar:
    """A tqdm bar in bytes for one upload (or another transfer: `action`); a no-op when disabled."""

    def __init__(self, name: str, total: int, enabled: bool = True, file=None, action: str = "upload") -> None:
        self.name = name
        self._bar = tqdm(total=total, desc=f"{action} {name}", unit="B", unit_scale=True, unit_divisor=1024,
                         file=file, dynamic_ncols=True, leave=True) if enabled else None

    def __repr__(self) -> str:
        return f"UploadProgressBar(name={self.name!r}, enabled={self._bar is not None})"

    def __enter__(self) -> "UploadProgressBar":
        return self

    def __exit__(self, *exc_info) -> None:
        if self._bar is not None:
            self._bar.close()

    def update(self, sent: int) -> None:
        """Advance by `sent` bytes."""
        if self._bar is not None:
            self._bar.update(sent)


def dataset_table(datasets: Sequence[DatasetInfo]) -> str:
    """One row per dataset (nnctl datasets ls)."""
    rows = [(d.name, d.source, "x".join(map(str, d.input_shape)), d.classes, d.train_size, d.test_size,
             fmt.size(d.size_bytes) if d.size_bytes else "", fmt.when(d.create_time)) for d in datasets]
    headers = ("NAME", "SOURCE", "INPUT", "CLASSES", "TRAIN", "TEST", "SIZE", "CREATED")
    return fmt.table(headers, rows) if rows else "no datasets"


def dataset_detail(d: DatasetInfo) -> str:
    """Everything about one dataset (nnctl datasets show)."""
    return fmt.keyvalues([
        ("dataset", d.name), ("source", d.source), ("input shape", "x".join(map(str, d.input_shape))),
        ("dtype", d.dtype), ("classes", d.classes), ("class names", ", ".join(d.class_names)),
        ("train rows", d.train_size), ("test rows", d.test_size), ("format", d.format),
        ("size", fmt.size(d.size_bytes) if d.size_bytes else ""), ("sha256", d.sha256),
        ("created", fmt.when(d.create_time))])


def _format_of(path: Path) -> str:
    """The upload format a file name implies."""
    for suffix, name in FORMATS.items():
        if path.name.lower().endswith(suffix):
            return name
    raise ValueError(f"cannot tell the format of {path.name}: name it .npz, .csv, .zip or .tar.gz, "
                     "or give format=")


def _chunks(path: Optional[Path], data: Optional[bytes]) -> Iterator[bytes | memoryview]:
    """The file's bytes in CHUNK_BYTES pieces, read as they are sent (views of in-memory data)."""
    if data is not None:
        view = memoryview(data)
        for start in range(0, len(data), CHUNK_BYTES):
            yield view[start:start + CHUNK_BYTES]
        return
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk

