"""Fused kernels compiled with numba: each one pass over its arrays where NumPy makes several.

Imported only through nncore.kernels (never when NNCORE_KERNELS=numpy). Every kernel repeats the
arithmetic of the NumPy code it replaces, operation by operation and in the arrays' dtype
(scalars arrive already cast to it, as NumPy casts a Python float against a float32 array), so
the optimizers' updates and the activations are the same to the bit. numba's exp is the C
library's, one value at a time (this llvmlite has no SVML): 1.5x slower than NumPy's SIMD exp,
so sigmoid keeps NumPy's exp between two fused passes; softmax, on ten scores a row, uses it and
differs from NumPy's in the last bit or two (tests bound it). No fastmath: it would reorder sums.

Compilation is lazy, per dtype, on a kernel's first call: about 0.1-0.3 s a kernel on this
machine, 0.8-1.1 s in all for the first float32 training step (measured); the batch-norm kernels
add about 1.5-1.9 s to a batch-norm net's first step. With cache=True, used when the
cache directory is writable (not in a read-only venv, unless NUMBA_CACHE_DIR points elsewhere),
later processes load the machine code instead: 0.02-0.3 s for that first step. This module, and
numba with it (0.37 s, about 60 MB resident), is imported by that first step too under the
default NNCORE_KERNELS=auto (nncore.kernels), not by `import nncore`. The server pays both once
per process, on its first training job, never at start-up.
"""

from __future__ import annotations

import math
import os

import numba
import numpy as np


def _cache_writable() -> bool:
    """Whether numba can write its cache: NUMBA_CACHE_DIR if set, else __pycache__ beside this file."""
    here = os.path.dirname(os.path.abspath(__file__))
    cache = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(here, "__pycache__")
    while not os.path.exists(cache):  # numba creates missing directories: check the first that exists
        cache = os.path.dirname(cache)
    return os.path.isdir(cache) and os.access(cache, os.W_OK)


#: Whether compiled kernels are cached on disk (see the module docstring for what that saves).
CACHE = _cache_writable()
# error_model="numpy": a division by zero gives inf/NaN as in NumPy instead of a per-element check
# that raises ZeroDivisionError and keeps LLVM from vectorising the loop.
jit = numba.njit(cache=CACHE, nogil=True, error_model="numpy")


@jit
def sgd(p, g, lr):
    """p -= g * lr over flat arrays."""
    for i in range(p.size):
        p[i] -= g[i] * lr


@jit
def momentum(p, g, v, lr, mom):
    """v = v * mom - g * lr; p += v over flat arrays."""
    for i in range(p.size):
        vi = v[i] * mom - g[i] * lr
        v[i] = vi
        p[i] += vi


@jit
def adagrad(p, g, h, lr, eps):
    """h += g * g; p -= (g / (sqrt(h) + eps)) * lr over flat arrays."""
    for i in range(p.size):
        gi = g[i]
        hi = h[i] + gi * gi
        h[i] = hi
        p[i] -= (gi / (np.sqrt(hi) + eps)) * lr


@jit
def adam(p, g, m, v, b1, b2, step, eps):
    """m = m * b1 + g; v = v * b2 + g * g; p -= (m / (sqrt(v) + eps)) * step over flat arrays."""
    for i in range(p.size):
        gi = g[i]
        mi = m[i] * b1 + gi
        vi = v[i] * b2 + gi * gi
        m[i] = mi
        v[i] = vi
        p[i] -= (mi / (np.sqrt(vi) + eps)) * step


@jit
def bias_relu(h, b, mask):
    """h = max(h + b, 0) row by row, mask = (h + b) > 0; NaN stays NaN as in np.maximum."""
    n, k = h.shape
    zero = h.dtype.type(0)
    for i in range(n):
        for j in range(k):
            a = h[i, j] + b[j]
            pos = a > zero
            mask[i, j] = pos
            h[i, j] = a if pos or a != a else zero


@jit
def relu_backward(dout, mask):
    """dout *= mask (a bool mask multiplies as 0.0 / 1.0, so inf * 0 -> NaN as in NumPy)."""
    n, k = dout.shape
    for i in range(n):
        for j in range(k):
            dout[i, j] = dout[i, j] * mask[i, j]


@jit
def bias_negate(h, b):
    """h = -(h + b) row by row: the passes of sigmoid before its exp."""
    n, k = h.shape
    for i in range(n):
        for j in range(k):
            h[i, j] = -(h[i, j] + b[j])


