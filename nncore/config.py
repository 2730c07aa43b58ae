"""TrainConfig: the validated, JSON-round-trippable hyper-parameters of one training run."""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any

from .choices import (ACTIVATIONS, DEFAULT_LEARNING_RATES, DEFAULTS, DTYPES, LR_SCHEDULES, OPTIMIZERS,
                      SAMPLINGS, WEIGHT_INITS)

_MAX_SIZE = 1 << 20  # generous upper bound that still catches typos and overflow
_MAX_STEPS = 1 << 40
_MAX_LAYERS = 64
_MAX_WEIGHT_DECAY = 10.0


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


def _hidden_sizes(hidden_size: Any, hidden_sizes: Any) -> tuple[int, ...]:
    """Return the layer sizes from the shorthand and/or the list, checking they agree."""
    _check_int("hidden_size", hidden_size, 1, _MAX_SIZE, optional=True)
    if isinstance(hidden_sizes, (str, bytes)) or not hasattr(hidden_sizes, "__iter__"):
        raise ValueError(f"hidden_sizes must be a sequence of integers; got {hidden_sizes!r}")
    sizes = tuple(hidden_sizes)
    for i, size in enumerate(sizes):
        _check_int(f"hidden_sizes[{i}]", size, 1, _MAX_SIZE)
    if hidden_size is not None and sizes and sizes != (hidden_size,):
        raise ValueError(f"hidden_size ({hidden_size}) and hidden_sizes ({list(sizes)}) disagree; "
                         "set one of them")
    if len(sizes) > _MAX_LAYERS:
        raise ValueError(f"hidden_sizes may name at most {_MAX_LAYERS} layers; got {len(sizes)}")
    return tuple(int(s) for s in sizes) or ((hidden_size,) if hidden_size is not None else DEFAULTS["hidden_sizes"])


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one run; every field has a default, checked when it is built.

    hidden_size is the one-layer shorthand of hidden_sizes: after construction hidden_sizes
    holds every layer and hidden_size the size of a one-layer net (None for deeper ones).
    """

    hidden_size: int | None = None
    activation: str = DEFAULTS["activation"]
    weight_init: str = DEFAULTS["weight_init"]
    weight_init_std: float = DEFAULTS["weight_init_std"]
    optimizer: str = DEFAULTS["optimizer"]
    learning_rate: float | None = None
    batch_size: int = DEFAULTS["batch_size"]
    epochs: int = DEFAULTS["epochs"]
    iterations: int | None = None
    seed: int = 0
    sampling: str = DEFAULTS["sampling"]
    train_size: int | None = None
    eval_size: int | None = None
    lr_schedule: str = DEFAULTS["lr_schedule"]
    dtype: str = DEFAULTS["dtype"]
    hidden_sizes: tuple[int, ...] = ()
    batch_norm: bool = DEFAULTS["batch_norm"]
    dropout: float = DEFAULTS["dropout"]
    weight_decay: float = DEFAULTS["weight_decay"]

    def __post_init__(self) -> None:
        sizes = _hidden_sizes(self.hidden_size, self.hidden_sizes)
        object.__setattr__(self, "hidden_sizes", sizes)
        object.__setattr__(self, "hidden_size", sizes[0] if len(sizes) == 1 else None)
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first field outside its allowed values or range."""
        _hidden_sizes(self.hidden_size, self.hidden_sizes)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("weight_init", self.weight_init, WEIGHT_INITS)
        _check_real("weight_init_std", self.weight_init_std, 0.0, 10.0)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_real("learning_rate", self.learning_rate, 0.0, 10.0, optional=True)
        _check_int("batch_size", self.batch_size, 1, _MAX_SIZE)
        _check_int("epochs", self.epochs, 1, 100_000)
        _check_int("iterations", self.iterations, 1, _MAX_STEPS, optional=True)
        _check_int("seed", self.seed, 0, 2**63 - 1)
        _check_choice("sampling", self.sampling, SAMPLINGS)
        _check_int("train_size", self.train_size, 1, _MAX_STEPS, optional=True)
        _check_int("eval_size", self.eval_size, 1, _MAX_STEPS, optional=True)
        _check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _check_choice("dtype", self.dtype, DTYPES)
        if not isinstance(self.batch_norm, bool):
            raise ValueError(f"batch_norm must be true or false; got {self.batch_norm!r}")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, numbers.Real) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be a number in [0, 1) (0 = off); got {self.dropout!r}")
        wd = self.weight_decay
        if isinstance(wd, bool) or not isinstance(wd, numbers.Real) or not 0 <= wd <= _MAX_WEIGHT_DECAY:
            raise ValueError(f"weight_decay must be a number in [0, {_MAX_WEIGHT_DECAY}] (0 = off); got {wd!r}")

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
        """Return a validated TrainConfig from a dict (old records without hidden_sizes too);
        unknown keys raise ValueError."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {', '.join(unknown)}; allowed: {', '.join(names)}")
        return cls(**d)
