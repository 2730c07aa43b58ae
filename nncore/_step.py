"""The training fast path: TwoLayerNet.gradient computed into buffers reused between steps.

`net.gradient` follows the text (layers, fresh arrays every call); train() runs thousands of
steps, where allocating and Python overhead cost as much as the arithmetic on small nets. This
module performs the same operations in the same order, so results are bit-identical, but
writes every intermediate into arrays kept per batch size. The element-wise helpers at the
bottom hand their work to nncore.kernels' fused kernels when those are in use (bit-identical
except softmax, whose exp and log differ in the last bits; see _numba_kernels).
"""

from __future__ import annotations

import numpy as np

from . import kernels
from .network import PARAM_NAMES, TwoLayerNet


class _Buffers:
    """Work arrays for one batch size (N rows, H hidden units, C classes)."""

    def __init__(self, n: int, d: int, h: int, c: int, dtype: np.dtype) -> None:
        self.x = np.empty((n, d), dtype)  # the batch in the net's dtype
        self.pixels = np.empty((n, d), np.uint8)  # the batch as uint8, before scaling
        self.hidden = np.empty((n, h), dtype)  # activation output (kept for backward)
        self.mask = np.empty((n, h), bool)  # relu: where the pre-activation was positive
        self.zeros = np.zeros((n, h), dtype)  # np.maximum(a, zeros) is SIMD; (a, 0) is not (~3x)
        self.dhidden = np.empty((n, h), dtype)
        self.tmp = np.empty((n, h), dtype)
        self.scores = np.empty((n, c), dtype)
        self.y = np.empty((n, c), dtype)  # softmax, then (y - t) / n in place
        self.row = np.empty((n, 1), dtype)
        self.row_starts = np.arange(n) * c  # flat index of each row's first score
        self.flat = np.empty(n, np.intp)


