"""MultiLayerNet: the text's gradient checks, the fast step against the layers, weight decay."""

import numpy as np
import pytest

from nncore import MultiLayerNet, MultiLayerNetExtend, TwoLayerNet
from nncore._step import TrainStep
from nncore.functions import weight_decay_penalty

from nncore_testutils import rel_error

OPTIONS = [dict(), dict(use_batchnorm=True), dict(use_dropout=True, dropout_ratio=0.3),
           dict(weight_decay_lambda=0.1), dict(use_batchnorm=True, use_dropout=True, weight_decay_lambda=0.05)]


def make_net(dtype=np.float64, activation="relu", seed=2, **options):
    return MultiLayerNet(6, [5, 4, 7], 3, activation, weight_init_std="he", dtype=dtype, seed=seed, **options)


def batch(rng, n=8, dtype=np.float64):
    return rng.standard_normal((n, 6)).astype(dtype), rng.integers(0, 3, n)


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("options", [dict(), dict(use_batchnorm=True), dict(weight_decay_lambda=0.1),
                                     dict(use_batchnorm=True, weight_decay_lambda=0.1)])
def test_backprop_matches_numerical_gradient_in_float64(rng, activation, options):
    net = make_net(activation=activation, **options)
    x, t = batch(rng)
    numeric = net.numerical_gradient(x, t)
    for grads in (net.layer_gradient(x, t), net.gradient(x, t)):
        assert list(grads) == list(net.params)
        for key, grad in grads.items():
            if options.get("use_batchnorm") and key[:2] in ("b1", "b2", "b3"):
                # batch norm subtracts the batch mean: a bias before it has zero gradient
                assert np.abs(grad).max() < 1e-12 and np.abs(numeric[key]).max() < 1e-9, key
            else:
                assert rel_error(grad, numeric[key]) < 1e-7, key


def test_params_are_keyed_like_the_text():
    net = MultiLayerNet(6, [5, 4], 3, use_batchnorm=True, use_dropout=True)
    assert list(net.params) == ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2", "W3", "b3"]
    assert list(net.layers) == ["Affine1", "BatchNorm1", "Relu1", "Dropout1", "Affine2", "BatchNorm2", "Relu2",
                                "Dropout2", "Affine3"]
    assert net.layers["BatchNorm2"].running_var is net.buffers["running_var2"]
    assert net.parameter_count == sum(v.size for v in net.params.values()) == 6 * 5 + 5 * 4 + 4 * 3 + 3 * 9 + 3
    assert MultiLayerNetExtend is MultiLayerNet
    assert repr(net) == "MultiLayerNet(6-5-4-3, activation='relu', batch_norm, dropout=0.5, dtype=float32)"


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_step_is_bit_identical_to_the_layers(rng, options, activation, dtype, kernels_backend):
    """Exact with NumPy's kernels; with numba's, softmax's exp and log differ in the last bits."""
    fast, ref = make_net(dtype, activation, **options), make_net(dtype, activation, **options)
    step = TrainStep(fast)
    rtol = 0 if kernels_backend == "numpy" else (2e-4 if dtype == np.float32 else 1e-9)
    for n in (8, 8, 5):
        x, t = batch(rng, n, dtype)
        loss = step(x, t)
        expected = ref.layer_gradient(x, t)
        penalty = weight_decay_penalty(ref.weights(), ref.weight_decay_lambda) if ref.weight_decay_lambda else 0
        assert loss == pytest.approx(ref.lastLayer.loss + penalty, rel=rtol, abs=0)
        scale = max(float(np.abs(grad).max()) for grad in expected.values())  # batch norm's b: ~0 +- 1e-18
        for key, grad in expected.items():
            np.testing.assert_allclose(step.grads[key], grad, rtol=rtol, atol=rtol * scale, err_msg=key)
        for key, arr in ref.buffers.items():  # running statistics move the same way
            np.testing.assert_allclose(fast.buffers[key], arr, rtol=rtol, atol=0, err_msg=key)


def test_weight_decay_adds_its_term_to_the_loss_and_lambda_w_to_the_gradient(rng):
    plain, decayed = make_net(), make_net(weight_decay_lambda=0.2)
    x, t = batch(rng)
    penalty = 0.5 * 0.2 * sum(np.sum(plain.params[f"W{i}"] ** 2) for i in (1, 2, 3, 4))
    assert decayed.loss(x, t) == pytest.approx(plain.loss(x, t) + penalty, rel=1e-12)
    g0, g1 = plain.gradient(x, t), decayed.gradient(x, t)
    np.testing.assert_allclose(g1["W2"], g0["W2"] + 0.2 * plain.params["W2"], rtol=1e-12)
    np.testing.assert_array_equal(g1["b2"], g0["b2"])


