"""TwoLayerNet: backprop vs numerical gradient, inference path, (de)serialisation, options."""

import json
import threading

import numpy as np
import pytest
from nncore_testutils import rel_error

from nncore import TwoLayerNet
from nncore.functions import softmax


def small_problem(rng, n=6, d=5, classes=3):
    return rng.standard_normal((n, d)), rng.integers(0, classes, n)


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("one_hot", [False, True])
def test_gradient_matches_numerical_gradient(activation, one_hot, rng):
    net = TwoLayerNet(5, 4, 3, activation=activation, weight_init="xavier", dtype=np.float64, seed=3)
    x, labels = small_problem(rng)
    t = np.eye(3)[labels] if one_hot else labels
    backprop = net.gradient(x, t)
    numeric = net.numerical_gradient(x, t)
    assert set(backprop) == set(numeric) == {"W1", "b1", "W2", "b2"}
    for key in backprop:
        assert backprop[key].shape == net.params[key].shape
        assert rel_error(backprop[key], numeric[key]) < 1e-7, key


def test_numerical_gradient_leaves_params_unchanged(rng):
    net = TwoLayerNet(4, 3, 2, dtype=np.float64, seed=0)
    before = {k: v.copy() for k, v in net.params.items()}
    x, t = small_problem(rng, d=4, classes=2)
    net.numerical_gradient(x, t)
    for key, value in before.items():
        np.testing.assert_array_equal(net.params[key], value)


def test_params_shapes_dtype_and_shared_with_layers():
    net = TwoLayerNet(784, 50, 10)
    assert {k: v.shape for k, v in net.params.items()} == {"W1": (784, 50), "b1": (50,), "W2": (50, 10), "b2": (10,)}
    assert all(v.dtype == np.float32 for v in net.params.values())
    assert not net.params["b1"].any() and not net.params["b2"].any()
    assert net.layers["Affine1"].W is net.params["W1"] and net.layers["Affine2"].b is net.params["b2"]
    assert list(net.layers) == ["Affine1", "Sigmoid1", "Affine2"]
    assert list(TwoLayerNet(4, 3, 2, activation="relu").layers) == ["Affine1", "Relu1", "Affine2"]


@pytest.mark.parametrize(
    ("weight_init", "expected_std"),
    [("std", 0.01), ("xavier", np.sqrt(1 / 400)), ("he", np.sqrt(2 / 400))],
)
def test_weight_init_scale(weight_init, expected_std):
    net = TwoLayerNet(400, 300, 10, activation="relu", weight_init=weight_init, seed=0)
    assert net.params["W1"].std() == pytest.approx(expected_std, rel=0.02)


def test_seed_makes_init_reproducible():
    a, b, c = (TwoLayerNet(20, 8, 3, seed=s) for s in (7, 7, 8))
    np.testing.assert_array_equal(a.params["W1"], b.params["W1"])
    assert not np.array_equal(a.params["W1"], c.params["W1"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"activation": "tanh"}, "activation must be one of relu, sigmoid"),
        ({"weight_init": "glorot"}, "weight_init must be one of he, xavier, std"),
        ({"dtype": np.float16}, "dtype must be one of float32, float64"),
        ({"dtype": "int32"}, "dtype must be one of float32, float64"),
    ],
)
def test_bad_options_raise_value_error_naming_allowed_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TwoLayerNet(4, 3, 2, **kwargs)


def test_bad_size_raises():
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        TwoLayerNet(4, 0, 2)


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_infer_equals_predict_and_caches_nothing(activation, rng):
    net = TwoLayerNet(6, 5, 4, 1.0, activation=activation, seed=1)
    x = rng.standard_normal((7, 6)).astype(np.float32)
    scores = net.infer(x)
    assert net.layers["Affine1"].x is None and net.lastLayer.y is None
    np.testing.assert_allclose(scores, net.predict(x), rtol=1e-6)
    np.testing.assert_allclose(net.predict_proba(x), softmax(scores), rtol=1e-6)
    np.testing.assert_allclose(net.predict_proba(x).sum(axis=1), 1.0, rtol=1e-6)


def test_infer_casts_any_float_dtype_and_never_mutates_input(rng):
    net = TwoLayerNet(6, 5, 4, 1.0, seed=1)
    x64 = rng.standard_normal((3, 6))
    before = x64.copy()
    out = net.infer(x64)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(x64, before)
    np.testing.assert_allclose(out, net.infer(x64.astype(np.float16)), atol=1e-2)
    np.testing.assert_allclose(net.infer(x64[0]), out[0], rtol=1e-6)  # a single sample
    np.testing.assert_allclose(net.infer(x64.reshape(3, 2, 3)), out, rtol=1e-6)  # flattened


