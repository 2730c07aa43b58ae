"""Predictor: a frozen, thread-safe copy of a network for serving.

Inference needs no layer caches, so a network reduces to its affine layers with batch norm's
running statistics and dropout's (1 - ratio) folded into the weights: the same function
(`forward`) serves MultiLayerNet.infer and every Predictor.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .functions import sigmoid
from .layers import BN_EPS

#: Hidden (W, b) pairs, then the output layer's W and b: what forward() runs.
Layers = tuple[tuple[tuple[np.ndarray, np.ndarray], ...], np.ndarray, np.ndarray]


def inference_layers(net: Any) -> Layers:
    """Return net's affine layers in inference mode, batch norm and dropout folded in (no copy
    when there is nothing to fold)."""
    p, depth = net.params, net.depth
    keep = net.dtype.type(1.0 - net.dropout_ratio) if net.use_dropout else None
    layers = []
    for i in range(1, depth + 1):
        W, b = p[f"W{i}"], p[f"b{i}"]
        if keep is not None and i > 1:  # x * (1 - ratio) @ W == x @ (W * (1 - ratio))
            W = W * keep
        if net.use_batchnorm and i < depth:
            mean, var = net.buffers[f"running_mean{i}"], net.buffers[f"running_var{i}"]
            scale = p[f"gamma{i}"] / np.sqrt(var + BN_EPS)  # gamma * (xW + b - mean) / std + beta
            W, b = W * scale, (b - mean) * scale + p[f"beta{i}"]
        layers.append((W, b))
    return tuple(layers[:-1]), layers[-1][0], layers[-1][1]


def forward(layers: Layers, relu: bool, x: np.ndarray, product) -> np.ndarray:
    """Return the class scores (N, C) of x (N, D) through `layers` (see inference_layers).

    `product` is np.dot or np.matmul: np.dot releases the GIL around a uint8 x float product,
    right for large batches; np.matmul keeps it for one row, where a release can cost a switch
    interval (5 ms) next to a busy thread (docs/performance.md, "Serving").
    """
    hidden, w_out, b_out = layers
    h = x
    for w, b in hidden:
        h = product(h, w)  # (N, D) @ (D, H) -> (N, H); uint8 pixels are cast inside
        h += b
        if relu:
            np.maximum(h, 0, out=h)
        else:
            h = sigmoid(h)
    z = product(h, w_out)  # (N, H) @ (H, C) -> (N, C)
    z += b_out
    return z


def _frozen(layers: Layers, dtype: np.dtype) -> Layers:
    """Return read-only C-contiguous copies of layers in dtype."""
    def copy(a: np.ndarray) -> np.ndarray:
        a = np.array(a, dtype=dtype, order="C", copy=True)
        a.flags.writeable = False
        return a

    hidden, w_out, b_out = layers
    return tuple((copy(w), copy(b)) for w, b in hidden), copy(w_out), copy(b_out)


def _pixel_scaled(layers: Layers) -> Layers:
    """Return layers with the first W divided by 255, so uint8 pixels need only a cast."""
    hidden, w_out, b_out = layers
    if not hidden:
        return (), w_out / 255, b_out
    (w1, b1), rest = hidden[0], hidden[1:]
    return ((w1 / 255, b1), *rest), w_out, b_out


class Predictor:
    """Class probabilities from a frozen network; read-only arrays, safe to share between threads."""

    def __init__(self, layers: Layers, *, relu: bool, dtype: Any, description: str = "") -> None:
        self.dtype = np.dtype(dtype)
        self.relu = bool(relu)
        self._float = _frozen(layers, self.dtype)
        self._pixel = _frozen(_pixel_scaled(self._float), self.dtype)  # in the net's dtype, as before
        self.description = description
        first = self._float[0][0][0] if self._float[0] else self._float[1]
        self.input_size, self.output_size = first.shape[0], self._float[1].shape[1]

    @classmethod
    def from_network(cls, net: Any) -> "Predictor":
        """Return the Predictor of `net` as it is now (later training does not change it)."""
        return cls(inference_layers(net), relu=net.activation == "relu", dtype=net.dtype, description=repr(net))

    def scores(self, x: np.ndarray, product=np.dot) -> np.ndarray:
        """Class scores (N, classes) of float features (in the net's dtype) or uint8 pixels (N, D)."""
        return forward(self._pixel if x.dtype == np.uint8 else self._float, self.relu, x, product)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, classes) for float features or uint8 pixels (N, D).

        For one image the forward pass costs less than the NumPy calls around it, so this path
        makes as few calls as it can: the softmax is done per row, in place.
        """
        z = self.scores(x)
        z -= z.max(axis=1, keepdims=True)  # exp(z) <= 1 cannot overflow
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z

    def predict_one(self, x: np.ndarray) -> tuple[int, list[float]]:
        """(class, probabilities) of a single row x of shape (1, D), float features or uint8 pixels.

        The same network as predict_proba with a third of its NumPy calls: the softmax of the
        scores is done on Python floats (in double precision), and the class is the arg-max of
        the scores. Between two requests the CPU caches go cold, so each call saved is worth
        several microseconds (docs/performance.md, "Serving").
        """
        scores = self.scores(x, np.matmul).tolist()[0]
        top = max(scores)
        exps = [math.exp(v - top) for v in scores]  # each <= 1: cannot overflow
        total = math.fsum(exps)  # >= 1 (the top class contributes exp(0))
        return scores.index(top), [v / total for v in exps]

    def arrays(self, *, pixels: bool = False) -> list[np.ndarray]:
        """The read-only arrays, W then b per layer (with W1 / 255 when pixels), for inspection."""
        hidden, w_out, b_out = self._pixel if pixels else self._float
        return [a for pair in (*hidden, (w_out, b_out)) for a in pair]

    def __repr__(self) -> str:
        return f"Predictor({self.description or f'{self.input_size}->{self.output_size}'})"
