"""Translation between protobuf messages and domain objects, with request validation."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

from nncore import choices
from nncore.multilayer import parameter_count
from nncore.training import TrainConfig

from protos import nn_service_pb2 as pb
from server.datasets import DEFAULT_DATASET, DatasetEntry, DatasetRegistry, model_dataset, model_input_dtype
from server.errors import InvalidArgument
from server.records import JobRecord
from server.settings import Settings


MAX_NAME_CHARS = 200
MAX_LEARNING_RATE = 10.0
DEFAULTS = choices.DEFAULTS


@dataclass(frozen=True)
class JobSpec:
    """A validated training request: the resolved config, the dataset and the job's name."""

    config: TrainConfig
    dataset: str
    name: str

    def config_dict(self) -> dict:
        """The config as stored in the job record (TrainConfig fields plus the dataset)."""
        return {**self.config.to_dict(), "dataset": self.dataset}


def _choice(field: str, value: str, allowed: tuple[str, ...], default: str) -> str:
    """An enumerated string field: empty -> default, else one of `allowed` (case-insensitive)."""
    value = value.strip().lower()
    if not value:
        return default
    if value not in allowed:
        raise InvalidArgument(f"{field} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _int(req: pb.TrainRequest, field: str, low: int, high: int, default: int | None) -> int | None:
    """An optional integer field: unset -> default, else checked against [low, high]."""
    if not req.HasField(field):
        return default
    value = getattr(req, field)
    if not low <= value <= high:
        raise InvalidArgument(f"{field} must be in [{low}, {high}]; got {value}")
    return value


def train_request_to_spec(req: pb.TrainRequest, settings: Settings, datasets: DatasetRegistry) -> JobSpec:
    """Validate a TrainRequest against the server's limits and its dataset, and resolve its defaults."""
    info = datasets.entry(req.dataset)
    dataset = info.name
    if len(req.name) > MAX_NAME_CHARS:
        raise InvalidArgument(f"name must be at most {MAX_NAME_CHARS} characters; got {len(req.name)}")
    train_size = _int(req, "train_size", 1, info.train_size, info.train_size)
    kwargs = dict(
        **_network_options(req, settings, info),
        epochs=_int(req, "epochs", 1, settings.max_epochs, min(DEFAULTS["epochs"], settings.max_epochs)),
        batch_size=_int(req, "batch_size", 1, train_size, min(DEFAULTS["batch_size"], train_size)),
        train_size=train_size,
        eval_size=_int(req, "eval_size", 1, info.test_size, None),
        weight_init=_choice("weight_init", req.weight_init, choices.WEIGHT_INITS, DEFAULTS["weight_init"]),
        optimizer=_choice("optimizer", req.optimizer, choices.OPTIMIZERS, DEFAULTS["optimizer"]),
        lr_schedule=_choice("lr_schedule", req.lr_schedule, choices.LR_SCHEDULES, DEFAULTS["lr_schedule"]),
        sampling=_choice("sampling", req.sampling, choices.SAMPLINGS, DEFAULTS["sampling"]),
        seed=req.seed if req.HasField("seed") else secrets.randbits(63),
        learning_rate=_learning_rate(req),
    )
    try:
        config = TrainConfig(**kwargs).resolved()
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(f"invalid training config: {exc}") from None
    return JobSpec(config=config, dataset=dataset, name=req.name)


def _network_options(req: pb.TrainRequest, settings: Settings, info: DatasetEntry) -> dict:
    """The network's shape and regularisation from a request, within the server's limits."""
    if req.HasField("hidden_size") and req.hidden_sizes:
        raise InvalidArgument("set hidden_size (one hidden layer) or hidden_sizes (any number), not both")
    sizes = list(req.hidden_sizes) or [_int(req, "hidden_size", 1, settings.max_hidden_size,
                                            min(DEFAULTS["hidden_sizes"][0], settings.max_hidden_size))]
    for i, size in enumerate(sizes):
        if not 1 <= size <= settings.max_hidden_size:
            raise InvalidArgument(f"hidden_sizes[{i}] must be in [1, {settings.max_hidden_size}]; got {size}")
    options = dict(
        hidden_sizes=tuple(sizes),
        activation=_choice("activation", req.activation, choices.ACTIVATIONS, DEFAULTS["activation"]),
        batch_norm=req.batch_norm if req.HasField("batch_norm") else DEFAULTS["batch_norm"],
        dropout=_real(req, "dropout", DEFAULTS["dropout"]),
        weight_decay=_real(req, "weight_decay", DEFAULTS["weight_decay"]),
    )
    count = parameter_count(info.input_size, sizes, info.classes, options["batch_norm"])
    if count > settings.max_parameters:
        raise InvalidArgument(f"the network {info.input_size}-{'-'.join(map(str, sizes))}-{info.classes} has "
                              f"{count:,} parameters; this server allows at most {settings.max_parameters:,} "
                              "(NNSVC_MAX_PARAMETERS): use fewer or smaller hidden layers")
    return options


def _real(req: pb.TrainRequest, field: str, default: float) -> float:
    """An optional finite double field: unset -> default (its range is TrainConfig's to check)."""
    if not req.HasField(field):
        return default
    value = getattr(req, field)
    if not math.isfinite(value):
        raise InvalidArgument(f"{field} must be a finite number; got {value}")
    return float(value)


def _learning_rate(req: pb.TrainRequest) -> float | None:
    """The learning rate if set: finite and in (0, MAX_LEARNING_RATE]."""
    if not req.HasField("learning_rate"):
        return None
    lr = req.learning_rate
    if not (math.isfinite(lr) and 0.0 < lr <= MAX_LEARNING_RATE):
        raise InvalidArgument(f"learning_rate must be finite and in (0, {MAX_LEARNING_RATE:g}]; got {lr}")
    return float(lr)


def config_to_proto(config: dict) -> pb.TrainingConfig:
    """A stored config dict -> TrainingConfig (eval_size 0 means all images)."""
    if not config:  # a job rebuilt from a checkpoint that did not record it (server/rebuild.py)
        return pb.TrainingConfig()
    sizes = config.get("hidden_sizes") or [config["hidden_size"]]  # old records: hidden_size only
    return pb.TrainingConfig(
        hidden_size=sizes[0], hidden_sizes=sizes, batch_norm=config.get("batch_norm", False),
        dropout=config.get("dropout", 0.0), weight_decay=config.get("weight_decay", 0.0),
        activation=config["activation"],
        weight_init=config["weight_init"], optimizer=config["optimizer"],
        learning_rate=config["learning_rate"] or 0.0, batch_size=config["batch_size"],
        epochs=config["epochs"], seed=config["seed"], dataset=config.get("dataset", DEFAULT_DATASET),
        train_size=config.get("train_size") or 0, eval_size=config.get("eval_size") or 0,
        lr_schedule=config["lr_schedule"], sampling=config["sampling"])


def epoch_to_proto(record: dict) -> pb.EpochMetrics:
    """One epoch record dict -> EpochMetrics."""
    return pb.EpochMetrics(epoch=record["epoch"], loss=record["loss"],
                           train_accuracy=record["train_accuracy"],
                           test_accuracy=record["test_accuracy"], seconds=record["seconds"])


def _timestamp(message, seconds: float | None) -> None:
    """Fill a Timestamp sub-message from Unix seconds, leaving it unset for None."""
    if seconds is not None:
        whole = math.floor(seconds)
        nanos = min(round((seconds - whole) * 1e9), 999_999_999)  # split first: no float rounding of 1e18
        message.seconds, message.nanos = whole, nanos


def job_to_status(job: JobRecord) -> pb.JobStatus:
    """A job record -> JobStatus."""
    status = pb.JobStatus(
        job_id=job.job_id, name=job.name, state=pb.JobState.Value("JOB_STATE_" + job.state),
        progress=job.progress, epoch=job.epoch, total_epochs=job.total_epochs,
        iteration=job.iteration, total_iterations=job.total_iterations,
        loss=job.loss if math.isfinite(job.loss) else 0.0,
        history=[epoch_to_proto(r) for r in job.history],
        eta_seconds=0.0 if job.finished else job.eta_seconds, error=job.error,
        model_id=job.model_id, config=config_to_proto(job.config), note=job.note)
    _timestamp(status.create_time, job.created)
    _timestamp(status.start_time, job.started)
    _timestamp(status.end_time, job.ended)
    return status


def _old_parameter_count(arch: dict) -> int:
    """The parameter count of a model saved before model.json recorded it (one hidden layer)."""
    return parameter_count(arch["input_size"], [arch["hidden_size"]], arch["output_size"])


def model_to_info(meta: dict) -> pb.ModelInfo:
    """A model.json dict -> ModelInfo."""
    arch = meta["architecture"]
    dataset, input_shape, class_names = model_dataset(meta)
    info = pb.ModelInfo(
        model_id=meta["model_id"], job_id=meta["job_id"], name=meta.get("name", ""),
        architecture=pb.Architecture(
            input_size=arch["input_size"], hidden_size=arch["hidden_size"],
            output_size=arch["output_size"], activation=arch["activation"], dtype=arch["dtype"],
            hidden_sizes=arch.get("hidden_sizes") or [arch["hidden_size"]],
            batch_norm=arch.get("batch_norm", False), dropout=arch.get("dropout", 0.0),
            parameter_count=arch.get("parameter_count") or _old_parameter_count(arch),
            input_shape=input_shape),
        config=config_to_proto(meta["config"]), sha256=meta["sha256"], size_bytes=meta["size_bytes"],
        dataset=dataset, class_names=class_names, input_dtype=model_input_dtype(meta))
    if meta.get("final_metrics"):
        info.final_metrics.CopyFrom(epoch_to_proto(meta["final_metrics"]))
    _timestamp(info.create_time, meta["created"])
    return info
