"""TwoLayerNet: the text's two-layer network with backprop and a thread-safe inference path."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from .functions import sigmoid, softmax
from .gradient import numerical_gradient
from .layers import Affine, Relu, Sigmoid, SoftmaxWithLoss

ACTIVATIONS = ("sigmoid", "relu")
WEIGHT_INITS = ("std", "xavier", "he")
DTYPES = ("float32", "float64")
PARAM_NAMES = ("W1", "b1", "W2", "b2")


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    """Return value if it is one of allowed, else raise a ValueError naming them."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _check_dtype(dtype: Any) -> np.dtype:
    """Return dtype as np.dtype if it is float32 or float64, else raise."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}")
    return dt


def _init_scale(weight_init: str, weight_init_std: float, fan_in: int) -> float:
    """Return the standard deviation for a weight matrix with fan_in inputs."""
    if weight_init == "xavier":
        return float(np.sqrt(1.0 / fan_in))
    if weight_init == "he":
        return float(np.sqrt(2.0 / fan_in))
    return float(weight_init_std)


class TwoLayerNet:
    """Affine -> Sigmoid|Relu -> Affine -> SoftmaxWithLoss, parameters in `params`."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        weight_init_std: float = 0.01,
        *,
        activation: str = "sigmoid",
        weight_init: str = "std",
        dtype: Any = np.float32,
        seed: Any = None,
    ) -> None:
        for name, size in (("input_size", input_size), ("hidden_size", hidden_size), ("output_size", output_size)):
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
                raise ValueError(f"{name} must be a positive integer; got {size!r}")
        self.activation = _check_choice("activation", activation, ACTIVATIONS)
        self.weight_init = _check_choice("weight_init", weight_init, WEIGHT_INITS)
        self.weight_init_std = float(weight_init_std)
        self.dtype = _check_dtype(dtype)
        rng = np.random.default_rng(seed)
        sizes = ((int(input_size), int(hidden_size)), (int(hidden_size), int(output_size)))
        self.params: dict[str, np.ndarray] = {}
        for i, (fan_in, fan_out) in enumerate(sizes, start=1):
            scale = _init_scale(self.weight_init, self.weight_init_std, fan_in)
            W = rng.standard_normal((fan_in, fan_out), dtype=self.dtype)
            W *= self.dtype.type(scale)
            self.params[f"W{i}"] = W
            self.params[f"b{i}"] = np.zeros(fan_out, dtype=self.dtype)
        self._build_layers()

    def _build_layers(self) -> None:
        """Create the layers; they reference the arrays in self.params."""
        p = self.params
        self.layers: OrderedDict[str, Any] = OrderedDict()
        self.layers["Affine1"] = Affine(p["W1"], p["b1"])
        if self.activation == "relu":
            self.layers["Relu1"] = Relu()
        else:
            self.layers["Sigmoid1"] = Sigmoid()
        self.layers["Affine2"] = Affine(p["W2"], p["b2"])
        self.lastLayer = SoftmaxWithLoss()

    @property
    def input_size(self) -> int:
        """Number of input features."""
        return self.params["W1"].shape[0]

    @property
    def hidden_size(self) -> int:
        """Number of hidden units."""
        return self.params["W1"].shape[1]

    @property
    def output_size(self) -> int:
        """Number of output classes."""
        return self.params["W2"].shape[1]

    # --- the text's interface (training path: layers cache activations) ---

    def _cast(self, x: np.ndarray) -> np.ndarray:
        """Return x in the network's dtype (no copy if it already is)."""
        return np.asarray(x).astype(self.dtype, copy=False)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Return the scores (N, out) by a forward pass through the layers."""
        x = self._cast(x)
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        """Return the cross-entropy loss of predict(x) against t (labels or one-hot)."""
        return self.lastLayer.forward(self.predict(x), t)

    def accuracy(self, x: np.ndarray, t: np.ndarray) -> float:
        """Return the fraction of rows whose arg-max score equals t (labels or one-hot)."""
        scores, t = self.infer(x), np.asarray(t)
        if scores.ndim == 1:  # a single sample: label or one-hot row
            scores, t = scores.reshape(1, -1), (t.reshape(1, -1) if t.size > 1 else t.reshape(1))
        y = np.argmax(scores, axis=1)
        if t.ndim == 2:
            t = np.argmax(t, axis=1)
        return float(np.sum(y == t)) / float(y.shape[0])

    def numerical_gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """Return d loss / d params by central differences (slow; for checking gradient())."""
        loss_W = lambda W: self.loss(x, t)  # noqa: E731 - the text's closure over params
        return {key: numerical_gradient(loss_W, self.params[key]) for key in PARAM_NAMES}

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """Return d loss / d params by backpropagation; the loss is left in lastLayer.loss."""
        self.loss(x, t)
        dout = self.lastLayer.backward(1.0)
        layers = list(self.layers.values())
        for layer in reversed(layers[1:]):
            dout = layer.backward(dout)
        # The input gradient of the first layer is never used: skip that GEMM.
        layers[0].param_grads(dout)
        a1, a2 = self.layers["Affine1"], self.layers["Affine2"]
        return {"W1": a1.dW, "b1": a1.db, "W2": a2.dW, "b2": a2.db}

    # --- thread-safe inference: reads params, stores nothing ---

    def infer(self, x: np.ndarray) -> np.ndarray:
        """Return the scores for x (N, D) or (D,) without touching the layers' caches."""
        x = np.asarray(x)
        if x.ndim == 1:
            return self.infer(x.reshape(1, -1))[0]
        x = self._cast(x).reshape(x.shape[0], -1)
        if x.shape[1] != self.input_size:
            raise ValueError(f"input must have {self.input_size} features per row; got {x.shape[1]}")
        p = self.params
        h = np.dot(x, p["W1"])  # (N, D) @ (D, H) -> (N, H)
        h += p["b1"]
        if self.activation == "relu":
            np.maximum(h, 0, out=h)
        else:
            h = sigmoid(h)
        out = np.dot(h, p["W2"])  # (N, H) @ (H, C) -> (N, C)
        out += p["b2"]
        return out

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Return softmax probabilities (N, out) for x, thread-safely."""
        return softmax(self.infer(x))

    # --- (de)serialisation and serving ---

    @property
    def config(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict with everything needed to rebuild this network."""
        return {
            "input_size": self.input_size,
            "hidden_size": self.hidden_size,
            "output_size": self.output_size,
            "activation": self.activation,
            "weight_init": self.weight_init,
            "weight_init_std": self.weight_init_std,
            "dtype": self.dtype.name,
        }

    @classmethod
    def from_params(cls, params: dict[str, np.ndarray], *, activation: str, dtype: Any = None) -> "TwoLayerNet":
        """Return a network built from copies of params (W1, b1, W2, b2); dtype defaults to W1's."""
        missing = [k for k in PARAM_NAMES if k not in params]
        if missing:
            raise ValueError(f"params must contain {', '.join(PARAM_NAMES)}; missing {', '.join(missing)}")
        W1, b1, W2, b2 = (np.asarray(params[k]) for k in PARAM_NAMES)
        if dtype is None:
            dtype = W1.dtype if W1.dtype.name in DTYPES else np.float32
        D, H = W1.shape if W1.ndim == 2 else (0, 0)
        if W1.ndim != 2 or W2.ndim != 2 or W2.shape[0] != H or b1.shape != (H,) or b2.shape != (W2.shape[1],):
            raise ValueError(
                "params shapes must be W1 (D, H), b1 (H,), W2 (H, C), b2 (C,); got "
                + ", ".join(f"{k} {np.shape(params[k])}" for k in PARAM_NAMES)
            )
        net = cls.__new__(cls)
        net.activation = _check_choice("activation", activation, ACTIVATIONS)
        net.weight_init, net.weight_init_std = "std", 0.01
        net.dtype = _check_dtype(dtype)
        net.params = {k: np.array(params[k], dtype=net.dtype, order="C", copy=True) for k in PARAM_NAMES}
        net._build_layers()
        return net

    def frozen(self) -> "TwoLayerNet":
        """Return a copy whose parameter arrays are read-only, for serving."""
        net = TwoLayerNet.from_params(self.params, activation=self.activation, dtype=self.dtype)
        net.weight_init, net.weight_init_std = self.weight_init, self.weight_init_std
        return net.freeze()

    def freeze(self) -> "TwoLayerNet":
        """Make this network's own parameter arrays read-only in place (no copy) and return it."""
        for arr in self.params.values():
            arr.flags.writeable = False
        return self

    def __repr__(self) -> str:
        return (
            f"TwoLayerNet({self.input_size}-{self.hidden_size}-{self.output_size}, "
            f"activation={self.activation!r}, dtype={self.dtype.name})"
        )
