"""Model lookups for Predict, GetModel and ListModels, with the errors a client can act on."""

from __future__ import annotations

import weakref

from nncore.predictor import Predictor

from server.datasets import model_dataset, model_input_dtype
from server.errors import DataLoss, FailedPrecondition, NotFound
from server.ids import check_id
from server.jobs import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, JobManager
from server.models import ModelStore
from server.records import FINAL_STATES, SUCCEEDED
from server.tensors import InputSpec


class ModelRegistry:
    """Finds models by id; tells "no such model" (NOT_FOUND) from "job not done" (FAILED_PRECONDITION)."""

    def __init__(self, models: ModelStore, jobs: JobManager) -> None:
        self._models = models
        self._jobs = jobs
        # Each loaded model's input spec, keyed weakly: a model the store's cache evicts takes its
        # spec with it, so serving many models over time keeps only the cached ones in memory.
        self._specs: weakref.WeakKeyDictionary[Predictor, InputSpec] = weakref.WeakKeyDictionary()

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

    def verify(self, model_id: str) -> None:
        """Raise what Predict would raise for this model, without loading it into the cache."""
        check_id(model_id, "model_id")
        if not self._models.verify(model_id):
            self._missing(model_id)

    def serving(self, model_id: str) -> tuple[Predictor, InputSpec]:
        """The frozen model and the inputs it accepts; the hot path is two dict lookups."""
        model = self.loaded(model_id)
        spec = self._specs.get(model)
        if spec is not None:  # a model reloaded since is a new object: it gets a fresh spec
            return model, spec
        meta = self.meta(model_id)
        _, input_shape, class_names = model_dataset(meta)
        spec = InputSpec(input_shape, class_names, pixels=model_input_dtype(meta) != "float32")
        self._specs[model] = spec
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
    @property
    def store(self) -> ModelStore:
        """The model store itself (imports save into it)."""
        return self._models

    def exists(self, model_id: str) -> bool:
        """Whether a model with this id is stored (readable or not)."""
        return self._models.meta(model_id) is not None or self._models.unreadable(model_id) is not None

    def network(self, model_id: str):
        """The stored, verified network of a model (for export)."""
        return self._models.network(check_id(model_id, "model_id"))

    def delete(self, model_id: str) -> dict:
        """Delete a model from the store and forget its input spec."""
        model = self._models.cached(model_id)
        meta = self._models.delete(check_id(model_id, "model_id"))
        if model is not None:
            self._specs.pop(model, None)
        return meta

    def _missing(self, model_id: str) -> None:
        """Raise the right error for an id without a model."""
        damaged = self._models.unreadable(model_id)
        if damaged is not None:
            raise DataLoss(damaged)
        state = self._jobs.state_of(model_id)
        if state is None:
            raise NotFound(f"no model with id {model_id!r} (a model id is the id of the job that trained it)")
        if state == SUCCEEDED:  # its model was deleted (DeleteModel); the job's record stays
            raise NotFound(f"model {model_id} was deleted; its job's record remains (GetStatus)")
        if state in FINAL_STATES:
            raise FailedPrecondition(f"job {model_id} ended {state} and has no model; "
                                     "only SUCCEEDED jobs have one")
        raise FailedPrecondition(f"job {model_id} has no model yet: it is {state}; "
                                 "only SUCCEEDED jobs have a model (watch the job, then predict)")
