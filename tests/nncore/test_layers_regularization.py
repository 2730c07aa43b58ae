"""BatchNormalization and Dropout: gradient checks in float64, modes, and dout left alone."""

import numpy as np
import pytest

from nncore.gradient import numerical_gradient
from nncore.layers import BatchNormalization, Dropout

from nncore_testutils import rel_error

TOL = 1e-7


def test_batchnorm_backward_matches_numerical_gradient(rng):
    gamma, beta = rng.standard_normal(5) + 1.0, rng.standard_normal(5)
    layer = BatchNormalization(gamma, beta)
    x = rng.standard_normal((8, 5)) * 3 + 1
    out = layer.forward(x, train_flg=True)
    dout = rng.standard_normal(out.shape)
    before = dout.copy()
    dx = layer.backward(dout)
    np.testing.assert_array_equal(dout, before)  # backward never mutates its argument
    f = lambda _: float(np.sum(layer.forward(x, train_flg=True) * dout))  # noqa: E731
    assert rel_error(dx, numerical_gradient(f, x)) < TOL
    layer.forward(x, train_flg=True)
    layer.backward(dout)
    dgamma, dbeta = layer.dgamma.copy(), layer.dbeta.copy()
    assert rel_error(dgamma, numerical_gradient(f, gamma)) < TOL
    assert rel_error(dbeta, numerical_gradient(f, beta)) < TOL


def test_batchnorm_normalises_in_training_and_uses_running_statistics_at_inference(rng):
    mean, var = np.zeros(3), np.zeros(3)
    layer = BatchNormalization(np.ones(3), np.zeros(3), momentum=0.5, running_mean=mean, running_var=var)
    x = rng.standard_normal((50, 3)) * 4 + 2
    out = layer.forward(x, train_flg=True)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), 1, rtol=1e-5)
    assert layer.running_mean is mean  # updated in place: a network's arrays stay shared
    np.testing.assert_allclose(mean, 0.5 * x.mean(axis=0))
    np.testing.assert_allclose(var, 0.5 * x.var(axis=0))
    expected = (x - mean) / np.sqrt(var + 10e-7)
    np.testing.assert_allclose(layer.forward(x, train_flg=False), expected)
    np.testing.assert_allclose(mean, 0.5 * x.mean(axis=0))  # inference leaves them alone
    assert "BatchNormalization(features=3" in repr(layer)


def test_dropout_masks_in_training_and_scales_at_inference(rng):
    layer = Dropout(0.3, rng=np.random.default_rng(0))
    x = rng.standard_normal((200, 50)) + 5
    out = layer.forward(x, train_flg=True)
    dropped = out == 0
    assert 0.25 < dropped.mean() < 0.35
    np.testing.assert_array_equal(out[~dropped], x[~dropped])
    dout = rng.standard_normal(x.shape)
    before = dout.copy()
    np.testing.assert_array_equal(layer.backward(dout), dout * ~dropped)
    np.testing.assert_array_equal(dout, before)
    np.testing.assert_allclose(layer.forward(x, train_flg=False), x * 0.7)
    again = Dropout(0.3, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(again.forward(x), out)  # the layer's own generator decides
    assert repr(layer) == "Dropout(dropout_ratio=0.3)"


def test_dropout_backward_matches_numerical_gradient_for_a_fixed_mask(rng):
    layer = Dropout(0.5, rng=rng)
    x = rng.standard_normal((4, 6))
    layer.forward(x)
    mask = layer.mask.copy()
    dout = rng.standard_normal(x.shape)
    numeric = numerical_gradient(lambda a: float(np.sum(a * mask * dout)), x)
    assert rel_error(layer.backward(dout), numeric) < TOL


@pytest.mark.parametrize("ratio", [-0.1, 1.0])
def test_dropout_rejects_a_ratio_outside_0_1(ratio):
    with pytest.raises(ValueError, match=r"dropout_ratio must be in \[0, 1\)"):
        Dropout(ratio, rng=np.random.default_rng())
