"""Downloading the four IDX files of MNIST (or a dataset in its layout) from mirrors, verified by sha256."""

from __future__ import annotations

import gzip
import hashlib
import logging
import urllib.request
import zlib
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Iterable, Mapping

from ._io import atomic_write_bytes

log = logging.getLogger(__name__)

#: The four IDX files, each looked up raw or with a .gz suffix.
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

#: sha256 of the DECOMPRESSED files (the gzip framing differs between mirrors).
MNIST_SHA256 = MappingProxyType({
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
})

#: Mirrors serving <mirror>/<file>.gz, tried in order.
DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

_FETCH_TIMEOUT = 30.0
_MAX_DOWNLOAD = 64 * 1024 * 1024  # the largest file is ~10 MB compressed


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are missing and could not be downloaded; the message says what to do."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "dataset not found"


class MnistNotFoundError(DatasetNotFoundError):
    """The MNIST files are missing and could not be downloaded; the message says what to do."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "MNIST not found"


def find_idx_file(data_dir: Path, name: str) -> Path | None:
    """Return data_dir/name or data_dir/name.gz, whichever exists (raw first), else None."""
    for candidate in (data_dir / name, data_dir / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def not_found_message(data_dir: Path, detail: str, dataset: str = "MNIST") -> str:
    """Return the message telling the user which directory to fill with which files."""
    files = ", ".join(MNIST_FILES)
    if dataset != "MNIST":
        return (f"{dataset} not found in {data_dir}: {detail}. Put its four IDX files there (raw or .gz): "
                f"{files}; or allow downloading it (nn-server --allow-download).")
    return (
        f"MNIST not found in {data_dir}: {detail}. Put the four IDX files there (raw or .gz): {files}; "
        f"or download them with nncore.mnist.download_mnist({str(data_dir)!r}) or "
        f"load_mnist(download=True), or point NNSVC_MNIST_DIR at a directory that has them."
    )


def _urllib_fetch(url: str) -> bytes:
    """Return the body at url (urllib, with a timeout and a size cap)."""
    with urllib.request.urlopen(url, timeout=_FETCH_TIMEOUT) as response:  # noqa: S310 - fixed mirrors
        data = response.read(_MAX_DOWNLOAD + 1)
    if len(data) > _MAX_DOWNLOAD:
        raise ValueError(f"{url}: larger than {_MAX_DOWNLOAD} bytes")
    return data


def _verified(name: str, data: bytes, checksums: Mapping[str, str]) -> None:
    """Raise ValueError unless the decompressed data has the expected sha256."""
    try:
        content = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"corrupt gzip data ({exc})") from exc
    digest = hashlib.sha256(content).hexdigest()
    if digest != checksums[name]:
        raise ValueError(f"sha256 {digest} does not match the expected {checksums[name]}")


def _fetch_one(name: str, data_dir: Path, mirrors: Iterable[str], fetch: Callable[[str], bytes],
               checksums: Mapping[str, str], errors: list[str]) -> Path | None:
    """Try each mirror for one file; write the first verified copy and return its path."""
    for mirror in mirrors:
        url = f"{mirror.rstrip('/')}/{name}.gz"
        try:
            data = fetch(url)
            _verified(name, data, checksums)
        except Exception as exc:  # noqa: BLE001 - any failure of one mirror means: try the next
            log.warning("%s failed: %s", url, exc)
            errors.append(f"{url}: {exc}")
            continue
        target = data_dir / (f"{name}.gz" if data[:2] == b"\x1f\x8b" else name)
        atomic_write_bytes(target, data)
        log.info("downloaded %s to %s", url, target)
        return target
    return None


def download_mnist(
    data_dir: str | Path,
    *,
    mirrors: Iterable[str] = DEFAULT_MIRRORS,
    fetch: Callable[[str], bytes] | None = None,
    checksums: Mapping[str, str] = MNIST_SHA256,
) -> list[Path]:
    """Fetch the missing MNIST files into data_dir, verified and written atomically; return new paths."""
    return download_idx_files(data_dir, mirrors=mirrors, fetch=fetch, checksums=checksums)


def download_idx_files(
    data_dir: str | Path,
    *,
    mirrors: Iterable[str],
    checksums: Mapping[str, str],
    fetch: Callable[[str], bytes] | None = None,
    dataset: str = "MNIST",
    error: type[DatasetNotFoundError] = MnistNotFoundError,
) -> list[Path]:
    """Fetch the missing IDX files of `dataset` into data_dir, verified and written atomically."""
    data_dir = Path(data_dir)
    mirrors = tuple(mirrors)
    fetch = _urllib_fetch if fetch is None else fetch
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise error(not_found_message(data_dir, f"cannot create the directory ({exc})", dataset)) from exc
    written, failed, errors = [], [], []
    for name in MNIST_FILES:
        if find_idx_file(data_dir, name) is not None:
            continue
        path = _fetch_one(name, data_dir, mirrors, fetch, checksums, errors)
        if path is None:
            failed.append(name)
        else:
            written.append(path)
    if failed:
        detail = f"could not download {', '.join(failed)} from {len(mirrors)} mirror(s) ({'; '.join(errors[-3:])})"
        raise error(not_found_message(data_dir, detail, dataset))
    return written
