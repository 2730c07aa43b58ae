"""Uploaded datasets: streamed to a temporary file, checked by nncore, stored atomically.

Layout: `<root>/<name>/data.npz` (x_train, t_train, x_test, t_test; no pickle) and
`<root>/<name>/dataset.json`. An upload lives in `<root>/.upload-*` until it is complete and
checked, then the directory is renamed into place: a failed, cancelled or crashed upload leaves
no dataset behind (leftovers are removed on the next start).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from nncore.dataformats import DatasetTooLarge, load_dataset_file

from server.datasets import DatasetEntry, DatasetRegistry
from server.errors import (AlreadyExists, DataLoss, FailedPrecondition, InvalidArgument, NotFound,
                           ResourceExhausted)
from server.fsutil import file_sha256, fsync_dir, write_synced
from server.ids import check_id
from server.streams import receive_file

log = logging.getLogger(__name__)

DATA_FILE, META_FILE = "data.npz", "dataset.json"
_TEMP_PREFIXES = (".upload-", ".deleting-")


@dataclass(frozen=True)
class UploadSpec:
    """The metadata of one upload, as the client declared it (checked by UploadSpec.check)."""

    name: str
    format: str
    size_bytes: int | None = None
    sha256: str = ""
    test_fraction: float | None = None
    seed: int = 0
    class_names: tuple[str, ...] = ()


class DatasetStore:
    """The uploaded datasets in one directory: upload, list, get, delete, and load for training."""

    def __init__(self, root: Path, max_upload_bytes: int, max_dataset_bytes: int,
                 reserved: Iterable[str] = (), max_concurrent: int = 2) -> None:
        self.root = Path(root)
        self.max_upload_bytes, self.max_dataset_bytes = max_upload_bytes, max_dataset_bytes
        self.reserved = frozenset(reserved)
        # Each upload holds an RPC thread while its client sends: a few slow clients must not
        # take every thread from Predict and the rest.
        self.max_concurrent = max_concurrent
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._registry: DatasetRegistry | None = None
        self.root.mkdir(parents=True, exist_ok=True)
        for leftover in self.root.iterdir():  # uploads or deletes a previous process left midway
            if leftover.name.startswith(_TEMP_PREFIXES):
                shutil.rmtree(leftover, ignore_errors=True)

    def __repr__(self) -> str:
        return f"DatasetStore({str(self.root)!r}, uploading={sorted(self._pending)})"

    # --- upload ------------------------------------------------------------------------------

    def upload(self, spec: UploadSpec, chunks: Iterable[bytes | str]) -> dict:
        """Receive, check and store one dataset file; returns its metadata.

        `chunks` are the file's bytes in order, optionally followed by its hex sha256 (a str)."""
        self._claim(spec)
        work = self.root / f".upload-{uuid.uuid4().hex}"
        try:
            work.mkdir()
            raw = work / f"upload.{spec.format}"
            size, digest = self._receive(raw, spec, chunks)
            parsed = self._parse(raw, spec)
            meta = _write_dataset(work, raw, spec, parsed, size, digest)
            os.rename(work, self.root / spec.name)
            fsync_dir(self.root)
            if self._registry is not None:  # jobs can train on it from now on
                self._registry.register(self.entry(meta))
        except OSError as exc:  # a full or read-only state directory
            raise ResourceExhausted(f"cannot store dataset {spec.name!r} under {self.root}: "
                                    f"{exc.strerror or exc}; free space or fix its permissions") from None
        finally:
            with self._lock:
                self._pending.discard(spec.name)
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)
        log.info("dataset %s uploaded: %s, %d train / %d test rows, %d classes", spec.name,
                 meta["input_shape"], meta["train_size"], meta["test_size"], meta["classes"])
        return meta

    def _claim(self, spec: UploadSpec) -> None:
        """Reserve the name for this upload: ALREADY_EXISTS if it is taken or being uploaded."""
        if spec.name.lower() in self.reserved:  # "MNIST" would read as the built-in elsewhere
            raise AlreadyExists(f"dataset {spec.name!r} is built in; choose another name")
        if spec.size_bytes is not None and spec.size_bytes > self.max_upload_bytes:
            raise ResourceExhausted(f"the file is {spec.size_bytes} bytes; uploads are limited to "
                                    f"{self.max_upload_bytes} bytes (max_upload_bytes)")
        taken = self._registry is not None and spec.name.lower() in map(str.lower, self._registry.names())
        with self._lock:
            if taken or spec.name in self._pending or (self.root / spec.name).exists():
                raise AlreadyExists(f"dataset {spec.name!r} exists already; delete it first or "
                                    "choose another name")
            if len(self._pending) >= self.max_concurrent:
                raise ResourceExhausted(f"{len(self._pending)} uploads are in progress, the most this "
                                        "server takes at once; retry when one has ended")
            self._pending.add(spec.name)

    def _receive(self, path: Path, spec: UploadSpec, chunks: Iterable[bytes | str]) -> tuple[int, str]:
        """Write the chunks to `path` as they arrive, enforcing the limits; returns (size, sha256)."""
        return receive_file(path, chunks, limit=self.max_upload_bytes, declared_size=spec.size_bytes,
                            declared_sha256=spec.sha256)

    def _parse(self, path: Path, spec: UploadSpec):
        """The checked arrays of the received file (nncore's errors become status codes)."""
        try:
            return load_dataset_file(path, spec.format, max_bytes=self.max_dataset_bytes,
                                     test_fraction=spec.test_fraction, seed=spec.seed,
                                     classes=len(spec.class_names) or None)
        except DatasetTooLarge as exc:
            raise ResourceExhausted(str(exc)) from None
        except ValueError as exc:
            raise InvalidArgument(f"dataset {spec.name!r} is not usable: {exc}") from None

    # --- queries -----------------------------------------------------------------------------

    def entries(self) -> list[dict]:
        """The metadata of every stored dataset, by name (unreadable ones are skipped and logged)."""
        metas = []
        for path in sorted(self.root.iterdir()):
            if path.name.startswith(".") or not path.is_dir():
                continue
            try:
                metas.append(self.meta(path.name))
            except DataLoss as exc:
                log.warning("%s", exc.message)
        return metas

    def meta(self, name: str) -> dict:
        """One dataset's metadata; NOT_FOUND if there is none."""
        return read_meta(self.root, name)

    def attach(self, registry: DatasetRegistry) -> None:
        """Register every stored dataset in `registry`, and each new upload from now on."""
        self._registry = registry
        for meta in self.entries():
            try:
                registry.register(self.entry(meta))
            except (FailedPrecondition, ValueError, KeyError) as exc:  # e.g. a name now built in
                log.error("uploaded dataset %s is not served: %s", meta.get("name"), exc)

    def entry(self, meta: dict) -> DatasetEntry:
        """The registry entry of a stored dataset (its arrays are read on first use)."""
        name = meta["name"]
        names = meta.get("class_names") or [str(c) for c in range(meta["classes"])]
        # A plain function of paths, not of this store: a Dask worker runs it too (on the shared state dir).
        return DatasetEntry(name=name, loader=functools.partial(read_arrays, self.root, name),
                            input_shape=meta["input_shape"],
                            class_names=names, train_size=meta["train_size"], test_size=meta["test_size"],
                            source=f"uploaded {meta.get('format', '')} file", builtin=False, dtype=meta["dtype"],
                            checksums={DATA_FILE: meta["data_sha256"]})  # a worker caches by it

    def deletable(self, name: str) -> dict:
        """The metadata of an uploaded dataset that may be deleted; FAILED_PRECONDITION for a
        built-in name, NOT_FOUND for an unknown one."""
        if name.lower() in self.reserved:
            raise FailedPrecondition(f"dataset {name!r} is built in and cannot be deleted")
        return self.meta(name)

    def delete(self, name: str) -> dict:
        """Remove an uploaded dataset's files (the caller has unregistered it: no job uses it)."""
        meta = self.deletable(name)
        doomed = self.root / f".deleting-{uuid.uuid4().hex}"
        with self._lock:
            os.rename(self.root / name, doomed)  # gone at once for readers; removed below
        fsync_dir(self.root)
        shutil.rmtree(doomed, ignore_errors=True)
        log.info("dataset %s deleted", name)
        return meta


