"""The job record: what the server knows about one training job, as plain data."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

QUEUED = "QUEUED"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CANCELLING = "CANCELLING"
CANCELLED = "CANCELLED"
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLING, CANCELLED)
ACTIVE_STATES = frozenset({QUEUED, RUNNING, CANCELLING})
FINAL_STATES = frozenset({SUCCEEDED, FAILED, CANCELLED})


@dataclass
class JobRecord:
    """One job: its config, lifecycle state, progress and history (times are Unix seconds)."""

    job_id: str
    name: str
    config: dict
    state: str = QUEUED
    created: float = 0.0
    started: float | None = None
    ended: float | None = None
    epoch: int = 0
    total_epochs: int = 0
    iteration: int = 0
    total_iterations: int = 0
    loss: float = 0.0
    history: list[dict] = field(default_factory=list)
    eta_seconds: float = 0.0
    error: str = ""
    model_id: str = ""
    note: str = ""  # what happened to it besides its state (e.g. resumed after a Dask worker was lost)

    @property
    def progress(self) -> float:
        """Fraction of the work done, 0..1."""
        if self.state == SUCCEEDED:
            return 1.0
        if self.total_iterations:
            return min(1.0, self.iteration / self.total_iterations)
        if self.total_epochs:
            return min(1.0, self.epoch / self.total_epochs)
        return 0.0

    @property
    def finished(self) -> bool:
        """Whether the job reached a final state."""
        return self.state in FINAL_STATES

    def copy(self) -> JobRecord:
        """An independent copy, safe to read without the manager's lock."""
        clone = copy.copy(self)
        clone.history = list(self.history)
        return clone

    def __repr__(self) -> str:
        return (f"JobRecord({self.job_id!r}, {self.state}, epoch {self.epoch}/{self.total_epochs}, "
                f"iteration {self.iteration}/{self.total_iterations})")
