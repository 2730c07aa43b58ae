"""train(): mini-batch training of a network of any depth with progress, cancellation and resume."""

from __future__ import annotations

import logging
import math
import time
from typing import Callable

import numpy as np

from ._step import TrainStep
from .config import TrainConfig
from .multilayer import MultiLayerNet
from .network import TwoLayerNet
from .optimizers import Optimizer, make_optimizer
from .records import EpochRecord, History, Progress, TrainState

__all__ = ["TrainConfig", "TrainState", "History", "EpochRecord", "Progress", "train", "build_network",
           "batch_order", "learning_rate"]

log = logging.getLogger(__name__)

#: Rows evaluated at once, which bounds the memory of evaluation.
EVAL_CHUNK = 10_000


def _seeds(seed: int) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """Return independent seed sequences for (network init, mini-batch sampling)."""
    net_seq, sampling_seq = np.random.SeedSequence(seed).spawn(2)
    return net_seq, sampling_seq


def build_network(config: TrainConfig, input_size: int, output_size: int) -> MultiLayerNet:
    """Return the network config describes, seeded from it: the text's TwoLayerNet for one plain
    hidden layer, else a MultiLayerNet (the same initial weights for the same sizes)."""
    cfg = config.resolved()
    seed = _seeds(cfg.seed)[0]
    if len(cfg.hidden_sizes) == 1 and not (cfg.batch_norm or cfg.dropout or cfg.weight_decay):
        return TwoLayerNet(input_size, cfg.hidden_sizes[0], output_size, cfg.weight_init_std,
                           activation=cfg.activation, weight_init=cfg.weight_init, dtype=cfg.dtype, seed=seed)
    init = cfg.weight_init if cfg.weight_init != "std" else cfg.weight_init_std
    return MultiLayerNet(input_size, cfg.hidden_sizes, output_size, cfg.activation, init,
                         weight_decay_lambda=cfg.weight_decay, use_dropout=cfg.dropout > 0,
                         dropout_ratio=cfg.dropout, use_batchnorm=cfg.batch_norm, dtype=cfg.dtype, seed=seed)


def _as_rows(x: np.ndarray, name: str) -> np.ndarray:
    """Return x viewed as (N, D), checking its dtype is uint8 or floating."""
    x = np.asarray(x)
    if x.ndim < 1 or not (x.dtype == np.uint8 or np.issubdtype(x.dtype, np.floating)):
        raise ValueError(f"{name} must be a uint8 or float array of shape (N, ...); got {x.dtype} {x.shape}")
    return x.reshape(x.shape[0], -1)


def _check_pair(x: np.ndarray, t: np.ndarray, name: str) -> np.ndarray:
    """Return t as an array after checking it has one target per row of x."""
    t = np.asarray(t)
    if t.ndim not in (1, 2) or t.shape[0] != x.shape[0] or x.shape[0] == 0:
        raise ValueError(f"{name}: need N >= 1 rows and as many targets; got x {x.shape}, t {t.shape}")
    return t


def _check_targets(t: np.ndarray, classes: int, name: str) -> None:
    """Raise ValueError unless t is integer labels in [0, classes) or one-hot with `classes` columns."""
    if t.ndim == 2:
        if t.shape[1] != classes:
            raise ValueError(f"{name}: one-hot targets must have {classes} columns; got {t.shape[1]}")
    elif not np.issubdtype(t.dtype, np.integer) or t.min() < 0 or t.max() >= classes:
        raise ValueError(f"{name}: labels must be integers in [0, {classes - 1}]; got {t.dtype} "
                         f"in [{t.min()}, {t.max()}]")


