"""The dashboard's JSON API under /api/v1: jobs, models, datasets and the form's choices.

Every route translates to the DataPlane exactly as the gRPC servicer does: a Train body becomes a
pb.TrainRequest (json_format.ParseDict) checked by the same train_request_to_spec, and answers
are the same messages as JSON (json_format.MessageToDict, the JSON grpcurl -emit-defaults
shows: lowerCamelCase names, 64-bit integers as strings). Domain errors reach server.web.errors.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse
from google.protobuf import json_format

from nncore import choices
from protos import nn_service_pb2 as pb
from server.convert import job_to_status, model_to_info, train_request_to_spec
from server.dataplane import DataPlane
from server.dataset_convert import dataset_to_info
from server.errors import InvalidArgument
from server.lifecycle_convert import deleted_model_info
from server.web.events import events_route
from server.web.jsonmsg import json_answer
from server.web.kserve_models import ErrorBody

# As the KServe routes: "4XX" (which also keeps FastAPI from documenting a 422: validation
# errors are answered 400 by the app's handler) and the server's error body.
API_ERRORS = {"4XX": {"model": ErrorBody, "description": "400: a bad request (the message says why, as gRPC "
                      "would); 401: a bearer token is needed; 404: no such job, model or dataset; 429: too "
                      "many queued jobs"}}
TRAIN_EXAMPLE = {"dataset": "mnist", "hiddenSizes": [100], "optimizer": "adam", "epochs": 5}


def train_request(body: Any) -> pb.TrainRequest:
    """A TrainRequest from a JSON object (proto or JSON field names); INVALID_ARGUMENT names the fault."""
    if not isinstance(body, dict):
        raise InvalidArgument(f"the body must be a JSON object of TrainRequest fields; got {type(body).__name__}")
    try:
        return json_format.ParseDict(body, pb.TrainRequest())
    except json_format.ParseError as exc:
        raise InvalidArgument(f"invalid TrainRequest: {exc}") from None


def _camel(name: str) -> str:
    """snake_case -> lowerCamelCase, the JSON names of every other answer."""
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def choices_json(plane: DataPlane) -> dict:
    """What the job form offers: every choice, the defaults, the server's limits and the datasets."""
    settings = plane.settings
    return {
        "activations": list(choices.ACTIVATIONS), "optimizers": list(choices.OPTIMIZERS),
        "weightInits": list(choices.WEIGHT_INITS), "lrSchedules": list(choices.LR_SCHEDULES),
        "samplings": list(choices.SAMPLINGS),
        "defaults": {**{_camel(key): (list(v) if isinstance(v, tuple) else v) for key, v in choices.DEFAULTS.items()},
                     "learningRates": dict(choices.DEFAULT_LEARNING_RATES)},
        "limits": {"maxEpochs": settings.max_epochs, "maxHiddenSize": settings.max_hidden_size,
                   "maxParameters": settings.max_parameters},
        # Every dataset a Train request may name (the registry's: built-in, uploaded, any registered).
        "datasets": [{"name": e.name, "inputShape": list(e.input_shape), "classes": len(e.class_names),
                      "trainSize": e.train_size, "testSize": e.test_size} for e in plane.datasets.entries()],
    }


def build_router(plane: DataPlane) -> APIRouter:
    """The /api/v1 routes over `plane` (sync routes: FastAPI runs them on its thread pool)."""
    router = APIRouter(prefix="/api/v1", tags=["dashboard"], responses=API_ERRORS)

    @router.get("/jobs", summary="A page of jobs, newest first (ListJobs)")
    def list_jobs(state: str = Query("", description="QUEUED, RUNNING, SUCCEEDED, ...; empty = all"),
                  page_size: int = Query(0, ge=0, le=10_000), page_token: str = "") -> JSONResponse:
        """ListJobsResponse as JSON, plus feedVersion: open /api/v1/events from it to miss nothing."""
        version = plane.feed.version  # read before the page: changes after it reach the stream
        jobs, token = plane.jobs(state.strip().upper().removeprefix("JOB_STATE_") or None, page_size, page_token)
        return json_answer(pb.ListJobsResponse(jobs=[job_to_status(j) for j in jobs], next_page_token=token),
                           feedVersion=str(version))

    @router.post("/jobs", summary="Start a training job (Train)", status_code=201)
    def create_job(body: Any = Body(..., examples=[TRAIN_EXAMPLE])) -> JSONResponse:
        """TrainResponse as JSON; 400 with the same message as gRPC Train for a bad request."""
        record = plane.train(train_request_to_spec(train_request(body), plane.settings, plane.datasets))
        return json_answer(pb.TrainResponse(job_id=record.job_id, status=job_to_status(record)), 201)

    @router.get("/jobs/{job_id}", summary="One job with its epoch history (GetStatus)")
    def get_job(job_id: str) -> JSONResponse:
        """JobStatus as JSON."""
        return json_answer(job_to_status(plane.job(job_id)))

    @router.post("/jobs/{job_id}/cancel", summary="Ask a queued or running job to stop (CancelJob)")
    def cancel_job(job_id: str) -> JSONResponse:
        """The job's JobStatus after the request."""
        return json_answer(job_to_status(plane.cancel(job_id)))

    @router.delete("/jobs/{job_id}", summary="Delete an ended job's record, and its model if asked (DeleteJob)")
    def delete_job(job_id: str, delete_model: bool = False) -> JSONResponse:
        """The deleted job's last JobStatus."""
        return json_answer(job_to_status(plane.delete_job(job_id, delete_model)))

    @router.get("/models", summary="A page of models, newest first (ListModels)")
    def list_models(page_size: int = Query(0, ge=0, le=10_000), page_token: str = "") -> JSONResponse:
        """ListModelsResponse as JSON."""
        metas, token = plane.models(page_size, page_token)
        return json_answer(pb.ListModelsResponse(models=[model_to_info(m) for m in metas], next_page_token=token))

    @router.delete("/models/{model_id}", summary="Delete a model (DeleteModel)")
    def delete_model(model_id: str) -> JSONResponse:
        """The deleted model's ModelInfo."""
        return json_answer(deleted_model_info(plane.delete_model(model_id)))

    @router.get("/datasets", summary="Built-in and uploaded datasets (ListDatasets)")
    def list_datasets() -> JSONResponse:
        """ListDatasetsResponse as JSON."""
        return json_answer(pb.ListDatasetsResponse(datasets=[dataset_to_info(m) for m in plane.dataset_list()]))

    @router.delete("/datasets/{name}", summary="Delete an uploaded dataset (DeleteDataset)")
    def delete_dataset(name: str) -> JSONResponse:
        """The deleted dataset's DatasetInfo."""
        return json_answer(dataset_to_info(plane.delete_dataset(name)))

    @router.get("/choices", summary="The job form's choices, defaults, limits and datasets")
    def form_choices() -> dict:
        """Activations, optimizers, initialisations, schedules, samplings, defaults, limits, datasets."""
        return choices_json(plane)

    # Out of the OpenAPI document: a stream that never ends is no route to fuzz (docs/dashboard.md).
    router.add_api_route("/events", events_route(plane), methods=["GET"], include_in_schema=False)
    return router

