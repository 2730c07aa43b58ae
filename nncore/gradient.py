"""Numerical differentiation and plain gradient descent, as in the teaching text."""

from __future__ import annotations

from typing import Callable

import numpy as np


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Return df/dx by central differences for an array x of any shape; x is left unchanged."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        idx = it.multi_index
        original = x[idx]
        x[idx] = original + h
        fxh1 = f(x)
        x[idx] = original - h
        fxh2 = f(x)
        # Restore exactly: f may close over x (the network's own parameters).
        x[idx] = original
        grad[idx] = (fxh1 - fxh2) / (2 * h)
        it.iternext()
    return grad


def gradient_descent(
    f: Callable[[np.ndarray], float], init_x: np.ndarray, lr: float = 0.01, step_num: int = 100
) -> np.ndarray:
    """Return x after step_num steps of x -= lr * grad f(x), starting from a copy of init_x."""
    x = np.array(init_x, dtype=np.float64)
    for _ in range(step_num):
        x -= lr * numerical_gradient(f, x)
    return x
