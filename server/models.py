"""Trained models on disk (models/<id>/weights.npz + model.json) and their frozen in-memory copies."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from nncore.functions import sigmoid
from nncore.network import PARAM_NAMES, TwoLayerNet

from server.errors import DataLoss, InvalidArgument
from server.fsutil import fsync_dir, load_npz_bytes, npz_bytes, sha256_hex, write_synced
from server.ids import is_valid_id

log = logging.getLogger(__name__)

MAX_CACHED_MODELS = 32
_META_KEYS = frozenset({"model_id", "job_id", "architecture", "config", "sha256", "size_bytes", "created"})
_TMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to serve: a read-only net, and a twin with W1 pre-scaled for uint8 pixels."""

    model_id: str
    net: TwoLayerNet
    pixel_net: TwoLayerNet  # W1 / 255, so uint8 input needs only a cast, not a scaling pass

    def __post_init__(self) -> None:
        # The arrays unpacked once: on the batch-1 path every attribute or dict lookup is paid
        # per request, and cold (docs/performance.md, "Serving": where a Predict's time goes).
        object.__setattr__(self, "_float_layers", _layers(self.net))
        object.__setattr__(self, "_pixel_layers", _layers(self.pixel_net))

    @classmethod
    def from_params(cls, model_id: str, params: dict, activation: str, dtype: str) -> LoadedModel:
        """Build both frozen nets from stored arrays (from_params copies each array once)."""
        net = TwoLayerNet.from_params(params, activation=activation, dtype=dtype).freeze()
        scaled = dict(params, W1=params["W1"] / 255)  # in the stored dtype, then cast like the rest
        pixel_net = TwoLayerNet.from_params(scaled, activation=activation, dtype=dtype).freeze()
        return cls(model_id, net, pixel_net)

    def _scores(self, x: np.ndarray, product) -> np.ndarray:
        """Class scores (N, classes) of float features or uint8 pixels (N, 784), both layers fused.

        `product` is np.dot or np.matmul: np.dot releases the GIL around the uint8 x float32
        product, right for large batches; np.matmul keeps it for one row, where a release can
        cost a switch interval (5 ms) next to a busy thread (docs/performance.md, "Serving").
        """
        w1, b1, w2, b2, relu = self._pixel_layers if x.dtype == np.uint8 else self._float_layers
        h = product(x, w1)  # (N, 784) @ (784, H) -> (N, H); uint8 pixels are cast inside
        h += b1
        if relu:
            np.maximum(h, 0, out=h)
        else:
            h = sigmoid(h)
        z = product(h, w2)  # (N, H) @ (H, C) -> (N, C)
        z += b2
        return z

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, classes) for float features or uint8 pixels (N, 784).

        The same arithmetic as TwoLayerNet.predict_proba, fused: for one image the forward pass
        costs less than the NumPy calls around it, so this path makes as few calls as it can.
        """
        z = self._scores(x, np.dot)
        z -= z.max(axis=1, keepdims=True)  # softmax per row, in place; exp(z) <= 1 cannot overflow
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z

    def predict_one(self, x: np.ndarray) -> tuple[int, list[float]]:
        """(class, probabilities) of a single row x of shape (1, 784), float features or uint8 pixels.

        The same network as predict_proba with a third of its NumPy calls: the softmax of ten
        scores is done on Python floats (in double precision), and the class is the arg-max of
        the scores. Between two requests the CPU caches go cold, so each call saved is worth
        several microseconds (docs/performance.md, "Serving").
        """
        scores = self._scores(x, np.matmul).tolist()[0]
        top = max(scores)
        exps = [math.exp(v - top) for v in scores]  # each <= 1: cannot overflow
        total = math.fsum(exps)  # >= 1 (the top class contributes exp(0))
        return scores.index(top), [v / total for v in exps]

    def __repr__(self) -> str:
        return f"LoadedModel({self.model_id!r})"


def _layers(net: TwoLayerNet) -> tuple:
    """(W1, b1, W2, b2, is_relu) of a frozen net, for LoadedModel's forward passes."""
    p = net.params
    return p["W1"], p["b1"], p["W2"], p["b2"], net.activation == "relu"


class ModelStore:
    """Persistent models with an index of their metadata and a cache of loaded, frozen nets."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._loaded: dict[str, LoadedModel] = {}
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

    def save(self, model_id: str, params: dict[str, np.ndarray], meta: dict) -> dict:
        """Write weights + metadata into a temporary directory, fsync, and rename it into place."""
        data = npz_bytes({name: params[name] for name in PARAM_NAMES})
        meta = {**meta, "model_id": model_id, "format": 1, "created": meta.get("created", time.time()),
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

    def unreadable(self, model_id: str) -> str | None:
        """Why a model found on disk at start-up is not served (its metadata is damaged), or None."""
        return self._unreadable.get(model_id)

    def meta(self, model_id: str) -> dict | None:
        """The metadata of a model, or None if there is no such model."""
        return self._index.get(model_id)

    def page(self, page_size: int, after: str) -> tuple[list[dict], str]:
        """Models newest first, starting after the model id `after` ("" = from the start)."""
        with self._lock:
            metas = sorted(self._index.values(), key=lambda m: (m["created"], m["model_id"]), reverse=True)
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

    def cached(self, model_id: str) -> LoadedModel | None:
        """The loaded model if it is in memory (the hot path: one dict lookup)."""
        return self._loaded.get(model_id)

    def load(self, model_id: str) -> LoadedModel | None:
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

    def _read_once(self, model_id: str, meta: dict) -> LoadedModel:
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

    def _read(self, model_id: str, meta: dict) -> LoadedModel:
        """Read weights.npz, check its sha256 and shapes, and build the frozen nets."""
        path = self.root / model_id / "weights.npz"
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DataLoss(f"model {model_id}: cannot read {path.name}: {exc}") from None
        actual = sha256_hex(data)
        if actual != meta["sha256"]:
            raise DataLoss(f"model {model_id}: weights.npz is corrupt (sha256 {actual[:12]}... != "
                           f"recorded {meta['sha256'][:12]}...); it is not served: retrain the model")
        params = load_npz_bytes(data)
        arch = meta["architecture"]
        expected = {"W1": (arch["input_size"], arch["hidden_size"]), "b1": (arch["hidden_size"],),
                    "W2": (arch["hidden_size"], arch["output_size"]), "b2": (arch["output_size"],)}
        shapes = {name: params[name].shape for name in params}
        if shapes != expected:
            raise DataLoss(f"model {model_id}: weight shapes {shapes} do not match its architecture")
        return LoadedModel.from_params(model_id, params, arch["activation"], arch["dtype"])


def _file_stamp(path: Path) -> tuple:
    """What changes when a file is rewritten or replaced (None fields if it is missing)."""
    try:
        st = path.stat()
    except OSError:
        return (None, None, None, None)
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
