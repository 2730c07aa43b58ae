"""Dataset files a user uploads: .npz, .csv, and .zip / .tar.gz of IDX files or of two CSVs.

Everything is checked before it is returned: shapes and lengths agree, labels are integers in
range, floats are finite, nothing is unpickled, and no more than `max_bytes` are ever
decompressed (bombs stop at the limit, not after it).
"""

from __future__ import annotations

import gzip
import tarfile
import zipfile
import zlib
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._formats import READERS, DatasetFormatError, DatasetTooLarge, Budget

__all__ = ["FORMATS", "DatasetFormatError", "DatasetTooLarge", "ParsedDataset", "check_arrays",
           "format_of", "load_dataset_file", "split"]

FORMATS = ("npz", "csv", "zip", "tar.gz")
MAX_CLASSES = 10_000
DEFAULT_TEST_FRACTION = 0.1
_FINITE_CHUNK = 1 << 16  # rows checked at a time, so the check costs no copy of the data


@dataclass(frozen=True)
class ParsedDataset:
    """Checked arrays: x as (N, ...) uint8 pixels or float32 features, t as integer labels.

    `as_read` says the file was an .npz holding exactly these four arrays: it can be kept as is."""

    x_train: np.ndarray
    t_train: np.ndarray
    x_test: np.ndarray
    t_test: np.ndarray
    classes: int
    as_read: bool = False

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one example, e.g. (28, 28) or (4,)."""
        return tuple(self.x_train.shape[1:])

    def arrays(self) -> dict[str, np.ndarray]:
        """The four arrays by name (the names of the stored .npz)."""
        return {"x_train": self.x_train, "t_train": self.t_train,
                "x_test": self.x_test, "t_test": self.t_test}

    def __repr__(self) -> str:
        return (f"ParsedDataset(train={self.x_train.shape} {self.x_train.dtype}, "
                f"test={self.x_test.shape}, classes={self.classes})")


def format_of(filename: str) -> str:
    """The format a file name implies ("npz", "csv", "zip", "tar.gz"); a DatasetFormatError if none."""
    lowered = filename.lower()
    for fmt, suffixes in (("tar.gz", (".tar.gz", ".tgz")), ("npz", (".npz",)), ("csv", (".csv",)),
                          ("zip", (".zip",))):
        if lowered.endswith(suffixes):
            return fmt
    raise DatasetFormatError(f"cannot tell the format of {filename!r}: name it .npz, .csv, .zip "
                             "or .tar.gz, or give the format")


def load_dataset_file(path: str | Path, fmt: str, *, max_bytes: int, test_fraction: float | None = None,
                      seed: int = 0, classes: int | None = None) -> ParsedDataset:
    """Parse and check one dataset file; `classes` (e.g. from class names) bounds the labels.

    Without a test split in the file, `test_fraction` of the training rows (shuffled with
    `seed`) become the test split."""
    path = Path(path)
    if fmt not in FORMATS:
        raise DatasetFormatError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    budget = Budget(max_bytes)
    try:
        arrays = READERS[fmt](path, budget)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DatasetFormatError(f"{path.name}: not a valid {fmt} file ({exc})") from None
    except NotImplementedError as exc:  # zip compression methods zipfile lacks
        raise DatasetFormatError(f"{path.name}: {exc}") from None
    except RuntimeError as exc:  # zipfile: encrypted members
        raise DatasetFormatError(f"{path.name}: cannot read the archive ({exc})") from None
    parsed = check_arrays(arrays, test_fraction=test_fraction, seed=seed, classes=classes)
    kept = parsed.arrays()
    if fmt == "npz" and set(arrays) == set(kept) and all(kept[k] is arrays[k] for k in kept):
        parsed = dataclasses.replace(parsed, as_read=True)
    return parsed


def check_arrays(arrays: dict[str, np.ndarray], *, test_fraction: float | None = None, seed: int = 0,
                 classes: int | None = None) -> ParsedDataset:
    """Check x_train/t_train (and x_test/t_test if present) and split off a test set if absent."""
    missing = {"x_train", "t_train"} - set(arrays)
    if missing:
        raise DatasetFormatError(f"missing array(s) {', '.join(sorted(missing))}; a dataset needs "
                                 "x_train and t_train (x_test and t_test optional)")
    if ("x_test" in arrays) != ("t_test" in arrays):
        raise DatasetFormatError("x_test and t_test go together: give both or neither")
    x_train, t_train = _features(arrays["x_train"], "x_train"), _labels(arrays["t_train"], "t_train")
    _check_lengths(x_train, t_train, "train")
    if "x_test" in arrays:
        x_test, t_test = _features(arrays["x_test"], "x_test"), _labels(arrays["t_test"], "t_test")
        _check_lengths(x_test, t_test, "test")
        if x_test.shape[1:] != x_train.shape[1:] or x_test.dtype != x_train.dtype:
            raise DatasetFormatError(f"x_test {x_test.shape[1:]} {x_test.dtype} must match x_train "
                                     f"{x_train.shape[1:]} {x_train.dtype} per example")
        if test_fraction is not None:
            raise DatasetFormatError("test_fraction applies only to a file without a test split")
    else:
        x_train, t_train, x_test, t_test = split(x_train, t_train, test_fraction, seed)
    return ParsedDataset(x_train, t_train, x_test, t_test, _classes(t_train, t_test, classes))


def split(x: np.ndarray, t: np.ndarray, test_fraction: float | None, seed: int):
    """Shuffle rows in place (no copy of x) and return (x_train, t_train, x_test, t_test) views."""
    fraction = DEFAULT_TEST_FRACTION if test_fraction is None else float(test_fraction)
    if not 0.0 < fraction < 1.0:
        raise DatasetFormatError(f"test_fraction must be in (0, 1); got {fraction}")
    n = len(x)
    n_test = min(max(1, round(n * fraction)), n - 1)
    if n < 2:
        raise DatasetFormatError(f"need at least 2 rows to split off a test set; got {n}")
    if not x.flags.writeable:
        x = x.copy()
    order = np.arange(n)
    np.random.default_rng(seed).shuffle(order)
    np.random.default_rng(seed).shuffle(x)  # same seed, same length: the same permutation as order
    t = t[order]
    return x[n_test:], t[n_test:], x[:n_test], t[:n_test]


def _features(x, name: str) -> np.ndarray:
    """x as (N, ...) uint8 pixels or finite float32 features."""
    x = np.asarray(x)
    if x.dtype.hasobject or x.dtype.kind not in "uif" or x.ndim < 2:
        raise DatasetFormatError(f"{name} must be a numeric array of shape (N, features...) with "
                                 f"N rows; got {x.dtype} {x.shape}")
    if 0 in x.shape:
        raise DatasetFormatError(f"{name} is empty: shape {x.shape}")
    if x.dtype.kind in "ui":
        if x.dtype != np.uint8:
            low, high = x.min(), x.max()
            if low < 0 or high > 255:
                raise DatasetFormatError(f"{name}: integer features must be pixels in 0..255 (give "
                                         f"floats otherwise); got values in [{low}, {high}]")
            x = x.astype(np.uint8)
        return x
    x = x.astype(np.float32, copy=False)
    rows = x.reshape(len(x), -1)
    for start in range(0, len(rows), _FINITE_CHUNK):
        finite = np.isfinite(rows[start:start + _FINITE_CHUNK])
        if not finite.all():
            first = start + int(np.argmin(finite.all(axis=1)))
            raise DatasetFormatError(f"{name} holds NaN or infinite values (first in row {first})")
    return x


def _labels(t, name: str) -> np.ndarray:
    """t as a 1-D array of non-negative integer labels (in its own integer dtype)."""
    t = np.asarray(t)
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim != 1 or t.dtype.kind not in "ui":
        raise DatasetFormatError(f"{name} must be a 1-D array of integer labels; got {t.dtype} {t.shape}")
    if len(t) and t.min() < 0:
        raise DatasetFormatError(f"{name}: labels must be >= 0; got {t.min()}")
    return t


def _check_lengths(x: np.ndarray, t: np.ndarray, split_name: str) -> None:
    """One label per row."""
    if len(x) != len(t):
        raise DatasetFormatError(f"{split_name} split: {len(x)} rows in x_{split_name} but {len(t)} "
                                 f"labels in t_{split_name}; they must be equal")


def _classes(t_train: np.ndarray, t_test: np.ndarray, declared: int | None) -> int:
    """The number of classes: declared (class names), else the largest label + 1; at least 2."""
    top = int(max(t_train.max(), t_test.max()))
    if declared is not None:
        if top >= declared:
            raise DatasetFormatError(f"labels must be in [0, {declared - 1}] for {declared} class "
                                     f"names; got label {top}")
        classes = declared
    else:
        classes = top + 1
    if not 2 <= classes <= MAX_CLASSES:
        raise DatasetFormatError(f"a dataset needs 2 to {MAX_CLASSES} classes (largest label + 1); "
                                 f"got {classes}")
    return classes
