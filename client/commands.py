"""The nnctl sub-commands: each takes (client, args, out) and returns an exit status."""
from __future__ import annotations

import argparse
import functools
import json
import math
from pathlib import Path
from typing import Callable, Optional, TextIO

import numpy as np

from . import format as fmt
from .datasets import dataset_detail, dataset_table
from .images import load_images
from .mnist import load_test_image, resolve_dir
from .progress import JobProgressBar
from .sdk import NNClient
from .plot import plot_curves
from .types import JobStatus, Prediction, to_jsonable


EXIT_OK, EXIT_ERROR = 0, 1
#: Flags of `nnctl train` that map one-to-one onto TrainRequest fields.
TRAIN_FLAGS = ("hidden_size", "epochs", "optimizer", "activation", "weight_init", "learning_rate",
               "batch_size", "seed", "train_size", "eval_size", "lr_schedule", "sampling",
               "dataset", "name", "hidden_sizes", "batch_norm", "dropout", "weight_decay")


def emit(args: argparse.Namespace, out: TextIO, data, human: str) -> None:
    """Write `data` as JSON with --json, else the human rendering."""
    if args.json:
        out.write(json.dumps(to_jsonable(data), indent=2) + "\n")
    else:
        out.write(human + "\n")


def _job_exit(status: JobStatus, err: TextIO) -> int:
    """0 for a job that succeeded; otherwise say why on stderr and return 1."""
    if status.state == "SUCCEEDED":
        return EXIT_OK
    reason = f": {status.error}" if status.error else ""
    err.write(f"nnctl: job {status.job_id} ended {status.state}{reason}\n")
    return EXIT_ERROR


def cmd_train(client: NNClient, args, out: TextIO, err: TextIO) -> int:
    """Queue a job; with --wait, follow it to the end."""
    job_id, status = client.train(**{k: getattr(args, k) for k in TRAIN_FLAGS})
    if not args.wait:
        emit(args, out, status, f"queued job {job_id}\n{fmt.job_detail(status)}")
        return EXIT_OK
    err.write(f"queued job {job_id}\n")
    final = client.wait(job_id, progress=not args.no_progress, file=err)
    emit(args, out, final, fmt.job_detail(final))
    return _job_exit(final, err)


def cmd_status(client: NNClient, args, out: TextIO, err: TextIO) -> int:
    """Print one job's status."""
    status = client.status(args.job)
    emit(args, out, status, fmt.job_detail(status))
    return EXIT_OK


def cmd_watch(client: NNClient, args, out: TextIO, err: TextIO) -> int:
    """Follow a job: a progress bar (or one JSON line per update with --json) until it ends."""
    last: Optional[JobStatus] = None
    with JobProgressBar(args.job, enabled=not args.no_progress and not args.json, file=err) as bar:
        for last in client.watch(args.job, reconnect=args.reconnect):
            bar.update(last)
            if args.json:
                out.write(json.dumps(to_jsonable(last)) + "\n")
                out.flush()
    if last is None or not last.done:
        last = client.status(args.job)
        if args.json:
            out.write(json.dumps(to_jsonable(last)) + "\n")
    if not args.json:
        out.write(fmt.job_detail(last) + "\n")
    return _job_exit(last, err) if last.done else EXIT_ERROR


def cmd_cancel(client: NNClient, args, out: TextIO, err: TextIO) -> int:
    """Ask a job to stop and print its status."""
    status = client.cancel(args.job)
    emit(args, out, status, fmt.job_detail(status))
    return EXIT_OK


def cmd_jobs(client: NNClient, args, out: TextIO, err: TextIO) -> int:
    """List jobs, newest first."""
    jobs = client.list_jobs(state=args.state, limit=args.limit)
    emit(args, out, jobs, fmt.job_table(jobs))
    return EXIT_OK


def cmd_models(client: NNClient, args, out: TextIO, err: TextIO) -> int:
    """List models, newest first."""
    models = client.list_models(limit=args.limit)
    emit(args, out, models, fmt.model_table(models))
    return EXIT_OK


def cmd_model(client: NNClient, args, out: TextIO, err: TextIO) -> int:
    """Print one model."""
    model = client.get_model(args.model)
    emit(args, out, model, fmt.model_detail(model))
    return EXIT_OK


