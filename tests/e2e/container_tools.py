"""Helpers for the container test: a podman-compose project, health polling, MNIST rows."""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc
from walkthrough import ROOT

SERVICE = "nnservice.v1.NNService"
ENDED = {pb.JOB_STATE_SUCCEEDED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED}


@dataclass
class Compose:
    """One podman-compose project on the repo's docker-compose.yml, with its own variables."""

    binary: str
    name: str
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> str:
        """`podman-compose -p NAME -f docker-compose.yml ARGS`; its output, or an error with it."""
        proc = subprocess.run(
            [self.binary, "-p", self.name, "-f", str(ROOT / "docker-compose.yml"), *args],
            cwd=ROOT, env={**os.environ, **self.env}, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"podman-compose {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc.stdout

    def container(self, service: str = "") -> str:
        """The name of the project's one container (of `service`, if given)."""
        only = ["--filter", f"label=com.docker.compose.service={service}"] if service else []
        names = _podman("ps", "-a", "--filter", f"label=io.podman.compose.project={self.name}", *only,
                        "--format", "{{.Names}}").split()
        assert len(names) == 1, f"expected one container in {self.name} {service}, found {names}"
        return names[0]

    def volumes(self) -> list[str]:
        """The project's volumes (compose prefixes their names with the project name)."""
        return [v for v in _podman("volume", "ls", "--format", "{{.Name}}").split()
                if v.startswith(self.name + "_")]

    def logs(self) -> str:
        """The container's log, for failure messages."""
        return self.run("logs", check=False, timeout=60)[-4000:]

    def __repr__(self) -> str:
        return f"Compose(name={self.name!r}, port={self.env.get('NNSVC_PORT')!r})"


def _podman(*args: str) -> str:
    """Output of a podman command that must succeed."""
    return subprocess.run(["podman", *args], check=True, capture_output=True, text=True,
                          timeout=60).stdout


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_serving(target: str, compose: Compose, timeout: float = 120.0) -> pb_grpc.NNServiceStub:
    """Poll the health service until SERVING; a stub on a fresh channel to `target`."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        channel = grpc.insecure_channel(target)
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=SERVICE), timeout=3)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return pb_grpc.NNServiceStub(channel)
            last = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        except grpc.RpcError as exc:
            last = f"{exc.code().name}: {exc.details()}"
        channel.close()
        time.sleep(1.0)
    raise AssertionError(f"{target} not SERVING after {timeout:.0f} s ({last}); logs:\n{compose.logs()}")


def train_and_wait(stub: pb_grpc.NNServiceStub, compose: Compose, timeout: float = 300.0) -> str:
    """Train a small job and wait for it; its model id, or an error with the status and logs."""
    reply = stub.Train(pb.TrainRequest(hidden_size=32, epochs=1, seed=1), timeout=30)
    status = wait_status(stub, reply.job_id, lambda s: s.state in ENDED, compose, timeout)
    assert status.state == pb.JOB_STATE_SUCCEEDED, f"job ended as {status}; logs:\n{compose.logs()}"
    assert status.model_id == reply.job_id
    return status.model_id


def wait_status(stub: pb_grpc.NNServiceStub, job_id: str, done, compose: Compose,
                timeout: float = 300.0) -> pb.JobStatus:
    """Poll GetStatus until done(status); that status, or an error with the logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = stub.GetStatus(pb.GetStatusRequest(job_id=job_id), timeout=10)
        if done(status):
            return status
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not get there in {timeout:.0f} s: {status}; logs:\n{compose.logs()}")


def load_test_images(mnist_dir: str | Path, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` MNIST test images as float32 [count, 784] in [0, 1], and their labels."""
    mnist_dir = Path(mnist_dir)
    with gzip.open(mnist_dir / "t10k-images-idx3-ubyte.gz", "rb") as f:
        f.read(16)
        pixels = np.frombuffer(f.read(count * 784), dtype=np.uint8)
    with gzip.open(mnist_dir / "t10k-labels-idx1-ubyte.gz", "rb") as f:
        f.read(8)
        labels = np.frombuffer(f.read(count), dtype=np.uint8)
    return (pixels.reshape(count, 784) / 255.0).astype(np.float32), labels.astype(np.int64)
