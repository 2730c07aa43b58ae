"""PyTorch's side of the step timings in bench/train_mnist.py: one step against its GEMMs alone.

Run inside _torch_ref.py (imports only torch and numpy). Each line on stdin asks for one round;
each round prints {"gemm_s": ..., "step_s": {"default": ..., "fused": ...}}: the median time of
the products a training step of this net computes (forward, and both backward products of every
layer but the first's input gradient, as autograd does), and of one whole step (zero_grad,
forward, cross_entropy, backward, Adam.step) with PyTorch's default and fused Adam.
"""

from __future__ import annotations

import copy
import json
import sys

import torch
import torch.nn.functional as F
from _timing import median_time  # the same directory; stdlib only


def gemm_round(model: torch.nn.Sequential, x: torch.Tensor) -> callable:
    """Return a function running the step's matrix products on buffers of the right shapes."""
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    n = x.shape[0]
    acts = [x] + [torch.rand(n, lin.out_features) for lin in linears[:-1]]
    outs = [torch.empty(n, lin.out_features) for lin in linears]
    grads_w = [torch.empty_like(lin.weight) for lin in linears]
    grads_a = [torch.empty_like(a) for a in acts]

    def run() -> None:
        with torch.no_grad():
            for a, lin, out in zip(acts, linears, outs):
                torch.addmm(lin.bias, a, lin.weight.t(), out=out)  # (N, D) @ (D, H)
            for i, lin in enumerate(linears):
                torch.mm(outs[i].t(), acts[i], out=grads_w[i])  # dW, (H, N) @ (N, D)
                if i > 0:
                    torch.mm(outs[i], lin.weight, out=grads_a[i])  # (N, H) @ (H, D)
    return run


def step_round(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x, t) -> callable:
    """Return a function running one whole training step on the batch (x, t)."""
    def run() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), t)
        loss.backward()
        optimizer.step()
        loss.item()
    return run


def serve_rounds(model: torch.nn.Sequential, meta: dict, x_train, t_train, job: dict) -> None:
    """Answer each stdin line with one round of timings, until stdin closes."""
    idx = torch.from_numpy(job["batch"])
    x, t = x_train[idx].contiguous(), t_train[idx]
    lr, repeats = float(job["lrs"][0]), int(meta.get("repeats", 50))
    steps = {}
    for impl, extra in (("default", {}), ("fused", {"fused": True})):
        net = copy.deepcopy(model).train()
        opt = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-7, **extra)
        steps[impl] = step_round(net, opt, x, t)
        for _ in range(3):  # warm up: first calls allocate the optimizer state
            steps[impl]()
    gemms = gemm_round(model, x)
    gemms()
    while sys.stdin.readline():
        out = {"gemm_s": median_time(gemms, repeats)}
        out["step_s"] = {impl: median_time(fn, repeats) for impl, fn in steps.items()}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    sys.exit("run through _torch_ref.py with a job whose meta says mode: steps")
