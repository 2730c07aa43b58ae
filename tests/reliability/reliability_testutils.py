"""Helpers for the reliability tests: models copied between state dirs, requests, figures."""

from __future__ import annotations

import shutil
from pathlib import Path

import grpc
import numpy as np
import pytest

from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc


def copy_model(trained_model, state_dir: Path) -> str:
    """Copy the shared trained model into `state_dir` (before a server starts there); its id."""
    source = Path(trained_model.server.settings.state_dir) / "models" / trained_model.model_id
    shutil.copytree(source, state_dir / "models" / trained_model.model_id)
    return trained_model.model_id


def pixels(rows: int, seed: int = 0) -> np.ndarray:
    """Random uint8 images (rows, 784)."""
    return np.random.default_rng(seed).integers(0, 256, (rows, 784), dtype=np.uint8)


def predict_request(model_id: str, x: np.ndarray) -> pb.PredictRequest:
    """A Predict request with raw uint8 pixels."""
    return pb.PredictRequest(model_id=model_id, input=pb.Tensor(
        shape=list(x.shape), dtype=pb.DTYPE_UINT8, raw_data=x.tobytes()))


def stub_for(target: str, **options) -> tuple[grpc.Channel, pb_grpc.NNServiceStub]:
    """A plaintext channel (caller closes it) and its stub."""
    channel = grpc.insecure_channel(target, options=list(options.items()))
    return channel, pb_grpc.NNServiceStub(channel)


def record_figure(request: pytest.FixtureRequest, name: str, value) -> None:
    """Keep a measured figure: in the JUnit XML (record_property) and in the terminal summary."""
    request.node.user_properties.append((name, value))
    request.config.stash.setdefault(FIGURES, []).append((request.node.nodeid, name, value))


FIGURES = pytest.StashKey[list]()


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`python -m server` in a subprocess on a free loopback port (so it can be killed with -9)."""

    def __init__(self, state_dir: Path, mnist_dir: Path, log_path: Path, *extra: str,
                 env: dict[str, str] | None = None, wrapper: list[str] = (), port: int | None = None) -> None:
        import os
        import subprocess
        import sys

        self.port = port or free_port()
        self.target = f"127.0.0.1:{self.port}"
        argv = [*wrapper, sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(self.port),
                "--http-port", "0", "--state-dir", str(state_dir), "--mnist-dir", str(mnist_dir), *extra]
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     cwd=Path(__file__).resolve().parents[2], env={**os.environ, **(env or {})})

    def __repr__(self) -> str:
        return f"ServerProcess({self.target}, pid={self.proc.pid})"

    def wait_ready(self, timeout: float = 60.0) -> ServerProcess:
        """Block until health says SERVING."""
        import time

        from grpc_health.v1 import health_pb2, health_pb2_grpc

        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while True:
                assert self.proc.poll() is None, f"server exited with {self.proc.returncode}"
                try:
                    if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == \
                            health_pb2.HealthCheckResponse.SERVING:
                        return self
                except grpc.RpcError:
                    pass
                assert time.monotonic() < deadline, "server did not become SERVING"
                time.sleep(0.1)

    def kill9(self) -> None:
        """SIGKILL: no drain, no cleanup, like a power cut for the process."""
        import signal

        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def stop(self) -> int:
        """SIGTERM and wait for the drain; the exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self._log.close()
        return self.proc.returncode
