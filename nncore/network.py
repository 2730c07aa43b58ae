"""TwoLayerNet: the text's two-layer network, the one-hidden-layer case of MultiLayerNet."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _aligned
from .choices import ACTIVATIONS, DTYPES, NET_WEIGHT_INITS
from .multilayer import MultiLayerNet, _check_choice, _check_size

#: The parameter names of a TwoLayerNet.
PARAM_NAMES = ("W1", "b1", "W2", "b2")


class TwoLayerNet(MultiLayerNet):
    """Affine -> Sigmoid|Relu -> Affine -> SoftmaxWithLoss, parameters in `params`."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int, weight_init_std: float = 0.01,
                 *, activation: str = "sigmoid", weight_init: str = "std", dtype: Any = np.float32,
                 seed: Any = None) -> None:
        _check_size("hidden_size", hidden_size)
        _check_choice("weight_init", weight_init, NET_WEIGHT_INITS)
        _check_choice("activation", activation, ACTIVATIONS)
        init = weight_init if weight_init != "std" else float(weight_init_std)
        super().__init__(input_size, [hidden_size], output_size, activation, init, dtype=dtype, seed=seed)
        self.weight_init_std = float(weight_init_std)

    @property
    def hidden_size(self) -> int:
        """Number of hidden units."""
        return self.params["W1"].shape[1]

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
        net._configure(activation, "std", 0.01, 0, False, 0.5, False, dtype)
        net.params = {k: _aligned.copy(params[k], net.dtype) for k in PARAM_NAMES}
        net.buffers, net.rng = {}, np.random.default_rng()
        net._build_layers()
        return net
