"""save_network / load_network: one .npz rebuilds any network; old weights files still load."""

import io
import json

import numpy as np
import pytest

from nncore import MultiLayerNet, TwoLayerNet, load_network, network_from_bytes, network_to_bytes, save_network


def trained_deep_net():
    net = MultiLayerNet(12, [8, 6], 4, "sigmoid", 0.3, weight_decay_lambda=0.01, use_dropout=True,
                        dropout_ratio=0.2, use_batchnorm=True, dtype=np.float64, seed=1)
    rng = np.random.default_rng(0)
    for _ in range(3):
        net.gradient(rng.random((10, 12)), rng.integers(0, 4, 10))
    return net


@pytest.mark.parametrize("make", [trained_deep_net, lambda: TwoLayerNet(12, 5, 4, activation="relu", seed=2)])
def test_a_saved_network_loads_alone_and_predicts_the_same(tmp_path, make):
    net = make()
    path = save_network(net, tmp_path / "net.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["net.npz"]  # no temporary left behind
    loaded = load_network(path)
    assert type(loaded) is type(net) and loaded.architecture == net.architecture
    for group in ("params", "buffers"):
        for key, arr in getattr(net, group).items():
            np.testing.assert_array_equal(getattr(loaded, group)[key], arr, err_msg=key)
    x = np.random.default_rng(5).random((3, 12))
    np.testing.assert_array_equal(loaded.infer(x), net.infer(x))
    with np.load(path, allow_pickle=False) as npz:  # plain arrays only
        assert json.loads(npz["architecture"].tobytes())["hidden_sizes"] == list(net.hidden_sizes)


def test_an_old_weights_file_loads_with_its_architecture():
    net = TwoLayerNet(12, 5, 4, activation="relu", seed=2)
    out = io.BytesIO()
    np.savez(out, **net.params)  # today's weights.npz: W1 b1 W2 b2 and nothing else
    arch = {"input_size": 12, "hidden_size": 5, "output_size": 4, "activation": "relu", "dtype": "float32"}
    loaded = network_from_bytes(out.getvalue(), arch)
    np.testing.assert_array_equal(loaded.infer(np.ones((1, 12))), net.infer(np.ones((1, 12))))
    with pytest.raises(ValueError, match="pass its architecture"):
        network_from_bytes(out.getvalue())
    with pytest.raises(ValueError, match="do not match the architecture"):
        network_from_bytes(out.getvalue(), {**arch, "input_size": 13})


def test_arrays_that_do_not_fit_the_architecture_are_refused():
    data = dict(np.load(io.BytesIO(network_to_bytes(trained_deep_net())), allow_pickle=False))
    data.pop("buffers/running_var1")
    out = io.BytesIO()
    np.savez(out, **data)
    with pytest.raises(ValueError, match="do not match the architecture"):
        network_from_bytes(out.getvalue())
