"""Model lookups for Predict, GetModel and ListModels, with the errors a client can act on."""

from __future__ import annotations

from nncore.predictor import Predictor

from server.datasets import model_dataset
from server.errors import DataLoss, FailedPrecondition, NotFound
from server.ids import check_id
from server.jobs import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, JobManager
from server.models import ModelStore
from server.records import FINAL_STATES
from server.tensors import InputSpec


class ModelRegistry:
    """Finds models by id; tells "no such model" (NOT_FOUND) from "job not done" (FAILED_PRECONDITION)."""

    def __init__(self, models: ModelStore, jobs: JobManager) -> None:
        self._models = models
        self._jobs = jobs
        self._specs: dict[str, tuple[Predictor, InputSpec]] = {}  # model id -> (model, its input spec)

    def __repr__(self) -> str:
        return f"ModelRegistry({self._models!r})"

    def loaded(self, model_id: str) -> Predictor:
        """The frozen, in-memory model; the hot path is one dict lookup."""
        model = self._models.cached(model_id)
        if model is not None:
            return model
        check_id(model_id, "model_id")
        model = self._models.load(model_id)
        if model is None:
            self._missing(model_id)
        return model

    def serving(self, model_id: str) -> tuple[Predictor, InputSpec]:
        """The frozen model and the inputs it accepts; the hot path is two dict lookups."""
        model = self.loaded(model_id)
        known = self._specs.get(model_id)
        if known is not None and known[0] is model:  # a model reloaded since gets a fresh spec
            return model, known[1]
        _, input_shape, class_names = model_dataset(self.meta(model_id))
        spec = InputSpec(input_shape, class_names)
        self._specs[model_id] = (model, spec)
        return model, spec

    def meta(self, model_id: str) -> dict:
        """The stored metadata of a model."""
        check_id(model_id, "model_id")
        meta = self._models.meta(model_id)
        if meta is None:
            self._missing(model_id)
        return meta

    def page(self, page_size: int, page_token: str) -> tuple[list[dict], str]:
        """A page of model metadata, newest first, and the token of the next page."""
        return self._models.page(min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE), page_token)

    def ids(self) -> list[str]:
        """Every model id the store knows, servable or damaged, newest first."""
        return self._models.ids()

    def _missing(self, model_id: str) -> None:
        """Raise the right error for an id without a model."""
        damaged = self._models.unreadable(model_id)
        if damaged is not None:
            raise DataLoss(damaged)
        state = self._jobs.state_of(model_id)
        if state is None:
            raise NotFound(f"no model with id {model_id!r} (a model id is the id of the job that trained it)")
        if state in FINAL_STATES:
            raise FailedPrecondition(f"job {model_id} ended {state} and has no model; "
                                     "only SUCCEEDED jobs have one")
        raise FailedPrecondition(f"job {model_id} has no model yet: it is {state}; "
                                 "only SUCCEEDED jobs have a model (watch the job, then predict)")
