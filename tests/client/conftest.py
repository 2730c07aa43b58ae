"""Fixtures for the client tests: a port nobody listens on, and nnctl run in-process."""
from __future__ import annotations

import socket
from typing import Callable

import pytest

from client.cli import main


@pytest.fixture
def closed_target() -> str:
    """A 127.0.0.1 address with no server behind it (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"127.0.0.1:{port}"


@pytest.fixture
def nnctl(capsys) -> Callable[..., tuple[int, str, str]]:
    """Run `nnctl *argv` in-process; returns (exit status, stdout, stderr)."""
    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()  # drop anything printed before this command
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run
