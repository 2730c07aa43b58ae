"""The text's training loop through the public TwoLayerNet.gradient against plain NumPy.

The loop of the text's chapter 5 (train_neuralnet.py): draw a mini-batch, `net.gradient`,
`params[key] -= lr * grad[key]`. Beside it, the same network, batches and update written
as one plain NumPy function (forward, softmax cross-entropy, backward, update), as a learner
would write it without nncore. Alternating blocks of iterations; printed are each loop's median
speed and their ratio, and the median (and quartiles) of the paired ratios, each block against
the other loop's block beside it in time, which cancels the machine's slow drifts (text loop
speed / plain loop speed; the target is >= 1.0).

    .venv/bin/python bench/gradient_loop.py [--mnist-dir DIR] [--blocks 7] [--iters 200]
        [--blas-threads N] [--clock wall|cpu] [--processes 1]

Where the heap puts each loop's arrays moves the ratio by a few per cent from one process to the
next (docs/performance.md, "Gradient loop (session 6)" and "(session 7)"), so `--processes N`
runs the whole comparison in N fresh interpreters, one after the other, and prints each one's
paired median and their median across processes.

On a shared, busy machine, `--blas-threads 1 --clock cpu` times the process's own CPU time:
another process's load then stretches neither loop (with more BLAS threads, idle ones spin and
bill CPU time, so the CPU clock is for one thread only).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from _timing import quartiles
from nncore import TwoLayerNet, load_mnist

SETUPS = (("relu", 50), ("sigmoid", 100))  # chapter 5's net, and chapter 4's sigmoid one
LR, BATCH = 0.1, 100


def text_loop(net: TwoLayerNet, x: np.ndarray, t: np.ndarray, batches: np.ndarray) -> None:
    """The text's loop: gradient() then the SGD update, as written in the book."""
    for mask in batches:
        grad = net.gradient(x[mask], t[mask])
        for key in ("W1", "b1", "W2", "b2"):
            net.params[key] -= LR * grad[key]


def plain_loop(p: dict, relu: bool, x: np.ndarray, t: np.ndarray, batches: np.ndarray) -> None:
    """The same network and update, written directly in NumPy."""
    rows = np.arange(BATCH)
    for mask in batches:
        xb, tb = x[mask], t[mask]
        a = xb @ p["W1"] + p["b1"]
        h = np.maximum(a, 0) if relu else 1 / (1 + np.exp(-a))
        scores = h @ p["W2"] + p["b2"]
        y = np.exp(scores - scores.max(axis=1, keepdims=True))
        y /= y.sum(axis=1, keepdims=True)
        y[rows, tb] -= 1
        dy = y / BATCH
        dh = dy @ p["W2"].T
        dh *= (a > 0) if relu else h * (1 - h)
        grads = {"W2": h.T @ dy, "b2": dy.sum(axis=0), "W1": xb.T @ dh, "b1": dh.sum(axis=0)}
        for key in ("W1", "b1", "W2", "b2"):
            p[key] -= LR * grads[key]


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def measure(activation: str, hidden: int, x, t, blocks: int, iters: int, clock=time.perf_counter) -> tuple[list, list]:
    """Iterations per second of (text loop, plain loop) in each block, alternating blocks."""
    rng = np.random.default_rng(0)
    net = TwoLayerNet(784, hidden, 10, activation=activation, weight_init="he", seed=0)
    plain = {k: v.copy() for k, v in net.params.items()}
    text_rates, plain_rates = [], []
    for block in range(blocks + 1):  # block 0 warms both up and is not counted
        batches = rng.choice(x.shape[0], (iters, BATCH))
        pairs = ((text_rates, lambda: text_loop(net, x, t, batches)),
                 (plain_rates, lambda: plain_loop(plain, activation == "relu", x, t, batches)))
        for rates, run in pairs if block % 2 == 0 else pairs[::-1]:  # alternate which goes first
            start = clock()
            run()
            if block:
                rates.append(iters / (clock() - start))
    return text_rates, plain_rates


def main(argv: list[str] | None = None) -> None:
    """Print both loops' speeds and their ratio for each setup."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist-dir", default=os.environ.get("NNSVC_MNIST_DIR"))
    parser.add_argument("--blocks", type=int, default=7)
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--blas-threads", type=int, help="OpenBLAS threads (default: OpenBLAS's own)")
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                        help="wall time (default) or this process's CPU time (use with --blas-threads 1)")
    parser.add_argument("--processes", type=int, default=1,
                        help="run the comparison in this many fresh processes (heap placements); default 1")
    parser.add_argument("--emit-json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.processes > 1:
        across_processes(args)
        return
    (x, t), _ = load_mnist(data_dir=args.mnist_dir)
    print(f"clock {args.clock}, BLAS threads {args.blas_threads or 'default'}; load average "
          + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    print(f"{'setup':<26}{'text loop (it/s)':>18}{'plain NumPy (it/s)':>20}{'ratio':>8}{'paired (IQR)':>20}")
    figures = {}
    for activation, hidden in SETUPS:
        with threadpool_limits(args.blas_threads, "blas"):
            text, plain = measure(activation, hidden, x, t, args.blocks, args.iters, CLOCKS[args.clock])
        paired = [a / b for a, b in zip(text, plain)]  # each block against its neighbour in time
        low, mid, high = quartiles(paired)
        print(f"{f'784-{hidden}-10 {activation}, batch {BATCH}':<26}{statistics.median(text):>18.0f}"
              f"{statistics.median(plain):>20.0f}{statistics.median(text) / statistics.median(plain):>8.2f}"
              f"{mid:>9.3f} ({low:.2f}-{high:.2f})")
        figures[activation] = mid
    if args.emit_json:
        print(json.dumps(figures))


def across_processes(args: argparse.Namespace) -> None:
    """Run the comparison in args.processes fresh interpreters; print each one's paired medians
    and, per setup, their median, range and how many reach 1.0."""
    forwarded = ["--blocks", str(args.blocks), "--iters", str(args.iters), "--clock", args.clock, "--emit-json"]
    if args.mnist_dir:
        forwarded += ["--mnist-dir", str(args.mnist_dir)]
    if args.blas_threads:
        forwarded += ["--blas-threads", str(args.blas_threads)]
    runs = []
    for i in range(args.processes):
        out = subprocess.run([sys.executable, __file__, *forwarded], check=True, capture_output=True,
                             text=True).stdout.splitlines()
        print(f"-- process {i + 1} of {args.processes}", *out[:-1], sep="\n", flush=True)
        runs.append(json.loads(out[-1]))
    print(f"== across {args.processes} processes (paired medians, text loop / plain NumPy; target >= 1.0) ==")
    for activation, hidden in SETUPS:
        values = sorted(run[activation] for run in runs)
        print(f"784-{hidden}-10 {activation}: median {statistics.median(values):.3f} "
              f"(range {values[0]:.3f}-{values[-1]:.3f}), {sum(v >= 1.0 for v in values)} of {len(values)} "
              "at or above 1.0")


if __name__ == "__main__":
    main()
