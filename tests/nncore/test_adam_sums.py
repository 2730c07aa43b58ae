"""Adam keeps its moments as decayed sums: same updates as the text's Adam, old states still load."""

import numpy as np
import pytest

from nncore.optimizers import Adam


def textbook_adam(params, grads_seq, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-7):
    """The text's Adam, written out directly: m, v, lr_t, W -= lr_t * m / (sqrt(v) + eps)."""
    params = {k: v.copy() for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(x) for k, x in params.items()}
    for t, grads in enumerate(grads_seq, start=1):
        lr_t = lr * np.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
        for k in params:
            m[k] += (1 - beta1) * (grads[k] - m[k])
            v[k] += (1 - beta2) * (grads[k] ** 2 - v[k])
            params[k] -= lr_t * m[k] / (np.sqrt(v[k]) + eps)
    return params, m, v


def grads_sequence(rng, steps):
    return [{"W": rng.standard_normal((3, 4)) * 10.0 ** rng.integers(-4, 1), "b": rng.standard_normal(4)}
            for _ in range(steps)]


@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.5, 0.9)])
def test_updates_match_the_texts_adam_in_float64(rng, betas, kernels_backend):
    start = {"W": rng.standard_normal((3, 4)), "b": np.zeros(4)}
    seq = grads_sequence(rng, 60)
    expected, _, _ = textbook_adam(start, seq, beta1=betas[0], beta2=betas[1])
    params = {k: v.copy() for k, v in start.items()}
    opt = Adam(lr=0.01, beta1=betas[0], beta2=betas[1])
    for grads in seq:
        opt.update(params, grads)
    for k in params:
        np.testing.assert_allclose(params[k], expected[k], rtol=1e-12, atol=1e-14)


def test_float32_updates_stay_close_to_the_float64_reference(rng, kernels_backend):
    start = {"W": rng.standard_normal((3, 4)), "b": np.zeros(4)}
    seq = grads_sequence(rng, 60)
    expected, _, _ = textbook_adam(start, seq)
    params = {k: v.astype(np.float32) for k, v in start.items()}
    opt = Adam(lr=0.01)
    for grads in seq:
        opt.update(params, {k: g.astype(np.float32) for k, g in grads.items()})
    for k in params:
        assert params[k].dtype == np.float32
        np.testing.assert_allclose(params[k], expected[k], rtol=1e-5, atol=1e-6)


def test_state_with_the_moments_themselves_loads_and_continues_the_same_run(rng, kernels_backend):
    """A state written as m and v (an older nncore) resumes the run the text's Adam would give."""
    start = {"W": rng.standard_normal((3, 4)), "b": np.zeros(4)}
    seq = grads_sequence(rng, 20)
    half, m, v = textbook_adam(start, seq[:10])
    legacy = {"iter": np.array(10)} | {f"m/{k}": a for k, a in m.items()} | {f"v/{k}": a for k, a in v.items()}
    opt = Adam(lr=0.01)
    opt.load_state_dict(legacy)
    assert set(opt.state_dict()) == {"iter", "m_sum/W", "m_sum/b", "v_sum/W", "v_sum/b"}
    for grads in seq[10:]:
        opt.update(half, grads)
    expected, _, _ = textbook_adam(start, seq)
    for k in half:
        np.testing.assert_allclose(half[k], expected[k], rtol=1e-12, atol=1e-14)
    assert not np.shares_memory(opt.state["m_sum"]["W"], legacy["m/W"])
