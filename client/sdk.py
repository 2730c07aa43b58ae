"""NNClient: a thin, typed Python SDK for the nnservice.v1 gRPC API."""
from __future__ import annotations

import contextlib
import time
from typing import Iterator, NamedTuple, Optional, Sequence

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc

from .channel import make_channel
from .datasets import DatasetInfo, UploadProgressBar, prepare_upload
from .errors import NNServiceError, rpc_errors
from .lifecycle import LifecycleCalls
from .progress import JobProgressBar
from .streams import file_upload_call
from .tensors import (REQUEST_OVERHEAD, as_image_batch, decode_tensor, encode_images, one_input_shapes,
                      split_rows)
from .types import Health, JobStatus, ModelInfo, Prediction, state_value


#: Hyper-parameters `NNClient.train` accepts: the fields of TrainRequest.
TRAIN_PARAMETERS = tuple(f.name for f in pb.TrainRequest.DESCRIPTOR.fields)
_REPEATED = frozenset(f.name for f in pb.TrainRequest.DESCRIPTOR.fields if f.is_repeated)
DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_BATCH_ROWS = 4096
#: How long watch()/wait() keep reopening a broken stream (server draining or restarting).
DEFAULT_RECONNECT_SECONDS = 60.0
RECONNECT_FIRST_DELAY, RECONNECT_MAX_DELAY = 0.2, 2.0


class _ModelInputs(NamedTuple):
    """What predict() needs to know about a model, from GetModel once per model id."""

    shapes: tuple[tuple[int, ...], ...]  # one input's shape, and its flat form
    one_request_rows: int                # uint8 rows that fit one request
    class_names: tuple[str, ...]
    # floats must be pixels scaled to [0, 1]: False only for a model known to take float features
    pixels: bool = True


def _left(deadline: Optional[float]) -> Optional[float]:
    """Seconds until `deadline` (None: no deadline), at least a millisecond."""
    return None if deadline is None else max(0.001, deadline - time.monotonic())


def train_request(hyperparameters: dict) -> pb.TrainRequest:
    """A TrainRequest from keyword arguments; None means "server default"."""
    unknown = sorted(set(hyperparameters) - set(TRAIN_PARAMETERS))
    if unknown:
        raise TypeError(
            f"train() got unexpected keyword argument(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(TRAIN_PARAMETERS)}"
        )
    request = pb.TrainRequest()
    for name, value in hyperparameters.items():
        if value is None:
            continue
        try:
            if name in _REPEATED:
                getattr(request, name).extend([value] if isinstance(value, int) else value)
            else:
                setattr(request, name, value)
        except (TypeError, ValueError) as error:
            kind = pb.TrainRequest.DESCRIPTOR.fields_by_name[name].cpp_type
            expected = "a string" if kind == 9 else "a non-negative number"
            raise TypeError(f"train(): {name} must be {expected}, got {value!r} ({error})") from None
    return request


def _names_of(classes, names: tuple[str, ...]) -> tuple[str, ...]:
    """Each class's name, or () when the model has no names."""
    return tuple(names[c] for c in classes) if names else ()


