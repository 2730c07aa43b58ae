"""Optimizers of the teaching text: update(params, grads) changes params in place.

Each update below is written as NumPy passes (the reference, run block by block). Where
nncore.kernels has numba, one fused pass per parameter does the same arithmetic instead
(_numba_kernels: same values to the bit, 3-4x faster on 784-800-10's W1).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import numpy as np

from . import kernels

#: Learning rate used when none is given (tuned for MNIST with batch 100).
DEFAULT_LEARNING_RATES = MappingProxyType({"sgd": 0.1, "momentum": 0.05, "adagrad": 0.01, "adam": 0.001})


#: Bytes of each array an update works on at a time. An update makes several passes (Adam ten)
#: over four or five arrays as large as the parameter; one block of each stays in the core's L2
#: cache across the passes instead of streaming from memory every pass (784-800-10's W1 is 2.5 MB).
BLOCK_BYTES = 1 << 18


class Optimizer:
    """Base class: `lr`, per-parameter state arrays and their (de)serialisation."""

    #: Names of the per-parameter state slots, e.g. ("m", "v") for Adam.
    slots: tuple[str, ...] = ()

    def __init__(self, lr: float) -> None:
        if isinstance(lr, bool) or not (isinstance(lr, numbers.Real) and 0 < lr < float("inf")):
            raise ValueError(f"lr must be a positive finite number; got {lr!r}")
        self.lr = float(lr)
        self.iter = 0
        self.state: dict[str, dict[str, np.ndarray]] = {slot: {} for slot in self.slots}
        # One scratch buffer per parameter avoids allocating temporaries every step.
        self._scratch: dict[str, np.ndarray] = {}

    def _slot(self, slot: str, key: str, like: np.ndarray) -> np.ndarray:
        """Return the state array slot[key], created as zeros shaped like the parameter."""
        arrays = self.state[slot]
        arr = arrays.get(key)
        if arr is None or arr.shape != like.shape or arr.dtype != like.dtype:
            arr = arrays[key] = np.zeros_like(like)
        return arr

    def _scratch_for(self, key: str, like: np.ndarray) -> np.ndarray:
        """Return a reusable work array shaped like the parameter (contents undefined)."""
        tmp = self._scratch.get(key)
        if tmp is None or tmp.shape != like.shape or tmp.dtype != like.dtype:
            tmp = self._scratch[key] = np.empty_like(like)
        return tmp

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Update every params[key] in place from grads[key]."""
        raise NotImplementedError

    @staticmethod
    def _apply(kernel: Callable[..., None], *arrays: np.ndarray) -> None:
        """Run kernel(*arrays) (same-shaped arrays, updated in place) one cache-sized block at a time.

        For elementwise kernels only: each element sees the same operations in the same order,
        so the result is the same to the bit as one call on the whole arrays.
        """
        first = arrays[0]
        block = max(BLOCK_BYTES // first.itemsize, 1)
        n = first.size
        if n <= block or not all(a.flags.c_contiguous for a in arrays):
            kernel(*arrays)
            return
        flats = [a.reshape(-1) for a in arrays]  # views: the arrays are C-contiguous
        for start in range(0, n, block):
            kernel(*[f[start:start + block] for f in flats])

    @staticmethod
    def _fused(name: str, arrays: tuple[np.ndarray, ...], *scalars: float) -> bool:
        """Run the fused kernel `name` over flat views of arrays, if it may; return whether it ran.

        The scalars are cast to the arrays' dtype first, as NumPy casts a Python float in the
        plain path, so both paths compute the same values.
        """
        if not kernels.fusable(*arrays):
            return False
        cast = arrays[0].dtype.type
        getattr(kernels.fast, name)(*[a.reshape(-1) for a in arrays], *[cast(s) for s in scalars])
        return True

    def state_dict(self) -> dict[str, np.ndarray]:
        """Return the optimizer state as flat {"slot/key": array} plus "iter" (arrays are copies)."""
        out = {f"{slot}/{key}": arr.copy() for slot, arrays in self.state.items() for key, arr in arrays.items()}
        out["iter"] = np.array(self.iter, dtype=np.int64)
        return out

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore the state written by state_dict()."""
        self.iter = int(state.get("iter", 0))
        self.state = {slot: {} for slot in self.slots}
        for name, arr in state.items():
            if name == "iter":
                continue
            slot, _, key = name.partition("/")
            if slot not in self.state or not key:
                raise ValueError(f"unknown optimizer state {name!r} for {type(self).__name__}")
            self.state[slot][key] = np.array(arr, copy=True)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr})"


class SGD(Optimizer):
    """Stochastic gradient descent: W -= lr * dW."""

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """W -= lr * dW for every parameter."""
        self.iter += 1
        lr = self.lr

        def kernel(p, g, tmp):
            np.multiply(g, lr, out=tmp)
            p -= tmp

        for key, p in params.items():
            if not self._fused("sgd", (p, grads[key]), lr):
                self._apply(kernel, p, grads[key], self._scratch_for(key, p))


class Momentum(Optimizer):
    """SGD with momentum: v = momentum * v - lr * dW; W += v."""

    slots = ("v",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = float(momentum)

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """v = momentum * v - lr * dW; W += v."""
        self.iter += 1
        lr, momentum = self.lr, self.momentum

        def kernel(p, g, v, tmp):
            np.multiply(g, lr, out=tmp)
            v *= momentum
            v -= tmp
            p += v

        for key, p in params.items():
            v = self._slot("v", key, p)
            if not self._fused("momentum", (p, grads[key], v), lr, momentum):
                self._apply(kernel, p, grads[key], v, self._scratch_for(key, p))

    def __repr__(self) -> str:
        return f"Momentum(lr={self.lr}, momentum={self.momentum})"


class AdaGrad(Optimizer):
    """AdaGrad: h += dW**2; W -= lr * dW / (sqrt(h) + 1e-7)."""

    slots = ("h",)

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """h += dW**2; W -= lr * dW / (sqrt(h) + 1e-7)."""
        self.iter += 1
        lr = self.lr

        def kernel(p, g, h, tmp):
            np.multiply(g, g, out=tmp)
            h += tmp
            np.sqrt(h, out=tmp)
            tmp += 1e-7
            np.divide(g, tmp, out=tmp)
            tmp *= lr
            p -= tmp

        for key, p in params.items():
            h = self._slot("h", key, p)
            if not self._fused("adagrad", (p, grads[key], h), lr, 1e-7):
                self._apply(kernel, p, grads[key], h, self._scratch_for(key, p))


class Adam(Optimizer):
    """Adam in the text's form (bias correction folded into lr_t, eps added to sqrt(v)), in place.

    The moments are kept as decayed sums m_sum = m / (1 - beta1) and v_sum = v / (1 - beta2):
    m_sum = beta1 * m_sum + g takes two passes over an array where m += (1 - beta1) * (g - m)
    takes three (likewise for v), and the constant factors fold into the step size and eps.
    """

    slots = ("m_sum", "v_sum")

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-7) -> None:
        super().__init__(lr)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """m_sum = b1 m_sum + g; v_sum = b2 v_sum + g*g; W -= lr_t * m / (sqrt(v) + eps)."""
        self.iter += 1
        b1, b2 = self.beta1, self.beta2
        lr_t = self.lr * math.sqrt(1.0 - b2**self.iter) / (1.0 - b1**self.iter)
        # With m = (1 - b1) m_sum and sqrt(v) = root * sqrt(v_sum), root = sqrt(1 - b2):
        # lr_t * m / (sqrt(v) + eps) = (lr_t (1 - b1) / root) * m_sum / (sqrt(v_sum) + eps / root)
        root = math.sqrt(1.0 - b2)
        step, eps = lr_t * (1.0 - b1) / root, self.eps / root

        def kernel(p, g, m, v, tmp):
            m *= b1
            m += g
            np.multiply(g, g, out=tmp)
            v *= b2
            v += tmp
            np.sqrt(v, out=tmp)
            tmp += eps
            np.divide(m, tmp, out=tmp)
            tmp *= step
            p -= tmp

        for key, p in params.items():
            m, v = self._slot("m_sum", key, p), self._slot("v_sum", key, p)
            if not self._fused("adam", (p, grads[key], m, v), b1, b2, step, eps):
                self._apply(kernel, p, grads[key], m, v, self._scratch_for(key, p))

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore state_dict() output; states holding the moments m and v themselves load too."""
        scale = {"m": 1.0 - self.beta1, "v": 1.0 - self.beta2}
        legacy = {name for name in state if name.partition("/")[0] in scale}
        super().load_state_dict({k: v for k, v in state.items() if k not in legacy})
        for name in legacy:
            slot, _, key = name.partition("/")
            arr = np.array(state[name], copy=True)
            arr /= scale[slot]
            self.state[f"{slot}_sum"][key] = arr

    def __repr__(self) -> str:
        return f"Adam(lr={self.lr}, beta1={self.beta1}, beta2={self.beta2})"


OPTIMIZERS = MappingProxyType({"sgd": SGD, "momentum": Momentum, "adagrad": AdaGrad, "adam": Adam})


def make_optimizer(name: str, learning_rate: float | None = None, **kwargs: Any) -> Optimizer:
    """Return the optimizer called name (sgd, momentum, adagrad, adam); lr defaults per optimizer."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {name!r}")
    lr = DEFAULT_LEARNING_RATES[name] if learning_rate is None else learning_rate
    return OPTIMIZERS[name](lr=lr, **kwargs)
