"""NNServiceServicer: translation between gRPC messages and the job manager / model registry."""

from __future__ import annotations

import functools
import logging

import grpc

from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc
from server.convert import job_to_status, model_to_info, train_request_to_spec
from server.dataset_convert import builtin_meta, dataset_to_info, upload_from_requests
from server.errors import FailedPrecondition, InvalidArgument, ServiceError
from server.ids import check_id
from server.jobs import JobManager
from server.lifecycle import ModelLifecycle
from server.lifecycle_convert import deleted_model_info, export_responses, import_from_requests
from server.priority import ServingGate
from server.serving import ModelRegistry
from server.settings import Settings
from server.tensors import decode_input, encode_probabilities, encode_row
from server.uploads import DatasetStore

log = logging.getLogger(__name__)


def _abort(context: grpc.ServicerContext, exc: ServiceError) -> None:
    """The one place where domain errors become gRPC status codes."""
    context.abort(exc.code, exc.message)


def _unary(method):
    """Map ServiceError raised by a unary RPC method to its status code."""
    @functools.wraps(method)
    def wrapper(self, request, context):
        try:
            return method(self, request, context)
        except ServiceError as exc:
            _abort(context, exc)
    return wrapper


def _stream(method):
    """Map ServiceError raised while producing a response stream to its status code."""
    @functools.wraps(method)
    def wrapper(self, request, context):
        try:
            yield from method(self, request, context)
        except ServiceError as exc:
            _abort(context, exc)
    return wrapper


def _state_name(value: int) -> str | None:
    """A JobState enum number -> the record's state name (None for UNSPECIFIED)."""
    if value == pb.JOB_STATE_UNSPECIFIED:
        return None
    try:
        return pb.JobState.Name(value).removeprefix("JOB_STATE_")
    except ValueError:
        raise InvalidArgument(f"state must be a JobState (0..6); got {value}") from None


class NNServiceServicer(pb_grpc.NNServiceServicer):
    """nnservice.v1.NNService: each method decodes, delegates and encodes."""

    def __init__(self, settings: Settings, jobs: JobManager, models: ModelRegistry,
                 serving: ServingGate | None = None, uploads: DatasetStore | None = None) -> None:
        self._settings = settings
        self._uploads = uploads
        self._serving = serving or ServingGate(enabled=False)
        self._jobs = jobs
        self._models = models
        self._lifecycle = ModelLifecycle(settings, jobs, models)

    def __repr__(self) -> str:
        return f"NNServiceServicer({self._jobs!r})"

    @_unary
    def Train(self, request, context):
        """Validate the hyper-parameters and queue a job."""
        spec = train_request_to_spec(request, self._settings, self._jobs.datasets)
        record = self._jobs.submit(spec.config_dict(), spec.name)
        return pb.TrainResponse(job_id=record.job_id, status=job_to_status(record))

    @_unary
    def GetStatus(self, request, context):
        """The job's current status."""
        return job_to_status(self._jobs.get(request.job_id))

    @_unary
    def Predict(self, request, context):
        """Classes and probabilities (and class names if asked) from a cached, frozen model."""
        self._serving.enter()  # training steps wait until it is answered
        try:
            model_id = request.model_id
            model, spec = self._models.serving(model_id)
            batch = decode_input(request.input, spec, self._settings.max_predict_rows)
            if len(batch.x) == 1:  # most Predicts: the lean path (Predictor.predict_one)
                cls, probs = model.predict_one(batch.x)
                classes, tensor = (cls,), encode_row(probs, batch.as_floats)
            else:
                probs = model.predict_proba(batch.x)
                classes, tensor = probs.argmax(axis=1).tolist(), encode_probabilities(probs, batch.as_floats)
            names = [spec.class_names[c] for c in classes] if request.include_class_names else ()
            return pb.PredictResponse(model_id=model_id, classes=classes, probabilities=tensor,
                                      class_names=names)
        finally:
            self._serving.leave()

    @_stream
    def WatchJob(self, request, context):
        """Stream the job's status on every change until it ends or the client leaves."""
        job_id = check_id(request.job_id, "job_id")
        context.add_callback(lambda: self._jobs.wake(job_id))
        for record in self._jobs.watch(job_id, context.is_active):
            yield job_to_status(record)

    @_unary
    def CancelJob(self, request, context):
        """Ask a queued or running job to stop."""
        return job_to_status(self._jobs.cancel(request.job_id))

    @_unary
    def ListJobs(self, request, context):
        """A page of jobs, newest first."""
        jobs, token = self._jobs.list(_state_name(request.state), request.page_size, request.page_token)
        return pb.ListJobsResponse(jobs=[job_to_status(j) for j in jobs], next_page_token=token)

    @_unary
    def ListModels(self, request, context):
        """A page of models, newest first."""
        metas, token = self._models.page(request.page_size, request.page_token)
        return pb.ListModelsResponse(models=[model_to_info(m) for m in metas], next_page_token=token)

    @_unary
    def GetModel(self, request, context):
        """One model's metadata."""
        return model_to_info(self._models.meta(request.model_id))

    # --- datasets (#13) -------------------------------------------------------------------

    @_unary
    def UploadDataset(self, request_iterator, context):
        """Receive a dataset file in chunks, check it and store it."""
        spec, chunks = upload_from_requests(request_iterator)
        return dataset_to_info(self._datasets_store().upload(spec, chunks))

    @_unary
    def ListDatasets(self, request, context):
        """Built-in datasets, then uploaded ones by name."""
        builtin = [builtin_meta(e) for e in self._jobs.datasets.entries() if e.builtin]
        metas = builtin + self._datasets_store().entries()
        return pb.ListDatasetsResponse(datasets=[dataset_to_info(m) for m in metas])

    @_unary
    def GetDataset(self, request, context):
        """One dataset's shape, classes and sizes."""
        builtin = [builtin_meta(e) for e in self._jobs.datasets.entries() if e.builtin and e.name == request.name]
        return dataset_to_info(builtin[0] if builtin else self._datasets_store().meta(request.name))

    @_unary
    def DeleteDataset(self, request, context):
        """Delete an uploaded dataset no queued or running job uses."""
        store = self._datasets_store()
        store.deletable(request.name)  # NOT_FOUND or FAILED_PRECONDITION before anything changes
        entry = self._jobs.remove_dataset(request.name)  # FAILED_PRECONDITION while a job uses it
        try:
            return dataset_to_info(store.delete(request.name))
        except BaseException:
            self._jobs.datasets.register(entry)  # its files are still there: keep serving it
            raise

    def _datasets_store(self) -> DatasetStore:
        """The uploaded datasets; FAILED_PRECONDITION on a server built without them."""
        if self._uploads is None:
            raise FailedPrecondition("this server has no dataset store")
        return self._uploads

    # --- model and job lifecycle (#14) -------------------------------------------------------

    @_unary
    def DeleteModel(self, request, context):
        """Delete a model; its job's record stays."""
        return deleted_model_info(self._lifecycle.delete_model(request.model_id))

    @_unary
    def DeleteJob(self, request, context):
        """Delete an ended job's record, and its model if asked."""
        return job_to_status(self._lifecycle.delete_job(request.job_id, request.delete_model))

    @_stream
    def ExportModel(self, request, context):
        """Stream a model as one file (nncore network file + metadata, or ONNX)."""
        yield from export_responses(*self._lifecycle.export(request.model_id, request.format))

    @_unary
    def ImportModel(self, request_iterator, context):
        """Receive a model file in chunks, check it and store it as a new model."""
        spec, chunks = import_from_requests(request_iterator)
        return model_to_info(self._lifecycle.import_model(spec, chunks))
