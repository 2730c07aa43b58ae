"""Fixtures for the client tests: a port nobody listens on, and nnctl run in-process."""
from __future__ import annotations

import socket
from typing import Callable

import numpy as np
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


#: A quick job on the generated "tiny" dataset (the data is not the point of these tests).
TINY_JOB = dict(dataset="tiny", hidden_size=16, epochs=2, seed=3)
#: A job long enough to still be running when the test cancels it.
LONG_JOB = dict(hidden_size=64, epochs=50, seed=4)


@pytest.fixture(scope="session")
def correct_digit(trained_model, mnist_dir):
    """(index, uint8 [28, 28] image, label) of an MNIST test image the shared model gets right.

    Chosen by asking the model (through the SDK) rather than hard-coded, with a
    clear margin so the PNG round trip cannot flip it.
    """
    from client import NNClient
    from client.mnist import load_test_image

    pairs = [load_test_image(mnist_dir, i) for i in range(100)]
    images = np.stack([image for image, _ in pairs])
    with NNClient(trained_model.server.target) as client:
        prediction = client.predict(trained_model.model_id, images)
    for index, (image, label) in enumerate(pairs):
        if prediction.classes[index] == label and prediction.probabilities[index, label] > 0.8:
            return index, image, label
    pytest.fail("the shared test model got none of the first 100 test images right with p > 0.8")
