"""docker-compose.yml validates with `docker-compose config -q` and resolves as documented."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from walkthrough import ROOT

COMPOSE_FILE = ROOT / "docker-compose.yml"
# Variables that change what the file resolves to; cleared so the defaults are tested.
_OURS = ("NNSVC_PORT", "NNSVC_DATA_HOST_DIR", "NNSVC_MNIST_DIR", "NNSVC_IMAGE", "BASE_IMAGE",
         "NNSVC_ALLOW_DOWNLOAD", "NNSVC_EXECUTOR")


@pytest.fixture
def compose():
    """Run docker-compose (v1, Debian's package) on the project's file; skip loudly if absent."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose not installed (Debian: apt-get install docker-compose); "
                    "the compose file was NOT validated")

    def run(*args: str, **env: str) -> str:
        environ = {k: v for k, v in os.environ.items() if k not in _OURS}
        proc = subprocess.run([binary, "-f", str(COMPOSE_FILE), *args], cwd=ROOT,
                              env={**environ, **env}, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    return run


def test_config_is_valid(compose):
    """`docker-compose config -q` accepts the file and prints nothing."""
    assert compose("config", "-q") == ""


def test_defaults_publish_on_loopback_with_named_volumes(compose):
    """By default: port 50051 on 127.0.0.1 only, both named volumes, restart policy, healthcheck."""
    text = compose("config")
    assert "127.0.0.1:50051:50051/tcp" in text
    assert "127.0.0.1:8080:8080/tcp" in text  # HTTP: the dashboard, KServe REST, /metrics (#15)
    assert "nnservice-state:/var/lib/nnservice:rw" in text
    assert "nnservice-data:/var/lib/nnservice-data:rw" in text
    assert "BASE_IMAGE: python:3.12-slim" in text
    assert "restart: unless-stopped" in text
    assert "grpc_health" in text


def test_variables_move_the_port_and_bind_a_local_data_folder(compose, tmp_path):
    """NNSVC_PORT, NNSVC_HTTP_PORT and NNSVC_DATA_HOST_DIR reach the port mappings and the data mount."""
    text = compose("config", NNSVC_PORT="6123", NNSVC_HTTP_PORT="6180", NNSVC_DATA_HOST_DIR=str(tmp_path),
                   NNSVC_MNIST_DIR="/var/lib/nnservice-data/mnist", BASE_IMAGE="localhost/debian-python:bookworm")
    assert "127.0.0.1:6123:50051/tcp" in text
    assert "127.0.0.1:6180:8080/tcp" in text
    assert f"{tmp_path}:/var/lib/nnservice-data:rw" in text
    assert "nnservice-data:/var/lib/nnservice-data" not in text
    assert "NNSVC_MNIST_DIR: /var/lib/nnservice-data/mnist" in text
    assert "BASE_IMAGE: localhost/debian-python:bookworm" in text


def test_the_dask_profile_adds_a_scheduler_and_two_workers_sharing_the_state_volume(compose):  # (#16)
    """The profile: the scheduler and two TRAIN=1 workers that mount the server's state volume,
    and NNSVC_EXECUTOR=dask points the server at them (compose v1 lists profiled services too)."""
    text = compose("--profile", "dask", "config", NNSVC_EXECUTOR="dask")
    services = compose("--profile", "dask", "config", "--services").split()
    assert sorted(services) == ["dask-scheduler", "dask-worker-1", "dask-worker-2", "nnservice"]
    assert text.count("profiles:") == 3 and text.count("- TRAIN=1") == 2 and text.count("- --nthreads") == 2
    assert text.count("- server.dask_task") == 2  # --preload: warmed up at start
    assert text.count("nnservice-state:/var/lib/nnservice:rw") == 3  # the server and both workers
    assert "NNSVC_EXECUTOR: dask" in text and "NNSVC_DASK_SCHEDULER: tcp://dask-scheduler:8786" in text
