"""TrainConfig: the validated, JSON-round-trippable hyper-parameters of one training run."""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any

from .network import ACTIVATIONS
from .optimizers import DEFAULT_LEARNING_RATES, OPTIMIZERS

_MAX_SIZE = 1 << 20  # generous upper bound that still catches typos and overflow
_MAX_STEPS = 1 << 40


def _check_int(name: str, value: Any, low: int, high: int, *, optional: bool = False) -> None:
    """Raise ValueError unless value is an int in [low, high] (or None when optional)."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= value <= high:
        none = " or None" if optional else ""
        raise ValueError(f"{name} must be an integer in [{low}, {high}]{none}; got {value!r}")


def _check_real(name: str, value: Any, low: float, high: float, *, optional: bool = False) -> None:
    """Raise ValueError unless value is a number in (low, high] (or None when optional)."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low < value <= high:
        none = " or None" if optional else ""
        raise ValueError(f"{name} must be a number in ({low}, {high}]{none}; got {value!r}")


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    """Raise ValueError unless value is one of allowed."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one run; every field has a default, validate() checks them."""

    hidden_size: int = 100
    activation: str = "relu"
    weight_init: str = "auto"
    weight_init_std: float = 0.01
    optimizer: str = "adam"
    learning_rate: float | None = None
    batch_size: int = 100
    epochs: int = 5
    iterations: int | None = None
    seed: int = 0
    sampling: str = "shuffle"
    train_size: int | None = None
    eval_size: int | None = None
    lr_schedule: str = "constant"
    dtype: str = "float32"

    def validate(self) -> None:
        """Raise ValueError naming the first field outside its allowed values or range."""
        _check_int("hidden_size", self.hidden_size, 1, _MAX_SIZE)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("weight_init", self.weight_init, ("auto", "he", "xavier", "std"))
        _check_real("weight_init_std", self.weight_init_std, 0.0, 10.0)
        _check_choice("optimizer", self.optimizer, tuple(OPTIMIZERS))
        _check_real("learning_rate", self.learning_rate, 0.0, 10.0, optional=True)
        _check_int("batch_size", self.batch_size, 1, _MAX_SIZE)
        _check_int("epochs", self.epochs, 1, 100_000)
        _check_int("iterations", self.iterations, 1, _MAX_STEPS, optional=True)
        _check_int("seed", self.seed, 0, 2**63 - 1)
        _check_choice("sampling", self.sampling, ("shuffle", "replacement"))
        _check_int("train_size", self.train_size, 1, _MAX_STEPS, optional=True)
        _check_int("eval_size", self.eval_size, 1, _MAX_STEPS, optional=True)
        _check_choice("lr_schedule", self.lr_schedule, ("constant", "cosine"))
        _check_choice("dtype", self.dtype, ("float32", "float64"))

    def resolved(self) -> "TrainConfig":
        """Return a copy with learning_rate and weight_init defaults ("auto"/None) filled in."""
        lr = self.learning_rate
        if lr is None:
            lr = DEFAULT_LEARNING_RATES.get(self.optimizer)
        init = self.weight_init
        if init == "auto":
            init = "he" if self.activation == "relu" else "xavier"
        return dataclasses.replace(self, learning_rate=lr, weight_init=init)

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-serialisable dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """Return a validated TrainConfig from a dict; unknown keys raise ValueError."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {', '.join(unknown)}; allowed: {', '.join(names)}")
        config = cls(**d)
        config.validate()
        return config
