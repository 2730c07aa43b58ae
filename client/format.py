"""Human-readable tables for nnctl's default (non --json) output."""
from __future__ import annotations

import datetime as dt
from typing import Iterable, Optional, Sequence

from .types import JobStatus, ModelInfo, Prediction


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Left-aligned columns separated by two spaces, with a header row."""
    cells = [[str(c) for c in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


def keyvalues(pairs: Iterable[tuple[str, object]]) -> str:
    """`key: value` lines with the values aligned; empty values are left out."""
    shown = [(k, v) for k, v in pairs if v not in (None, "")]
    width = max((len(k) for k, _ in shown), default=0)
    return "\n".join(f"{k + ':':<{width + 1}} {v}" for k, v in shown)


def when(value: Optional[dt.datetime]) -> str:
    """A timestamp in local time to the second, or "" when unset."""
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else ""


def percent(value: Optional[float]) -> str:
    """An accuracy in 0..1 as a percentage with two decimals."""
    return "" if value is None else f"{100 * value:.2f}%"


def size(num_bytes: int) -> str:
    """A byte count in B / KiB / MiB."""
    for unit in ("B", "KiB", "MiB"):
        if num_bytes < 1024 or unit == "MiB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024
    return ""  # unreachable


def job_table(jobs: Sequence[JobStatus]) -> str:
    """One row per job."""
    headers = ("JOB ID", "NAME", "STATE", "EPOCH", "LOSS", "TEST ACC", "MODEL", "CREATED")
    rows = [
        (j.job_id, j.name, j.state, f"{j.epoch}/{j.total_epochs}", f"{j.loss:.4f}" if j.loss else "",
         percent(j.last_metrics.test_accuracy) if j.last_metrics else "", j.model_id, when(j.create_time))
        for j in jobs
    ]
    return table(headers, rows) if rows else "no jobs"


def job_detail(job: JobStatus) -> str:
    """Everything about one job, then its per-epoch history."""
    config = job.config
    head = keyvalues([
        ("job", job.job_id), ("name", job.name), ("state", job.state),
        ("progress", f"{100 * job.progress:.1f}%  epoch {job.epoch}/{job.total_epochs}, "
                     f"step {job.iteration}/{job.total_iterations}"),
        ("loss", f"{job.loss:.4f}" if job.loss else ""),
        ("eta", f"{job.eta_seconds:.0f}s" if job.eta_seconds > 0 else ""),
        ("model", job.model_id), ("error", job.error), ("note", job.note),
        ("created", when(job.create_time)), ("started", when(job.start_time)), ("ended", when(job.end_time)),
        ("config", _config_line(config) if config else ""),
    ])
    if not job.history:
        return head
    history = table(("EPOCH", "LOSS", "TRAIN ACC", "TEST ACC", "SECONDS"), [
        (m.epoch, f"{m.loss:.4f}", percent(m.train_accuracy), percent(m.test_accuracy), f"{m.seconds:.2f}")
        for m in job.history
    ])
    return f"{head}\n\n{history}"


def _config_line(config) -> str:
    """The hyper-parameters on one line."""
    hidden = ",".join(str(n) for n in config.hidden_sizes or (config.hidden_size,))
    extras = "".join([" batch-norm" if config.batch_norm else "",
                      f" dropout={config.dropout:g}" if config.dropout else "",
                      f" weight-decay={config.weight_decay:g}" if config.weight_decay else ""])
    return (f"hidden={hidden}{extras} {config.activation}/{config.weight_init} "
            f"{config.optimizer} lr={config.learning_rate:g} ({config.lr_schedule}) "
            f"batch={config.batch_size} epochs={config.epochs} seed={config.seed} "
            f"{config.dataset} train={config.train_size} eval={config.eval_size or 'all'} {config.sampling}")


def _architecture_line(arch) -> str:
    """The layers and what each hidden layer does: "784-512-256-10 relu, batch norm, dropout 0.2 float32"."""
    extras = "".join([", batch norm" if arch.batch_norm else "", f", dropout {arch.dropout:g}" if arch.dropout else ""])
    return f"{arch.layers} {arch.activation}{extras} {arch.dtype}"


def model_table(models: Sequence[ModelInfo]) -> str:
    """One row per model."""
    headers = ("MODEL ID", "NAME", "HIDDEN", "ACTIVATION", "TEST ACC", "SIZE", "CREATED")
    rows = [
        (m.model_id, m.name, ",".join(map(str, m.architecture.hidden_sizes)) if m.architecture else "",
         m.architecture.activation if m.architecture else "",
         percent(m.final_metrics.test_accuracy) if m.final_metrics else "", size(m.size_bytes),
         when(m.create_time))
        for m in models
    ]
    return table(headers, rows) if rows else "no models"


#: What a model's input_dtype means for the inputs Predict takes.
INPUT_KINDS = {"uint8": "uint8 pixels 0..255 (or floats scaled to [0, 1])",
               "float32": "float32 features, as in its dataset"}


def model_detail(model: ModelInfo) -> str:
    """Everything about one model."""
    arch, metrics = model.architecture, model.final_metrics
    return keyvalues([
        ("model", model.model_id), ("job", model.job_id), ("name", model.name),
        ("architecture", _architecture_line(arch) if arch else ""),
        ("parameters", f"{arch.parameter_count:,}" if arch and arch.parameter_count else ""),
        ("dataset", model.dataset), ("input shape", "x".join(map(str, arch.input_shape)) if arch else ""),
        ("input", INPUT_KINDS.get(model.input_dtype, "")),
        ("classes", ", ".join(model.class_names)),
        ("test accuracy", percent(metrics.test_accuracy) if metrics else ""),
        ("train accuracy", percent(metrics.train_accuracy) if metrics else ""),
        ("final loss", f"{metrics.loss:.4f}" if metrics else ""),
        ("config", _config_line(model.config) if model.config else ""),
        ("created", when(model.create_time)), ("size", size(model.size_bytes)), ("sha256", model.sha256),
    ])


def prediction_table(names: Sequence[str], prediction: Prediction,
                     labels: Sequence[Optional[int]]) -> str:
    """One row per input: predicted class (and its name, when the model's names say more than
    the number), its probability, the runner-up, the true label if known."""
    rows = []
    for i, name in enumerate(names):
        probs = prediction.probabilities[i]
        cls = int(prediction.classes[i])
        second = int(probs.argsort()[-2]) if probs.size > 1 else None
        rows.append((name, cls, _class_name(prediction, i), f"{probs[cls]:.3f}",
                     "" if second is None else f"{second} ({probs[second]:.3f})",
                     "" if labels[i] is None else labels[i]))
    headers = ["INPUT", "CLASS", "NAME", "PROB", "RUNNER-UP", "LABEL"]
    keep = [True, True, any(row[2] for row in rows), True, True, any(label is not None for label in labels)]
    return table([h for h, k in zip(headers, keep) if k], [[v for v, k in zip(row, keep) if k] for row in rows])


def _class_name(prediction: Prediction, row: int) -> str:
    """The row's class name, or "" when there is none or it is just the class number."""
    if row >= len(prediction.class_names):
        return ""
    name = prediction.class_names[row]
    return "" if name == str(int(prediction.classes[row])) else name
