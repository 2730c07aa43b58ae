"""The soak's shared state and its table of client actions (bench/soak.py runs them).

ACTIONS maps an RPC name to (weight, action); an action makes one call with the soak's client and
records what it saw. The issues that add UploadDataset and DeleteModel add their actions here.
"""

from __future__ import annotations

import collections
import random
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from client import NNClient, NNServiceError

# Small and fast (a few seconds on 2 busy cores), so jobs finish between kills.
JOB = dict(hidden_size=16, epochs=2, train_size=3000, eval_size=500, batch_size=100)
FIXED_INPUT = np.random.default_rng(1234).integers(0, 256, (4, 784), dtype=np.uint8)
FINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
# Codes a soak call may not answer; UNAVAILABLE only while the server is down (see `errors`).
UNEXPECTED = ("INTERNAL", "UNKNOWN", "DATA_LOSS", "NOT_FOUND")


@dataclass
class Soak:
    """What the clients share: the target, the jobs and models seen, and the counts."""

    target: str
    think: float
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: collections.Counter = field(default_factory=collections.Counter)  # (action, code) -> n
    jobs: list = field(default_factory=list)  # ids, oldest first
    final: dict = field(default_factory=dict)  # job id -> final state seen
    models: dict = field(default_factory=dict)  # model id -> probabilities of FIXED_INPUT
    mismatches: int = 0
    errors: list = field(default_factory=list)  # the first unexpected errors, with their messages

    def __repr__(self) -> str:
        return f"Soak({self.target}, {len(self.jobs)} jobs, {len(self.models)} models)"

    def note(self, what: str, exc: NNServiceError) -> None:
        """Keep the first few unexpected errors with their messages, for the report."""
        with self.lock:
            if len(self.errors) < 20:
                self.errors.append(f"{time.strftime('%H:%M:%S')} {what}: {exc}")

    def recent_job(self, rng: random.Random) -> str | None:
        """One of the last 20 jobs submitted, or None."""
        with self.lock:
            return rng.choice(self.jobs[-20:]) if self.jobs else None

    def saw(self, status) -> None:
        """Remember a job's final state."""
        if status.state in FINAL:
            with self.lock:
                self.final[status.job_id] = status.state

    def check_model(self, client: NNClient, model_id: str) -> bool:
        """Predict FIXED_INPUT; the first answer is the reference, later ones must equal it."""
        probs = client.predict(model_id, FIXED_INPUT).probabilities
        with self.lock:
            reference = self.models.setdefault(model_id, probs)
            same = np.array_equal(reference, probs)
            self.mismatches += not same
        return same


def act_train(soak: Soak, client: NNClient, rng: random.Random) -> None:
    """Train: queue one small job and remember its id."""
    job_id, _ = client.train(**JOB, seed=rng.randrange(1000))
    with soak.lock:
        soak.jobs.append(job_id)


def act_cancel(soak: Soak, client: NNClient, rng: random.Random) -> None:
    """CancelJob: one of the recent jobs (FAILED_PRECONDITION once it has ended)."""
    job_id = soak.recent_job(rng)
    if job_id is not None:
        soak.saw(client.cancel(job_id))


def act_watch(soak: Soak, client: NNClient, rng: random.Random) -> None:
    """WatchJob: follow a recent job for at most 3 s, without reconnecting."""
    job_id = soak.recent_job(rng)
    if job_id is not None:
        for status in client.watch(job_id, timeout=3.0, reconnect=0):
            soak.saw(status)


def act_predict(soak: Soak, client: NNClient, rng: random.Random) -> None:
    """Predict: a known model must answer FIXED_INPUT exactly as it did the first time."""
    with soak.lock:
        known = list(soak.models)
    if known:
        soak.check_model(client, rng.choice(known))


def act_status(soak: Soak, client: NNClient, rng: random.Random) -> None:
    """GetStatus: a recent job; a newly SUCCEEDED one gets its model's reference answer."""
    job_id = soak.recent_job(rng)
    if job_id is not None:
        status = client.status(job_id)
        soak.saw(status)
        if status.state == "SUCCEEDED" and status.model_id not in soak.models:
            soak.check_model(client, status.model_id)  # records its reference answer


def act_list(soak: Soak, client: NNClient, rng: random.Random) -> None:
    """ListJobs: the newest 50, noting the ones that ended."""
    for status in client.list_jobs(limit=50):
        soak.saw(status)


# name -> (weight, action). Add UploadDataset / DeleteModel here when those RPCs exist.
ACTIONS = {
    "Train": (1, act_train), "CancelJob": (1, act_cancel), "WatchJob": (2, act_watch),
    "Predict": (16, act_predict), "GetStatus": (6, act_status), "ListJobs": (2, act_list),
}
