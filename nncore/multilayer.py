"""MultiLayerNet: the text's extended network (any depth, batch norm, dropout, weight decay).

TwoLayerNet (nncore.network) is its one-hidden-layer case. Two paths compute the same maths:
the text's, through `self.layers` (predict, loss, layer_gradient: the reference), and the fast
ones nncore builds from the parameters (gradient runs the buffered training step of
nncore._step; infer and predictor() the folded inference layers of nncore.predictor). Tests
hold the fast paths to the reference.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from typing import Any

import numpy as np

from . import _aligned
from . import predictor as _predictor
from ._step import TrainStep, labels_below
from .choices import ACTIVATIONS, DTYPES, NET_WEIGHT_INITS
from .functions import softmax, weight_decay_penalty
from .gradient import numerical_gradient
from .layers import Affine, BatchNormalization, Dropout, Relu, Sigmoid, SoftmaxWithLoss

#: Whether sys.getrefcount tells when a returned gradient is free again (CPython).
_REFCOUNTS = sys.implementation.name == "cpython"

#: weight_init_std names the text accepts, and the initialisation each stands for.
_INIT_NAMES = {"relu": "he", "he": "he", "sigmoid": "xavier", "xavier": "xavier"}
_MODE_LAYERS = (BatchNormalization, Dropout)  # layers whose forward takes train_flg


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


def _check_size(name: str, size: Any) -> int:
    """Return size as int if it is a positive integer, else raise."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"{name} must be a positive integer; got {size!r}")
    return int(size)


def _init_scale(weight_init: str, weight_init_std: float, fan_in: int) -> float:
    """Return the standard deviation for a weight matrix with fan_in inputs."""
    if weight_init == "xavier":
        return float(np.sqrt(1.0 / fan_in))
    if weight_init == "he":
        return float(np.sqrt(2.0 / fan_in))
    return float(weight_init_std)


def _parse_init(weight_init_std: Any) -> tuple[str, float]:
    """Return (weight_init, weight_init_std) from the text's 'relu'/'he', 'sigmoid'/'xavier' or a number."""
    if isinstance(weight_init_std, str):
        if weight_init_std.lower() not in _INIT_NAMES:
            raise ValueError(f"weight_init_std must be a number or one of {', '.join(_INIT_NAMES)}; "
                             f"got {weight_init_std!r}")
        return _INIT_NAMES[weight_init_std.lower()], 0.01
    if isinstance(weight_init_std, bool) or not np.isfinite(weight_init_std) or weight_init_std < 0:
        raise ValueError(f"weight_init_std must be a number >= 0 or a name; got {weight_init_std!r}")
    return "std", float(weight_init_std)


def parameter_count(input_size: int, hidden_sizes, output_size: int, batch_norm: bool = False) -> int:
    """Return the number of trainable parameters of a network of these sizes."""
    sizes = [input_size, *hidden_sizes, output_size]
    count = sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(sizes, sizes[1:]))
    return count + (2 * sum(hidden_sizes) if batch_norm else 0)


