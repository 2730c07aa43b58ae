"""DataPlane: the operations every front door (nnservice.v1, KServe v2, HTTP) translates to.

It takes and returns domain values (job records, metadata dicts, NumPy arrays), never protobuf,
and raises server.errors.ServiceError, which each front door maps to its status codes in one
place. A second protocol is a second translator onto these methods, never a second
implementation (MLServer's DataPlane has the same role).
"""

from __future__ import annotations

import threading
import time
from importlib import metadata
from typing import TYPE_CHECKING, Callable, Iterator, NamedTuple, Sequence

import numpy as np

from server.datasets import DatasetEntry, DatasetRegistry
from server.errors import DataLoss, FailedPrecondition, InvalidArgument, ServiceError
from server.ids import check_id
from server.jobs import JobManager
from server.lifecycle import ImportSpec, ModelLifecycle
from server.metrics import UNEXPECTED, Metrics
from server.priority import ServingGate
from server.records import JobRecord
from server.serving import ModelRegistry
from server.settings import Settings
from server.tensors import FLOAT_FEATURES_ONLY, Batch, InputSpec
from server.uploads import DatasetStore, UploadSpec

if TYPE_CHECKING:  # server.convert speaks protobuf; the data plane only takes its JobSpec
    from server.convert import JobSpec

SERVER_NAME = "nnservice"


class Prediction(NamedTuple):
    """A Predict answer: the classes, their probabilities, and the model's input spec (class names)."""

    classes: Sequence[int]
    probabilities: np.ndarray | list[float]  # (N, classes) float32; or one row as Python floats (N = 1)
    typed: bool  # answer with typed values (the input came typed), else raw little-endian bytes
    spec: InputSpec

    @property
    def class_names(self) -> list[str]:
        """The name of each row's class."""
        return [self.spec.class_names[c] for c in self.classes]


class ModelState(NamedTuple):
    """One model of the repository index: ready, or not with the reason why."""

    model_id: str
    ready: bool
    reason: str


def server_version() -> str:
    """The installed nnservice distribution's version."""
    try:
        return metadata.version("nnservice")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


