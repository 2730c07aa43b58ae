"""Predictor: the serving forward passes (batch and single row) equal the network's, for any depth."""

from __future__ import annotations

import numpy as np
import pytest
from nncore.functions import softmax
from nncore import MultiLayerNet, TwoLayerNet


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_forward_matches_nncore_for_floats_and_pixels(activation, dtype):
    net = TwoLayerNet(784, 24, 10, activation=activation, weight_init="he", dtype=dtype, seed=3)
    net.params["b1"][:] = np.linspace(-0.5, 0.5, 24)  # non-zero biases, so adding them is checked
    net.params["b2"][:] = np.linspace(-1.0, 1.0, 10)
    model = net.predictor()
    rng = np.random.default_rng(4)
    pixels = rng.integers(0, 256, (6, 784), dtype=np.uint8)
    floats = (pixels / 255).astype(dtype)
    expected = net.predict_proba(floats)
    tol = 1e-5 if dtype == "float32" else 1e-9
    np.testing.assert_allclose(model.predict_proba(floats), expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(model.predict_proba(pixels), expected, rtol=tol, atol=tol)  # W1 / 255
    assert model.predict_proba(pixels).dtype == net.dtype


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_single_row_path_matches_the_batch_path(activation, dtype):
    net = TwoLayerNet(784, 32, 10, activation=activation, weight_init="he", dtype=dtype, seed=5)
    net.params["b1"][:] = np.linspace(-0.5, 0.5, 32)
    net.params["b2"][:] = np.linspace(-1.0, 1.0, 10)
    model = net.predictor()
    rng = np.random.default_rng(6)
    for _ in range(20):
        pixels = rng.integers(0, 256, (1, 784), dtype=np.uint8)
        floats = (pixels / 255).astype(dtype)
        expected = net.predict_proba(floats)[0]
        for x in (pixels, floats):
            cls, probs = model.predict_one(x)
            assert isinstance(cls, int) and all(type(p) is float for p in probs)
            np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-7)
            assert cls == int(np.argmax(net.predict(floats)[0]))
            assert abs(sum(probs) - 1.0) < 1e-12


def test_single_row_class_is_the_first_of_tied_top_scores():
    net = TwoLayerNet(784, 4, 10, activation="relu", seed=1)
    net.params["W2"][:] = 0.0
    net.params["b2"][:] = [0, 0, 0, 2, 1, 2, 0, 0, 0, 0]
    model = net.predictor()
    cls, probs = model.predict_one(np.zeros((1, 784), np.uint8))
    assert cls == 3 and probs[3] == probs[5] > probs[4]


def test_huge_scores_do_not_overflow_the_softmax():
    net = TwoLayerNet(784, 8, 10, activation="relu", seed=1)
    net.params["W1"][:] = 1.0
    model = net.predictor()
    probs = model.predict_proba(np.full((2, 784), 1e6, dtype=np.float32))
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    cls, one = model.predict_one(np.full((1, 784), 1e6, dtype=np.float32))
    assert np.isfinite(one).all() and abs(sum(one) - 1.0) < 1e-12


@pytest.mark.parametrize("options", [dict(use_batchnorm=True), dict(use_dropout=True, dropout_ratio=0.3),
                                     dict(use_batchnorm=True, use_dropout=True)])
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_batch_norm_and_dropout_fold_into_the_affine_layers(options, activation):
    net = MultiLayerNet(784, [20, 12], 10, activation, dtype=np.float64, seed=2, **options)
    rng = np.random.default_rng(8)
    for _ in range(3):  # move the running statistics off their start
        net.gradient(rng.random((30, 784)), rng.integers(0, 10, 30))
    net.params["W3"][:] *= 3
    pixels = rng.integers(0, 256, (5, 784), dtype=np.uint8)
    floats = pixels / 255
    expected = softmax(net.predict(floats))  # the layers in inference mode: the reference
    predictor = net.predictor()
    np.testing.assert_allclose(predictor.predict_proba(floats), expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(predictor.predict_proba(pixels), expected, rtol=1e-9, atol=1e-12)
    cls, probs = predictor.predict_one(pixels[:1])
    assert cls == int(np.argmax(expected[0]))
    np.testing.assert_allclose(probs, expected[0], rtol=1e-9)
    assert len(predictor.arrays()) == 6 and all(not a.flags.writeable for a in predictor.arrays())


def test_a_predictor_is_independent_of_later_training():
    net = TwoLayerNet(784, 6, 10, activation="relu", seed=3)
    predictor = net.predictor()
    x = np.random.default_rng(0).random((2, 784), dtype=np.float32)
    before = predictor.predict_proba(x)
    net.params["W1"] += 1.0
    np.testing.assert_array_equal(predictor.predict_proba(x), before)
    np.testing.assert_array_equal(predictor.arrays(pixels=True)[0], predictor.arrays()[0] / 255)
    assert "Predictor(TwoLayerNet(784-6-10" in repr(predictor)
