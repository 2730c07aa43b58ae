"""The allowed values and defaults of every training choice, in one place.

nncore validates against these; the server's request checks, nnctl's help and the README's
list are derived from them. Adding an optimizer is its class plus its entry in
optimizers.OPTIMIZERS: nothing here changes.
"""

from __future__ import annotations

from types import MappingProxyType

from .optimizers import DEFAULT_LEARNING_RATES, OPTIMIZERS as _OPTIMIZER_REGISTRY

#: Hidden-layer activations (the first is the default).
ACTIVATIONS = ("relu", "sigmoid")
#: Weight initialisations of a network: He (for ReLU), Xavier (for sigmoid), a fixed std.
NET_WEIGHT_INITS = ("he", "xavier", "std")
#: Weight initialisations of a training config: "auto" picks He for ReLU, Xavier otherwise.
WEIGHT_INITS = ("auto",) + NET_WEIGHT_INITS
#: Optimizer names, from the optimizer registry.
OPTIMIZERS = tuple(_OPTIMIZER_REGISTRY)
#: Learning-rate schedules.
LR_SCHEDULES = ("constant", "cosine")
#: How mini-batches are drawn: a permutation per epoch, or with replacement (the text's choice).
SAMPLINGS = ("shuffle", "replacement")
#: Floating-point types a network computes in.
DTYPES = ("float32", "float64")

#: Defaults of a training run, as TrainConfig applies them.
DEFAULTS = MappingProxyType({
    "hidden_sizes": (100,),
    "activation": ACTIVATIONS[0],
    "weight_init": "auto",
    "weight_init_std": 0.01,
    "optimizer": "adam",
    "batch_size": 100,
    "epochs": 5,
    "sampling": SAMPLINGS[0],
    "lr_schedule": LR_SCHEDULES[0],
    "dtype": DTYPES[0],
    "batch_norm": False,
    "dropout": 0.0,
    "weight_decay": 0.0,
})

__all__ = ["ACTIVATIONS", "NET_WEIGHT_INITS", "WEIGHT_INITS", "OPTIMIZERS", "LR_SCHEDULES", "SAMPLINGS",
           "DTYPES", "DEFAULTS", "DEFAULT_LEARNING_RATES"]