def read_meta(root: Path, name: str) -> dict:
    """The metadata of the dataset uploaded under `root`; NOT_FOUND if there is none."""
    check_id(name, "dataset name")
    path = root / name / META_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise NotFound(f"no uploaded dataset named {name!r} (ListDatasets shows them)") from None
    except (OSError, ValueError) as exc:
        raise DataLoss(f"dataset {name!r}: {path} is unreadable ({exc}); delete the dataset "
                       "and upload it again") from None


def read_arrays(root: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The arrays of the dataset uploaded under `root`, checked against its recorded sha256."""
    meta = read_meta(root, name)
    path = root / name / DATA_FILE
    if file_sha256(path) != meta["data_sha256"]:
        raise DataLoss(f"dataset {name!r}: {path} fails its checksum; upload the dataset again")
    try:  # nncore's reader: the same checks as at upload, no pickle
        parsed = load_dataset_file(path, "npz", max_bytes=path.stat().st_size)
    except ValueError as exc:
        raise DataLoss(f"dataset {name!r}: {path} is unusable ({exc}); upload the dataset again") from None
    return parsed.x_train, parsed.t_train, parsed.x_test, parsed.t_test


def _write_dataset(work: Path, raw: Path, spec: UploadSpec, parsed, size: int, digest: str) -> dict:
    """data.npz and dataset.json in the work directory, both fsynced; returns the metadata.

    An .npz that holds exactly the checked arrays becomes data.npz as it is: no second write."""
    data = work / DATA_FILE
    if parsed.as_read:
        with open(raw, "rb+") as kept:
            os.fsync(kept.fileno())
        os.rename(raw, data)
        data_digest = digest
    else:
        raw.unlink()  # the arrays replace it: at most one copy on disk at a time
        with open(data, "xb") as out:
            np.savez(out, **parsed.arrays())  # numeric arrays only (nncore checked): nothing pickled
            out.flush()
            os.fsync(out.fileno())
        data_digest = file_sha256(data)
    meta = {"name": spec.name, "source": "uploaded", "format": spec.format,
            "input_shape": list(parsed.input_shape), "dtype": str(parsed.x_train.dtype),
            "classes": parsed.classes, "class_names": list(spec.class_names),
            "train_size": len(parsed.x_train), "test_size": len(parsed.x_test),
            "sha256": digest, "size_bytes": size, "created": time.time(),
            "data_sha256": data_digest}
    write_synced(work / META_FILE, json.dumps(meta, indent=1).encode())
    fsync_dir(work)
    return meta

