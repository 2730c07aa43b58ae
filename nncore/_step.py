"""The training fast path: a network's gradient computed into buffers reused between steps.

`net.layer_gradient` follows the text (layers, fresh arrays every call); train() runs
thousands of steps, where allocating and Python overhead cost as much as the arithmetic on
small nets. This module performs the same operations in the same order, so results are
bit-identical, but writes every intermediate of the affine layers and activations into arrays
kept per batch size. Batch norm and dropout call the very functions their layers use. The
element-wise helpers at the bottom, and batch norm, hand their work to nncore.kernels' fused
kernels when those are in use (bit-identical except softmax, whose exp and log differ in the
last bits; see _numba_kernels).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _aligned, kernels
from .functions import weight_decay_penalty
from .layers import BN_EPS, batchnorm_backward, batchnorm_train, dropout_mask


_MAXIMUM, _MINIMUM = np.maximum.reduce, np.minimum.reduce


def labels_below(t: np.ndarray, classes: int) -> bool:
    """Whether t holds integer labels in [0, classes): one reduction for unsigned labels.

    ufunc reductions, not t.max(): MultiLayerNet.gradient checks every batch, and the methods'
    Python wrappers cost as much again."""
    if t.dtype.kind == "u":
        return bool(_MAXIMUM(t, initial=0) < classes)
    return t.dtype.kind == "i" and bool(_MAXIMUM(t, initial=0) < classes) and bool(_MINIMUM(t, initial=0) >= 0)


class _Hidden:
    """Work arrays of one hidden layer of H units for N rows."""

    def __init__(self, n: int, h: int, dtype: np.dtype, relu: bool, dropout: bool, batchnorm: bool) -> None:
        self.out = _aligned.empty((n, h), dtype)  # affine output; the activation is applied in place
        self.mask = _aligned.empty((n, h), bool) if relu else None  # where the pre-activation was positive
        # np.maximum(a, zeros) is SIMD; (a, 0) is not (~3x)
        self.zeros = _aligned.full((n, h), 0, dtype) if relu else None
        self.draws = _aligned.empty((n, h), np.float64) if dropout else None  # uniform draws, float64 as the layer's
        self.keep = _aligned.empty((n, h), bool) if dropout else None
        self.dropped = _aligned.empty((n, h), dtype) if dropout else None
        self.dout = _aligned.empty((n, h), dtype)
        self.tmp = _aligned.empty((n, h), dtype)
        self.act: np.ndarray | None = None  # this step's activation output
        self.bn: tuple | None = None  # this step's batch-norm (xn, xc, std)
        # The fused batch-norm kernels write (xn, xc, std) here; NumPy's returns fresh arrays.
        self.bn_out = None if not batchnorm else (
            _aligned.empty((n, h), dtype), _aligned.empty((n, h), dtype), _aligned.empty(h, dtype))


class _Buffers:
    """Work arrays for one batch size: the input, each hidden layer, the scores."""

    def __init__(self, n: int, net: Any) -> None:
        d, c, dtype = net.input_size, net.output_size, net.dtype
        self.x = _aligned.empty((n, d), dtype)  # the batch in the net's dtype
        self.pixels = _aligned.empty((n, d), np.uint8)  # the batch as uint8, before scaling
        relu = net.activation == "relu"
        self.hidden = [_Hidden(n, h, dtype, relu, net.use_dropout, net.use_batchnorm) for h in net.hidden_sizes]
        self.scores = _aligned.empty((n, c), dtype)
        self.y = _aligned.empty((n, c), dtype)  # softmax, then (y - t) / n in place
        self.row = np.empty((n, 1), dtype)
        self.row_starts = np.arange(n) * c  # flat index of each row's first score
        self.flat = np.empty(n, np.intp)


class TrainStep:
    """Loss and gradients of `net` for one labelled mini-batch, into arrays it reuses."""

    def __init__(self, net: Any) -> None:
        self.net = net
        #: Number of output classes: labels must lie in [0, classes).
        self.classes = net.output_size
        #: Gradients keyed like net.params; overwritten by every call.
        self.grads = {k: _aligned.empty_like(v) for k, v in net.params.items()}
        self._decay = {k: _aligned.empty_like(v) for k, v in net.params.items() if k[0] == "W"}
        self._buffers: dict[int, _Buffers] = {}
        #: Parameter names of each affine layer i (index i - 1): W, b, gamma, beta, running mean, var.
        self._names = [(f"W{i}", f"b{i}", f"gamma{i}", f"beta{i}", f"running_mean{i}", f"running_var{i}")
                       for i in range(1, net.depth + 1)]

    def buffers(self, n: int) -> _Buffers:
        """Return the work arrays for a batch of n rows (created on first use)."""
        buf = self._buffers.get(n)
        if buf is None:
            buf = _Buffers(n, self.net)
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
        (N,); return the mean cross-entropy loss (plus the weight-decay term)."""
        net = self.net
        buf = self.buffers(x.shape[0])
        a = x
        for i, layer in enumerate(buf.hidden, start=1):
            a = self._hidden_forward(i, layer, a)
        depth = len(buf.hidden) + 1
        w_out, b_out = self._names[-1][:2]
        np.dot(a, net.params[w_out], out=buf.scores)  # (N, H) @ (H, C) -> (N, C)
        buf.scores += net.params[b_out]
        loss, dy = _softmax_loss_grad(buf, t)
        for i in range(depth, 0, -1):
            dy = self._affine_backward(i, buf, x, dy)
        if net.weight_decay_lambda:
            loss += weight_decay_penalty(net.weights(), net.weight_decay_lambda)
        return loss

    def _hidden_forward(self, i: int, layer: _Hidden, a: np.ndarray) -> np.ndarray:
        """Affine i, [batch norm], activation, [dropout] on input a; return the layer's output."""
        net, p = self.net, self.net.params
        w, b, gamma, beta, mean, var = self._names[i - 1]
        h, bias = layer.out, p[b]
        np.dot(a, p[w], out=h)  # (N, D) @ (D, H) -> (N, H)
        if not net.use_batchnorm:
            _activate_inplace(h, bias, layer)
        elif not self._batchnorm_fused(i, layer, h):
            h += bias  # batch norm comes between the affine layer and the activation
            momentum = net.layers[f"BatchNorm{i}"].momentum
            xn, xc, std = batchnorm_train(h, net.buffers[mean], net.buffers[var], momentum)
            layer.bn = (xn, xc, std)
            h = p[gamma] * xn + p[beta]
            _activate_inplace(h, None, layer)
        layer.act = h
        if layer.keep is None:
            return h
        dropout_mask(net.rng, net.dropout_ratio, h.shape, out=layer.keep, draws=layer.draws)
        return np.multiply(h, layer.keep, out=layer.dropped)

    def _batchnorm_fused(self, i: int, layer: _Hidden, h: np.ndarray) -> bool:
        """Bias, batch norm and activation of layer i on its affine output h, in place, with the
        fused kernels (the NumPy path's operations, so its values); False if they may not run."""
        net, p = self.net, self.net.params
        _, b, gamma, beta, mean, var = self._names[i - 1]
        arrays = (h, p[b], p[gamma], p[beta], net.buffers[mean], net.buffers[var], *layer.bn_out)
        if not kernels.fusable(*arrays):
            return False
        cast, momentum = h.dtype.type, net.layers[f"BatchNorm{i}"].momentum
        xn, xc, std = layer.bn = layer.bn_out
        kernels.fast.batchnorm_train(h, p[b], cast(BN_EPS), cast(momentum), cast(1 - momentum),
                                     net.buffers[mean], net.buffers[var], xc, xn, std)
        if layer.mask is not None:
            kernels.fast.scale_shift_relu(xn, p[gamma], p[beta], h, layer.mask)
        else:
            np.multiply(p[gamma], xn, out=h)
            h += p[beta]
            _sigmoid_inplace(h)
        return True

    def _affine_backward(self, i: int, buf: _Buffers, x: np.ndarray, dy: np.ndarray) -> np.ndarray | None:
        """Gradients of affine layer i from its output gradient dy; return the gradient of the
        layer below's pre-activation (None for the first layer: dx is never needed)."""
        net, p, g = self.net, self.net.params, self.grads
        w, b = self._names[i - 1][:2]
        below = buf.hidden[i - 2] if i > 1 else None
        a = x if below is None else (below.act if below.dropped is None else below.dropped)
        np.dot(a.T, dy, out=g[w])  # (D, N) @ (N, H) -> (D, H)
        if net.weight_decay_lambda:
            g[w] += np.multiply(p[w], net.weight_decay_lambda, out=self._decay[w])
        np.add.reduce(dy, axis=0, out=g[b])  # np.sum's own reduction, without its Python wrapper
        if below is None:
            return None
        dh = below.dout
        np.dot(dy, p[w].T, out=dh)  # (N, H) @ (H, D) -> (N, D)
        if below.keep is not None:
            np.multiply(dh, below.keep, out=dh)
        if below.mask is not None:
            _relu_backward_inplace(dh, below.mask)
        else:
            _sigmoid_backward_inplace(dh, below.act, below.tmp)
        if not net.use_batchnorm:
            return dh
        gamma, beta = self._names[i - 2][2:4]
        xn, xc, std = below.bn
        if kernels.fusable(dh, p[gamma], xc, xn, std, g[gamma], g[beta]):  # dx written over dh
            kernels.fast.batchnorm_backward(dh, p[gamma], xc, xn, std, dh, g[gamma], g[beta])
            return dh
        dh, g_gamma, g_beta = batchnorm_backward(dh, p[gamma], xc, xn, std)
        np.copyto(g[gamma], g_gamma)
        np.copyto(g[beta], g_beta)
        return dh

    def __repr__(self) -> str:
        return f"TrainStep({self.net!r}, batch_sizes={sorted(self._buffers)})"


def _activate_inplace(a: np.ndarray, bias: np.ndarray | None, buf: _Hidden) -> None:
    """a = activation(a + bias) in place (bias None: already added or shifted by batch norm)."""
    if buf.mask is not None:
        _bias_relu_inplace(a, bias, buf)
    else:
        _sigmoid_inplace(a, bias)


def _bias_relu_inplace(a: np.ndarray, bias: np.ndarray | None, buf: _Hidden) -> None:
    """a = max(a + bias, 0) and buf.mask = (a + bias) > 0, as the Affine and Relu layers do
    (bias None: batch norm has already shifted a)."""
    if bias is not None and kernels.fusable(a, bias):
        kernels.fast.bias_relu(a, bias, buf.mask)
        return
    if bias is not None:
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
