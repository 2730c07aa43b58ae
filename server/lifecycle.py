"""Model and job lifecycle: delete, export (one self-contained file), import (validated like an upload).

The exported file is nncore's network file (nncore.persist: weights + architecture) with the
model's metadata (name, dataset, input shape, class names, training config, final metrics) as
its "metadata" JSON member, so the file alone rebuilds the model on another server.
"""

from __future__ import annotations

import logging
import math
import shutil
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from nncore.config import TrainConfig
from nncore.dataformats import DatasetTooLarge
from nncore.multilayer import MultiLayerNet
from nncore.persist import network_to_bytes, read_network_file

from server.convert import MAX_NAME_CHARS
from server.datasets import INPUT_DTYPES, model_dataset, model_input_dtype
from server.errors import InvalidArgument, ResourceExhausted
from server.ids import check_id, new_job_id
from server.jobs import JobManager
from server.records import JobRecord
from server.serving import ModelRegistry
from server.settings import Settings
from server.streams import receive_file

log = logging.getLogger(__name__)

EXPORT_FORMATS = ("npz", "onnx")
EXPORT_VERSION = 1  # of the "metadata" member
_METRIC_FIELDS = ("loss", "train_accuracy", "test_accuracy", "seconds")


@dataclass(frozen=True)
class ImportSpec:
    """The metadata of one import, as the client declared it."""

    name: str = ""
    size_bytes: int | None = None
    sha256: str = ""


