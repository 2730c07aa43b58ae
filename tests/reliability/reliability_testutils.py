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
