"""The training fast path (TrainStep) and batch_order agree exactly with the text's path."""

import warnings

import numpy as np
import pytest

from nncore import TwoLayerNet
from nncore._step import TrainStep
from nncore.gradient import numerical_gradient
from nncore.optimizers import make_optimizer
from nncore.training import TrainConfig, _epoch_batches, batch_order, build_network, learning_rate, train

ACTIVATIONS = ["sigmoid", "relu"]


def make_net(activation, dtype=np.float32, hidden=7, seed=3):
    return TwoLayerNet(12, hidden, 5, activation=activation, weight_init="he", dtype=dtype, seed=seed)


def batch(rng, n, dtype=np.float32):
    return rng.standard_normal((n, 12)).astype(dtype), rng.integers(0, 5, n).astype(np.uint8)


def assert_same(backend, actual, expected, err_msg=""):
    """NumPy kernels: the same to the bit; numba's: within float32 rounding (its exp and log differ)."""
    if backend == "numpy":
        np.testing.assert_array_equal(actual, expected, err_msg=err_msg)
    else:
        scale = float(np.nanmax(np.abs(expected), initial=0.0))
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6 * scale, err_msg=err_msg)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grads_and_loss_are_bit_identical_to_net_gradient(rng, activation, dtype, kernels_backend):
    net = make_net(activation, dtype)
    step = TrainStep(net)
    for n in (9, 9, 4, 9):  # repeated and changing batch sizes reuse or replace the buffers
        x, t = batch(rng, n, dtype)
        loss = step(x, t)
        expected = net.gradient(x, t)
        assert_same(kernels_backend, loss, net.lastLayer.loss)
        for key, grad in expected.items():
            assert step.grads[key].dtype == dtype
            assert_same(kernels_backend, step.grads[key], grad, err_msg=key)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_grads_match_numerical_gradient_in_float64(rng, activation, kernels_backend):
    net = make_net(activation, np.float64)
    x, t = batch(rng, 6, np.float64)
    if activation == "relu":  # keep pre-activations away from the kink at 0
        x += np.sign(x) * 0.1
    step = TrainStep(net)
    step(x, t)
    numeric = net.numerical_gradient(x, t)
    for key, grad in numeric.items():
        err = np.abs(step.grads[key] - grad).max() / max(np.abs(grad).max(), 1e-12)
        assert err < 1e-7, (key, err)