class DataPlane:
    """Jobs, models, predictions, datasets and health behind every front door."""

    def __init__(self, settings: Settings, jobs: JobManager, models: ModelRegistry,
                 serving: ServingGate | None = None, uploads: DatasetStore | None = None,
                 draining: threading.Event | None = None, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self._jobs = jobs
        self._models = models
        self._serving = serving or ServingGate(enabled=False)
        self._uploads = uploads
        self._draining = draining or threading.Event()
        self._lifecycle = ModelLifecycle(settings, jobs, models)
        self.metrics = metrics  # Prometheus metrics (server/metrics.py); None with --no-metrics
        self._meter = None if metrics is None else metrics.predict

    def __repr__(self) -> str:
        return f"DataPlane({self._jobs!r}, {self._models!r})"

    @property
    def datasets(self) -> DatasetRegistry:
        """The dataset registry Train requests are validated against."""
        return self._jobs.datasets

    # --- jobs -------------------------------------------------------------------------------

    def train(self, spec: JobSpec) -> JobRecord:
        """Queue a validated training job."""
        return self._jobs.submit(spec.config_dict(), spec.name)

    def job(self, job_id: str) -> JobRecord:
        """A job's current record."""
        return self._jobs.get(job_id)

    def watch(self, job_id: str, is_active: Callable[[], bool]) -> Iterator[JobRecord]:
        """The job's record on every change until it ends or is_active() turns false."""
        return self._jobs.watch(check_id(job_id, "job_id"), is_active)

    @property
    def feed(self):
        """Every job change in order (server.jobfeed.JobFeed): the dashboard's live view."""
        return self._jobs.feed

    def wake(self, job_id: str) -> None:
        """Wake the watchers of a job (a client has gone)."""
        self._jobs.wake(job_id)

    def cancel(self, job_id: str) -> JobRecord:
        """Ask a queued or running job to stop."""
        return self._jobs.cancel(job_id)

    def jobs(self, state: str | None, page_size: int, page_token: str) -> tuple[list[JobRecord], str]:
        """A page of jobs, newest first, and the next page's token."""
        return self._jobs.list(state, page_size, page_token)

    # --- models and predictions -------------------------------------------------------------

    def predict(self, model_id: str, decode: Callable[[InputSpec], Batch], protocol: str = "nnservice") -> Prediction:
        """Probabilities and classes for the rows decode(model's input spec) returns.

        `protocol` names the front door ("nnservice", "kserve-grpc", "kserve-http"), for metrics:
        every front door's predictions are counted here, and only here. The batch-1 hot path:
        two dict lookups, the decoder, Predictor.predict_one (and, with metrics, two clock reads
        and three pre-bound metric updates)."""
        meter, model = self._meter, None
        start = time.perf_counter() if meter is not None else 0.0
        self._serving.enter()  # training steps wait until it is answered
        try:
            model, spec = self._models.serving(model_id)
            batch = decode(spec)
            if not spec.pixels and batch.is_uint8:  # a pixel model's hot path: one attribute read
                raise InvalidArgument(FLOAT_FEATURES_ONLY)
            if len(batch.x) == 1:  # most requests: the lean path
                cls, probs = model.predict_one(batch.x)
                answer = Prediction((cls,), probs, batch.as_floats, spec)
            else:
                probs = model.predict_proba(batch.x)
                answer = Prediction(probs.argmax(axis=1).tolist(), probs, batch.as_floats, spec)
        except Exception as exc:
            if meter is not None:  # an id that named no model gets the one placeholder label
                code = exc.code.name if isinstance(exc, ServiceError) else UNEXPECTED
                meter.failed(None if model is None else model_id, protocol, code, start)
            raise
        finally:
            self._serving.leave()
        if meter is not None:
            meter.answered(model_id, protocol, len(answer.classes), start)
        return answer

    def model(self, model_id: str) -> dict:
        """One model's stored metadata (NOT_FOUND, FAILED_PRECONDITION or DATA_LOSS otherwise)."""
        return self._models.meta(model_id)

    def signature(self, model_id: str) -> tuple[InputSpec, int]:
        """The inputs a model accepts (and its class names), and how many classes it scores."""
        model, spec = self._models.serving(model_id)
        return spec, model.output_size

    def models(self, page_size: int, page_token: str) -> tuple[list[dict], str]:
        """A page of model metadata, newest first, and the next page's token."""
        return self._models.page(page_size, page_token)

    def model_ready(self, model_id: str) -> bool:
        """Whether the model can answer predictions now; NOT_FOUND for an id that names nothing."""
        try:
            self._models.verify(model_id)
        except (FailedPrecondition, DataLoss):  # a job still training, or damaged files
            return False
        return self.ready()

    def model_index(self) -> list[ModelState]:
        """Every model, newest first, with whether it can be served (and why not)."""
        return [self._model_state(model_id) for model_id in self._models.ids()]

    def _model_state(self, model_id: str) -> ModelState:
        """One model's state for the index."""
        try:
            self._models.verify(model_id)
        except ServiceError as exc:
            return ModelState(model_id, False, exc.message)
        return ModelState(model_id, True, "")

    # --- model and job lifecycle -----------------------------------------------------------

    def delete_model(self, model_id: str) -> dict:
        """Delete a model (its job's record stays); the deleted model's metadata."""
        return self._lifecycle.delete_model(model_id)

    def delete_job(self, job_id: str, delete_model: bool = False) -> JobRecord:
        """Delete an ended job's record, and its model if asked; the deleted record."""
        return self._lifecycle.delete_job(job_id, delete_model)

    def export_model(self, model_id: str, fmt: str = "") -> tuple[str, bytes]:
        """A model as one self-contained file: (format, bytes)."""
        return self._lifecycle.export(model_id, fmt)

    def import_model(self, spec: ImportSpec, chunks: Iterator[bytes | str]) -> dict:
        """Receive, check and store a model file as a new model; its metadata."""
        return self._lifecycle.import_model(spec, chunks)

    # --- datasets ---------------------------------------------------------------------------

    def upload_dataset(self, spec: UploadSpec, chunks: Iterator[bytes | str]) -> dict:
        """Receive, check and store an uploaded dataset; its metadata."""
        return self._store().upload(spec, chunks)

    def dataset_list(self) -> list[dict]:
        """Built-in datasets, then uploaded ones by name."""
        return [builtin_meta(e) for e in self.datasets.entries() if e.builtin] + self._store().entries()

    def dataset(self, name: str) -> dict:
        """One dataset's metadata."""
        builtin = [builtin_meta(e) for e in self.datasets.entries() if e.builtin and e.name == name]
        return builtin[0] if builtin else self._store().meta(name)

    def delete_dataset(self, name: str) -> dict:
        """Delete an uploaded dataset no queued or running job uses; its metadata."""
        store = self._store()
        store.deletable(name)  # NOT_FOUND or FAILED_PRECONDITION before anything changes
        entry = self._jobs.remove_dataset(name)  # FAILED_PRECONDITION while a job uses it
        try:
            return store.delete(name)
        except BaseException:
            self.datasets.register(entry)  # its files are still there: keep serving it
            raise

    def _store(self) -> DatasetStore:
        """The uploaded datasets; FAILED_PRECONDITION on a server built without them."""
        if self._uploads is None:
            raise FailedPrecondition("this server has no dataset store")
        return self._uploads

    # --- server -----------------------------------------------------------------------------

    def live(self) -> bool:
        """Whether the process answers at all (it does, if it runs this)."""
        return True

    def ready(self) -> bool:
        """Whether the server takes work: serving and not draining."""
        return not self._draining.is_set()

    def server_metadata(self) -> dict:
        """The server's name and version."""
        return {"name": SERVER_NAME, "version": server_version()}


def builtin_meta(entry: DatasetEntry) -> dict:
    """A built-in registry entry shaped like an uploaded dataset's dataset.json."""
    return {"name": entry.name, "source": "builtin", "input_shape": list(entry.input_shape),
            "classes": entry.classes, "class_names": list(entry.class_names),
            "train_size": entry.train_size, "test_size": entry.test_size, "dtype": entry.dtype}
