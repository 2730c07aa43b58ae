"""Activation and loss functions of the teaching text, made numerically safe."""

from __future__ import annotations

import math

import numpy as np

#: Floor applied to probabilities before the log (the text adds delta = 1e-7).
CROSS_ENTROPY_EPS = 1e-7


def step_function(x: np.ndarray) -> np.ndarray:
    """Return 1 where x > 0 and 0 elsewhere (integer array)."""
    return np.asarray(np.asarray(x) > 0, dtype=np.int64)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Return 1 / (1 + exp(-x)) element-wise, without overflow warnings."""
    x = np.asarray(x)
    out = np.negative(x, dtype=np.result_type(x.dtype, np.float32))
    # exp(-x) overflows to inf for very negative x; 1 / (1 + inf) = 0 is exact.
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1
    np.reciprocal(out, out=out)
    return out


def relu(x: np.ndarray) -> np.ndarray:
    """Return max(x, 0) element-wise."""
    return np.maximum(x, 0)


def identity_function(x: np.ndarray) -> np.ndarray:
    """Return x unchanged (the output activation for regression)."""
    return x


def softmax(x: np.ndarray) -> np.ndarray:
    """Return the softmax over the last axis: each row of a batch sums to 1."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    # Subtracting the row max keeps exp() <= 1, so large inputs cannot overflow.
    out = x - x.max(axis=-1, keepdims=True)
    np.exp(out, out=out)
    out /= out.sum(axis=-1, keepdims=True)
    return out


def mean_squared_error(y: np.ndarray, t: np.ndarray) -> float:
    """Return 0.5 * sum((y - t)**2), averaged over the batch when y is 2-D."""
    y = np.asarray(y)
    diff = y - np.asarray(t)
    batch_size = y.shape[0] if y.ndim > 1 else 1
    return float(0.5 * np.vdot(diff, diff) / batch_size)


def cross_entropy_error(y: np.ndarray, t: np.ndarray) -> float:
    """Return -mean(log y[t]) for probabilities y and one-hot or integer-label t."""
    y = np.asarray(y)
    t = np.asarray(t)
    if y.ndim == 1:
        y = y.reshape(1, -1)
        t = t.reshape(1, -1) if t.size == y.size else t.reshape(1)
    batch_size = y.shape[0]
    if t.shape == y.shape:  # one-hot (or soft) targets
        # The floor guards log(0) while leaving ordinary probabilities exact.
        logs = np.log(np.maximum(y, CROSS_ENTROPY_EPS))
        return float(-np.vdot(t, logs) / batch_size)
    picked = y[np.arange(batch_size), t.astype(np.intp, copy=False)]
    return float(-np.sum(np.log(np.maximum(picked, CROSS_ENTROPY_EPS))) / batch_size)


def weight_decay_penalty(weights, weight_decay_lambda: float) -> float:
    """Return 0.5 * lambda * sum(W**2) over the weight matrices (the L2 term of the loss)."""
    return 0.5 * weight_decay_lambda * math.fsum(float(np.vdot(W, W)) for W in weights)
