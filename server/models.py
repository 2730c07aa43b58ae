"""Trained models on disk (models/<id>/weights.npz + model.json) and their frozen in-memory copies.

weights.npz is nncore's network file (weights and architecture: nncore.persist); model.json
adds the index fields, the checksum and the training config. The in-memory copies are
nncore Predictors: the server runs no forward pass of its own.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
import uuid
from pathlib import Path

from nncore.multilayer import MultiLayerNet
from nncore.persist import network_from_bytes, network_to_bytes
from nncore.predictor import Predictor

from server.errors import DataLoss, InvalidArgument, NotFound, ResourceExhausted
from server.fsutil import fsync_dir, sha256_hex, write_synced
from server.ids import is_valid_id

log = logging.getLogger(__name__)

MAX_CACHED_MODELS = 32
_META_KEYS = frozenset({"model_id", "job_id", "architecture", "config", "sha256", "size_bytes", "created"})
_TMP_PREFIX = ".tmp-"


class ModelStore:
    """Persistent models with an index of their metadata and a cache of loaded, frozen nets."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._loaded: dict[str, Predictor] = {}
        self._index: dict[str, dict] = {}
        self._broken: dict[str, tuple[tuple, str]] = {}  # id -> (weights.npz stat, why it is not served)
        self._unreadable: dict[str, str] = {}  # id -> why its model.json was not indexed
        self._scan()

    def __repr__(self) -> str:
        return f"ModelStore({str(self.root)!r}, {len(self._index)} models)"

    def _scan(self) -> None:
        """Drop leftovers of interrupted saves and index every complete model."""
        for entry in self.root.iterdir():
            if entry.name.startswith(_TMP_PREFIX):
                log.warning("removing incomplete model write %s", entry)
                shutil.rmtree(entry, ignore_errors=True)
            elif is_valid_id(entry.name) and entry.is_dir():
                try:
                    meta = json.loads((entry / "model.json").read_text())
                    missing = _META_KEYS - set(meta) if isinstance(meta, dict) else _META_KEYS
                    if missing:
                        raise ValueError(f"model.json lacks {', '.join(sorted(missing))}")
                    self._index[entry.name] = meta
                except (OSError, ValueError) as exc:
                    log.error("model %s has unreadable metadata, not served: %s", entry.name, exc)
                    self._unreadable[entry.name] = (f"model {entry.name}: model.json is unreadable ({exc}); "
                                                    "it is not served: retrain the model")

    def save(self, model_id: str, net: MultiLayerNet, meta: dict) -> dict:
        """Write the network file + metadata into a temporary directory, fsync, and rename it into place."""
        data = network_to_bytes(net)
        meta = {**meta, "model_id": model_id, "format": 2, "created": meta.get("created", time.time()),
                "sha256": sha256_hex(data), "size_bytes": len(data)}
        tmp = self.root / f"{_TMP_PREFIX}{model_id}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            write_synced(tmp / "weights.npz", data)
            write_synced(tmp / "model.json", json.dumps(meta, indent=1, sort_keys=True).encode())
            fsync_dir(tmp)
            os.rename(tmp, self.root / model_id)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsync_dir(self.root)
        with self._lock:
            self._index[model_id] = meta
        return meta

    def delete(self, model_id: str) -> dict:
        """Remove a model from the index, the cache and the disk; returns its metadata (NOT_FOUND if
        there is none). The directory is first renamed to a temporary name the start-up scan removes,
        so a crash midway leaves the model whole or gone, never half."""
        with self._lock:
            meta = self._index.get(model_id)
            damaged = self._unreadable.get(model_id)
            if meta is None and damaged is None:
                raise NotFound(f"no model with id {model_id!r} (ListModels shows them)")
            doomed = self.root / f"{_TMP_PREFIX}deleting-{model_id}-{uuid.uuid4().hex[:8]}"
            try:
                os.rename(self.root / model_id, doomed)
            except FileNotFoundError:  # removed behind the server's back: only the index is left
                pass
            except OSError as exc:
                raise ResourceExhausted(f"cannot delete model {model_id} under {self.root}: "
                                        f"{exc.strerror or exc}; fix the state directory's permissions") from None
            self._index.pop(model_id, None)
            self._unreadable.pop(model_id, None)
            self._loaded.pop(model_id, None)
            self._broken.pop(model_id, None)
        fsync_dir(self.root)  # the rename is durable: after a crash the model is gone
        shutil.rmtree(doomed, ignore_errors=True)
        log.info("model %s deleted", model_id)
        return meta or {"model_id": model_id}

    def work_dir(self) -> Path:
        """A fresh temporary directory in the store, removed at the next start if left behind."""
        path = self.root / f"{_TMP_PREFIX}work-{uuid.uuid4().hex}"
        path.mkdir()
        return path

    def unreadable(self, model_id: str) -> str | None:
        """Why a model found on disk at start-up is not served (its metadata is damaged), or None."""
        return self._unreadable.get(model_id)

    def meta(self, model_id: str) -> dict | None:
        """The metadata of a model, or None if there is no such model."""
        return self._index.get(model_id)

    def page(self, page_size: int, after: str) -> tuple[list[dict], str]:
        """Models newest first, starting after the model id `after` ("" = from the start)."""
        metas = self._newest_first()
        start = 0
        if after:
            ids = [m["model_id"] for m in metas]
            if after not in ids:
                raise InvalidArgument("page_token is not one returned by ListModels; "
                                      "start again with an empty page_token")
            start = ids.index(after) + 1
        chunk = metas[start:start + page_size]
        more = start + page_size < len(metas)
        return chunk, (chunk[-1]["model_id"] if more and chunk else "")

    def ids(self) -> list[str]:
        """Every model id found: the indexed ones newest first, then those with damaged metadata."""
        return [m["model_id"] for m in self._newest_first()] + sorted(set(self._unreadable) - set(self._index))

    def _newest_first(self) -> list[dict]:
        """The indexed models' metadata, newest first."""
        with self._lock:
            return sorted(self._index.values(), key=lambda m: (m["created"], m["model_id"]), reverse=True)

    def cached(self, model_id: str) -> Predictor | None:
        """The loaded model if it is in memory (the hot path: one dict lookup)."""
        return self._loaded.get(model_id)

    def load(self, model_id: str) -> Predictor | None:
        """The loaded model, reading and verifying it once; None if there is no such model."""
        model = self._loaded.get(model_id)
        if model is not None:
            return model
        with self._lock:
            model = self._loaded.get(model_id)
            meta = self._index.get(model_id)
            if model is not None or meta is None:
                return model
            model = self._read_once(model_id, meta)
            if len(self._loaded) >= MAX_CACHED_MODELS:
                self._loaded.pop(next(iter(self._loaded)))  # oldest loaded goes first
            self._loaded[model_id] = model
        log.info("loaded model %s into memory", model_id)
        return model

    def verify(self, model_id: str) -> bool:
        """Whether a model is stored and servable, read and checked without entering the cache
        (so an index of every model does not evict the hot ones); DataLoss if it is damaged."""
        if model_id in self._loaded:
            return True
        with self._lock:
            meta = self._index.get(model_id)
            if meta is None:
                return False
            self._read_once(model_id, meta)
        return True

    def _read_once(self, model_id: str, meta: dict) -> Predictor:
        """_read, but a model that failed is not read and hashed again until its file changes
        (a client retrying Predict on a broken model costs one stat, not a read of the weights)."""
        path = self.root / model_id / "weights.npz"
        stamp = _file_stamp(path)
        known = self._broken.get(model_id)
        if known is not None and known[0] == stamp:
            raise DataLoss(known[1])
        try:
            model = self._read(model_id, meta)
        except DataLoss as exc:
            self._broken[model_id] = (stamp, exc.message)
            log.error("%s", exc.message)
            raise
        except (KeyError, TypeError, ValueError, OSError) as exc:  # npz or metadata that makes no sense
            message = f"model {model_id}: stored files are damaged ({type(exc).__name__}: {exc}); retrain the model"
            self._broken[model_id] = (stamp, message)
            log.error("%s", message)
            raise DataLoss(message) from None
        self._broken.pop(model_id, None)
        return model

    def network(self, model_id: str) -> MultiLayerNet:
        """The stored network itself, read and verified (for export); NOT_FOUND if there is none."""
        meta = self._index.get(model_id)
        if meta is None:
            raise NotFound(f"no model with id {model_id!r} (ListModels shows them)")
        try:
            return self._network(model_id, meta)
        except DataLoss:
            if model_id not in self._index:  # deleted while it was being read
                raise NotFound(f"model {model_id} was deleted") from None
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise DataLoss(f"model {model_id}: stored files are damaged ({type(exc).__name__}: {exc}); "
                           "retrain the model") from None

    def _read(self, model_id: str, meta: dict) -> Predictor:
        """Read weights.npz, check its sha256 and shapes, and build the frozen nets."""
        return self._network(model_id, meta).predictor()

    def _network(self, model_id: str, meta: dict) -> MultiLayerNet:
        """Read weights.npz, check its sha256 and shapes, and rebuild the network."""
        path = self.root / model_id / "weights.npz"
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DataLoss(f"model {model_id}: cannot read {path.name}: {exc}") from None
        actual = sha256_hex(data)
        if actual != meta["sha256"]:
            raise DataLoss(f"model {model_id}: weights.npz is corrupt (sha256 {actual[:12]}... != "
                           f"recorded {meta['sha256'][:12]}...); it is not served: retrain the model")
        # Files from before nncore.persist hold W1 b1 W2 b2 only: model.json has their architecture.
        return network_from_bytes(data, meta["architecture"])


def _file_stamp(path: Path) -> tuple:
    """What changes when a file is rewritten or replaced (None fields if it is missing)."""
    try:
        st = path.stat()
    except OSError:
        return (None, None, None, None)
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
