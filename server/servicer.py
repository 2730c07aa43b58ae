"""NNServiceServicer: nnservice.v1 messages <-> the data plane (decode, call, encode)."""

from __future__ import annotations

import logging

from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc
from server.convert import job_to_status, model_to_info, train_request_to_spec
from server.dataplane import DataPlane, Prediction
from server.dataset_convert import dataset_to_info, upload_from_requests
from server.errors import InvalidArgument
from server.rpc_errors import stream, unary
from server.tensors import decode_input, encode_probabilities, encode_row

log = logging.getLogger(__name__)


def _state_name(value: int) -> str | None:
    """A JobState enum number -> the record's state name (None for UNSPECIFIED)."""
    if value == pb.JOB_STATE_UNSPECIFIED:
        return None
    try:
        return pb.JobState.Name(value).removeprefix("JOB_STATE_")
    except ValueError:
        raise InvalidArgument(f"state must be a JobState (0..6); got {value}") from None


def _prediction_to_response(model_id: str, answer: Prediction, with_names: bool) -> pb.PredictResponse:
    """A Prediction -> PredictResponse, probabilities raw or as float_data like the input."""
    probs = answer.probabilities
    tensor = encode_row(probs, answer.typed) if type(probs) is list else encode_probabilities(probs, answer.typed)
    return pb.PredictResponse(model_id=model_id, classes=answer.classes, probabilities=tensor,
                              class_names=answer.class_names if with_names else ())


class NNServiceServicer(pb_grpc.NNServiceServicer):
    """nnservice.v1.NNService: each method decodes, calls the data plane and encodes."""

    def __init__(self, plane: DataPlane) -> None:
        self._plane = plane

    def __repr__(self) -> str:
        return f"NNServiceServicer({self._plane!r})"

    @unary
    def Train(self, request, context):
        """Validate the hyper-parameters and queue a job."""
        record = self._plane.train(train_request_to_spec(request, self._plane.settings, self._plane.datasets))
        return pb.TrainResponse(job_id=record.job_id, status=job_to_status(record))

    @unary
    def GetStatus(self, request, context):
        """The job's current status."""
        return job_to_status(self._plane.job(request.job_id))

    @unary
    def Predict(self, request, context):
        """Classes and probabilities (and class names if asked) from a cached, frozen model."""
        tensor, max_rows = request.input, self._plane.settings.max_predict_rows
        answer = self._plane.predict(request.model_id, lambda spec: decode_input(tensor, spec, max_rows))
        return _prediction_to_response(request.model_id, answer, request.include_class_names)

    @stream
    def WatchJob(self, request, context):
        """Stream the job's status on every change until it ends or the client leaves."""
        job_id = request.job_id
        records = self._plane.watch(job_id, context.is_active)  # checks the id before any callback
        context.add_callback(lambda: self._plane.wake(job_id))
        for record in records:
            yield job_to_status(record)

    @unary
    def CancelJob(self, request, context):
        """Ask a queued or running job to stop."""
        return job_to_status(self._plane.cancel(request.job_id))

    @unary
    def ListJobs(self, request, context):
        """A page of jobs, newest first."""
        jobs, token = self._plane.jobs(_state_name(request.state), request.page_size, request.page_token)
        return pb.ListJobsResponse(jobs=[job_to_status(j) for j in jobs], next_page_token=token)

    @unary
    def ListModels(self, request, context):
        """A page of models, newest first."""
        metas, token = self._plane.models(request.page_size, request.page_token)
        return pb.ListModelsResponse(models=[model_to_info(m) for m in metas], next_page_token=token)

    @unary
    def GetModel(self, request, context):
        """One model's metadata."""
        return model_to_info(self._plane.model(request.model_id))

    # --- datasets (#13) -------------------------------------------------------------------

    @unary
    def UploadDataset(self, request_iterator, context):
        """Receive a dataset file in chunks, check it and store it."""
        spec, chunks = upload_from_requests(request_iterator)
        return dataset_to_info(self._plane.upload_dataset(spec, chunks))

    @unary
    def ListDatasets(self, request, context):
        """Built-in datasets, then uploaded ones by name."""
        return pb.ListDatasetsResponse(datasets=[dataset_to_info(m) for m in self._plane.dataset_list()])

    @unary
    def GetDataset(self, request, context):
        """One dataset's shape, classes and sizes."""
        return dataset_to_info(self._plane.dataset(request.name))

    @unary
    def DeleteDataset(self, request, context):
        """Delete an uploaded dataset no queued or running job uses."""
        return dataset_to_info(self._plane.delete_dataset(request.name))
