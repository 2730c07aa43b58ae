"""Readers of the upload formats (.npz, .csv, .zip, .tar.gz), counting every decompressed byte."""

from __future__ import annotations

import gzip
import io
import math
import tarfile
import tokenize
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np

from .idx import decode_idx

IDX_MEMBERS = {"x_train": "train-images-idx3-ubyte", "t_train": "train-labels-idx1-ubyte",
               "x_test": "t10k-images-idx3-ubyte", "t_test": "t10k-labels-idx1-ubyte"}
CSV_MEMBERS = ("train.csv", "test.csv")
_READ_CHUNK = 1 << 20
_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


class DatasetFormatError(ValueError):
    """An uploaded dataset file that cannot be used; the message names the problem."""


class DatasetTooLarge(DatasetFormatError):
    """The file decompresses (or parses) to more than the allowed number of bytes."""


class Budget:
    """Counts decompressed bytes across one file; raises DatasetTooLarge past the limit."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0

    def __repr__(self) -> str:
        return f"Budget({self.used}/{self.limit})"

    def take(self, n: int, what: str) -> None:
        """Account for n more bytes of `what`."""
        self.used += n
        if self.used > self.limit:
            raise DatasetTooLarge(f"{what} decompresses to more than the limit of {self.limit} bytes "
                                  "(max_dataset_bytes)")

    def read(self, stream, what: str) -> bytes:
        """All bytes of a stream, counted as they are read."""
        parts = []
        while chunk := stream.read(_READ_CHUNK):
            self.take(len(chunk), what)
            parts.append(chunk)
        return b"".join(parts)


def _read_npz(path: Path, budget: Budget) -> dict[str, np.ndarray]:
    """Arrays of an .npz, never unpickling; each member's declared size is checked before any
    allocation. Stored (uncompressed) members, np.savez's default, are mapped read-only from the
    file: checks that need not look at the pixels cost no memory and no copy."""
    with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
        infos = [i for i in _safe_members(archive.infolist()) if not i.is_dir()]
        budget.take(sum(i.file_size for i in infos), path.name)  # refuse early on the declared sizes
        arrays = {}
        for info in infos:
            key = info.filename.removesuffix(".npy")
            if info.compress_type == zipfile.ZIP_STORED:
                if info.compress_size != info.file_size:
                    raise DatasetFormatError(f"{info.filename}: stored member with two sizes; refused")
                raw.seek(_member_data_offset(raw, info))
                arrays[key] = _read_npy(raw, info, mapped=path)
            else:
                with archive.open(info) as member:
                    arrays[key] = _read_npy(member, info)
    return arrays


def _member_data_offset(raw, info: zipfile.ZipInfo) -> int:
    """Where a member's bytes start: after its local header (whose extra field may differ)."""
    raw.seek(info.header_offset)
    header = raw.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise DatasetFormatError(f"{info.filename}: bad local header in the zip")
    name_len, extra_len = int.from_bytes(header[26:28], "little"), int.from_bytes(header[28:30], "little")
    return info.header_offset + 30 + name_len + extra_len