class TrainStep:
    """Loss and gradients of `net` for one labelled mini-batch, into arrays it reuses."""

    def __init__(self, net: TwoLayerNet) -> None:
        self.net = net
        #: Gradients keyed like net.params; overwritten by every call.
        self.grads = {k: np.empty_like(net.params[k]) for k in PARAM_NAMES}
        self._buffers: dict[int, _Buffers] = {}

    def buffers(self, n: int) -> _Buffers:
        """Return the work arrays for a batch of n rows (created on first use)."""
        buf = self._buffers.get(n)
        if buf is None:
            net = self.net
            buf = _Buffers(n, net.input_size, net.hidden_size, net.output_size, net.dtype)
            self._buffers = {n: buf}  # keep one batch size at a time: bounded memory
        return buf

    def load(self, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Return rows idx of x (N, D) in the net's dtype; uint8 pixels are divided by 255."""
        buf = self.buffers(idx.shape[0])
        if x.dtype == buf.x.dtype:
            # mode="clip" lets take write straight into out (idx is always in range).
            np.take(x, idx, axis=0, out=buf.x, mode="clip")
        elif x.dtype == np.uint8:
            # Gather, cast, divide: the rounding of astype then / 255 (and of load_mnist), in
            # three plain loops; one mixed uint8/float divide is slower than all three.
            np.take(x, idx, axis=0, out=buf.pixels, mode="clip")
            np.copyto(buf.x, buf.pixels)
            np.divide(buf.x, buf.x.dtype.type(255), out=buf.x)
        else:
            np.copyto(buf.x, x[idx], casting="unsafe")
        return buf.x

    def __call__(self, x: np.ndarray, t: np.ndarray) -> float:
        """Fill self.grads for batch x (N, D) in the net's dtype (see load) and integer labels t
        (N,); return the mean cross-entropy loss."""
        net, g = self.net, self.grads
        p = net.params
        buf = self.buffers(x.shape[0])
        hidden = buf.hidden
        np.dot(x, p["W1"], out=hidden)  # (N, D) @ (D, H) -> (N, H)
        if net.activation == "relu":
            _bias_relu_inplace(hidden, p["b1"], buf)
        else:
            _sigmoid_inplace(hidden, p["b1"])
        np.dot(hidden, p["W2"], out=buf.scores)  # (N, H) @ (H, C) -> (N, C)
        buf.scores += p["b2"]
        loss, dy = _softmax_loss_grad(buf, t)
        np.dot(hidden.T, dy, out=g["W2"])  # (H, N) @ (N, C) -> (H, C)
        np.sum(dy, axis=0, out=g["b2"])
        dh = buf.dhidden
        np.dot(dy, p["W2"].T, out=dh)  # (N, C) @ (C, H) -> (N, H)
        if net.activation == "relu":
            _relu_backward_inplace(dh, buf.mask)
        else:
            _sigmoid_backward_inplace(dh, hidden, buf.tmp)
        np.dot(x.T, dh, out=g["W1"])  # (D, N) @ (N, H) -> (D, H); dx is never needed
        np.sum(dh, axis=0, out=g["b1"])
        return loss

    def __repr__(self) -> str:
        return f"TrainStep({self.net!r}, batch_sizes={sorted(self._buffers)})"


def _bias_relu_inplace(a: np.ndarray, bias: np.ndarray, buf: _Buffers) -> None:
    """a = max(a + bias, 0) and buf.mask = (a + bias) > 0, as the Affine and Relu layers do."""
    if kernels.fusable(a, bias):
        kernels.fast.bias_relu(a, bias, buf.mask)
        return
    a += bias
    np.greater(a, 0, out=buf.mask)
    np.maximum(a, buf.zeros, out=a)


def _relu_backward_inplace(dout: np.ndarray, mask: np.ndarray) -> None:
    """dout *= mask: Relu.backward."""
    if kernels.fusable(dout):
        kernels.fast.relu_backward(dout, mask)
    else:
        np.multiply(dout, mask, out=dout)


def _sigmoid_inplace(a: np.ndarray, bias: np.ndarray | None = None) -> None:
    """a = 1 / (1 + exp(-(a + bias))), as Affine then functions.sigmoid compute it."""
    fused = kernels.fusable(a, *([] if bias is None else [bias]))
    if fused and bias is not None:
        kernels.fast.bias_negate(a, bias)  # NumPy's SIMD exp in between beats numba's scalar one
    else:
        if bias is not None:
            a += bias
        np.negative(a, out=a)
    with np.errstate(over="ignore"):  # exp(-x) -> inf for very negative x gives exactly 0
        np.exp(a, out=a)
    if fused:
        kernels.fast.reciprocal_1p(a)
        return
    a += 1
    np.reciprocal(a, out=a)


def _sigmoid_backward_inplace(dout: np.ndarray, y: np.ndarray, tmp: np.ndarray) -> None:
    """dout = ((1 - y) * y) * dout, in layers.Sigmoid.backward's order (rounding matches)."""
    if kernels.fusable(dout, y):
        kernels.fast.sigmoid_backward(dout, y)
        return
    np.subtract(1.0, y, out=tmp)
    tmp *= y
    np.multiply(tmp, dout, out=dout)


def _softmax_loss_grad(buf: _Buffers, t: np.ndarray) -> tuple[float, np.ndarray]:
    """Return (mean cross-entropy, (softmax - onehot(t)) / N) as SoftmaxWithLoss computes them."""
    scores, y, row, flat = buf.scores, buf.y, buf.row, buf.flat
    if kernels.fusable(scores, y):
        return kernels.fast.softmax_loss_grad(scores, t, y), y
    n = scores.shape[0]
    # reduceat, ufunc.reduce and flat indices: the same arithmetic as np.max / np.sum /
    # y[rows, t] with less per-call overhead (these arrays are tiny: overhead is the cost).
    # A maximum is exact in any order, so reduceat over each row's slice (half the time of
    # a reduction along axis 1) gives the very same shift.
    np.maximum.reduceat(scores.reshape(-1), buf.row_starts, out=row[:, 0])
    np.subtract(scores, row, out=scores)  # shifted scores
    np.exp(scores, out=y)
    np.add.reduce(y, axis=1, keepdims=True, out=row)
    y /= row
    np.log(row, out=row)
    np.add(buf.row_starts, t, out=flat)  # index of (i, t[i]) in the flattened (N, C) arrays
    picked = scores.reshape(-1).take(flat)
    picked -= row[:, 0]  # log softmax at the labels
    loss = float(-picked.sum() / n)
    y.reshape(-1)[flat] -= 1
    y *= 1.0 / n
    return loss, y
