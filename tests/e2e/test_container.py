"""The image and the compose file for real, with podman: build, up, train, predict, down, up, down -v."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid

import numpy as np
import pytest

from container_tools import (ENDED, Compose, free_port, load_test_images, train_and_wait, wait_serving,
                             wait_status)
from protos import nn_service_pb2 as pb
from walkthrough import ROOT

pytestmark = [pytest.mark.container, pytest.mark.slow]

BASE_IMAGE = "localhost/debian-python:bookworm"
IMAGE = "localhost/nnservice:e2e"


def _unavailable(reason: str) -> None:
    """Skip, or fail where the caller (.ci/run after preparing podman) requires the test."""
    if os.environ.get("NNSVC_REQUIRE_CONTAINER") == "1":
        pytest.fail(f"container test required but cannot run: {reason}")
    pytest.skip(reason)


def _podman_compose() -> str:
    """The podman-compose script beside this Python, else on PATH, else skip with the fix."""
    beside = os.path.join(os.path.dirname(sys.executable), "podman-compose")
    found = beside if os.access(beside, os.X_OK) else shutil.which("podman-compose")
    if found is None:
        _unavailable("podman-compose not installed: .venv/bin/python -m pip install podman-compose")
    return found


@pytest.fixture(scope="module")
def image():
    """The project's Dockerfile built with podman on the local Debian base image."""
    if shutil.which("podman") is None:
        _unavailable("podman not installed: run ../shared/tools/container-base")
    if subprocess.run(["podman", "image", "exists", BASE_IMAGE]).returncode != 0:
        _unavailable(f"base image {BASE_IMAGE} missing: run ../shared/tools/container-base")
    proc = subprocess.run(
        ["podman", "build", "--format", "docker", "--network=host",
         "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "-t", IMAGE, "."],
        cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, f"podman build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return IMAGE


def test_image_runs_as_non_root_without_dev_tools(image):
    """The runtime image: a non-root user, the service installed, no pytest, pip or compiler."""
    script = ("import importlib.util as u, os; "
              "print(os.getuid(), *(u.find_spec(m) is not None for m in "
              "('server', 'grpc_health', 'pytest', 'grpc_tools', 'pip')))")
    proc = subprocess.run(["podman", "run", "--rm", image, "python", "-c", script],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    uid, *found = proc.stdout.split()
    assert uid != "0"
    assert found == ["True", "True", "False", "False", "False"]
    assert subprocess.run(["podman", "run", "--rm", image, "sh", "-c", "command -v gcc"],
                          capture_output=True, timeout=120).returncode != 0


@pytest.fixture
def compose(image, tmp_path):
    """A compose project of its own (unique name, free port, no network); always `down -v`.

    No MNIST is handed in: the image trains on the copy embedded in it."""
    env = {"BASE_IMAGE": BASE_IMAGE, "NNSVC_IMAGE": image, "NNSVC_PORT": str(free_port()),
           "NNSVC_HTTP_PORT": str(free_port()),
           "NNSVC_ALLOW_DOWNLOAD": "false"}
    project = Compose(_podman_compose(), f"nnsvc-e2e-{uuid.uuid4().hex[:8]}", env)
    try:
        yield project
    finally:
        project.run("down", "-v", check=False)


def test_compose_up_train_predict_restart_keeps_the_model(compose, mnist_dir):
    """up -> SERVING -> train -> predict; down; up -> same predictions; down -v drops the volumes."""
    target = f"127.0.0.1:{compose.env['NNSVC_PORT']}"
    images, labels = load_test_images(mnist_dir, 100)
    request = pb.PredictRequest(input=pb.Tensor(shape=images.shape, float_data=images.ravel().tolist()))

    compose.run("up", "-d")
    stub = wait_serving(target, compose)
    health = subprocess.run(["podman", "healthcheck", "run", compose.container()],
                            capture_output=True, text=True, timeout=60)
    assert health.returncode == 0, f"image HEALTHCHECK failed: {health.stdout}{health.stderr}"
    model_id = train_and_wait(stub, compose)
    request.model_id = model_id
    first = stub.Predict(request, timeout=30)
    classes = np.array(first.classes)
    assert classes.shape == (100,) and classes.min() >= 0 and classes.max() <= 9
    assert (classes == labels).mean() >= 0.7, "one epoch on MNIST gives about 90%"

    compose.run("down")
    assert compose.volumes(), "down without -v must keep the named volume"
    compose.run("up", "-d")
    stub = wait_serving(target, compose)
    assert stub.GetModel(pb.GetModelRequest(model_id=model_id), timeout=10).model_id == model_id
    again = stub.Predict(request, timeout=30)
    assert list(again.classes) == list(first.classes)
    assert list(again.probabilities.float_data) == list(first.probabilities.float_data)

    compose.run("down", "-v")
    assert compose.volumes() == []


# Run in the server's container (on the compose network): the name of the Dask worker that is
# running the job whose id is argv[1].
_WORKER_OF_JOB = ("import sys; from distributed import Client; "
                  "c = Client('tcp://dask-scheduler:8786', timeout=30); "
                  "names = {a: w['name'] for a, w in c.scheduler_info()['workers'].items()}; "
                  "print(*(names[a] for a, keys in c.processing().items() if any(sys.argv[1] in str(k) for k in keys)))")


@pytest.fixture
def dask_compose(image):
    """The compose project with the profile "dask": the server, a scheduler, two workers."""
    env = {"BASE_IMAGE": BASE_IMAGE, "NNSVC_IMAGE": image, "NNSVC_PORT": str(free_port()),
           "NNSVC_HTTP_PORT": str(free_port()),
           "NNSVC_ALLOW_DOWNLOAD": "false", "NNSVC_EXECUTOR": "dask"}
    project = Compose(_podman_compose(), f"nnsvc-dask-{uuid.uuid4().hex[:8]}", env)
    try:
        yield project
    finally:
        project.run("--profile", "dask", "down", "-v", check=False)


def test_dask_profile_a_worker_stopped_midway_and_the_job_still_succeeds(dask_compose):
    """Train through the server onto the workers; stop the job's worker after its first
    checkpoint; the other worker resumes it and the job succeeds with every epoch."""
    compose = dask_compose
    compose.run("--profile", "dask", "up", "-d")
    stub = wait_serving(f"127.0.0.1:{compose.env['NNSVC_PORT']}", compose)
    epochs = 30
    job_id = stub.Train(pb.TrainRequest(hidden_size=64, epochs=epochs, train_size=20000, eval_size=1000,
                                        seed=1), timeout=30).job_id
    status = wait_status(stub, job_id, lambda s: s.epoch >= 2 or s.state in ENDED, compose)
    assert status.state == pb.JOB_STATE_RUNNING, f"the job should still run: {status}"
    found = subprocess.run(["podman", "exec", compose.container("nnservice"), "python", "-c",
                            _WORKER_OF_JOB, job_id], capture_output=True, text=True, timeout=120)
    assert found.returncode == 0, found.stderr[-3000:]
    worker = found.stdout.strip()
    assert worker in ("dask-worker-1", "dask-worker-2"), found.stdout
    compose.run("--profile", "dask", "stop", worker)
    status = wait_status(stub, job_id, lambda s: s.state in ENDED, compose)
    assert status.state == pb.JOB_STATE_SUCCEEDED, f"{status}; logs:\n{compose.logs()}"
    assert [e.epoch for e in status.history] == list(range(1, epochs + 1))
    assert "was lost mid-job; resumed from epoch" in status.note