def _to_float(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Return x in dtype; uint8 pixels are divided by 255 (same rounding as load_mnist)."""
    if x.dtype == np.uint8:
        out = x.astype(dtype)
        out /= dtype.type(255)
        return out
    return x.astype(dtype, copy=False)


def _labels(t: np.ndarray) -> np.ndarray:
    """Return integer labels from labels or one-hot targets."""
    return np.argmax(t, axis=1) if t.ndim == 2 else t


def _accuracy(net: MultiLayerNet, x: np.ndarray, t: np.ndarray, size: int | None) -> float:
    """Return the accuracy on the first `size` rows, evaluated in chunks via net.infer."""
    n = x.shape[0] if size is None else min(size, x.shape[0])
    correct = 0
    for start in range(0, n, EVAL_CHUNK):
        stop = min(start + EVAL_CHUNK, n)
        scores = net.infer(_to_float(x[start:stop], net.dtype))
        correct += int(np.count_nonzero(np.argmax(scores, axis=1) == _labels(t[start:stop])))
    return correct / n


def _epoch_batches(rng: np.random.Generator, sampling: str, n: int, batch_size: int, steps: int):
    """Yield the row indices of each of `steps` mini-batches of one epoch, drawn from rng."""
    if sampling == "shuffle":
        perm = rng.permutation(n)
        for i in range(steps):
            yield perm[i * batch_size : (i + 1) * batch_size]
    else:
        # One draw per epoch gives the very numbers of the text's choice(n, bs) at every step,
        # without its per-call overhead.
        yield from rng.integers(0, n, (steps, batch_size))


def batch_order(config: TrainConfig, n_train: int) -> np.ndarray:
    """Return the (iterations, batch_size) training-row indices train(config, ...) will use.

    For reproducing a run outside nncore (the PyTorch comparison in bench/): same config and
    number of training rows (after train_size) -> the same mini-batches in the same order.
    """
    config.validate()
    cfg = config.resolved()
    n = min(n_train, cfg.train_size) if cfg.train_size is not None else n_train
    bs = min(cfg.batch_size, n)
    ipe = max(n // bs, 1)
    total = cfg.iterations if cfg.iterations is not None else cfg.epochs * ipe
    rng = np.random.default_rng(_seeds(cfg.seed)[1])
    out = np.empty((total, bs), dtype=np.int64)
    for epoch in range(math.ceil(total / ipe)):
        steps = min(ipe, total - epoch * ipe)
        for i, idx in enumerate(_epoch_batches(rng, cfg.sampling, n, bs, steps)):
            out[epoch * ipe + i] = idx
    return out


def learning_rate(config: TrainConfig, iteration: int, total: int) -> float:
    """Return the learning rate train() uses for the step after `iteration` of `total` steps."""
    if config.lr_schedule == "cosine":
        return config.learning_rate * 0.5 * (1.0 + math.cos(math.pi * iteration / total))
    return config.learning_rate


def _restore(state: TrainState, net: MultiLayerNet, optimizer: Optimizer, rng: np.random.Generator,
             ipe: int, total: int) -> History:
    """Load params, optimizer and RNG state from `state` and return its history."""
    if state.iteration != min(state.epoch * ipe, total):
        raise ValueError(f"resume state must come from on_epoch_end of the same config and data; got {state!r}")
    for group, arrays, stored in (("params", net.params, state.params), ("buffers", net.buffers, state.buffers)):
        for key, arr in arrays.items():
            src = stored.get(key)
            if src is None or src.shape != arr.shape:
                raise ValueError(f"resume {group} {key} must have shape {arr.shape}; "
                                 f"got {None if src is None else src.shape}")
            np.copyto(arr, src)
    optimizer.load_state_dict(state.optimizer_state)
    rng.bit_generator.state = state.rng_state
    if state.net_rng_state is not None:  # dropout's masks continue where they were
        net.rng.bit_generator.state = state.net_rng_state
    return History.from_dict(state.history, net)


class _Run:
    """One training run: checked data, network, optimizer, sampling RNG and step schedule."""

    def __init__(self, cfg: TrainConfig, data: tuple, net: MultiLayerNet | None) -> None:
        x_train, t_train, x_test, t_test = data
        x_train, x_test = _as_rows(x_train, "x_train"), _as_rows(x_test, "x_test")
        t_train, t_test = _check_pair(x_train, t_train, "train"), _check_pair(x_test, t_test, "test")
        if cfg.train_size is not None:
            x_train, t_train = x_train[: cfg.train_size], t_train[: cfg.train_size]
        if net is None:
            classes = t_train.shape[1] if t_train.ndim == 2 else int(max(t_train.max(), t_test.max())) + 1
            net = build_network(cfg, x_train.shape[1], classes)
        elif net.input_size != x_train.shape[1]:
            raise ValueError(f"net expects {net.input_size} input features; data has {x_train.shape[1]}")
        _check_targets(t_train, net.output_size, "t_train")
        _check_targets(t_test, net.output_size, "t_test")
        self.cfg, self.net = cfg, net
        self.x_train, self.t_train, self.x_test, self.t_test = x_train, t_train, x_test, t_test
        self.n = x_train.shape[0]
        self.batch_size = min(cfg.batch_size, self.n)
        self.ipe = max(self.n // self.batch_size, 1)  # iterations per epoch, as in the text
        self.total = cfg.iterations if cfg.iterations is not None else cfg.epochs * self.ipe
        self.total_epochs = math.ceil(self.total / self.ipe)
        self.optimizer = make_optimizer(cfg.optimizer, cfg.learning_rate)
        self.rng = np.random.default_rng(_seeds(cfg.seed)[1])
        # Integer labels take the buffered fast path; one-hot targets the text's layer_gradient.
        self.step = TrainStep(net) if t_train.ndim == 1 else None

    def _gradient(self, idx: np.ndarray) -> tuple[dict[str, np.ndarray], float]:
        """Return (grads, loss) for the training rows idx."""
        if self.step is not None:
            loss = self.step(self.step.load(self.x_train, idx), self.t_train[idx])
            return self.step.grads, loss
        net = self.net
        grads = net.layer_gradient(_to_float(self.x_train[idx], net.dtype), self.t_train[idx])
        return grads, net.lastLayer.loss

    def run_epoch(self, epoch: int, history: History, on_progress, should_stop) -> EpochRecord | None:
        """Train one epoch and evaluate; return its record, or None if should_stop() said so."""
        steps = min(self.ipe, self.total - epoch * self.ipe)
        batches = _epoch_batches(self.rng, self.cfg.sampling, self.n, self.batch_size, steps)
        iteration, loss_sum = epoch * self.ipe, 0.0
        net, optimizer = self.net, self.optimizer
        started = time.perf_counter()
        for i, idx in enumerate(batches):
            if should_stop is not None and should_stop():
                log.info("training stopped at iteration %d of %d", iteration, self.total)
                return None
            grads, loss = self._gradient(idx)
            optimizer.lr = learning_rate(self.cfg, iteration, self.total)
            optimizer.update(net.params, grads)
            iteration += 1
            loss_sum += loss
            history.train_loss_list.append(loss)
            if on_progress is not None and i < steps - 1:  # the epoch's last call carries its record
                on_progress(Progress(epoch, self.total_epochs, iteration, self.total, loss))
        seconds = time.perf_counter() - started
        return EpochRecord(
            epoch=epoch + 1,
            loss=loss_sum / steps,
            train_accuracy=_accuracy(net, self.x_train, self.t_train, self.cfg.eval_size),
            test_accuracy=_accuracy(net, self.x_test, self.t_test, self.cfg.eval_size),
            seconds=seconds,
        )

    def snapshot(self, epoch: int, history: History) -> TrainState:
        """Return a TrainState holding copies of everything needed to continue after `epoch`."""
        return TrainState(
            epoch=epoch,
            iteration=min(epoch * self.ipe, self.total),
            params={k: v.copy() for k, v in self.net.params.items()},
            optimizer_state=self.optimizer.state_dict(),
            rng_state=self.rng.bit_generator.state,
            history=history.to_dict(),
            buffers={k: v.copy() for k, v in self.net.buffers.items()},
            net_rng_state=self.net.rng.bit_generator.state,
        )


def train(
    config: TrainConfig,
    x_train: np.ndarray,
    t_train: np.ndarray,
    x_test: np.ndarray,
    t_test: np.ndarray,
    *,
    net: MultiLayerNet | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_epoch_end: Callable[[TrainState], None] | None = None,
    resume: TrainState | None = None,
) -> History:
    """Train on mini-batches as configured and return the History (net included)."""
    config.validate()
    run = _Run(config.resolved(), (x_train, t_train, x_test, t_test), net)
    if resume is not None:
        history = _restore(resume, run.net, run.optimizer, run.rng, run.ipe, run.total)
    else:
        history = History(net=run.net)
    history.stopped = False
    log.debug("training %r for %d iterations (%d per epoch), %s", run.net, run.total, run.ipe, run.cfg)
    for epoch in range(resume.epoch if resume is not None else 0, run.total_epochs):
        record = run.run_epoch(epoch, history, on_progress, should_stop)
        if record is None:
            history.stopped = True
            break
        history.add_epoch(record)
        log.info("epoch %d/%d: loss %.4f, train acc %.4f, test acc %.4f, %.2fs", record.epoch,
                 run.total_epochs, record.loss, record.train_accuracy, record.test_accuracy, record.seconds)
        if on_progress is not None:
            iteration = min((epoch + 1) * run.ipe, run.total)
            on_progress(Progress(epoch + 1, run.total_epochs, iteration, run.total,
                                 history.train_loss_list[-1], record))
        if on_epoch_end is not None:
            on_epoch_end(run.snapshot(epoch + 1, history))
    return history
