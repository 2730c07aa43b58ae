"""LoadedModel's fused serving forward pass equals nncore's predict_proba (both activations, dtypes)."""

from __future__ import annotations

import numpy as np
import pytest
from nncore.network import TwoLayerNet

from server.models import LoadedModel


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_forward_matches_nncore_for_floats_and_pixels(activation, dtype):
    net = TwoLayerNet(784, 24, 10, activation=activation, weight_init="he", dtype=dtype, seed=3)
    net.params["b1"][:] = np.linspace(-0.5, 0.5, 24)  # non-zero biases, so adding them is checked
    net.params["b2"][:] = np.linspace(-1.0, 1.0, 10)
    model = LoadedModel.from_params("m", net.params, activation, dtype)
    rng = np.random.default_rng(4)
    pixels = rng.integers(0, 256, (6, 784), dtype=np.uint8)
    floats = (pixels / 255).astype(dtype)
    expected = net.predict_proba(floats)
    tol = 1e-5 if dtype == "float32" else 1e-9
    np.testing.assert_allclose(model.predict_proba(floats), expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(model.predict_proba(pixels), expected, rtol=tol, atol=tol)  # W1 / 255
    assert model.predict_proba(pixels).dtype == net.dtype


def test_huge_scores_do_not_overflow_the_softmax():
    net = TwoLayerNet(784, 8, 10, activation="relu", seed=1)
    net.params["W1"][:] = 1.0
    model = LoadedModel.from_params("m", net.params, "relu", "float32")
    probs = model.predict_proba(np.full((2, 784), 1e6, dtype=np.float32))
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
