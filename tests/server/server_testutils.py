"""Helpers for the server unit tests: a fake dataset cache and a JobManager harness."""

from __future__ import annotations

import threading
import time

import numpy as np

from protos import nn_service_pb2 as pb
from server.convert import train_request_to_spec
from server.datasets import MNIST_CLASS_NAMES, Dataset, DatasetEntry, DatasetRegistry
from server.jobs import JobManager
from server.models import ModelStore
from server.settings import Settings


class FakeDatasets(DatasetRegistry):
    """A registry whose "mnist" is 600 random images; can hold jobs at load time or fail once."""

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, (800, 784), dtype=np.uint8)
        t = (x[:, :10].argmax(axis=1)).astype(np.uint8)  # learnable labels
        self.data = Dataset(x[:600], t[:600], x[600:], t[600:])
        super().__init__([DatasetEntry(
            name="mnist", loader=lambda: (self.data.x_train, self.data.t_train, self.data.x_test, self.data.t_test), input_shape=(28, 28),
            class_names=MNIST_CLASS_NAMES, train_size=600, test_size=200, builtin=True)])
        self.gate = threading.Event()
        self.gate.set()
        self.fail_next: Exception | None = None

    def get(self, name: str) -> Dataset:
        assert self.gate.wait(30), "test forgot to open the gate"
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        return self.data


def wait_until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


class Harness:
    """A JobManager on a temporary state dir, plus helpers."""

    def __init__(self, state_dir, datasets: FakeDatasets, **overrides) -> None:
        values = dict(state_dir=state_dir, max_concurrent_jobs=1, max_queued_jobs=2, max_epochs=20,
                      max_hidden_size=64)
        self.settings = Settings(**{**values, **overrides})
        self.models = ModelStore(state_dir / "models")
        self.jobs = JobManager(self.settings, self.models, datasets)

    def submit(self, **fields) -> str:
        request = pb.TrainRequest(**{**dict(hidden_size=8, epochs=2, train_size=200, batch_size=50,
                                            eval_size=100, seed=0), **fields})
        spec = train_request_to_spec(request, self.settings, self.jobs.datasets)
        return self.jobs.submit(spec.config_dict(), spec.name).job_id

    def finish(self, job_id: str):
        records = list(self.jobs.watch(job_id, lambda: True))
        assert records[-1].finished
        return records

    def close(self) -> None:
        self.jobs.shutdown(5.0)
        self.jobs.close()