class ModelLifecycle:
    """Deletes models and jobs, exports models as files and imports such files as new models."""

    def __init__(self, settings: Settings, jobs: JobManager, models: ModelRegistry) -> None:
        self._settings, self._jobs, self._models = settings, jobs, models
        # An import holds an RPC thread while its client sends: a few must not starve Predict.
        self._importing = threading.BoundedSemaphore(max(1, settings.grpc_workers // 4))

    def __repr__(self) -> str:
        return f"ModelLifecycle({self._models!r})"

    def delete_model(self, model_id: str) -> dict:
        """Delete a model; the job that trained it keeps its record."""
        if not self._models.exists(check_id(model_id, "model_id")):
            self._models.meta(model_id)  # NOT_FOUND or FAILED_PRECONDITION, saying why there is none
        return self._models.delete(model_id)

    def delete_job(self, job_id: str, delete_model: bool = False) -> JobRecord:
        """Delete an ended job's record (FAILED_PRECONDITION while it is active), and its model if asked."""
        record = self._jobs.deletable(job_id)
        if delete_model and record.model_id and self._models.exists(record.model_id):
            self._models.delete(record.model_id)
        return self._jobs.delete(job_id)

    def export(self, model_id: str, fmt: str = "") -> tuple[str, bytes]:
        """(format, the file's bytes) of a model: "npz" (default) or "onnx"."""
        fmt = fmt.strip().lower() or EXPORT_FORMATS[0]
        if fmt not in EXPORT_FORMATS:
            raise InvalidArgument(f"format must be one of {', '.join(EXPORT_FORMATS)}; got {fmt[:40]!r}")
        meta = self._models.meta(model_id)
        net = self._models.network(model_id)
        if fmt == "onnx":
            from server.onnx_export import onnx_bytes  # the optional `onnx` extra, only when asked
            return fmt, onnx_bytes(net, meta)
        return fmt, network_to_bytes(net, metadata=export_metadata(meta))

    def import_model(self, spec: ImportSpec, chunks: Iterable[bytes | str]) -> dict:
        """Receive, check and store a model file; returns the new model's metadata (a fresh id)."""
        if not self._importing.acquire(blocking=False):
            raise ResourceExhausted("too many imports are in progress; retry when one has ended")
        store = self._models.store
        try:
            work = store.work_dir()
            try:
                path = work / "import.npz"
                limit = self._settings.max_upload_bytes
                size, digest = receive_file(path, chunks, limit=limit, declared_size=spec.size_bytes,
                                            declared_sha256=spec.sha256, what="import")
                net, meta = self._checked(path, limit, spec, digest)
                saved = store.save(new_job_id(), net, meta)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        except OSError as exc:  # a full or read-only state directory
            raise ResourceExhausted(f"cannot store the imported model under {store.root}: "
                                    f"{exc.strerror or exc}; free space or fix its permissions") from None
        finally:
            self._importing.release()
        log.info("model %s imported (%d bytes, from model %s)", saved["model_id"], size,
                 meta["imported_from"].get("model_id") or "unknown")
        return saved

    def _checked(self, path, limit: int, spec: ImportSpec, digest: str) -> tuple[MultiLayerNet, dict]:
        """The network of a received file and the model metadata to store, or INVALID_ARGUMENT."""
        try:
            net, extra = read_network_file(path, max_bytes=limit)
        except DatasetTooLarge:
            raise ResourceExhausted(f"the model file decompresses to more than {limit} bytes "
                                    "(max_upload_bytes)") from None
        except ValueError as exc:
            raise InvalidArgument(f"the file is not a usable model: {exc}") from None
        if net.parameter_count > self._settings.max_parameters:
            raise InvalidArgument(f"the model has {net.parameter_count:,} parameters; this server allows at "
                                  f"most {self._settings.max_parameters:,} (NNSVC_MAX_PARAMETERS)")
        try:
            meta = imported_metadata(net, extra, spec.name)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:  # Overflow: JSON's Infinity as a count
            raise InvalidArgument(f"the file's model metadata does not fit its network: {exc}") from None
        meta["imported_from"]["file_sha256"] = digest
        return net, meta


def export_metadata(meta: dict) -> dict:
    """What an exported file says about its model besides the network (which nncore stores)."""
    dataset, input_shape, class_names = model_dataset(meta)
    return {"nnservice_export": EXPORT_VERSION, "model_id": meta["model_id"], "name": meta.get("name", ""),
            "dataset": dataset, "input_shape": list(input_shape),
            "class_names": list(class_names), "input_dtype": model_input_dtype(meta), "config": meta["config"],
            "final_metrics": meta.get("final_metrics"), "created": meta["created"]}


def imported_metadata(net: MultiLayerNet, extra: dict, name: str = "") -> dict:
    """The model.json fields of an imported network from its file's metadata; ValueError (or
    KeyError / TypeError) when the metadata is missing or disagrees with the network."""
    if extra.get("nnservice_export") != EXPORT_VERSION:
        raise ValueError("the file has no nnservice metadata (version "
                         f"{EXPORT_VERSION}): export the model with ExportModel (nnctl model export)")
    name = name or _text(extra.get("name", ""), "name", MAX_NAME_CHARS)
    shape = [int(d) for d in extra["input_shape"]]
    if not shape or min(shape) < 1 or math.prod(shape) != net.input_size:
        raise ValueError(f"input_shape {shape} does not match the network's {net.input_size} inputs")
    names = [_text(n, "class name", MAX_NAME_CHARS) for n in extra["class_names"]]
    if len(names) != net.output_size or len(set(names)) != len(names) or not all(names):
        raise ValueError(f"class_names must be {net.output_size} distinct, non-empty names (one per output)")
    dataset = _text(extra.get("dataset", ""), "dataset", 64)
    input_dtype = extra.get("input_dtype", "")  # files exported before it was recorded have none
    if input_dtype not in ("", *INPUT_DTYPES):
        raise ValueError(f"input_dtype must be one of {', '.join(INPUT_DTYPES)}; got {input_dtype!r}")
    config = _config(extra["config"], net, dataset)
    return {"job_id": "", "name": name, "architecture": net.architecture, "config": config,
            "final_metrics": _metrics(extra.get("final_metrics")), "created": time.time(),
            "dataset": dataset, "input_shape": shape, "class_names": names,
            **({"input_dtype": input_dtype} if input_dtype else {}),
            "imported_from": {"model_id": _text(extra.get("model_id", ""), "model_id", 64),
                              "created": float(extra.get("created") or 0.0)}}


def _text(value, what: str, limit: int) -> str:
    """A string of at most `limit` characters."""
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"{what} must be a string of at most {limit} characters")
    return value


def _config(config: dict, net: MultiLayerNet, dataset: str) -> dict:
    """The training config, validated by nncore and agreeing with the network's shape."""
    if not isinstance(config, dict):
        raise TypeError("config must be a JSON object")
    resolved = TrainConfig.from_dict({k: v for k, v in config.items() if k != "dataset"})
    if (tuple(resolved.hidden_sizes), resolved.activation) != (net.hidden_sizes, net.activation):
        raise ValueError(f"config {list(resolved.hidden_sizes)} {resolved.activation} disagrees with the "
                         f"network's {list(net.hidden_sizes)} {net.activation}")
    return {**resolved.to_dict(), "hidden_sizes": list(resolved.hidden_sizes), "dataset": dataset}


def _metrics(record) -> dict | None:
    """An epoch's metrics record (or None), with finite numbers."""
    if record is None:
        return None
    out = {"epoch": int(record["epoch"])}
    if not 0 <= out["epoch"] < 2**32:
        raise ValueError("final_metrics.epoch must be a count of epochs")
    for field in _METRIC_FIELDS:
        value = float(record[field])
        if not math.isfinite(value):
            raise ValueError(f"final_metrics.{field} must be finite")
        out[field] = value
    return out
