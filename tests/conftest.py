"""Shared fixtures: real servers on port 0 over the embedded MNIST (and a tiny generated dataset),
a stub, and one trained model; plus the CI skip policy (tests/skip_policy.py)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import NamedTuple

import grpc
import pytest

from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc
from server import NNServer, Settings, create_server
from nncore.mnist import EMBEDDED_MNIST_DIR
from server.datasets import DatasetRegistry, builtin_registry
from tests.datasets_testutils import tiny_entry
from tests.skip_policy import pytest_configure  # noqa: F401 - in CI, a skip not on the allowed list fails

REPO_ROOT = Path(__file__).resolve().parents[1]

# Small limits, so tests reach every edge quickly; override per test through make_server(**kw).
TEST_SETTINGS = dict(
    max_concurrent_jobs=2,
    max_queued_jobs=4,
    max_message_bytes=8 * 1024 * 1024,
    max_predict_rows=10000,
    max_hidden_size=512,
    max_epochs=50,
    grpc_workers=8,
    shutdown_grace=2.0,
    http=False,  # the HTTP front door's tests turn it on (http=True, http_port=0)
)
TRAIN_TIMEOUT = 120.0


class RunningServer:
    """A started NNServer on 127.0.0.1 and how to reach it."""

    def __init__(self, server: NNServer, port: int, settings: Settings) -> None:
        self.server = server
        self.port = port
        self.settings = settings
        self.target = f"127.0.0.1:{port}"

    def __repr__(self) -> str:
        return f"RunningServer({self.target}, state_dir={str(self.settings.state_dir)!r})"

    def stop(self, grace: float = 0) -> None:
        """Drain and stop the server (idempotent)."""
        self.server.stop(grace)


class TrainedModel(NamedTuple):
    """A server that holds a trained model, and that model's id."""

    server: RunningServer
    model_id: str


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The MNIST IDX files embedded in nncore (nncore/data/mnist); never skipped: they ship with the repo."""
    return EMBEDDED_MNIST_DIR


@pytest.fixture(scope="session")
def mnist_cache(mnist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> DatasetRegistry:
    """One dataset registry for every server of the session: the built-ins (each parsed once) + "tiny"."""
    registry = builtin_registry(mnist_dir, tmp_path_factory.mktemp("data"),
                                tmp_path_factory.mktemp("dataset-cache"), allow_download=False)
    registry.register(tiny_entry())
    return registry


def start_server(settings: Settings, datasets: DatasetRegistry | None) -> RunningServer:
    """Create and start a server on a free loopback port (HTTP too, if it is on: never a fixed one)."""
    if settings.http and settings.http_port:
        settings = settings.replace(http_port=0)  # 8080 may be taken by anything on the machine
    server, port = create_server(settings, "127.0.0.1:0", datasets=datasets)
    server.start()
    return RunningServer(server, port, settings)


@pytest.fixture
def make_server(tmp_path: Path, mnist_dir: Path, mnist_cache: DatasetRegistry):
    """make_server(**settings_overrides) -> RunningServer; every server is stopped at teardown.

    Defaults: a fresh state_dir under tmp_path, the session's registry (embedded MNIST parsed once,
    "tiny") and TEST_SETTINGS. Overriding mnist_dir or allow_download gives the server its own.
    """
    started: list[RunningServer] = []
    counter = itertools.count()

    def factory(**overrides) -> RunningServer:
        datasets = overrides.pop("datasets", None)
        if datasets is None and not {"mnist_dir", "allow_download"} & set(overrides):
            datasets = mnist_cache
        values = {**TEST_SETTINGS, "state_dir": tmp_path / f"state{next(counter)}",
                  "mnist_dir": mnist_dir, **overrides}
        running = start_server(Settings(**values), datasets)
        started.append(running)
        return running

    yield factory
    for running in started:
        running.stop(0)


@pytest.fixture
def nn_server(make_server) -> RunningServer:
    """A server started with the test defaults."""
    return make_server()


@pytest.fixture
def stub(nn_server: RunningServer):
    """An NNServiceStub connected to nn_server."""
    with grpc.insecure_channel(nn_server.target) as channel:
        yield pb_grpc.NNServiceStub(channel)


def wait_for_job(stub: pb_grpc.NNServiceStub, job_id: str, timeout: float = TRAIN_TIMEOUT) -> pb.JobStatus:
    """Follow WatchJob until the job ends; returns its last status."""
    last = None
    for last in stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=timeout):
        pass
    return last


def _shared_model(state_dir: Path, datasets: DatasetRegistry, request: pb.TrainRequest):
    """Start a server, train one model on it, and yield TrainedModel; the server stops afterwards."""
    running = start_server(Settings(**{**TEST_SETTINGS, "state_dir": state_dir}), datasets)
    try:
        with grpc.insecure_channel(running.target) as channel:
            stub = pb_grpc.NNServiceStub(channel)
            status = wait_for_job(stub, stub.Train(request).job_id)
        if status.state != pb.JOB_STATE_SUCCEEDED:
            raise RuntimeError(f"training the shared test model failed: {status}")
        yield TrainedModel(running, status.model_id)
    finally:
        running.stop(0)


@pytest.fixture(scope="session")
def trained_model(mnist_cache: DatasetRegistry, tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """A session server holding one small MNIST model (784-32-10, 2 epochs on 5000 images)."""
    yield from _shared_model(tmp_path_factory.mktemp("trained"), mnist_cache, pb.TrainRequest(
        name="shared test model", hidden_size=32, epochs=2, train_size=5000, eval_size=2000, seed=1))


@pytest.fixture(scope="session")
def tiny_model(mnist_cache: DatasetRegistry, tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """A session server holding a model of the generated "tiny" dataset (28x28, classes c0..c9)."""
    yield from _shared_model(tmp_path_factory.mktemp("tiny"), mnist_cache, pb.TrainRequest(
        name="tiny test model", dataset="tiny", hidden_size=16, epochs=2, seed=1))
