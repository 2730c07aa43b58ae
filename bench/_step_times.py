"""(b)'s step against its GEMMs alone, nncore and PyTorch side by side, in alternating rounds.

One batch of (b) (the first of its batch order), no gathering: nncore's full step is
TrainStep (the step train() runs) and then the Adam update; its GEMMs alone are the five
products that step computes, on the same shapes and buffers. PyTorch's side is _torch_steps.py.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time

import numpy as np

from _mnist_runs import TORCH_REF, torch_job
from _timing import median_time
from _setups import STEP_OVER_GEMMS
from nncore._step import TrainStep  # internal on purpose: the step train() runs
from nncore.optimizers import make_optimizer
from nncore.training import TrainConfig, batch_order, build_network


def gemm_call(params: dict, x: np.ndarray) -> callable:
    """Return a function computing, into buffers, the matrix products of one step of this net."""
    ws = [params[f"W{i}"] for i in range(1, len(params) + 1) if f"W{i}" in params]
    n = x.shape[0]
    acts = [x] + [np.random.default_rng(0).random((n, w.shape[1]), dtype=x.dtype) for w in ws[:-1]]
    outs = [np.empty((n, w.shape[1]), x.dtype) for w in ws]
    grads_w = [np.empty_like(w) for w in ws]
    grads_a = [np.empty_like(a) for a in acts]

    def run() -> None:
        for a, w, out in zip(acts, ws, outs):
            np.dot(a, w, out=out)  # (N, D) @ (D, H) -> (N, H)
        for i, w in enumerate(ws):
            np.dot(acts[i].T, outs[i], out=grads_w[i])  # dW: (D, N) @ (N, H)
            if i > 0:
                np.dot(outs[i], w.T, out=grads_a[i])  # (N, H) @ (H, D): not for the input
    return run


def numpy_calls(config: TrainConfig, x: np.ndarray, t: np.ndarray, idx: np.ndarray) -> dict:
    """Return {"gemm": fn, "step": fn} for one batch of config's net (its first batch)."""
    net = build_network(config, x.shape[1], 10)
    step = TrainStep(net)
    optimizer = make_optimizer(config.optimizer, config.learning_rate)
    xb, tb = step.load(x, idx).copy(), t[idx]

    def full_step() -> None:
        step(xb, tb)
        optimizer.update(net.params, step.grads)

    for _ in range(3):  # warm up: buffers, optimizer state, compiled kernels
        full_step()
    return {"gemm": gemm_call(net.params, xb), "step": full_step}


def step_times(config: TrainConfig, data: tuple, ctx: dict, rounds: int, repeats: int) -> dict:
    """Time nncore's and (when available) PyTorch's step and GEMMs in alternating rounds."""
    x, t = data[0], data[1]
    idx = batch_order(config, x.shape[0])[0]
    calls = numpy_calls(config, x, t, idx)
    proc = None
    if ctx["torch_python"]:
        job = ctx["tmp"] / "steps.npz"
        torch_job(config, ctx["n_train"], ctx["torch_threads"], "default", job,
                  mode="steps", repeats=repeats, batch=idx)
        proc = subprocess.Popen([ctx["torch_python"], str(TORCH_REF), str(ctx["torch_data"]), str(job)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        json.loads(proc.stdout.readline())  # the runtime line
    found: dict[str, list[float]] = {}
    try:
        for _ in range(rounds):
            found.setdefault("numpy gemm", []).append(median_time(calls["gemm"], repeats))
            found.setdefault("numpy step", []).append(median_time(calls["step"], repeats))
            if proc is not None:
                time.sleep(0.25)  # idle BLAS threads of one side must not spin on the other's core
                proc.stdin.write("\n")
                proc.stdin.flush()
                msg = json.loads(proc.stdout.readline())
                found.setdefault("torch gemm", []).append(msg["gemm_s"])
                for impl, seconds in msg["step_s"].items():
                    found.setdefault(f"torch step {impl}", []).append(seconds)
                time.sleep(0.25)
    finally:
        if proc is not None:
            proc.stdin.close()
            proc.wait(timeout=60)
    return {k: {"median_s": statistics.median(v), "min_s": min(v), "max_s": max(v)} for k, v in found.items()}


def print_step_times(found: dict, rounds: int) -> list[str]:
    """Print the step-timing table; return the target line for the step / GEMM ratio."""
    print(f"\n== Setup (b), one step against its GEMMs alone (median of {rounds} alternating rounds; range)")
    for name, v in found.items():
        print(f"  {name:20s} {v['median_s'] * 1e3:7.3f} ms  ({v['min_s'] * 1e3:.3f}-{v['max_s'] * 1e3:.3f})")
    ratio = found["numpy step"]["median_s"] / found["numpy gemm"]["median_s"]
    line = f"  nncore: full step / GEMMs {ratio:.2f}x"
    if "torch gemm" in found:
        for impl in ("default", "fused"):
            theirs = found[f"torch step {impl}"]["median_s"]
            line += (f"; PyTorch ({impl} Adam) step / GEMMs {theirs / found['torch gemm']['median_s']:.2f}x, "
                     f"its step / nncore's {theirs / found['numpy step']['median_s']:.2f}x")
    print(line)
    ok = ratio <= STEP_OVER_GEMMS
    return [f"b: full step <= {STEP_OVER_GEMMS}x its GEMMs: {'met' if ok else 'NOT met'} ({ratio:.2f}x)"]

