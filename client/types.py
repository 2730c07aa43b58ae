"""Plain dataclasses for the SDK's results, built from the protobuf messages.

Enums become upper-case strings ("RUNNING", "SERVING"), timestamps become
timezone-aware datetimes (None when unset), tensors become NumPy arrays.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Optional

import numpy as np

from protos import nn_service_pb2 as pb

#: Every job state the server reports, as the SDK spells it.
JOB_STATES = ("QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLING", "CANCELLED")
#: States a job never leaves.
TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})

_STATE_PREFIX = "JOB_STATE_"


def state_name(value: int) -> str:
    """The SDK's string for a JobState enum value ("RUNNING"; "UNSPECIFIED" for 0)."""
    try:
        return pb.JobState.Name(value)[len(_STATE_PREFIX):]
    except ValueError:  # a state added to the proto after this client was built
        return f"UNKNOWN_{value}"


def state_value(name: str) -> int:
    """The JobState enum value for "running" / "RUNNING" / "JOB_STATE_RUNNING"."""
    key = name.strip().upper()
    key = key[len(_STATE_PREFIX):] if key.startswith(_STATE_PREFIX) else key
    if key not in JOB_STATES:
        raise ValueError(f"unknown job state {name!r}; allowed: {', '.join(JOB_STATES)}")
    return pb.JobState.Value(_STATE_PREFIX + key)


def _time(message: Any, field: str) -> Optional[dt.datetime]:
    """A Timestamp field as an aware UTC datetime, or None when unset."""
    if not message.HasField(field):
        return None
    return getattr(message, field).ToDatetime(tzinfo=dt.timezone.utc)


@dataclasses.dataclass(frozen=True)
class EpochMetrics:
    """Metrics at the end of one epoch (epoch is 1-based)."""

    epoch: int
    loss: float
    train_accuracy: float
    test_accuracy: float
    seconds: float

    @classmethod
    def from_proto(cls, m: pb.EpochMetrics) -> "EpochMetrics":
        """Build from an nnservice.v1.EpochMetrics message."""
        return cls(m.epoch, m.loss, m.train_accuracy, m.test_accuracy, m.seconds)


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """The resolved hyper-parameters a job runs with."""

    hidden_size: int
    activation: str
    weight_init: str
    optimizer: str
    learning_rate: float
    batch_size: int
    epochs: int
    seed: int
    dataset: str
    train_size: int
    eval_size: int
    lr_schedule: str
    sampling: str
    hidden_sizes: tuple[int, ...] = ()  # every hidden layer (hidden_size is the first)
    batch_norm: bool = False
    dropout: float = 0.0
    weight_decay: float = 0.0

    @classmethod
    def from_proto(cls, m: pb.TrainingConfig) -> "TrainingConfig":
        """Build from an nnservice.v1.TrainingConfig message (same field names)."""
        values = {f.name: getattr(m, f.name) for f in dataclasses.fields(cls)}
        values["hidden_sizes"] = tuple(m.hidden_sizes) or (m.hidden_size,)
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class JobStatus:
    """Everything known about a training job; `state` is e.g. "RUNNING"."""

    job_id: str
    name: str
    state: str
    progress: float
    epoch: int
    total_epochs: int
    iteration: int
    total_iterations: int
    loss: float
    history: tuple[EpochMetrics, ...]
    create_time: Optional[dt.datetime]
    start_time: Optional[dt.datetime]
    end_time: Optional[dt.datetime]
    eta_seconds: float
    error: str
    model_id: str
    config: Optional[TrainingConfig]
    note: str = ""  # e.g. "worker ... was lost mid-job; resumed from epoch 3 on worker ..."

    @classmethod
    def from_proto(cls, m: pb.JobStatus) -> "JobStatus":
        """Build from an nnservice.v1.JobStatus message."""
        return cls(
            job_id=m.job_id, name=m.name, state=state_name(m.state), progress=m.progress,
            epoch=m.epoch, total_epochs=m.total_epochs, iteration=m.iteration,
            total_iterations=m.total_iterations, loss=m.loss,
            history=tuple(EpochMetrics.from_proto(h) for h in m.history),
            create_time=_time(m, "create_time"), start_time=_time(m, "start_time"),
            end_time=_time(m, "end_time"), eta_seconds=m.eta_seconds, error=m.error,
            model_id=m.model_id,
            config=TrainingConfig.from_proto(m.config) if m.HasField("config") else None,
            note=m.note,
        )

    @property
    def done(self) -> bool:
        """True once the job has ended (succeeded, failed or cancelled)."""
        return self.state in TERMINAL_STATES

    @property
    def last_metrics(self) -> Optional[EpochMetrics]:
        """The metrics of the latest completed epoch, or None before the first."""
        return self.history[-1] if self.history else None