def _read_npy(stream, info: zipfile.ZipInfo, mapped: Path | None = None) -> np.ndarray:
    """One .npy member: its header, then exactly the bytes it declares (no more than the member);
    with `mapped`, the data is a read-only map of that file at the stream's position."""
    name = info.filename
    try:
        version = np.lib.format.read_magic(stream)
        read_header = _NPY_HEADERS.get(version)
        if read_header is None:
            raise ValueError(f"unsupported .npy version {version}; numpy writes 1.0 or 2.0")
        shape, fortran, dtype = read_header(stream)
    except (ValueError, SyntaxError, tokenize.TokenError) as exc:  # numpy tokenizes the header's text
        raise DatasetFormatError(f"{name}: not a .npy array ({exc})") from None
    if dtype.hasobject:
        raise DatasetFormatError(f"{name}: object arrays need pickle, and pickled arrays are refused")
    count = math.prod(shape)
    if count * dtype.itemsize > info.file_size:
        raise DatasetFormatError(f"{name}: its header declares {shape} {dtype}, more than the member's "
                                 f"{info.file_size} bytes")
    if mapped is not None:
        if count == 0:
            array = np.empty(0, dtype)
        else:
            try:
                array = np.asarray(np.memmap(mapped, dtype=dtype, mode="r", offset=stream.tell(), shape=(count,)))
            except ValueError as exc:  # the file ends before the array does
                raise DatasetFormatError(f"{name}: truncated ({exc})") from None
    else:
        buffer = bytearray(count * dtype.itemsize)
        got = stream.readinto(memoryview(buffer)) if buffer else 0
        while 0 < got < len(buffer):
            more = stream.readinto(memoryview(buffer)[got:])
            if not more:
                break
            got += more
        array = np.frombuffer(buffer, dtype=dtype, count=got // dtype.itemsize)
    if array.size != count:
        raise DatasetFormatError(f"{name}: truncated: {array.size} of {count} elements")
    return array.reshape(shape[::-1]).transpose() if fortran else array.reshape(shape)


def _read_csv(path: Path, budget: Budget) -> dict[str, np.ndarray]:
    """x_train / t_train from one CSV: label first, header optional."""
    budget.take(path.stat().st_size, path.name)
    x, t = _parse_csv(path.read_bytes(), path.name)
    return {"x_train": x, "t_train": t}


def _parse_csv(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(x, t) from CSV bytes; integer features in 0..255 are taken as uint8 pixels."""
    lines = data.splitlines()
    if lines and not _is_numeric_row(lines[0]):
        lines = lines[1:]  # a header
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise DatasetFormatError(f"{name}: no data rows")
    try:
        table = np.loadtxt(lines, delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise DatasetFormatError(f"{name}: not a numeric CSV ({exc})") from None
    if table.shape[1] < 2:
        raise DatasetFormatError(f"{name}: each row needs a label and at least one feature")
    labels, x = table[:, 0], table[:, 1:]
    if not np.isfinite(labels).all() or (labels != np.round(labels)).any():
        raise DatasetFormatError(f"{name}: the first column holds the labels and must be integers")
    if np.isfinite(x).all() and (x == np.round(x)).all() and x.min() >= 0 and x.max() <= 255:
        x = x.astype(np.uint8)
    return x, labels.astype(np.int64)


def _is_numeric_row(line: bytes) -> bool:
    """Whether a CSV line parses as numbers (else it is a header)."""
    try:
        [float(cell) for cell in line.split(b",")]
    except ValueError:
        return False
    return True


def _read_zip(path: Path, budget: Budget) -> dict[str, np.ndarray]:
    """The four IDX files or train.csv + test.csv of a zip, by base name."""
    with zipfile.ZipFile(path) as archive:
        infos = [i for i in _safe_members(archive.infolist()) if not i.is_dir()]
        wanted = {i.filename: i for i in infos if _member_key(i.filename) is not None}
        budget.take(sum(i.file_size for i in wanted.values()), path.name)
        budget.used = 0
        files = {}
        for name, info in wanted.items():
            with archive.open(info) as member:
                files[PurePosixPath(name).name] = budget.read(member, name)
    return _from_members(files, budget, path.name)


def _read_tar(path: Path, budget: Budget) -> dict[str, np.ndarray]:
    """The four IDX files or train.csv + test.csv of a .tar.gz, read as one counted stream."""
    files = {}
    with gzip.open(path, "rb") as raw:
        with tarfile.open(fileobj=_CountingReader(raw, budget, path.name), mode="r|") as archive:
            for member in archive:
                _check_member_path(member.name)
                if not (member.isfile() or member.isdir()):
                    raise DatasetFormatError(f"{path.name}: member {member.name!r} is a link or device; "
                                             "only regular files are accepted")
                if member.isfile() and _member_key(member.name) is not None:
                    files[PurePosixPath(member.name).name] = archive.extractfile(member).read()
    return _from_members(files, budget, path.name)


def _from_members(files: dict[str, bytes], budget: Budget, archive: str) -> dict[str, np.ndarray]:
    """Arrays from an archive's members: four IDX files (raw or .gz), or train.csv and test.csv."""
    by_key: dict[str, tuple[str, bytes]] = {}
    for name, data in files.items():
        key = _member_key(name)
        if key in by_key:
            raise DatasetFormatError(f"{archive}: both {by_key[key][0]} and {name}; keep one")
        by_key[key] = (name, data)
    if set(CSV_MEMBERS) <= set(by_key):
        (x_tr, t_tr), (x_te, t_te) = (_parse_csv(by_key[k][1], k) for k in CSV_MEMBERS)
        if x_tr.dtype != x_te.dtype:  # one file all pixels, the other not: both as floats
            x_tr, x_te = x_tr.astype(np.float32), x_te.astype(np.float32)
        return {"x_train": x_tr, "t_train": t_tr, "x_test": x_te, "t_test": t_te}
    missing = [base for key, base in IDX_MEMBERS.items() if key not in by_key]
    if missing:
        raise DatasetFormatError(f"{archive}: needs the four IDX files ({', '.join(IDX_MEMBERS.values())}, "
                                 f"raw or .gz) or train.csv and test.csv; missing {', '.join(missing)}")
    arrays = {}
    for key in IDX_MEMBERS:
        name, data = by_key[key]
        if name.endswith(".gz"):
            data = budget.read(gzip.GzipFile(fileobj=io.BytesIO(data)), name)
        try:
            arrays[key] = decode_idx(data, name)
        except ValueError as exc:
            raise DatasetFormatError(str(exc)) from None
    return arrays


def _member_key(name: str) -> str | None:
    """Which array (or CSV) an archive member holds, from its base name; None for others."""
    base = PurePosixPath(name).name
    if base in CSV_MEMBERS:
        return base
    for key, idx_name in IDX_MEMBERS.items():
        if base in (idx_name, idx_name + ".gz"):
            return key
    return None


def _safe_members(infos: list[zipfile.ZipInfo]) -> list[zipfile.ZipInfo]:
    """Zip members, refusing links and paths that are absolute or climb out with '..'."""
    for info in infos:
        _check_member_path(info.filename)
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise DatasetFormatError(f"archive member {info.filename!r} is a symbolic link; only regular "
                                     "files are accepted")
    return infos


def _check_member_path(name: str) -> None:
    """Refuse empty and absolute member paths and '..' components."""
    if not name:  # zipfile's own is_dir() fails on it with an IndexError
        raise DatasetFormatError("an archive member has an empty name; refused")
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise DatasetFormatError(f"archive member {name!r} has an absolute or '..' path; refused")


class _CountingReader(io.RawIOBase):
    """A read-only stream that counts every byte it hands out against a budget."""

    def __init__(self, stream, budget: Budget, what: str) -> None:
        super().__init__()
        self._stream, self._budget, self._what = stream, budget, what

    def __repr__(self) -> str:
        return f"_CountingReader({self._what!r}, {self._budget!r})"

    def readable(self) -> bool:
        """Always: this stream is for reading."""
        return True

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes of the wrapped stream, counted."""
        data = self._stream.read(size)
        self._budget.take(len(data), self._what)
        return data

    def readinto(self, buffer) -> int:
        """Fill `buffer` from read(); returns the number of bytes."""
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


READERS = {"npz": _read_npz, "csv": _read_csv, "zip": _read_zip, "tar.gz": _read_tar}