@jit
def reciprocal_1p(h):
    """h = 1 / (1 + h): the passes of sigmoid after its exp."""
    n, k = h.shape
    one = h.dtype.type(1)
    for i in range(n):
        for j in range(k):
            h[i, j] = one / (one + h[i, j])


@jit
def sigmoid_backward(dout, y):
    """dout = ((1 - y) * y) * dout, the order of layers.Sigmoid.backward."""
    n, k = dout.shape
    one = dout.dtype.type(1)
    for i in range(n):
        for j in range(k):
            yij = y[i, j]
            dout[i, j] = ((one - yij) * yij) * dout[i, j]


@jit
def softmax_loss_grad(scores, t, y):
    """y = (softmax(scores) - onehot(t)) / N row by row; return the mean cross-entropy.

    Shifted by each row's maximum like the NumPy path; the loss is summed in float64.
    """
    n, c = scores.shape
    inv_n = y.dtype.type(1.0 / n)
    total = 0.0
    for i in range(n):
        top = scores[i, 0]
        for j in range(1, c):
            v = scores[i, j]
            if v > top or v != v:  # NaN wins, as in np.maximum
                top = v
        s = y.dtype.type(0)
        for j in range(c):
            e = np.exp(scores[i, j] - top)
            y[i, j] = e
            s += e
        label = t[i]
        if label < 0 or label >= c:  # no bounds checks in compiled code: never write past y
            raise IndexError("a label is outside [0, number of classes)")
        total -= (scores[i, label] - top) - math.log(s)
        for j in range(c):
            y[i, j] = y[i, j] / s
        y[i, label] -= 1
        for j in range(c):
            y[i, j] *= inv_n
    return total / n


@jit
def batchnorm_train(h, b, eps, momentum, rest, running_mean, running_var, xc, xn, std):
    """Batch norm of h + b (N, D) in training: h += b, then xc, xn, std and the running statistics
    (rest = 1 - momentum) as layers.batchnorm_train computes them (column sums row after row, as
    NumPy sums along axis 0)."""
    n, d = h.shape
    mu = np.zeros(d, h.dtype)
    for i in range(n):
        for j in range(d):
            a = h[i, j] + b[j]
            h[i, j] = a
            mu[j] += a
    var = np.zeros(d, h.dtype)
    count = h.dtype.type(n)
    for j in range(d):
        mu[j] = mu[j] / count
    for i in range(n):
        for j in range(d):
            c = h[i, j] - mu[j]
            xc[i, j] = c
            var[j] += c * c
    for j in range(d):
        var[j] = var[j] / count
        std[j] = np.sqrt(var[j] + eps)
        running_mean[j] = running_mean[j] * momentum + rest * mu[j]
        running_var[j] = running_var[j] * momentum + rest * var[j]
    for i in range(n):
        for j in range(d):
            xn[i, j] = xc[i, j] / std[j]


@jit
def scale_shift_relu(xn, gamma, beta, out, mask):
    """out = max(gamma * xn + beta, 0) row by row, mask = (gamma * xn + beta) > 0."""
    n, d = xn.shape
    zero = xn.dtype.type(0)
    for i in range(n):
        for j in range(d):
            a = gamma[j] * xn[i, j] + beta[j]
            pos = a > zero
            mask[i, j] = pos
            out[i, j] = a if pos or a != a else zero


@jit
def batchnorm_backward(dout, gamma, xc, xn, std, dx, dgamma, dbeta):
    """dx, dgamma, dbeta of gamma * xn + beta, each operation as layers.batchnorm_backward does it."""
    n, d = dout.shape
    half = dout.dtype.type(0.5)
    two_n = dout.dtype.type(2.0 / n)
    dstd = np.zeros(d, dout.dtype)
    dmu = np.zeros(d, dout.dtype)
    dgamma[:] = 0
    dbeta[:] = 0
    for i in range(n):
        for j in range(d):
            g = dout[i, j]
            dbeta[j] += g
            dgamma[j] += xn[i, j] * g
            dstd[j] += (gamma[j] * g * xc[i, j]) / (std[j] * std[j])
    for j in range(d):
        dstd[j] = half * -dstd[j] / std[j]  # dvar: 0.5 * dstd / std with dstd = -sum(...)
    for i in range(n):
        for j in range(d):
            c = (gamma[j] * dout[i, j]) / std[j] + (two_n * xc[i, j]) * dstd[j]
            dx[i, j] = c
            dmu[j] += c
    count = dout.dtype.type(n)
    for j in range(d):
        dmu[j] = dmu[j] / count
    for i in range(n):
        for j in range(d):
            dx[i, j] -= dmu[j]