def _inputs(args, model_shape: Callable[[], tuple[int, ...]]) -> list[tuple[list[str], np.ndarray, list[Optional[int]]]]:
    """(names, images, labels) per request: one per FILE, one for all --mnist-test images.

    `model_shape()` asks the server, so only once a file has been read (local errors come first)."""
    if not args.files and not args.mnist_test:
        raise ValueError("predict needs at least one FILE or --mnist-test I")
    groups = []
    for path in args.files:
        path = Path(path)
        if path.suffix.lower() == ".npy":
            images = load_images(path)
            input_shape = model_shape()
        else:
            input_shape = model_shape()
            images = load_images(path, input_shape)
        single = images.ndim < 2 or images.shape in (input_shape, (math.prod(input_shape),))
        count = 1 if single else images.shape[0]
        names = [str(path)] if count == 1 else [f"{path}[{i}]" for i in range(count)]
        groups.append((names, images, [None] * count))
    if args.mnist_test:
        directory = resolve_dir(args.mnist_dir)
        pairs = [load_test_image(directory, i) for i in args.mnist_test]
        groups.append(([f"mnist-test[{i}]" for i in args.mnist_test],
                       np.stack([image for image, _ in pairs]), [label for _, label in pairs]))
    return groups


def cmd_predict(client: NNClient, args, out: TextIO, err: TextIO) -> int:
    """Classify images: PNG/JPEG/.npy files and/or MNIST test images, with class names if the
    model has them. Each file is its own request, so the server judges each file's shape.
    """
    @functools.cache
    def model_shape() -> tuple[int, ...]:
        """One input's shape, from GetModel (asked at most once)."""
        arch = client.get_model(args.model).architecture
        if arch.input_shape:
            return tuple(arch.input_shape)
        side = math.isqrt(arch.input_size)  # a server too old to say: square images if they can be
        return (side, side) if side * side == arch.input_size else (arch.input_size,)

    names, labels, classes, probabilities, class_names = [], [], [], [], []
    for group_names, images, group_labels in _inputs(args, model_shape):
        prediction = client.predict(args.model, images)
        names += group_names
        labels += group_labels
        classes.append(prediction.classes)
        probabilities.append(prediction.probabilities)
        class_names += prediction.class_names
    merged = Prediction(args.model, np.concatenate(classes), np.concatenate(probabilities), tuple(class_names))
    records = [{"input": n, "class": int(c), "probabilities": p, "label": lab}
               for n, c, p, lab in zip(names, merged.classes, merged.probabilities, labels)]
    for record, name in zip(records, merged.class_names):
        record["class_name"] = name
    emit(args, out, records, fmt.prediction_table(names, merged, labels))
    return EXIT_OK


def cmd_health(client: NNClient, args, out: TextIO, err: TextIO) -> int:
    """Print the server's health; non-zero unless SERVING."""
    health = client.health(args.service)
    emit(args, out, health, health.status)
    return EXIT_OK if health.serving else EXIT_ERROR


def cmd_plot(client: NNClient, args, out: TextIO, err: TextIO) -> int:
    """Draw a job's loss and accuracy curves into a PNG."""
    status = client.status(args.job)
    path = plot_curves(status, Path(args.output))
    emit(args, out, {"output": str(path), "epochs": len(status.history)},
         f"wrote {path} ({len(status.history)} epochs)")
    return EXIT_OK


def cmd_datasets_upload(client: NNClient, args, out: TextIO, err: TextIO) -> int:
    """Upload a dataset file with a progress bar."""
    names = [n.strip() for n in args.class_names.split(",")] if args.class_names else ()
    info = client.upload_dataset(Path(args.file), args.name, format=args.format,
                                 test_fraction=args.test_fraction, seed=args.seed, class_names=names,
                                 progress=not args.no_progress and not args.json, file=err)
    emit(args, out, info, dataset_detail(info))
    return EXIT_OK


def cmd_datasets_ls(client: NNClient, args, out: TextIO, err: TextIO) -> int:
    """List the datasets."""
    datasets = client.list_datasets()
    emit(args, out, datasets, dataset_table(datasets))
    return EXIT_OK


def cmd_datasets_show(client: NNClient, args, out: TextIO, err: TextIO) -> int:
    """Print one dataset."""
    info = client.get_dataset(args.name)
    emit(args, out, info, dataset_detail(info))
    return EXIT_OK


def cmd_datasets_rm(client: NNClient, args, out: TextIO, err: TextIO) -> int:
    """Delete an uploaded dataset."""
    info = client.delete_dataset(args.name)
    emit(args, out, info, f"deleted dataset {info.name}")
    return EXIT_OK