def test_loss_is_the_cross_entropy_of_the_batch(rng):
    net = make_net("relu", np.float64)
    x, t = batch(rng, 8, np.float64)
    assert TrainStep(net)(x, t) == pytest.approx(net.loss(x, t), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_load_scales_uint8_and_casts_floats_like_astype(rng, dtype):
    step = TrainStep(make_net("relu", dtype))
    pixels = rng.integers(0, 256, (30, 12), dtype=np.uint8)
    idx = rng.integers(0, 30, 9)
    np.testing.assert_array_equal(step.load(pixels, idx), pixels[idx].astype(dtype) / dtype(255))
    floats = rng.standard_normal((30, 12))
    np.testing.assert_array_equal(step.load(floats, idx), floats[idx].astype(dtype))
    same = floats.astype(dtype)
    np.testing.assert_array_equal(step.load(same, idx), same[idx])
    assert "TrainStep(" in repr(step)


def test_sigmoid_fast_path_does_not_warn_on_huge_inputs(rng, kernels_backend):
    net = make_net("sigmoid", np.float32)
    x = np.full((3, 12), 1e4, dtype=np.float32)
    x[1] *= -1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = TrainStep(net)(x, np.array([0, 1, 2]))
    assert np.isfinite(loss)


@pytest.mark.parametrize(
    "overrides",
    [dict(sampling="shuffle", epochs=2), dict(sampling="replacement", iterations=23),
     dict(sampling="shuffle", iterations=17, train_size=50)],
)
def test_batch_order_is_the_order_train_uses(rng, overrides, numpy_kernels):
    """A manual loop over batch_order with the text's gradient and SGD gives train()'s weights."""
    x = rng.integers(0, 256, (64, 12), dtype=np.uint8)
    t = rng.integers(0, 5, 64)
    config = TrainConfig(hidden_size=6, optimizer="sgd", learning_rate=0.1, batch_size=8, seed=4, **overrides)
    order = batch_order(config, x.shape[0])
    assert order.shape[1] == 8 and order.max() < (config.train_size or 64)
    net = build_network(config, 12, 5)
    optimizer = make_optimizer("sgd", 0.1)
    losses = []
    for idx in order:
        optimizer.update(net.params, net.gradient(x[idx].astype(np.float32) / np.float32(255), t[idx]))
        losses.append(net.lastLayer.loss)
    history = train(config, x, t, x[:10], t[:10])
    assert history.train_loss_list == losses
    for key, value in history.net.params.items():
        np.testing.assert_array_equal(value, net.params[key])


def test_batch_order_rejects_a_bad_config():
    with pytest.raises(ValueError, match="sampling must be one of"):
        batch_order(TrainConfig(sampling="random"), 100)


@pytest.mark.parametrize("n, batch_size, steps", [(50, 7, 30), (60000, 100, 600), (5, 5, 3)])
def test_replacement_sampling_draws_what_the_texts_choice_draws(n, batch_size, steps):
    """One draw per epoch yields the numbers np.random.choice(n, bs) gives at every step."""
    ours, texts = np.random.default_rng(1), np.random.default_rng(1)
    drawn = list(_epoch_batches(ours, "replacement", n, batch_size, steps))
    assert len(drawn) == steps
    for idx in drawn:
        np.testing.assert_array_equal(idx, texts.choice(n, batch_size))
    assert ours.integers(0, 1000) == texts.integers(0, 1000)  # and the generators stay in step


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_a_nan_weight_propagates_exactly_as_in_net_gradient(rng, activation, kernels_backend):
    net = make_net(activation, np.float32)
    net.params["W2"][2, 1] = np.nan  # one poisoned score column: the row maxima become NaN
    x, t = batch(rng, 6)
    with np.errstate(invalid="ignore"):
        step = TrainStep(net)
        loss = step(x, t)
        expected = net.gradient(x, t)
    assert np.isnan(loss) and np.isnan(net.lastLayer.loss)
    for key, grad in expected.items():
        assert_same(kernels_backend, step.grads[key], grad, err_msg=key)


def test_learning_rate_follows_the_configured_schedule():
    constant = TrainConfig(learning_rate=0.2)
    assert [learning_rate(constant, i, 10) for i in (0, 5, 9)] == [0.2, 0.2, 0.2]
    cosine = TrainConfig(learning_rate=0.2, lr_schedule="cosine")
    rates = [learning_rate(cosine, i, 10) for i in range(11)]
    assert rates[0] == pytest.approx(0.2) and rates[5] == pytest.approx(0.1) and rates[10] == pytest.approx(0.0, abs=1e-12)
    assert all(a > b for a, b in zip(rates, rates[1:]))  # strictly decreasing from lr to 0


def test_labels_below_accepts_only_integer_labels_in_range():
    from nncore._step import labels_below

    assert labels_below(np.array([0, 4], np.uint8), 5) and labels_below(np.array([0, 4]), 5)
    assert labels_below(np.array([], np.int64), 5)
    assert not labels_below(np.array([0, 5], np.uint8), 5) and not labels_below(np.array([-1, 2]), 5)
    assert not labels_below(np.array([True, False]), 5) and not labels_below(np.array([0.0, 1.0]), 5)


def test_gradient_with_a_label_out_of_range_takes_the_layers_and_raises(rng):
    net = make_net("relu")
    x, t = batch(rng, 4)
    t[2] = 5  # classes are 0-4
    with pytest.raises(IndexError):
        net.gradient(x, t)
    assert net._step is None  # the buffered step was never built for it