@dataclasses.dataclass(frozen=True)
class Architecture:
    """A model's network shape."""

    input_size: int
    hidden_size: int
    output_size: int
    activation: str
    dtype: str
    hidden_sizes: tuple[int, ...] = ()  # every hidden layer (hidden_size is the first)
    batch_norm: bool = False
    dropout: float = 0.0
    parameter_count: int = 0
    input_shape: tuple[int, ...] = ()  # one input row, e.g. (28, 28); input_size is its product

    @classmethod
    def from_proto(cls, m: pb.Architecture) -> "Architecture":
        """Build from an nnservice.v1.Architecture message."""
        return cls(m.input_size, m.hidden_size, m.output_size, m.activation, m.dtype,
                   tuple(m.hidden_sizes) or (m.hidden_size,), m.batch_norm, m.dropout, m.parameter_count,
                   tuple(m.input_shape))

    @property
    def layers(self) -> str:
        """The layer sizes, input to output: "784-512-256-10"."""
        return "-".join(str(n) for n in (self.input_size, *(self.hidden_sizes or (self.hidden_size,)),
                                         self.output_size))


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """A trained model: its architecture, training config and final metrics."""

    model_id: str
    job_id: str
    name: str
    architecture: Optional[Architecture]
    config: Optional[TrainingConfig]
    final_metrics: Optional[EpochMetrics]
    create_time: Optional[dt.datetime]
    sha256: str
    size_bytes: int
    dataset: str = ""
    class_names: tuple[str, ...] = ()  # class i's name
    input_dtype: str = ""  # of its training data: "uint8" (pixels), "float32" (features), "" unknown

    @classmethod
    def from_proto(cls, m: pb.ModelInfo) -> "ModelInfo":
        """Build from an nnservice.v1.ModelInfo message."""
        def sub(field, kind):
            return kind.from_proto(getattr(m, field)) if m.HasField(field) else None

        return cls(
            model_id=m.model_id, job_id=m.job_id, name=m.name,
            architecture=sub("architecture", Architecture),
            config=sub("config", TrainingConfig),
            final_metrics=sub("final_metrics", EpochMetrics),
            create_time=_time(m, "create_time"), sha256=m.sha256, size_bytes=m.size_bytes,
            dataset=m.dataset, class_names=tuple(m.class_names), input_dtype=m.input_dtype,
        )


@dataclasses.dataclass(frozen=True, eq=False)
class Prediction:
    """Predicted classes (int64 [N]), class probabilities (float32 [N, classes]) and, when the
    model has them, each row's class name."""

    model_id: str
    classes: np.ndarray
    probabilities: np.ndarray
    class_names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self.classes.shape[0])

    def __repr__(self) -> str:
        return f"Prediction(model_id={self.model_id!r}, n={len(self)}, classes={self.classes.tolist()[:8]}...)"


@dataclasses.dataclass(frozen=True)
class Health:
    """A grpc.health.v1 answer: `status` is "SERVING", "NOT_SERVING", ..."""

    status: str
    service: str = ""

    @property
    def serving(self) -> bool:
        """True when the server (or the named service) is ready for requests."""
        return self.status == "SERVING"


def to_jsonable(value: Any) -> Any:
    """Turn SDK results (dataclasses, arrays, datetimes) into JSON-serialisable data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value
