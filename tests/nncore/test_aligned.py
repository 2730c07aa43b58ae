"""nncore._aligned and the arrays a network keeps: data on a 64-byte boundary, values unchanged."""

import numpy as np
import pytest

from nncore import MultiLayerNet, TwoLayerNet, _aligned


def offset(a):
    return a.ctypes.data % _aligned.ALIGN


@pytest.mark.parametrize("shape", [0, 1, 7, (3, 5), (784, 100), (2, 3, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, bool])
def test_empty_is_aligned_c_ordered_and_writable(shape, dtype):
    for _ in range(8):  # different heap positions
        a = _aligned.empty(shape, dtype)
        assert (a.size == 0 or offset(a) == 0) and a.flags.c_contiguous and a.flags.writeable  # no data: no address
        assert a.shape == ((shape,) if isinstance(shape, int) else shape) and a.dtype == np.dtype(dtype)


def test_full_and_copy_give_numpys_values():
    np.testing.assert_array_equal(_aligned.full((4, 3), 1.5, np.float32), np.full((4, 3), 1.5, np.float32))
    src = np.arange(12, dtype=np.float64).reshape(3, 4).T  # not C-ordered
    out = _aligned.copy(src, np.float32)
    assert offset(out) == 0 and out.flags.c_contiguous and out.dtype == np.float32
    np.testing.assert_array_equal(out, np.array(src, dtype=np.float32))


def test_a_networks_params_gradients_and_step_buffers_are_aligned():
    rng = np.random.default_rng(0)
    net = MultiLayerNet(12, [7, 5], 3, use_batchnorm=True, seed=1)
    x, t = rng.standard_normal((6, 12)).astype(np.float32), rng.integers(0, 3, 6).astype(np.uint8)
    grads = net.gradient(x, t)
    buf = next(iter(net._step._buffers.values()))
    arrays = [*net.params.values(), *grads.values(), buf.x, buf.scores, buf.y]
    arrays += [a for layer in buf.hidden for a in (layer.out, layer.dout, layer.tmp, *layer.bn_out)]
    assert [offset(a) for a in arrays] == [0] * len(arrays)
    clone = TwoLayerNet.from_params(TwoLayerNet(12, 7, 3, seed=2).params, activation="relu")
    assert [offset(a) for a in clone.params.values()] == [0] * 4


def test_the_weights_are_the_seeds_as_before():
    """The aligned weights are drawn from the same stream as rng.standard_normal(shape) was."""
    net = MultiLayerNet(12, [7], 3, weight_init_std=0.1, seed=5)
    rng = np.random.default_rng(5)
    np.testing.assert_array_equal(net.params["W1"], rng.standard_normal((12, 7), dtype=np.float32) * np.float32(0.1))
    np.testing.assert_array_equal(net.params["W2"], rng.standard_normal((7, 3), dtype=np.float32) * np.float32(0.1))
