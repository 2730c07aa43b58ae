"""What training reports and persists: EpochRecord, Progress, History and TrainState."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .multilayer import MultiLayerNet

#: Version 2 adds batch norm's running statistics and dropout's generator; 1 still loads.
_STATE_VERSION = 2


@dataclass(frozen=True)
class EpochRecord:
    """Summary of one epoch: mean loss, accuracies and training wall time (evaluation excluded)."""

    epoch: int
    loss: float
    train_accuracy: float
    test_accuracy: float
    seconds: float


@dataclass(frozen=True)
class Progress:
    """Passed to on_progress after every iteration; epoch_record is set when an epoch closes."""

    epoch: int
    total_epochs: int
    iteration: int
    total_iterations: int
    loss: float
    epoch_record: EpochRecord | None = None


@dataclass
class History:
    """The result of train(): per-iteration loss, per-epoch accuracies (the text's names)."""

    train_loss_list: list[float] = field(default_factory=list)
    train_acc_list: list[float] = field(default_factory=list)
    test_acc_list: list[float] = field(default_factory=list)
    epochs: list[EpochRecord] = field(default_factory=list)
    stopped: bool = False
    net: MultiLayerNet | None = None

    def add_epoch(self, record: EpochRecord) -> None:
        """Append an epoch record and its accuracies to the text's lists."""
        self.epochs.append(record)
        self.train_acc_list.append(record.train_accuracy)
        self.test_acc_list.append(record.test_accuracy)

    def to_dict(self) -> dict[str, Any]:
        """Return everything but the network as a JSON-serialisable dict."""
        return {
            "train_loss_list": list(self.train_loss_list),
            "train_acc_list": list(self.train_acc_list),
            "test_acc_list": list(self.test_acc_list),
            "epochs": [dataclasses.asdict(r) for r in self.epochs],
            "stopped": self.stopped,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], net: MultiLayerNet | None = None) -> "History":
        """Return a History rebuilt from to_dict() output."""
        return cls(
            train_loss_list=[float(v) for v in d.get("train_loss_list", [])],
            train_acc_list=[float(v) for v in d.get("train_acc_list", [])],
            test_acc_list=[float(v) for v in d.get("test_acc_list", [])],
            epochs=[EpochRecord(**r) for r in d.get("epochs", [])],
            stopped=bool(d.get("stopped", False)),
            net=net,
        )

    def __repr__(self) -> str:
        last = self.epochs[-1] if self.epochs else None
        acc = f", test_accuracy={last.test_accuracy:.4f}" if last else ""
        return (
            f"History(iterations={len(self.train_loss_list)}, epochs={len(self.epochs)}"
            f"{acc}, stopped={self.stopped})"
        )


@dataclass
class TrainState:
    """A checkpoint taken at the end of an epoch; train(resume=state) continues from it."""

    epoch: int
    iteration: int
    params: dict[str, np.ndarray]
    optimizer_state: dict[str, np.ndarray]
    rng_state: dict[str, Any]
    history: dict[str, Any]
    buffers: dict[str, np.ndarray] = field(default_factory=dict)  # batch norm's running statistics
    net_rng_state: dict[str, Any] | None = None  # the network's own generator (dropout masks)

    def arrays(self) -> dict[str, np.ndarray]:
        """Return all arrays under flat names, ready for np.savez."""
        out = {f"params/{k}": v for k, v in self.params.items()}
        out.update({f"optimizer/{k}": v for k, v in self.optimizer_state.items()})
        out.update({f"buffers/{k}": v for k, v in self.buffers.items()})
        return out

    def meta(self) -> dict[str, Any]:
        """Return the non-array part as a JSON-serialisable dict."""
        return {
            "version": _STATE_VERSION,
            "epoch": self.epoch,
            "iteration": self.iteration,
            "rng_state": self.rng_state,
            "history": self.history,
            "net_rng_state": self.net_rng_state,
        }

    @classmethod
    def from_parts(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> "TrainState":
        """Return the TrainState whose arrays() and meta() were given."""
        if meta.get("version") not in (1, _STATE_VERSION):
            raise ValueError(f"TrainState version must be 1 or {_STATE_VERSION}; got {meta.get('version')!r}")
        groups: dict[str, dict[str, np.ndarray]] = {"params": {}, "optimizer": {}, "buffers": {}}
        for name, arr in arrays.items():
            group, _, key = name.partition("/")
            if group not in groups:
                raise ValueError(f"unknown TrainState array {name!r}; names start with params/, optimizer/ "
                                 "or buffers/")
            groups[group][key] = np.asarray(arr)
        return cls(
            epoch=int(meta["epoch"]),
            iteration=int(meta["iteration"]),
            params=groups["params"],
            optimizer_state=groups["optimizer"],
            rng_state=meta["rng_state"],
            history=meta["history"],
            buffers=groups["buffers"],
            net_rng_state=meta.get("net_rng_state"),
        )

    def __repr__(self) -> str:
        return f"TrainState(epoch={self.epoch}, iteration={self.iteration}, params={sorted(self.params)})"