class NNClient(LifecycleCalls):
    """A connection to an nnservice server; use it as a context manager.

    Every call has a deadline of `timeout` seconds (watch/wait: none unless
    given). UNAVAILABLE is retried with exponential backoff by gRPC itself
    (client.channel.service_config; `retry_attempts` counts the first try).
    Failed calls raise NNServiceError.
    TLS is used when `tls` is true or any PEM (bytes) is given; `token` is
    sent as `authorization: Bearer <token>`. One client may be shared by
    threads (besides the gRPC channel it holds only a cache of each model's
    input shape and class names, filled by GetModel on a model's first predict).
    """

    def __init__(
        self,
        target: str = "localhost:50051",
        timeout: Optional[float] = 30.0,
        *,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
        root_certificates: Optional[bytes] = None,
        private_key: Optional[bytes] = None,
        certificate_chain: Optional[bytes] = None,
        tls: bool = False,
        token: Optional[str] = None,
        retry_attempts: int = 5,
        options: Sequence[tuple] = (),
    ) -> None:
        if max_request_bytes < 4096 or max_batch_rows < 1:
            raise ValueError("max_request_bytes must be >= 4096 and max_batch_rows >= 1")
        self.target = target
        self.timeout = timeout
        self.max_request_bytes = max_request_bytes
        self.max_batch_rows = max_batch_rows
        self._channel = make_channel(
            target, root_certificates=root_certificates, private_key=private_key,
            certificate_chain=certificate_chain, tls=tls, token=token,
            retry_attempts=retry_attempts, options=options,
        )
        self._stub = pb_grpc.NNServiceStub(self._channel)
        # The file-streaming calls take chunk messages framed by hand (client.streams).
        self._upload_dataset = file_upload_call(self._channel, "UploadDataset", pb.DatasetInfo)
        self._import_model = file_upload_call(self._channel, "ImportModel", pb.ModelInfo)
        self._inputs: dict[str, _ModelInputs] = {}  # model id -> its inputs (models never change)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def __repr__(self) -> str:
        return f"NNClient(target={self.target!r}, timeout={self.timeout!r})"

    def __enter__(self) -> "NNClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel; calls in flight are cancelled."""
        self._channel.close()

    def _call(self, method: str, request):
        """Run a unary RPC with the client's deadline, mapping errors to NNServiceError."""
        with rpc_errors(method):
            return getattr(self._stub, method)(request, timeout=self.timeout)

    def train(self, **hyperparameters) -> tuple[str, JobStatus]:
        """Queue a training job; returns (job_id, first status). See TRAIN_PARAMETERS.

        A deep network: train(hidden_sizes=[512, 256], batch_norm=True, dropout=0.2,
        weight_decay=1e-4); hidden_size=N is the one-layer shorthand (not both).
        """
        response = self._call("Train", train_request(hyperparameters))
        return response.job_id, JobStatus.from_proto(response.status)

    def status(self, job_id: str) -> JobStatus:
        """The current status of one job."""
        return JobStatus.from_proto(self._call("GetStatus", pb.GetStatusRequest(job_id=job_id)))

    def cancel(self, job_id: str) -> JobStatus:
        """Ask a queued or running job to stop; returns its status (CANCELLING or ended)."""
        return JobStatus.from_proto(self._call("CancelJob", pb.CancelJobRequest(job_id=job_id)))

    def watch(self, job_id: str, timeout: Optional[float] = None,
              reconnect: float = DEFAULT_RECONNECT_SECONDS) -> Iterator[JobStatus]:
        """Statuses of the job on every change, until it ends (no deadline unless `timeout`).

        Once a status has arrived, a stream that breaks with UNAVAILABLE (the
        server drains, restarts or is unreachable) is opened again, with
        backoff, for up to `reconnect` seconds in a row (0: never), so a
        watcher follows a job across a restart; then the error is raised.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        outage: Optional[float] = None  # when the current run of failed attempts began
        delay, seen = RECONNECT_FIRST_DELAY, False
        while True:
            try:
                for status in self._watch_once(job_id, _left(deadline)):
                    outage, delay, seen = None, RECONNECT_FIRST_DELAY, True
                    yield status
                return
            except NNServiceError as error:
                now = time.monotonic()
                outage = now if outage is None else outage
                if (error.code != grpc.StatusCode.UNAVAILABLE or not seen or now + delay - outage > reconnect
                        or (deadline is not None and now + delay >= deadline)):
                    raise
            time.sleep(delay)
            delay = min(RECONNECT_MAX_DELAY, delay * 2)

    def _watch_once(self, job_id: str, timeout: Optional[float]) -> Iterator[JobStatus]:
        """One WatchJob stream, as JobStatus objects; errors as NNServiceError."""
        with rpc_errors("WatchJob"):
            stream = self._stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=timeout)
            try:
                for message in stream:
                    yield JobStatus.from_proto(message)
            finally:
                stream.cancel()  # the caller stopped early: free the server's watcher

    def wait(self, job_id: str, progress: bool = True, timeout: Optional[float] = None,
             file=None, reconnect: float = DEFAULT_RECONNECT_SECONDS) -> JobStatus:
        """Block until the job ends and return its final status; a tqdm bar when `progress`.

        Follows the job across a server restart like watch() (for up to
        `reconnect` seconds without a connection); if the stream still ends
        before the job does, the status is fetched once more and returned.
        """
        last = None
        with JobProgressBar(job_id, enabled=progress, file=file) as bar:
            with contextlib.closing(self.watch(job_id, timeout=timeout, reconnect=reconnect)) as statuses:
                for last in statuses:
                    bar.update(last)
            if last is None or not last.done:
                last = self.status(job_id)
                bar.update(last)
        return last

    def predict(self, model_id: str, images) -> Prediction:
        """Classes, probabilities and class names for a batch of the model's inputs (or one input).

        The model's input shape (e.g. [N, 28, 28] or [N, 784]) and class names come from
        GetModel, asked once per model. uint8 pixels are sent as DTYPE_UINT8, floats as float32
        (in [0, 1] for a model trained on pixels; as in its dataset for one trained on float
        features, which refuses uint8); a large batch is split into requests under `max_request_bytes` (and
        `max_batch_rows` rows) and the answers are concatenated in order.
        """
        inputs = self._model_inputs(model_id)
        if type(images) is np.ndarray and images.dtype == np.uint8:
            shape = images.shape
            if shape[1:] in inputs.shapes and 0 < shape[0] <= inputs.one_request_rows:
                return self._predict_one(model_id, images, list(shape), inputs.class_names)
            if shape in inputs.shapes:  # one image: a batch of one
                return self._predict_one(model_id, images, [1, *shape], inputs.class_names)
        batch = as_image_batch(images, inputs.shapes, pixels=inputs.pixels)
        classes, probabilities = [], []
        for chunk in split_rows(batch, self.max_request_bytes, self.max_batch_rows):
            request = pb.PredictRequest(model_id=model_id, input=encode_images(chunk))
            response = self._call("Predict", request)
            classes.append(np.asarray(response.classes, dtype=np.int64))
            probabilities.append(decode_tensor(response.probabilities))
        merged = np.concatenate(classes)
        return Prediction(model_id, merged, np.concatenate(probabilities),
                          _names_of(merged.tolist(), inputs.class_names))

    def _predict_one(self, model_id: str, pixels: np.ndarray, shape: list, names: tuple[str, ...]) -> Prediction:
        """predict() for uint8 images that fit one request: the common case, kept to few calls
        (at batch 1 the SDK's own Python work used to cost more than the server's handler)."""
        tensor = pb.Tensor(shape=shape, dtype=pb.DTYPE_UINT8, raw_data=pixels.tobytes())
        try:
            response = self._stub.Predict(pb.PredictRequest(model_id=model_id, input=tensor),
                                          timeout=self.timeout)
        except grpc.RpcError as error:
            raise NNServiceError.from_rpc_error(error, "Predict") from None
        classes = response.classes
        return Prediction(model_id, np.fromiter(classes, np.int64, len(classes)),
                          decode_tensor(response.probabilities), _names_of(classes, names))

    def _model_inputs(self, model_id: str) -> _ModelInputs:
        """The model's input shapes and class names, cached; unknown (the server judges) if
        GetModel fails, so that Predict itself reports what is wrong."""
        inputs = self._inputs.get(model_id)
        if inputs is not None:
            return inputs
        try:
            info = self.get_model(model_id)
        except NNServiceError:
            return _ModelInputs((), 1, ())
        arch = info.architecture
        shapes = one_input_shapes(arch.input_shape or (arch.input_size,)) if arch else ()
        features = shapes[-1][0] if shapes else 1
        rows = max(1, min(self.max_batch_rows, (self.max_request_bytes - REQUEST_OVERHEAD) // features))
        inputs = self._inputs[model_id] = _ModelInputs(shapes, rows, info.class_names, info.input_dtype != "float32")
        return inputs

    def list_jobs(self, state: Optional[str] = None, page_size: int = 100,
                  limit: Optional[int] = None) -> list[JobStatus]:
        """Jobs, newest first, optionally in one `state` ("RUNNING", ...).

        Follows next_page_token until the last page, or until `limit` jobs.
        """
        state_enum = state_value(state) if state else pb.JOB_STATE_UNSPECIFIED
        jobs: list[JobStatus] = []
        token = ""
        while True:
            request = pb.ListJobsRequest(state=state_enum, page_size=page_size, page_token=token)
            response = self._call("ListJobs", request)
            jobs.extend(JobStatus.from_proto(j) for j in response.jobs)
            token = response.next_page_token
            if not token or (limit is not None and len(jobs) >= limit):
                return jobs[:limit]

    def list_models(self, page_size: int = 100, limit: Optional[int] = None) -> list[ModelInfo]:
        """Models, newest first; follows page tokens like list_jobs."""
        models: list[ModelInfo] = []
        token = ""
        while True:
            response = self._call("ListModels", pb.ListModelsRequest(page_size=page_size, page_token=token))
            models.extend(ModelInfo.from_proto(m) for m in response.models)
            token = response.next_page_token
            if not token or (limit is not None and len(models) >= limit):
                return models[:limit]

    def get_model(self, model_id: str) -> ModelInfo:
        """One model's architecture, training config and metrics."""
        return ModelInfo.from_proto(self._call("GetModel", pb.GetModelRequest(model_id=model_id)))

    def upload_dataset(self, source, name: str, *, format: Optional[str] = None,
                       test_fraction: Optional[float] = None, seed: Optional[int] = None,
                       class_names: Sequence[str] = (), sha256: bool | str = True, progress: bool = True,
                       timeout: Optional[float] = None, file=None) -> DatasetInfo:
        """Upload a dataset file (.npz/.csv/.zip/.tar.gz path) or arrays, with a tqdm bar.

        Arrays are a dict {x_train, t_train[, x_test, t_test]} or a tuple in that order, sent
        as an .npz. The size is declared, and the sha256 (see client.datasets.prepare_upload),
        so the server checks them. No deadline unless `timeout`."""
        upload = prepare_upload(source, name, format=format, test_fraction=test_fraction, seed=seed,
                                class_names=class_names, sha256=sha256)
        with UploadProgressBar(name, upload.size, enabled=progress, file=file) as bar:
            with rpc_errors("UploadDataset"):
                return DatasetInfo.from_proto(self._upload_dataset(upload.requests(bar.update),
                                                                       timeout=timeout))

    def list_datasets(self) -> list[DatasetInfo]:
        """Datasets the server can train on: built in, then uploaded."""
        response = self._call("ListDatasets", pb.ListDatasetsRequest())
        return [DatasetInfo.from_proto(d) for d in response.datasets]

    def get_dataset(self, name: str) -> DatasetInfo:
        """One dataset's shape, classes and sizes."""
        return DatasetInfo.from_proto(self._call("GetDataset", pb.GetDatasetRequest(name=name)))

    def delete_dataset(self, name: str) -> DatasetInfo:
        """Delete an uploaded dataset (refused while a queued or running job uses it)."""
        return DatasetInfo.from_proto(self._call("DeleteDataset", pb.DeleteDatasetRequest(name=name)))

    def health(self, service: str = "") -> Health:
        """The grpc.health.v1 status of the server ("") or of one service by name."""
        with rpc_errors("Health/Check"):
            response = self._health.Check(health_pb2.HealthCheckRequest(service=service),
                                          timeout=self.timeout)
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
        return Health(status=status, service=service)