def test_infer_rejects_wrong_feature_count():
    with pytest.raises(ValueError, match="input must have 6 features"):
        TwoLayerNet(6, 5, 4).infer(np.zeros((2, 7)))


def test_infer_is_thread_safe(rng):
    net = TwoLayerNet(30, 20, 5, 1.0, activation="relu", seed=2).frozen()
    inputs = [rng.standard_normal((50, 30)) for _ in range(8)]
    expected = [net.infer(x) for x in inputs]
    results = [None] * len(inputs)

    def worker(i):
        for _ in range(20):
            results[i] = net.infer(inputs[i])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(inputs))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want)


def test_accuracy_with_labels_and_one_hot(rng):
    net = TwoLayerNet(5, 4, 3, 1.0, seed=0)
    x = rng.standard_normal((20, 5))
    predicted = net.infer(x).argmax(axis=1)
    labels = predicted.copy()
    labels[:5] = (labels[:5] + 1) % 3  # exactly 5 of 20 wrong
    assert net.accuracy(x, labels) == pytest.approx(0.75)
    assert net.accuracy(x, np.eye(3)[labels]) == pytest.approx(0.75)


def test_loss_is_cross_entropy_of_softmax(rng):
    net = TwoLayerNet(5, 4, 3, 1.0, dtype=np.float64, seed=0)
    x, t = small_problem(rng)
    p = softmax(net.infer(x))
    assert net.loss(x, t) == pytest.approx(-np.mean(np.log(p[np.arange(len(t)), t])), rel=1e-10)


def test_config_is_json_and_rebuilds_the_architecture():
    net = TwoLayerNet(12, 7, 3, 0.05, activation="relu", weight_init="he", dtype=np.float64)
    config = json.loads(json.dumps(net.config))
    assert config == {"input_size": 12, "hidden_size": 7, "output_size": 3, "activation": "relu",
                      "weight_init": "he", "weight_init_std": 0.05, "dtype": "float64"}
    rebuilt = TwoLayerNet(config.pop("input_size"), config.pop("hidden_size"), config.pop("output_size"), **config)
    assert rebuilt.config == net.config


def test_from_params_copies_and_predicts_the_same(rng):
    net = TwoLayerNet(6, 5, 4, 1.0, activation="relu", seed=1)
    copy = TwoLayerNet.from_params(net.params, activation="relu")
    assert copy.dtype == np.float32 and copy.config["hidden_size"] == 5
    x = rng.standard_normal((3, 6))
    np.testing.assert_array_equal(copy.infer(x), net.infer(x))
    net.params["W1"] += 1.0
    assert not np.array_equal(copy.infer(x), net.infer(x))
    as64 = TwoLayerNet.from_params(copy.params, activation="relu", dtype="float64")
    assert as64.params["W2"].dtype == np.float64


def test_from_params_rejects_bad_shapes():
    params = TwoLayerNet(6, 5, 4).params
    with pytest.raises(ValueError, match="missing b2"):
        TwoLayerNet.from_params({k: v for k, v in params.items() if k != "b2"}, activation="relu")
    with pytest.raises(ValueError, match="params shapes"):
        TwoLayerNet.from_params({**params, "b1": np.zeros(4)}, activation="relu")


def test_frozen_copy_is_read_only_and_independent(rng):
    net = TwoLayerNet(6, 5, 4, 1.0, seed=1)
    frozen = net.frozen()
    x = rng.standard_normal((3, 6))
    np.testing.assert_array_equal(frozen.infer(x), net.infer(x))
    assert all(not arr.flags.writeable for arr in frozen.params.values())
    with pytest.raises(ValueError):
        frozen.params["W1"] += 1.0
    net.params["W1"] += 1.0  # the original stays trainable and does not affect the copy
    assert not np.array_equal(frozen.infer(x), net.infer(x))
    assert frozen.config == net.config
    assert "6-5-4" in repr(frozen)


def test_freeze_makes_the_nets_own_arrays_read_only_without_copying():
    net = TwoLayerNet(6, 5, 4, seed=1)
    arrays = dict(net.params)
    assert net.freeze() is net
    assert all(net.params[k] is arrays[k] and not arrays[k].flags.writeable for k in arrays)


def test_accuracy_of_a_single_sample(rng):
    net = TwoLayerNet(5, 4, 3, 1.0, seed=0)
    x = rng.standard_normal(5)
    label = int(net.infer(x).argmax())
    assert net.accuracy(x, label) == 1.0
    assert net.accuracy(x, np.eye(3)[label]) == 1.0
    assert net.accuracy(x, (label + 1) % 3) == 0.0
