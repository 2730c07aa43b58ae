"""Known values and numerical stability of nncore.functions."""

import math
import warnings

import numpy as np
import pytest

from nncore.functions import (
    cross_entropy_error,
    identity_function,
    mean_squared_error,
    relu,
    sigmoid,
    softmax,
    step_function,
)

# The text's example: the network is most confident in class 2 (y) or class 7 (y_wrong).
Y = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
Y_WRONG = np.array([0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0])
T = np.eye(10)[2]


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_step_function_known_values():
    np.testing.assert_array_equal(step_function(np.array([-1.0, 0.0, 1e-9, 2.0])), [0, 0, 1, 1])
    assert np.issubdtype(step_function(np.array([0.5])).dtype, np.integer)


def test_sigmoid_known_values():
    x = np.array([-2.0, 0.0, 1.0, 3.0])
    expected = [1 / (1 + math.exp(-v)) for v in x]
    np.testing.assert_allclose(sigmoid(x), expected, rtol=1e-15)


def test_sigmoid_extremes_without_overflow_warning():
    out = sigmoid(np.array([-1000.0, 1000.0]))
    np.testing.assert_array_equal(out, [0.0, 1.0])
    out32 = sigmoid(np.array([-1000.0, -100.0, 100.0], dtype=np.float32))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, [0.0, 0.0, 1.0], atol=1e-30)


def test_sigmoid_does_not_mutate_input():
    x = np.array([-1.0, 2.0])
    sigmoid(x)
    np.testing.assert_array_equal(x, [-1.0, 2.0])


def test_relu_and_identity_known_values():
    x = np.array([[-1.5, 0.0], [2.0, -0.1]])
    np.testing.assert_array_equal(relu(x), [[0.0, 0.0], [2.0, 0.0]])
    assert identity_function(x) is x


def test_softmax_known_values():
    x = np.array([0.3, 2.9, 4.0])
    exps = [math.exp(v) for v in x]
    np.testing.assert_allclose(softmax(x), [e / sum(exps) for e in exps], rtol=1e-14)


def test_softmax_normalises_each_row_independently():
    rows = np.array([[0.3, 2.9, 4.0], [1.0, 1.0, 1.0], [-5.0, 0.0, 5.0]])
    out = softmax(rows)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-14)
    for row, got in zip(rows, out):
        np.testing.assert_allclose(got, softmax(row), rtol=1e-14)
    np.testing.assert_allclose(out[1], [1 / 3] * 3)


def test_softmax_is_stable_for_large_inputs():
    out = softmax(np.array([1010.0, 1000.0, 990.0]))
    np.testing.assert_allclose(out, softmax(np.array([20.0, 10.0, 0.0])), rtol=1e-14)
    assert np.all(np.isfinite(out))
    big = softmax(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype=np.float32))
    assert big.dtype == np.float32
    np.testing.assert_allclose(big, [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)


def test_mean_squared_error_known_values():
    assert mean_squared_error(Y, T) == pytest.approx(0.0975)
    assert mean_squared_error(Y_WRONG, T) == pytest.approx(0.5975)
    # Batched: the mean over samples of the per-sample value.
    batch = mean_squared_error(np.stack([Y, Y_WRONG]), np.stack([T, T]))
    assert batch == pytest.approx((0.0975 + 0.5975) / 2)


def test_cross_entropy_known_values():
    assert cross_entropy_error(Y, T) == pytest.approx(-math.log(0.6), rel=1e-6)
    assert cross_entropy_error(Y_WRONG, T) == pytest.approx(-math.log(0.1), rel=1e-6)
    assert cross_entropy_error(Y, 2) == pytest.approx(-math.log(0.6), rel=1e-6)


def test_cross_entropy_batched_one_hot_and_labels_agree():
    y = softmax(np.random.default_rng(0).standard_normal((8, 10)))
    labels = np.random.default_rng(1).integers(0, 10, 8)
    one_hot = np.eye(10)[labels]
    by_label = cross_entropy_error(y, labels)
    assert by_label == pytest.approx(cross_entropy_error(y, one_hot), rel=1e-12)
    assert by_label == pytest.approx(-np.mean(np.log(y[np.arange(8), labels])), rel=1e-6)


def test_cross_entropy_guards_log_of_zero():
    y = np.array([[0.0, 1.0], [1.0, 0.0]])
    for t in (np.array([0, 1]), np.eye(2)[[0, 1]]):
        loss = cross_entropy_error(y, t)
        assert np.isfinite(loss)
        assert loss == pytest.approx(-math.log(1e-7), rel=1e-6)
