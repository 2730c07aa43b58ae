"""Each layer's backward against numerical_gradient (float64), and backward never mutates dout."""

import numpy as np
import pytest

from nncore.functions import softmax
from nncore.gradient import numerical_gradient
from nncore.layers import Affine, IdentityWithLoss, Relu, Sigmoid, SoftmaxWithLoss

from nncore_testutils import rel_error

TOL = 1e-7


def check_input_gradient(layer, x, rng):
    """Compare layer.backward(dout) with the numerical gradient of sum(forward(x) * dout)."""
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    dout_before = dout.copy()
    dx = layer.backward(dout)
    np.testing.assert_array_equal(dout, dout_before)  # backward never mutates its argument
    numeric = numerical_gradient(lambda a: float(np.sum(layer.forward(a) * dout)), x)
    assert dx.shape == x.shape
    assert rel_error(dx, numeric) < TOL
    return dout


def test_relu_backward_matches_numerical_gradient(rng):
    x = rng.standard_normal((4, 6))
    x[np.abs(x) < 0.01] = 0.5  # keep away from the kink, where the derivative is undefined
    check_input_gradient(Relu(), x, rng)


def test_relu_forward_zeroes_negatives_and_keeps_input():
    x = np.array([[-1.0, 2.0], [0.0, 3.0]])
    out = Relu().forward(x)
    np.testing.assert_array_equal(out, [[0.0, 2.0], [0.0, 3.0]])
    np.testing.assert_array_equal(x, [[-1.0, 2.0], [0.0, 3.0]])


def test_sigmoid_backward_matches_numerical_gradient(rng):
    check_input_gradient(Sigmoid(), rng.standard_normal((3, 5)) * 3, rng)


@pytest.mark.parametrize("x_shape", [(4, 6), (4, 2, 3)])
def test_affine_backward_matches_numerical_gradient(x_shape, rng):
    W, b = rng.standard_normal((6, 3)), rng.standard_normal(3)
    layer = Affine(W, b)
    x = rng.standard_normal(x_shape)
    dout = check_input_gradient(layer, x, rng)
    layer.forward(x)
    layer.backward(dout)
    f = lambda _: float(np.sum(layer.forward(x) * dout))  # noqa: E731 - reads W and b in place
    assert rel_error(layer.dW, numerical_gradient(f, W)) < TOL
    assert rel_error(layer.db, numerical_gradient(f, b)) < TOL


def test_affine_forward_value_and_shared_parameters(rng):
    W, b = rng.standard_normal((3, 2)), rng.standard_normal(2)
    layer = Affine(W, b)
    x = rng.standard_normal((5, 3))
    np.testing.assert_allclose(layer.forward(x), x @ W + b)
    W += 1.0  # an optimizer updates in place: the layer must see it
    np.testing.assert_allclose(layer.forward(x), x @ W + b)
    assert layer.W is W and layer.b is b


def test_affine_param_grads_equal_backward_without_dx(rng):
    layer = Affine(rng.standard_normal((4, 3)), rng.standard_normal(3))
    x, dout = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    layer.forward(x)
    layer.backward(dout)
    dW, db = layer.dW.copy(), layer.db.copy()
    layer.param_grads(dout)
    np.testing.assert_allclose(layer.dW, dW)
    np.testing.assert_allclose(layer.db, db)


@pytest.mark.parametrize("one_hot", [False, True])
def test_softmax_with_loss_backward_matches_numerical_gradient(one_hot, rng):
    x = rng.standard_normal((5, 4)) * 2
    labels = rng.integers(0, 4, 5)
    t = np.eye(4)[labels] if one_hot else labels
    layer = SoftmaxWithLoss()
    loss = layer.forward(x, t)
    assert loss == pytest.approx(-np.mean(np.log(softmax(x)[np.arange(5), labels])), rel=1e-12)
    dx = layer.backward(1.0)
    np.testing.assert_allclose(dx, (softmax(x) - np.eye(4)[labels]) / 5, rtol=1e-12)
    assert rel_error(dx, numerical_gradient(lambda a: layer.forward(a, t), x)) < TOL
    layer.forward(x, t)
    np.testing.assert_allclose(layer.backward(3.0), 3 * dx, rtol=1e-12)


def test_softmax_with_loss_labels_and_one_hot_agree_and_large_scores_are_finite(rng):
    x = rng.standard_normal((6, 3)) * 1e4
    labels = rng.integers(0, 3, 6)
    a, b = SoftmaxWithLoss(), SoftmaxWithLoss()
    loss_labels, loss_onehot = a.forward(x, labels), b.forward(x, np.eye(3)[labels])
    assert np.isfinite(loss_labels)
    assert loss_labels == pytest.approx(loss_onehot, rel=1e-12)
    np.testing.assert_allclose(a.backward(), b.backward(), rtol=1e-12)


def test_softmax_with_loss_rejects_mismatched_targets():
    with pytest.raises(ValueError, match="labels of shape"):
        SoftmaxWithLoss().forward(np.zeros((3, 4)), np.zeros((3, 5)))


def test_softmax_with_loss_single_sample():
    layer = SoftmaxWithLoss()
    x = np.array([0.3, 2.9, 4.0])
    assert layer.forward(x, np.array([0, 0, 1.0])) == pytest.approx(-np.log(softmax(x)[2]))
    assert layer.forward(x, np.array(2)) == pytest.approx(-np.log(softmax(x)[2]))


@pytest.mark.parametrize("labels", [False, True])
def test_identity_with_loss_backward_matches_numerical_gradient(labels, rng):
    x = rng.standard_normal((4, 3))
    t = rng.integers(0, 3, 4) if labels else rng.standard_normal((4, 3))
    layer = IdentityWithLoss()
    target = np.eye(3)[t] if labels else t
    assert layer.forward(x, t) == pytest.approx(0.5 * np.sum((x - target) ** 2) / 4)
    dx = layer.backward(1.0)
    assert rel_error(dx, numerical_gradient(lambda a: layer.forward(a, t), x)) < TOL


def test_identity_with_loss_regression_column():
    layer = IdentityWithLoss()
    x = np.array([[1.0], [3.0]])
    assert layer.forward(x, np.array([0.0, 1.0])) == pytest.approx(0.5 * (1 + 4) / 2)
    np.testing.assert_allclose(layer.backward(), [[0.5], [1.0]])
