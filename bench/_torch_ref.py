"""The PyTorch side of bench/train_mnist.py: the same training, written the ordinary PyTorch way.

Run by the benchmark in a separate interpreter that has torch (it imports only torch and
numpy, not this project):  python _torch_ref.py DATA.npz JOB.npz
DATA.npz holds the uint8 MNIST arrays; JOB.npz the initial weights (the very arrays nncore
starts from), the mini-batch order and per-step learning rates nncore uses, and a JSON "meta"
string (activation, optimizer, threads, iterations per epoch, lockstep, and for deep nets the
layer count, batch norm and dropout). One JSON object per line goes to stdout: first
{"torch": ...} describing the runtime, then one per epoch. In lockstep mode each epoch waits for
a line on stdin, so the benchmark can alternate nncore and PyTorch epochs and both meet the same
load on a shared machine. With meta "mode": "steps" it trains nothing and instead answers each
stdin line with one round of step timings (see _torch_steps.py).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def build_model(job: dict, meta: dict) -> torch.nn.Sequential:
    """Return the net of W1 b1 ... Wn bn (+ gamma/beta per hidden layer) holding the job's weights.

    Each hidden layer is Linear -> [BatchNorm1d] -> Sigmoid|ReLU -> [Dropout], the text's
    MultiLayerNetExtend order; BatchNorm1d's eps and momentum are the text's (10e-7, 0.9).
    """
    n = int(meta.get("layers", 2))
    act = torch.nn.ReLU if meta["activation"] == "relu" else torch.nn.Sigmoid
    modules, loads = [], []
    for i in range(1, n + 1):
        w = job[f"W{i}"]
        linear = torch.nn.Linear(*w.shape)
        modules.append(linear)
        loads += [(linear.weight, w.T.copy()), (linear.bias, job[f"b{i}"])]  # Linear stores (out, in)
        if i == n:
            break
        if meta.get("batch_norm"):
            bn = torch.nn.BatchNorm1d(w.shape[1], eps=10e-7, momentum=0.1)
            modules.append(bn)
            loads += [(bn.weight, job[f"gamma{i}"]), (bn.bias, job[f"beta{i}"])]
        modules.append(act())
        if meta.get("dropout"):
            modules.append(torch.nn.Dropout(float(meta["dropout"])))
    model = torch.nn.Sequential(*modules)
    with torch.no_grad():
        for param, value in loads:
            param.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return model


def build_optimizer(model: torch.nn.Module, meta: dict, lr: float) -> torch.optim.Optimizer:
    """Return SGD or Adam as nncore configures it (Adam: the text's betas and eps)."""
    if meta["optimizer"] == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr)
    impl = meta.get("torch_impl", "default")
    extra = {"foreach": True} if impl == "foreach" else {"fused": True} if impl == "fused" else {}
    return torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-7, **extra)


def accuracy(model: torch.nn.Module, x: torch.Tensor, t: torch.Tensor) -> float:
    """Return the fraction of rows of x whose arg-max score equals t (inference mode)."""
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(x[i : i + 10000]).argmax(1) == t[i : i + 10000]).sum())
                      for i in range(0, x.shape[0], 10000))
    return correct / x.shape[0]


def train_epoch(model, optimizer, x, t, order, lrs, steps: range) -> tuple[float, float]:
    """Run the given steps; return (training seconds, mean loss)."""
    losses = []
    model.train()
    lr = float(lrs[steps.start])
    started = time.perf_counter()
    for step in steps:
        if lrs[step] != lr:  # a schedule: set this step's rate, as nncore does
            lr = float(lrs[step])
            for group in optimizer.param_groups:
                group["lr"] = lr
        idx = order[step]
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x[idx]), t[idx])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())  # nncore records every step's loss too
    return time.perf_counter() - started, sum(losses) / len(losses)


def main(data_path: str, job_path: str) -> None:
    """Train as JOB.npz says on DATA.npz, printing one JSON line per epoch."""
    with np.load(data_path, allow_pickle=False) as data:
        x_train = torch.from_numpy(data["x_train"]).float().div_(255)  # same values as nncore's
        x_test = torch.from_numpy(data["x_test"]).float().div_(255)
        t_train = torch.from_numpy(data["t_train"].astype(np.int64))
        t_test = torch.from_numpy(data["t_test"].astype(np.int64))
    with np.load(job_path, allow_pickle=False) as npz:
        job = {key: npz[key] for key in npz.files}
    meta = json.loads(str(job["meta"]))
    torch.set_num_threads(int(meta["threads"]))
    torch.manual_seed(0)  # nothing random is drawn; set for good measure
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                      "mkl": torch.backends.mkl.is_available()}), flush=True)
    model = build_model(job, meta)
    if meta.get("mode") == "steps":
        from _torch_steps import serve_rounds  # the same directory; imports only torch and numpy

        serve_rounds(model, meta, x_train, t_train, job)
        return
    order, lrs = torch.from_numpy(job["order"]), job["lrs"]
    optimizer = build_optimizer(model, meta, float(lrs[0]))
    total, ipe = order.shape[0], int(meta["iterations_per_epoch"])
    for epoch, start in enumerate(range(0, total, ipe), start=1):
        if meta.get("lockstep") and not sys.stdin.readline():
            break  # the benchmark closed our stdin: no more epochs wanted
        steps = range(start, min(start + ipe, total))
        seconds, loss = train_epoch(model, optimizer, x_train, t_train, order, lrs, steps)
        print(json.dumps({"epoch": epoch, "seconds": seconds, "samples": len(steps) * order.shape[1],
                          "loss": loss, "test_accuracy": accuracy(model, x_test, t_test)}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
