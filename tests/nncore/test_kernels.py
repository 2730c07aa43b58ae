"""The fused numba kernels agree with the NumPy reference; NNCORE_KERNELS chooses between them."""

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from nncore import MultiLayerNet, TwoLayerNet, _step, kernels
from nncore._step import TrainStep
from nncore.optimizers import make_optimizer

FLOATS = [np.float32, np.float64]
OPTIMIZERS = ["sgd", "momentum", "adagrad", "adam"]


def with_kernels(monkeypatch, name):
    """Switch this test to the given kernels (restored afterwards by monkeypatch)."""
    monkeypatch.setattr(kernels, "fast", kernels._load(name))


def both(monkeypatch, fn):
    """Return (fn() with NumPy kernels, fn() with numba kernels)."""
    out = []
    for name in ("numpy", "numba"):
        with_kernels(monkeypatch, name)
        out.append(fn())
    return out


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_fused_updates_equal_numpys_to_the_bit(monkeypatch, name, dtype):
    rng = np.random.default_rng(5)
    shapes = {"W1": (301, 207), "b1": (207,), "W2": (207, 10)}  # W1: several of NumPy's blocks
    start = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    grads = [{k: (rng.standard_normal(s) * 10.0 ** rng.integers(-4, 1)).astype(dtype) for k, s in shapes.items()}
             for _ in range(6)]

    def run():
        params, opt = {k: v.copy() for k, v in start.items()}, make_optimizer(name, 0.01)
        for g in grads:
            opt.update(params, g)
        return params, opt.state_dict()

    (p_np, s_np), (p_nb, s_nb) = both(monkeypatch, run)
    for key in shapes:
        assert p_nb[key].dtype == dtype
        np.testing.assert_array_equal(p_nb[key], p_np[key], err_msg=key)
        assert not np.array_equal(p_nb[key], start[key])
    assert s_nb.keys() == s_np.keys()
    for key in s_np:
        np.testing.assert_array_equal(s_nb[key], s_np[key], err_msg=key)


def test_arrays_the_kernels_cannot_take_use_the_numpy_path(monkeypatch):
    """A strided view, or a gradient of another dtype, updates as NumPy would (no fused call)."""
    with_kernels(monkeypatch, "numba")
    storage = np.ones((4, 6), np.float32)
    params = {"W": storage[:, ::2], "b": np.ones(3, np.float32)}
    grads = {"W": np.full((4, 3), 2.0, np.float32), "b": np.full(3, 2.0)}  # b's gradient: float64
    assert not kernels.fusable(params["W"], grads["W"]) and not kernels.fusable(params["b"], grads["b"])
    make_optimizer("sgd", 0.25).update(params, grads)
    np.testing.assert_array_equal(storage[:, ::2], 0.5)
    np.testing.assert_array_equal(storage[:, 1::2], 1.0)  # the other columns untouched
    np.testing.assert_array_equal(params["b"], 0.5)


def buffers(rng, n, h, c, dtype):
    """The step's work arrays for a 3-h-c net, filled with test values; its hidden layer's
    arrays as .hidden, .mask, .zeros, .tmp beside the output ones."""
    steps = _step._Buffers(n, TwoLayerNet(3, h, c, activation="relu", dtype=dtype))
    layer = steps.hidden[0]
    buf = SimpleNamespace(hidden=layer.out, mask=layer.mask, zeros=layer.zeros, tmp=layer.tmp,
                          scores=steps.scores, y=steps.y, row=steps.row, row_starts=steps.row_starts,
                          flat=steps.flat)
    buf.hidden[...] = rng.standard_normal((n, h)) * 4
    buf.hidden[0, :3] = [1e4, -1e4, 0.0]  # saturating sigmoid inputs and the ReLU kink
    buf.scores[...] = rng.standard_normal((n, c)) * 3
    return buf