def test_public_gradient_returns_copies_and_sets_the_loss(rng):
    net = make_net()
    x, t = batch(rng)
    first = net.gradient(x, t)
    assert net.lastLayer.loss == pytest.approx(net.loss(x, t, train_flg=True))
    kept = {k: v.copy() for k, v in first.items()}
    net.gradient(*batch(rng))
    for key, value in kept.items():
        np.testing.assert_array_equal(first[key], value)  # a later call does not overwrite them
    onehot = net.gradient(x, np.eye(3)[t])  # one-hot targets: the layers' path, same numbers
    np.testing.assert_allclose(onehot["W1"], net.layer_gradient(x, t)["W1"], rtol=1e-12)


def test_inference_mode_turns_dropout_into_scaling_and_uses_running_statistics(rng):
    net = make_net(use_batchnorm=True, use_dropout=True, dropout_ratio=0.4)
    for _ in range(3):
        net.gradient(*batch(rng, 20))  # training moves the running statistics
    x, _ = batch(rng)
    scores = net.predict(x)
    np.testing.assert_array_equal(net.predict(x), scores)  # deterministic at inference
    np.testing.assert_allclose(net.infer(x), scores, rtol=1e-10)
    assert not np.allclose(net.predict(x, train_flg=True), scores)


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(hidden_size_list=[]), "at least one hidden layer"),
    (dict(hidden_size_list=[4, 0]), r"hidden_size_list\[1\] must be a positive integer"),
    (dict(weight_init_std="glorot"), "weight_init_std must be a number or one of"),
    (dict(dropout_ratio=1.0, use_dropout=True), r"dropout_ratio must be in \[0, 1\)"),
    (dict(weight_decay_lambda=-1), "weight_decay_lambda must be a finite number >= 0"),
])
def test_bad_options_are_refused_by_name(kwargs, message):
    args = dict(input_size=4, hidden_size_list=[3], output_size=2)
    with pytest.raises(ValueError, match=message):
        MultiLayerNet(**{**args, **kwargs})


@pytest.mark.parametrize(("name", "init"), [("relu", "he"), ("he", "he"), ("sigmoid", "xavier"), ("xavier", "xavier")])
def test_weight_init_std_names(name, init):
    net = MultiLayerNet(400, [300], 10, weight_init_std=name, seed=0)
    assert net.weight_init == init
    expected = np.sqrt((2.0 if init == "he" else 1.0) / 400)
    assert net.params["W1"].std() == pytest.approx(expected, rel=0.02)


def test_two_layer_net_is_the_one_hidden_layer_case(rng):
    two = TwoLayerNet(6, 5, 3, activation="relu", weight_init="he", dtype=np.float64, seed=4)
    multi = MultiLayerNet(6, [5], 3, "relu", "he", dtype=np.float64, seed=4)
    assert isinstance(two, MultiLayerNet)
    for key in two.params:
        np.testing.assert_array_equal(two.params[key], multi.params[key])
    x, t = batch(rng)
    assert two.loss(x, t) == multi.loss(x, t)
    assert two.architecture == {**multi.config, "weight_init_std": 0.01, "parameter_count": 6 * 5 + 5 + 5 * 3 + 3}


def test_gradient_arrays_a_caller_keeps_are_never_overwritten(rng):
    """gradient() reuses only dicts nobody references any more: kept dicts, arrays and views stay."""
    net = make_net()
    x, t = batch(rng)
    kept = net.gradient(x, t)
    copy = {k: v.copy() for k, v in kept.items()}
    view = None
    for _ in range(4):  # the text's loop: each call's dict dropped after the next call
        grad = net.gradient(*batch(rng))
        if view is None:
            view, view_copy = grad["W1"][0], grad["W1"][0].copy()  # a view keeps its base alive
    for key, arr in kept.items():
        np.testing.assert_array_equal(arr, copy[key], err_msg=key)
    np.testing.assert_array_equal(view, view_copy)


def test_the_texts_loop_reuses_the_arrays_it_dropped(rng, numpy_kernels):
    """Two dicts in turn, no fresh arrays, and each call's values are its own batch's."""
    net, ref = make_net(), make_net()
    ids = []
    for _ in range(6):
        x, t = batch(rng)
        grad = net.gradient(x, t)
        ids.append(id(grad["W1"]))
        for key, arr in ref.layer_gradient(x, t).items():
            np.testing.assert_array_equal(grad[key], arr, err_msg=key)
    assert len(set(ids)) == 2 and ids[0] == ids[2] == ids[4]
