"""Runs for bench/train_mnist.py: one training in nncore or in PyTorch, and their results."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from _timing import median_time
from nncore import TwoLayerNet
from nncore._step import TrainStep  # internal on purpose: the benchmark times the step train() runs
from nncore.training import TrainConfig, batch_order, build_network, learning_rate, train

TORCH_REF = Path(__file__).with_name("_torch_ref.py")


@dataclass
class Epoch:
    """One epoch of one run: training seconds (evaluation excluded), samples, loss, test accuracy."""

    epoch: int
    seconds: float
    samples: int
    loss: float
    test_accuracy: float

    @property
    def samples_per_s(self) -> float:
        """Training throughput of this epoch."""
        return self.samples / self.seconds


@dataclass
class Run:
    """The epochs of one training run by one implementation ("numpy" or "torch")."""

    impl: str
    setup: str
    seed: int
    epochs: list[Epoch] = field(default_factory=list)

    @property
    def samples_per_s(self) -> float:
        """Median of the per-epoch throughputs (robust to a noisy neighbour on a shared machine)."""
        return statistics.median(e.samples_per_s for e in self.epochs)

    @property
    def best_samples_per_s(self) -> float:
        """Throughput of the fastest epoch (the least disturbed by other load on the machine)."""
        return max(e.samples_per_s for e in self.epochs)

    @property
    def test_accuracy(self) -> float:
        """Test accuracy after the last epoch."""
        return self.epochs[-1].test_accuracy

    def time_to(self, target: float) -> float | None:
        """Training seconds until the first epoch whose test accuracy is >= target, or None."""
        elapsed = 0.0
        for e in self.epochs:
            elapsed += e.seconds
            if e.test_accuracy >= target:
                return elapsed
        return None

    def to_dict(self) -> dict:
        """Return the run as JSON-able data."""
        return {"impl": self.impl, "setup": self.setup, "seed": self.seed,
                "samples_per_s": self.samples_per_s, "best_samples_per_s": self.best_samples_per_s, "epochs": [e.__dict__ for e in self.epochs]}


def run_numpy(config: TrainConfig, data: tuple, setup: str, on_epoch: Callable[[Epoch], None]) -> Run:
    """Train with nncore.train on data (x_train, t_train, x_test, t_test); call on_epoch per epoch."""
    run = Run("numpy", setup, config.seed)
    done = 0  # iterations completed before the current epoch

    def record(state) -> None:
        nonlocal done
        r = state.history["epochs"][-1]
        samples = (state.iteration - done) * config.batch_size
        done = state.iteration
        epoch = Epoch(r["epoch"], r["seconds"], samples, r["loss"], r["test_accuracy"])
        run.epochs.append(epoch)
        on_epoch(epoch)

    train(config, *data, on_epoch_end=record)
    return run


def torch_job(config: TrainConfig, n_train: int, threads: int, impl: str, path: Path, *,
              batch: np.ndarray | None = None, **meta_extra) -> None:
    """Write what _torch_ref.py needs to repeat nncore's run of config: weights, batches, rates.

    meta_extra goes into the job's meta (e.g. mode="steps"); batch, if given, is saved too.
    """
    cfg = config.resolved()
    order = batch_order(config, n_train)
    net = build_network(config, 784, 10)
    total = order.shape[0]
    lrs = np.array([learning_rate(cfg, i, total) for i in range(total)])
    ipe = max(min(n_train, cfg.train_size or n_train) // order.shape[1], 1)
    layers = sum(1 for k in net.params if k.startswith("W"))
    meta = {"activation": cfg.activation, "optimizer": cfg.optimizer, "threads": threads,
            "iterations_per_epoch": ipe, "torch_impl": impl, "lockstep": True, "layers": layers,
            "batch_norm": bool(getattr(cfg, "batch_norm", False)), "dropout": float(getattr(cfg, "dropout", 0) or 0),
            **meta_extra}
    arrays = {} if batch is None else {"batch": batch}
    np.savez(path, order=order, lrs=lrs, meta=np.array(json.dumps(meta)), **arrays, **net.params)


class TorchSession:
    """A _torch_ref.py process in lockstep mode: each epoch() call trains and returns one epoch."""

    def __init__(self, python: str, data_path: Path, job_path: Path, setup: str, seed: int,
                 impl: str = "torch") -> None:
        self.cmd = [python, str(TORCH_REF), str(data_path), str(job_path)]
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=os.environ.copy())
        self.run = Run(impl, setup, seed)
        self.info = self._message()  # the runtime line, printed once data and model are ready

    def _message(self) -> dict:
        """Return the next JSON line from the process, or raise if it ended."""
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{' '.join(self.cmd)} ended early with {self.proc.wait()}")
        return json.loads(line)

    def epoch(self) -> Epoch:
        """Let PyTorch train its next epoch and return it."""
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        msg = self._message()
        epoch = Epoch(msg["epoch"], msg["seconds"], msg["samples"], msg["loss"], msg["test_accuracy"])
        self.run.epochs.append(epoch)
        return epoch

    def close(self) -> None:
        """End the process (closing its stdin stops it) and check it exited cleanly."""
        self.proc.stdin.close()
        self.proc.stdout.read()
        if self.proc.wait() != 0:
            raise RuntimeError(f"{' '.join(self.cmd)} exited with {self.proc.returncode}")


def torch_python(requested: str | None) -> tuple[str | None, str]:
    """Return (interpreter that has torch or None, a sentence saying which and why)."""
    candidates = [requested] if requested else [sys.executable]
    for python in candidates:
        probe = subprocess.run([python, "-c", "import torch, numpy; print(torch.__version__)"],
                               capture_output=True, text=True)
        if probe.returncode == 0:
            return python, f"PyTorch {probe.stdout.strip()} via {python}"
    where = requested or f"{sys.executable} (this interpreter)"
    return None, (f"PyTorch: not available ({where} cannot import torch); pass --torch-python PATH "
                  "or set NNSVC_TORCH_PYTHON to compare; NumPy figures only")


def gradient_times(hidden: int, batch: int, x: np.ndarray, t: np.ndarray, repeats: int) -> dict:
    """Time one numerical-gradient step against backprop (text's path and fast path), same batch."""
    net = TwoLayerNet(784, hidden, 10, 0.01, activation="sigmoid", seed=0)
    xb, tb = x[:batch], t[:batch]
    started = time.perf_counter()
    numeric = net.numerical_gradient(xb, tb)
    numerical = time.perf_counter() - started
    backprop = median_time(lambda: net.gradient(xb, tb), repeats)
    step = TrainStep(net)
    fast = median_time(lambda: step(xb, tb), repeats)
    grads = net.gradient(xb, tb)
    diff = max(float(np.abs(numeric[k] - grads[k]).max()) for k in grads)
    return {"hidden": hidden, "batch": batch, "numerical_s": numerical, "backprop_s": backprop,
            "fast_backprop_s": fast, "max_abs_diff": diff}
