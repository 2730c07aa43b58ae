"""Layers with forward/backward (the text's layer protocol); backward never mutates dout."""

from __future__ import annotations

import numpy as np

from .functions import sigmoid


class Relu:
    """max(x, 0); backward passes dout where the input was positive."""

    def __init__(self) -> None:
        self.mask: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Return max(x, 0) and remember where x > 0."""
        self.mask = x > 0
        return np.maximum(x, 0)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Return dout * (x > 0) as a new array."""
        return np.multiply(dout, self.mask, dtype=dout.dtype)

    def __repr__(self) -> str:
        return "Relu()"


class Sigmoid:
    """1 / (1 + exp(-x)); backward uses the saved output: dout * y * (1 - y)."""

    def __init__(self) -> None:
        self.out: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Return sigmoid(x) and remember it."""
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Return dout * y * (1 - y) as a new array."""
        dx = 1.0 - self.out
        dx *= self.out
        dx *= dout
        return dx

    def __repr__(self) -> str:
        return "Sigmoid()"


class Affine:
    """x @ W + b; W and b are referenced, not copied, so optimizers update them in place."""

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        self.W = W
        self.b = b
        self.x: np.ndarray | None = None
        self.original_x_shape: tuple[int, ...] | None = None
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Return x @ W + b for x of shape (N, ...) flattened to (N, D)."""
        self.original_x_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        self.x = x
        out = np.dot(x, self.W)  # (N, D) @ (D, M) -> (N, M)
        out += self.b
        return out

    def param_grads(self, dout: np.ndarray) -> None:
        """Set dW and db from dout without computing dx (enough for a network's first layer)."""
        self.dW = np.dot(self.x.T, dout)  # (D, N) @ (N, M) -> (D, M)
        self.db = dout.sum(axis=0)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Set dW and db and return dx in the shape forward received."""
        self.param_grads(dout)
        dx = np.dot(dout, self.W.T)  # (N, M) @ (M, D) -> (N, D)
        return dx.reshape(self.original_x_shape)

    def __repr__(self) -> str:
        return f"Affine(in={self.W.shape[0]}, out={self.W.shape[1]}, dtype={self.W.dtype})"



#: Added to the variance before the square root (the text's 10e-7).
BN_EPS = 10e-7


def batchnorm_train(x: np.ndarray, running_mean: np.ndarray, running_var: np.ndarray,
                    momentum: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (xn, xc, std) of batch x (N, D) and fold its statistics into the running ones."""
    mu = x.mean(axis=0)
    xc = x - mu
    var = np.mean(xc**2, axis=0)
    std = np.sqrt(var + BN_EPS)
    xn = xc / std
    running_mean *= momentum  # in place: a network's running statistics stay the same arrays
    running_mean += (1 - momentum) * mu
    running_var *= momentum
    running_var += (1 - momentum) * var
    return xn, xc, std


def batchnorm_backward(dout: np.ndarray, gamma: np.ndarray, xc: np.ndarray, xn: np.ndarray,
                       std: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (dx, dgamma, dbeta) of gamma * xn + beta with xn = xc / std from the batch (N, D)."""
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(xn * dout, axis=0)
    dxn = gamma * dout
    dxc = dxn / std
    dstd = -np.sum((dxn * xc) / (std * std), axis=0)
    dvar = 0.5 * dstd / std
    dxc += (2.0 / n) * xc * dvar
    dmu = np.sum(dxc, axis=0)
    dx = dxc - dmu / n
    return dx, dgamma, dbeta


def dropout_mask(rng: np.random.Generator, ratio: float, shape: tuple[int, ...],
                 out: np.ndarray | None = None, draws: np.ndarray | None = None) -> np.ndarray:
    """Return the keep-mask (uniform draw > ratio), written into out/draws when given."""
    if draws is None:
        draws = rng.random(shape)
    else:
        rng.random(out=draws)  # the same numbers as rng.random(shape)
    return np.greater(draws, ratio, out=out)


class BatchNormalization:
    """gamma * (x - mean) / sqrt(var + eps) + beta per feature; batch statistics when training,
    running averages (updated in place, so a network's arrays stay shared) at inference."""

    def __init__(self, gamma: np.ndarray, beta: np.ndarray, momentum: float = 0.9,
                 running_mean: np.ndarray | None = None, running_var: np.ndarray | None = None) -> None:
        self.gamma = gamma
        self.beta = beta
        self.momentum = momentum
        self.input_shape: tuple[int, ...] | None = None
        self.running_mean = running_mean
        self.running_var = running_var
        self.batch_size: int | None = None
        self.xc: np.ndarray | None = None
        self.xn: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.dgamma: np.ndarray | None = None
        self.dbeta: np.ndarray | None = None

    def forward(self, x: np.ndarray, train_flg: bool = True) -> np.ndarray:
        """Return the normalised, scaled and shifted x (N, D) (other shapes flattened to it)."""
        self.input_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        if self.running_mean is None:
            self.running_mean = np.zeros(x.shape[1], dtype=x.dtype)
            self.running_var = np.zeros(x.shape[1], dtype=x.dtype)
        if train_flg:
            xn, self.xc, self.std = batchnorm_train(x, self.running_mean, self.running_var, self.momentum)
            self.batch_size, self.xn = x.shape[0], xn
        else:
            xn = (x - self.running_mean) / np.sqrt(self.running_var + BN_EPS)
        out = self.gamma * xn + self.beta
        return out.reshape(self.input_shape)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Set dgamma and dbeta and return dx (the batch statistics' own gradients included)."""
        dout = dout.reshape(dout.shape[0], -1)
        dx, self.dgamma, self.dbeta = batchnorm_backward(dout, self.gamma, self.xc, self.xn, self.std)
        return dx.reshape(self.input_shape)

    def __repr__(self) -> str:
        return f"BatchNormalization(features={self.gamma.shape[0]}, momentum={self.momentum})"


class Dropout:
    """Zero each unit with probability dropout_ratio when training; scale by (1 - ratio) at
    inference, as the text does. The mask comes from the layer's own Generator."""

    def __init__(self, dropout_ratio: float = 0.5, *, rng: np.random.Generator) -> None:
        if not 0.0 <= dropout_ratio < 1.0:
            raise ValueError(f"dropout_ratio must be in [0, 1); got {dropout_ratio!r}")
        self.dropout_ratio = dropout_ratio
        self.rng = rng
        self.mask: np.ndarray | None = None

    def forward(self, x: np.ndarray, train_flg: bool = True) -> np.ndarray:
        """Return x with a fresh random mask applied (training) or x * (1 - ratio) (inference)."""
        if train_flg:
            self.mask = dropout_mask(self.rng, self.dropout_ratio, x.shape)
            return np.multiply(x, self.mask, dtype=x.dtype)
        return x * x.dtype.type(1.0 - self.dropout_ratio)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Return dout * mask as a new array."""
        return np.multiply(dout, self.mask, dtype=dout.dtype)

    def __repr__(self) -> str:
        return f"Dropout(dropout_ratio={self.dropout_ratio})"


def _log_softmax(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (softmax(x), log softmax(x)) row-wise, computed stably."""
    shifted = x - x.max(axis=1, keepdims=True)
    y = np.exp(shifted)
    total = y.sum(axis=1, keepdims=True)
    y /= total
    shifted -= np.log(total)
    return y, shifted


def _as_batch(x: np.ndarray, t) -> tuple[np.ndarray, np.ndarray]:
    """Return (x, t) with a single 1-D sample turned into a batch of one."""
    t = np.asarray(t)
    if x.ndim == 1:
        x = x.reshape(1, -1)
        t = t.reshape(1, -1) if t.size == x.size else t.reshape(1)
    return x, t


def _labels_or_onehot(t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Return t as integer labels (N,) or as one-hot (N, C) matching y, else raise."""
    t = np.asarray(t)
    if t.shape == y.shape:
        return t.astype(y.dtype, copy=False)
    if t.shape == y.shape[:1] and np.issubdtype(t.dtype, np.integer):
        return t.astype(np.intp, copy=False)
    raise ValueError(
        f"targets must be integer labels of shape {y.shape[:1]} or one-hot of shape {y.shape}, "
        f"got {t.dtype} {t.shape}"
    )


class SoftmaxWithLoss:
    """Softmax followed by cross-entropy; backward is (y - t) / batch_size."""

    def __init__(self) -> None:
        self.loss: float | None = None
        self.y: np.ndarray | None = None
        self.t: np.ndarray | None = None

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        """Return the mean cross-entropy of softmax(x) against labels or one-hot t."""
        x, t = _as_batch(x, t)
        self.t = _labels_or_onehot(t, x)
        # log-softmax instead of log(softmax + eps): exact, so gradient checks agree to 1e-7.
        self.y, log_y = _log_softmax(x)
        n = x.shape[0]
        if self.t.ndim == 2:
            self.loss = float(-np.vdot(self.t, log_y) / n)
        else:
            self.loss = float(-log_y[np.arange(n), self.t].sum() / n)
        return self.loss

    def backward(self, dout: float = 1.0) -> np.ndarray:
        """Return dout * (y - t) / batch_size."""
        n = self.y.shape[0]
        if self.t.ndim == 2:
            dx = self.y - self.t
        else:
            dx = self.y.copy()
            dx[np.arange(n), self.t] -= 1
        dx *= dout / n
        return dx

    def __repr__(self) -> str:
        return "SoftmaxWithLoss()"


class IdentityWithLoss:
    """Identity output with mean-squared error, for regression; backward is (y - t) / batch_size."""

    def __init__(self) -> None:
        self.loss: float | None = None
        self.y: np.ndarray | None = None
        self.t: np.ndarray | None = None

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        """Return 0.5 * sum((x - t)**2) / batch_size (t one-hot or integer labels)."""
        x, t = _as_batch(x, t)
        t = _labels_or_onehot(t.reshape(x.shape) if t.size == x.size else t, x)
        if t.ndim == 1:  # labels -> one-hot targets
            t = np.eye(x.shape[1], dtype=x.dtype)[t]
        self.y, self.t = x, t
        diff = x - t
        self.loss = float(0.5 * np.vdot(diff, diff) / x.shape[0])
        return self.loss

    def backward(self, dout: float = 1.0) -> np.ndarray:
        """Return dout * (y - t) / batch_size."""
        dx = self.y - self.t
        dx *= dout / self.y.shape[0]
        return dx

    def __repr__(self) -> str:
        return "IdentityWithLoss()"