@pytest.mark.parametrize("dtype", FLOATS)
def test_activation_kernels_equal_numpys_to_the_bit(monkeypatch, dtype):
    rng = np.random.default_rng(6)
    n, h = 33, 70
    buf = buffers(rng, n, h, 10, dtype)
    bias, dout = rng.standard_normal(h).astype(dtype), rng.standard_normal((n, h)).astype(dtype)
    hidden = buf.hidden.copy()

    def run():
        relu, sig, relu_back, sig_back = hidden.copy(), hidden.copy(), dout.copy(), dout.copy()
        _step._bias_relu_inplace(relu, bias, buf)
        mask = buf.mask.copy()
        _step._relu_backward_inplace(relu_back, mask)
        _step._sigmoid_inplace(sig, bias)
        _step._sigmoid_backward_inplace(sig_back, sig, buf.tmp)
        return relu, mask, relu_back, sig, sig_back

    for name, a, b in zip(("relu", "mask", "relu backward", "sigmoid", "sigmoid backward"), *both(monkeypatch, run)):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(b, a, err_msg=name)
    assert 0 < buf.mask.sum() < buf.mask.size


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_batchnorm_kernels_equal_numpys_to_the_bit(monkeypatch, activation, dtype):
    """A batch-norm layer in TrainStep: forward (bias, statistics, running averages, scale,
    shift, activation) and backward (dx, dgamma, dbeta) give NumPy's values with numba's kernels."""
    rng = np.random.default_rng(9)
    n, h = 33, 70
    x, dy = rng.standard_normal((n, 6)).astype(dtype), rng.standard_normal((n, 4)).astype(dtype)
    start = {k: rng.standard_normal(h).astype(dtype) for k in ("b1", "gamma1", "beta1", "running_mean1")}
    fused = []

    def run():
        net = MultiLayerNet(6, [h], 4, activation, use_batchnorm=True, dtype=dtype, seed=2)
        for key, value in start.items():
            (net.buffers if key.startswith("running") else net.params)[key][...] = value
        step = TrainStep(net)
        buf = step.buffers(n)
        layer = buf.hidden[0]
        out = step._hidden_forward(1, layer, x).copy()
        fused.append(layer.bn[0] is layer.bn_out[0])
        dh = step._affine_backward(2, buf, x, dy).copy()
        return (out, dh, step.grads["gamma1"].copy(), step.grads["beta1"].copy(), step.grads["W2"].copy(),
                *(v.copy() for v in net.buffers.values()))

    names = ("output", "dx", "dgamma", "dbeta", "dW2", "running mean", "running variance")
    for name, a, b in zip(names, *both(monkeypatch, run)):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(b, a, err_msg=name)
    assert fused == [False, True]  # NumPy's layer functions, then the fused kernels


@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_loss_grad_agrees_within_rounding(monkeypatch, dtype):
    rng = np.random.default_rng(8)
    buf = buffers(rng, 50, 4, 10, dtype)
    buf.scores[1] = [80.0] + [-80.0] * 9  # a confident row: softmax near 0 and 1
    scores = buf.scores.copy()
    t = rng.integers(0, 10, 50).astype(np.uint8)

    def run():
        buf.scores[...] = scores
        loss, dy = _step._softmax_loss_grad(buf, t)
        return loss, dy.copy()

    (loss_np, dy_np), (loss_nb, dy_nb) = both(monkeypatch, run)
    eps = float(np.finfo(dtype).eps)
    assert loss_nb == pytest.approx(loss_np, rel=8 * eps)
    assert dy_nb.dtype == dtype
    np.testing.assert_allclose(dy_nb, dy_np, rtol=8 * eps, atol=4 * eps / 50)
    np.testing.assert_allclose(dy_nb.sum(axis=1), 0.0, atol=8 * eps)


def test_softmax_kernel_refuses_a_label_out_of_range(monkeypatch):
    with_kernels(monkeypatch, "numba")
    buf = buffers(np.random.default_rng(0), 4, 3, 3, np.float32)
    with pytest.raises(IndexError, match="label"):
        _step._softmax_loss_grad(buf, np.array([0, 1, 3, 2]))


def test_use_switches_the_process_and_rejects_unknown_names(monkeypatch):
    monkeypatch.setattr(kernels, "fast", kernels.fast)
    assert kernels.use("numpy") == "numpy" and kernels.fast is None
    assert kernels.use(" NUMBA ") == "numba" and not kernels.fusable(np.zeros(3, np.float16))
    assert kernels.use("auto") == "numba"  # numba is installed with the dev extra
    with pytest.raises(ValueError, match="NNCORE_KERNELS must be one of auto, numba, numpy; got 'cuda'"):
        kernels.use("cuda")


