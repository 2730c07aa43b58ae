"""Each optimizer decreases a quadratic, updates in place and round-trips its state."""

import numpy as np
import pytest

from nncore.optimizers import SGD, AdaGrad, Adam, Momentum, make_optimizer

CENTER = {"W": np.array([[1.0, -2.0], [0.5, 3.0]]), "b": np.array([-1.0, 2.0, 0.25])}
CURVATURE = {"W": np.array([[1.0, 2.0], [0.5, 1.5]]), "b": np.array([1.0, 0.3, 2.0])}


def loss(params):
    return sum(0.5 * np.sum(CURVATURE[k] * (params[k] - CENTER[k]) ** 2) for k in params)


def grads(params):
    return {k: CURVATURE[k] * (params[k] - CENTER[k]) for k in params}


def start(dtype=np.float64):
    return {"W": np.zeros((2, 2), dtype=dtype), "b": np.zeros(3, dtype=dtype)}


OPTIMIZERS = [SGD(lr=0.1), Momentum(lr=0.05), AdaGrad(lr=0.5), Adam(lr=0.1)]


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=repr)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_optimizer_decreases_a_quadratic_in_place(optimizer, dtype, kernels_backend):
    params = start(dtype)
    arrays = {k: id(v) for k, v in params.items()}
    initial = loss(params)
    for _ in range(200):
        optimizer.update(params, grads(params))
    assert loss(params) < 1e-2 * initial
    assert {k: id(v) for k, v in params.items()} == arrays  # same arrays: layers keep seeing them
    assert all(v.dtype == dtype for v in params.values())


@pytest.mark.parametrize("name", ["sgd", "momentum", "adagrad", "adam"])
def test_state_dict_round_trip_gives_identical_updates(name, kernels_backend):
    a, b = make_optimizer(name), make_optimizer(name)
    pa = start()
    for _ in range(5):
        a.update(pa, grads(pa))
    pb = {k: v.copy() for k, v in pa.items()}
    b.load_state_dict(a.state_dict())
    for _ in range(5):
        a.update(pa, grads(pa))
        b.update(pb, grads(pb))
    for key in pa:
        np.testing.assert_array_equal(pa[key], pb[key])


def test_state_dict_is_a_copy():
    opt = Adam()
    params = start()
    opt.update(params, grads(params))
    state = opt.state_dict()
    assert int(state["iter"]) == 1 and set(state) == {"iter", "m_sum/W", "m_sum/b", "v_sum/W", "v_sum/b"}
    state["m_sum/W"][...] = 99.0
    assert not np.any(opt.state["m_sum"]["W"] == 99.0)


def test_sgd_is_the_texts_rule():
    params, g = {"W": np.array([1.0, 2.0])}, {"W": np.array([0.5, -1.0])}
    SGD(lr=0.1).update(params, g)
    np.testing.assert_allclose(params["W"], [0.95, 2.1])


def test_adam_first_step_moves_each_weight_by_about_lr():
    params = {"W": np.array([1.0, 2.0, 3.0])}
    Adam(lr=0.01).update(params, {"W": np.array([0.5, -100.0, 1e-3])})
    np.testing.assert_allclose(params["W"], [0.99, 2.01, 2.99], rtol=1e-4)


def test_make_optimizer_defaults_and_errors():
    assert [make_optimizer(n).lr for n in ("sgd", "momentum", "adagrad", "adam")] == [0.1, 0.05, 0.01, 0.001]
    assert make_optimizer("momentum", 0.2, momentum=0.5).momentum == 0.5
    with pytest.raises(ValueError, match="optimizer must be one of sgd, momentum, adagrad, adam"):
        make_optimizer("rmsprop")
    with pytest.raises(ValueError, match="lr must be a positive"):
        SGD(lr=0)
    with pytest.raises(ValueError, match="unknown optimizer state"):
        SGD().load_state_dict({"x/W": np.zeros(1)})


@pytest.mark.parametrize("name", ["sgd", "momentum", "adagrad", "adam"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_block_by_block_updates_equal_whole_array_updates_to_the_bit(name, dtype, monkeypatch, numpy_kernels):
    import nncore.optimizers as optimizers

    rng = np.random.default_rng(7)
    # W: several blocks and a ragged last one; b: below one block; V: not contiguous (one call)
    shapes = {"W": (301, 207), "b": (50,), "V": (40, 30)}
    start = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    grads = [{k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()} for _ in range(4)]
    results = []
    for block_bytes in (1 << 40, 4096):  # the whole array at once, then 4 KB blocks
        monkeypatch.setattr(optimizers, "BLOCK_BYTES", block_bytes)
        params = {k: v.copy() for k, v in start.items()}
        storage = np.zeros((40, 60), dtype)
        params["V"] = storage[:, ::2]
        params["V"][...] = start["V"]
        opt = make_optimizer(name, 0.01)
        for g in grads:
            opt.update(params, {k: (g[k] if k != "V" else g[k].copy()) for k in g})
        results.append(params)
    whole, blocked = results
    for key in shapes:
        assert np.array_equal(whole[key], blocked[key]), key
        assert not np.array_equal(whole[key], start[key])  # the update did change it