class MultiLayerNet:
    """(Affine -> [BatchNorm] -> Relu|Sigmoid -> [Dropout]) x len(hidden) -> Affine -> SoftmaxWithLoss."""

    def __init__(self, input_size: int, hidden_size_list, output_size: int, activation: str = "relu",
                 weight_init_std: Any = "relu", weight_decay_lambda: float = 0, use_dropout: bool = False,
                 dropout_ratio: float = 0.5, use_batchnorm: bool = False, *, dtype: Any = np.float32,
                 seed: Any = None) -> None:
        hidden = list(hidden_size_list)
        sizes = [_check_size("input_size", input_size)]
        sizes += [_check_size(f"hidden_size_list[{i}]", h) for i, h in enumerate(hidden)]
        sizes.append(_check_size("output_size", output_size))
        if not hidden:
            raise ValueError("hidden_size_list must name at least one hidden layer")
        weight_init, std = _parse_init(weight_init_std)
        self._configure(activation, weight_init, std, weight_decay_lambda, use_dropout, dropout_ratio,
                        use_batchnorm, dtype)
        rng = np.random.default_rng(seed)
        self.params: dict[str, np.ndarray] = {}
        for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:]), start=1):
            W = rng.standard_normal(dtype=self.dtype, out=_aligned.empty((fan_in, fan_out), self.dtype))
            W *= self.dtype.type(_init_scale(self.weight_init, self.weight_init_std, fan_in))
            self.params[f"W{i}"] = W
            self.params[f"b{i}"] = _aligned.full(fan_out, 0, self.dtype)
            if use_batchnorm and i < len(sizes) - 1:
                self.params[f"gamma{i}"] = _aligned.full(fan_out, 1, self.dtype)
                self.params[f"beta{i}"] = _aligned.full(fan_out, 0, self.dtype)
        self.rng = rng  # after the weights: dropout masks continue the same stream
        self.buffers = self._new_buffers()
        self._build_layers()

    def _configure(self, activation, weight_init, weight_init_std, weight_decay_lambda, use_dropout,
                   dropout_ratio, use_batchnorm, dtype) -> None:
        """Check and set the options every constructor shares."""
        self.activation = _check_choice("activation", activation, ACTIVATIONS)
        self.weight_init = _check_choice("weight_init", weight_init, NET_WEIGHT_INITS)
        self.weight_init_std = float(weight_init_std)
        if isinstance(weight_decay_lambda, bool) or not 0 <= weight_decay_lambda < float("inf"):
            raise ValueError(f"weight_decay_lambda must be a finite number >= 0; got {weight_decay_lambda!r}")
        self.weight_decay_lambda = float(weight_decay_lambda)
        if not 0.0 <= dropout_ratio < 1.0:
            raise ValueError(f"dropout_ratio must be in [0, 1); got {dropout_ratio!r}")
        self.use_dropout, self.dropout_ratio = bool(use_dropout), float(dropout_ratio)
        self.use_batchnorm = bool(use_batchnorm)
        self.dtype = _check_dtype(dtype)
        self._step: TrainStep | None = None
        self._returned: list[dict[str, np.ndarray]] = []  # gradient() dicts, newest first

    def _new_buffers(self) -> dict[str, np.ndarray]:
        """Return zeroed batch-norm running statistics (the text's start), empty without batch norm."""
        if not self.use_batchnorm:
            return {}
        out = {}
        for i, h in enumerate(self.hidden_sizes, start=1):
            out[f"running_mean{i}"] = np.zeros(h, dtype=self.dtype)
            out[f"running_var{i}"] = np.zeros(h, dtype=self.dtype)
        return out

    def _build_layers(self) -> None:
        """Create the layers; they reference the arrays in self.params and self.buffers."""
        p, act = self.params, (Relu if self.activation == "relu" else Sigmoid)
        self.layers: OrderedDict[str, Any] = OrderedDict()
        depth = self.depth
        for i in range(1, depth + 1):
            self.layers[f"Affine{i}"] = Affine(p[f"W{i}"], p[f"b{i}"])
            if i == depth:
                break
            if self.use_batchnorm:
                self.layers[f"BatchNorm{i}"] = BatchNormalization(
                    p[f"gamma{i}"], p[f"beta{i}"], running_mean=self.buffers[f"running_mean{i}"],
                    running_var=self.buffers[f"running_var{i}"])
            self.layers[f"{act.__name__}{i}"] = act()
            if self.use_dropout:
                self.layers[f"Dropout{i}"] = Dropout(self.dropout_ratio, rng=self.rng)
        self.lastLayer = SoftmaxWithLoss()

    @property
    def depth(self) -> int:
        """Number of affine layers (hidden layers + 1)."""
        return sum(1 for k in self.params if k[0] == "W")

    @property
    def input_size(self) -> int:
        """Number of input features."""
        return self.params["W1"].shape[0]

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        """Units of each hidden layer."""
        return tuple(self.params[f"W{i}"].shape[1] for i in range(1, self.depth))

    @property
    def hidden_size_list(self) -> list[int]:
        """The text's name for hidden_sizes."""
        return list(self.hidden_sizes)

    @property
    def output_size(self) -> int:
        """Number of output classes."""
        return self.params[f"W{self.depth}"].shape[1]

    @property
    def parameter_count(self) -> int:
        """Number of trainable parameters."""
        return sum(int(v.size) for v in self.params.values())

    # --- the text's interface (training path: layers cache activations) ---

    def _cast(self, x: np.ndarray) -> np.ndarray:
        """Return x in the network's dtype (no copy if it already is)."""
        return np.asarray(x).astype(self.dtype, copy=False)

    def predict(self, x: np.ndarray, train_flg: bool = False) -> np.ndarray:
        """Return the scores (N, out) by a forward pass through the layers."""
        x = self._cast(x)
        for layer in self.layers.values():
            x = layer.forward(x, train_flg) if isinstance(layer, _MODE_LAYERS) else layer.forward(x)
        return x

    def weights(self) -> list[np.ndarray]:
        """The weight matrices W1 ... Wn (what weight decay penalises)."""
        return [self.params[f"W{i}"] for i in range(1, self.depth + 1)]

    def loss(self, x: np.ndarray, t: np.ndarray, train_flg: bool = False) -> float:
        """Return the cross-entropy of predict(x) against t plus 0.5 * lambda * sum(W**2)."""
        loss = self.lastLayer.forward(self.predict(x, train_flg), t)
        if self.weight_decay_lambda:
            loss += weight_decay_penalty(self.weights(), self.weight_decay_lambda)
        return loss

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
        loss_W = lambda W: self.loss(x, t, train_flg=True)  # noqa: E731 - the text's closure over params
        return {key: numerical_gradient(loss_W, arr) for key, arr in self.params.items()}

    def layer_gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """Return d loss / d params by the text's backprop through self.layers (the reference)."""
        self.loss(x, t, train_flg=True)
        dout = self.lastLayer.backward(1.0)
        layers = list(self.layers.values())
        for layer in reversed(layers[1:]):
            dout = layer.backward(dout)
        # The input gradient of the first layer is never used: skip that GEMM.
        layers[0].param_grads(dout)
        grads, lam = {}, self.weight_decay_lambda
        for key in self.params:
            kind = key.rstrip("0123456789")
            i = key[len(kind):]
            if kind == "W":
                dW = self.layers[f"Affine{i}"].dW
                grads[key] = dW + lam * self.params[key] if lam else dW
            elif kind == "b":
                grads[key] = self.layers[f"Affine{i}"].db
            else:
                grads[key] = getattr(self.layers[f"BatchNorm{i}"], "d" + kind)
        return grads

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """Return d loss / d params (the caller may keep them); the loss is left in lastLayer.loss.

        Integer labels run the buffered training step train() uses; one-hot targets (and
        labels out of range, which then raise) take layer_gradient.
        """
        x, t = np.asarray(x), np.asarray(t)
        step = self._step
        classes = self.output_size if step is None else step.classes
        if x.ndim < 2 or t.ndim != 1 or t.shape[0] != x.shape[0] or not labels_below(t, classes):
            return self.layer_gradient(x, t)
        if step is None:
            step = self._step = TrainStep(self)
        # Arrays the caller may keep, written by the step itself (no copy): ones returned earlier
        # that nobody references any more, else fresh ones (first-touching a fresh 300 KB array
        # costs as much as the step's element-wise work on 784-100-10).
        grads = step.grads = self._free_grads() or {key: _aligned.empty_like(g) for key, g in step.grads.items()}
        x = x.astype(self.dtype, copy=False)
        self.lastLayer.loss = step(x if x.ndim == 2 else x.reshape(x.shape[0], -1), t)
        self._returned = [grads, *self._returned[:1]]
        return grads

    def _free_grads(self) -> dict[str, np.ndarray] | None:
        """A gradient dict returned before whose arrays only this net still references, or None.

        The text's loop (`grad = net.gradient(...)`) still holds the previous call's dict while
        the next call runs, so two are kept; a caller that keeps a dict, an array or a view of
        one holds a reference, and that dict is never reused."""
        if not _REFCOUNTS:
            return None
        for i in range(len(self._returned)):  # not enumerate: its reused tuple holds a reference
            grads = self._returned[i]
            # getrefcount sees the list's (the dict's) reference, `grads` (`a`), and its argument;
            # a view of an aligned array references its base, the raw buffer (held by `a` alone)
            if sys.getrefcount(grads) == 3 and all(sys.getrefcount(a) == 3 and sys.getrefcount(a.base) == 2
                                                   for a in grads.values()):
                del self._returned[i]
                return grads
        return None

    # --- thread-safe inference: reads params, stores nothing ---

    def infer(self, x: np.ndarray) -> np.ndarray:
        """Return the scores for x (N, D) or (D,) in inference mode, without touching the layers."""
        x = np.asarray(x)
        if x.ndim == 1:
            return self.infer(x.reshape(1, -1))[0]
        x = self._cast(x).reshape(x.shape[0], -1)
        if x.shape[1] != self.input_size:
            raise ValueError(f"input must have {self.input_size} features per row; got {x.shape[1]}")
        return _predictor.forward(_predictor.inference_layers(self), self.activation == "relu", x, np.dot)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Return softmax probabilities (N, out) for x, thread-safely."""
        return softmax(self.infer(x))

    def predictor(self) -> "_predictor.Predictor":
        """Return a frozen, thread-safe Predictor of this network as it is now."""
        return _predictor.Predictor.from_network(self)

    # --- (de)serialisation ---

    @property
    def config(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict with everything needed to rebuild this network."""
        return {
            "input_size": self.input_size,
            "hidden_size": self.hidden_sizes[0],  # the first hidden layer: the one-layer shorthand
            "hidden_sizes": list(self.hidden_sizes),
            "output_size": self.output_size,
            "activation": self.activation,
            "weight_init": self.weight_init,
            "weight_init_std": self.weight_init_std,
            "weight_decay": self.weight_decay_lambda,
            "batch_norm": self.use_batchnorm,
            "dropout": self.dropout_ratio if self.use_dropout else 0.0,
            "dtype": self.dtype.name,
        }

    @property
    def architecture(self) -> dict[str, Any]:
        """Return MultiLayerNet's config (whatever the class) plus the parameter count."""
        return {**MultiLayerNet.config.fget(self), "parameter_count": self.parameter_count}

    def _clone(self, dtype: Any = None) -> "MultiLayerNet":
        """Return a copy with its own arrays (in dtype, default this net's) and a fresh generator."""
        net = type(self).__new__(type(self))
        net._configure(self.activation, self.weight_init, self.weight_init_std, self.weight_decay_lambda,
                       self.use_dropout, self.dropout_ratio, self.use_batchnorm, dtype or self.dtype)
        net.params = {k: _aligned.copy(v, net.dtype) for k, v in self.params.items()}
        net.buffers = {k: np.array(v, dtype=net.dtype, order="C", copy=True) for k, v in self.buffers.items()}
        net.rng = np.random.default_rng()
        net._build_layers()
        return net

    def frozen(self) -> "MultiLayerNet":
        """Return a copy whose parameter arrays are read-only, for serving."""
        return self._clone().freeze()

    def freeze(self) -> "MultiLayerNet":
        """Make this network's own arrays read-only in place (no copy) and return it."""
        for arr in (*self.params.values(), *self.buffers.values()):
            arr.flags.writeable = False
        return self

    def __repr__(self) -> str:
        sizes = "-".join(str(s) for s in (self.input_size, *self.hidden_sizes, self.output_size))
        extras = "".join([", batch_norm" if self.use_batchnorm else "",
                          f", dropout={self.dropout_ratio:g}" if self.use_dropout else "",
                          f", weight_decay={self.weight_decay_lambda:g}" if self.weight_decay_lambda else ""])
        return f"{type(self).__name__}({sizes}, activation={self.activation!r}{extras}, dtype={self.dtype.name})"


#: The text's name for the network with batch norm and dropout (the same class here).
MultiLayerNetExtend = MultiLayerNet
