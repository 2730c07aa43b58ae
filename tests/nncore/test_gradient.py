"""numerical_gradient and gradient_descent against analytic results."""

import numpy as np
import pytest

from nncore.gradient import gradient_descent, numerical_gradient


def function_2(x):
    return np.sum(x**2)


def test_numerical_gradient_known_values():
    # The text's example: d/dx (x0^2 + x1^2) at (3, 4) is (6, 8).
    np.testing.assert_allclose(numerical_gradient(function_2, np.array([3.0, 4.0])), [6.0, 8.0], rtol=1e-8)
    np.testing.assert_allclose(numerical_gradient(function_2, np.array([0.0, 2.0])), [0.0, 4.0], atol=1e-8)


@pytest.mark.parametrize("shape", [(), (5,), (2, 3), (2, 1, 3)])
def test_numerical_gradient_any_shape_and_restores_x(shape, rng):
    x = rng.standard_normal(shape)
    before = x.copy()
    weights = rng.standard_normal(shape)
    f = lambda a: np.sum(weights * a**3)  # noqa: E731
    grad = numerical_gradient(f, x)
    assert grad.shape == x.shape
    np.testing.assert_allclose(grad, 3 * weights * before**2, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(x, before)


def test_numerical_gradient_sees_x_through_a_closure():
    # The network's numerical_gradient relies on f reading the very array being perturbed.
    w = np.array([1.0, -2.0])
    grad = numerical_gradient(lambda _: float(w @ w), w)
    np.testing.assert_allclose(grad, 2 * np.array([1.0, -2.0]), rtol=1e-8)


def test_gradient_descent_minimises_a_quadratic():
    init = np.array([-3.0, 4.0])
    x = gradient_descent(function_2, init, lr=0.1, step_num=100)
    np.testing.assert_allclose(x, [0.0, 0.0], atol=1e-8)
    np.testing.assert_array_equal(init, [-3.0, 4.0])


def test_gradient_descent_with_a_tiny_learning_rate_barely_moves():
    x = gradient_descent(function_2, np.array([-3.0, 4.0]), lr=1e-10, step_num=100)
    np.testing.assert_allclose(x, [-3.0, 4.0], rtol=1e-6)
