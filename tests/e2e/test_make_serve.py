"""`make serve`, the README's one command: it picks MNIST as it says and the server answers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from container_tools import free_port, wait_serving
from walkthrough import ROOT

VENV = ROOT / ".venv"
STAMP = ".venv/.nnservice-installed"


class _NoLogs:
    """Stands in for a compose project: wait_serving only asks it for logs on failure."""

    def logs(self) -> str:
        return "(see make's output above)"


def _serve(tmp_path: Path, *make_args: str, **env: str) -> str:
    """Run `make serve` on a free port until SERVING, then Ctrl-C it; its output.

    Ctrl-C reaches make and nn-server alike (one process group): the server drains and
    exits, and make reports the interrupt, as in a terminal.
    """
    if shutil.which("make") is None or not (VENV / "bin" / "nn-server").exists():
        pytest.skip("needs make and the repo's .venv (make venv)")
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if k not in ("NNSVC_MNIST_DIR", "MAKEFLAGS")}
    environ["NNSVC_HTTP_PORT"] = str(free_port())  # not the default 8080, which another server may hold
    # -o: take the venv as installed, so the test never runs pip.
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "-o", STAMP, "serve", f"PORT={port}",
         f"STATE_DIR={tmp_path / 'state'}", *make_args],
        cwd=ROOT, env={**environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True)
    try:
        wait_serving(f"127.0.0.1:{port}", _NoLogs(), timeout=60)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode in (0, -signal.SIGINT, 128 + signal.SIGINT), output
    with socket.socket() as sock:  # the server is gone: its port is free again
        sock.bind(("127.0.0.1", port))
    return output


def test_serve_uses_the_embedded_mnist(tmp_path):
    """No NNSVC_MNIST_DIR: the copy in nncore/data/mnist, named in the log; state in STATE_DIR."""
    output = _serve(tmp_path)
    assert "make serve: MNIST from the copy embedded in nncore/data/mnist" in output
    assert "make serve: nn-server on port" in output and "--allow-download" not in output
    assert (tmp_path / "state").is_dir()


def test_serve_prefers_nnsvc_mnist_dir(tmp_path, mnist_dir):
    """NNSVC_MNIST_DIR wins over the embedded copy."""
    output = _serve(tmp_path, NNSVC_MNIST_DIR=str(mnist_dir))
    assert f"make serve: MNIST from NNSVC_MNIST_DIR={mnist_dir}" in output