def probe(value):
    """Import nncore in a fresh interpreter with NNCORE_KERNELS=value; report what it loaded."""
    code = ("import sys, json, numpy as np, nncore\n"
            "from nncore import kernels\n"
            "opt = nncore.make_optimizer('adam'); opt.update({'W': np.ones(4, np.float32)}, {'W': np.ones(4, np.float32)})\n"
            "print(json.dumps({'backend': kernels.backend(), 'numba': 'numba' in sys.modules}))")
    env = {k: v for k, v in os.environ.items() if k != kernels.ENV_VAR}
    if value is not None:
        env[kernels.ENV_VAR] = value
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("value, backend, imported", [("numpy", "numpy", False), ("numba", "numba", True),
                                                      (None, "numba", True), ("", "numba", True)])
def test_the_environment_variable_picks_the_kernels_at_import(value, backend, imported):
    result = probe(value)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"backend": backend, "numba": imported}


def test_a_bad_environment_value_fails_the_import_with_the_allowed_values():
    result = probe("fastest")
    assert result.returncode != 0
    assert "NNCORE_KERNELS must be one of auto, numba, numpy; got 'fastest'" in result.stderr


def test_the_disk_cache_follows_numba_cache_dir(monkeypatch, tmp_path):
    from nncore import _numba_kernels

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "not" / "yet"))  # numba creates it: writable
    assert _numba_kernels._cache_writable()
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(blocker / "cache"))  # under a file: never a directory
    assert not _numba_kernels._cache_writable()


@pytest.mark.parametrize("value", ["auto", "numba"])
def test_without_numba_auto_falls_back_to_numpy_and_numba_says_what_to_install(value):
    code = ("import sys; sys.modules['numba'] = None  # as if numba were not installed\n"
            "import nncore; from nncore import kernels; print(kernels.backend())")
    env = {**os.environ, kernels.ENV_VAR: value}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    if value == "auto":
        assert result.returncode == 0 and result.stdout.strip() == "numpy", result.stderr
    else:
        assert result.returncode != 0
        assert "NNCORE_KERNELS=numba but numba cannot be imported" in result.stderr
        assert "nnservice[fast]" in result.stderr


def test_auto_imports_numba_at_the_first_training_step_not_with_nncore():
    code = ("import sys, json, numpy as np, nncore\n"
            "from nncore import kernels\n"
            "before = {'backend': kernels.backend(), 'numba': 'numba' in sys.modules}\n"
            "x = np.random.default_rng(0).random((20, 4), dtype=np.float32); t = np.arange(20) % 2\n"
            "nncore.train(nncore.TrainConfig(hidden_size=4, epochs=1, batch_size=10), x, t, x, t)\n"
            "print(json.dumps({'before': before, 'after': 'numba' in sys.modules, 'module': kernels.fast.__name__}))")
    env = {k: v for k, v in os.environ.items() if k != kernels.ENV_VAR}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"before": {"backend": "numba", "numba": False}, "after": True,
                                         "module": "nncore._numba_kernels"}


def test_auto_falls_back_to_numpy_when_the_deferred_numba_import_fails(tmp_path):
    broken = tmp_path / "numba"
    broken.mkdir()
    (broken / "__init__.py").write_text("raise ImportError('this numba is broken')\n")
    code = ("import json, numpy as np, nncore\n"
            "from nncore import kernels\n"
            "before = kernels.backend()\n"
            "opt = nncore.make_optimizer('adam'); w = {'W': np.ones(4, np.float32)}\n"
            "opt.update(w, {'W': np.ones(4, np.float32)})\n"
            "print(json.dumps({'before': before, 'after': kernels.backend(), 'w': float(w['W'][0])}))")
    env = {**{k: v for k, v in os.environ.items() if k != kernels.ENV_VAR}, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["before"] == "numba" and figures["after"] == "numpy"  # found, then not importable
    assert figures["w"] < 1.0  # the update ran, with NumPy's kernels
