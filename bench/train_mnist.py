"""Training benchmark: nncore against PyTorch on MNIST, side by side, per epoch.

Setups: (a) the text's 784-50-10, weight_init_std 0.01, SGD lr 0.1, batch 100, 10,000 iterations
sampled with replacement, with sigmoid (the text's) and with ReLU; (b) a strong setup for time
to 98% test accuracy (see _setups.STRONG); (c) a deep net with batch norm and dropout
(_setups.DEEP; needs nncore.MultiLayerNet). PyTorch trains the same nets from the same weights
and batches, with its default and its fused Adam for (b) and (c). Prints samples/s, epoch time,
loss and test accuracy (full 10,000-image test set) per epoch, the numerical-gradient vs
backprop step time for (a), (b)'s step against its GEMMs alone on both sides, and a summary
with NumPy/PyTorch throughput ratios. Timings are printed, never asserted.

    .venv/bin/python bench/train_mnist.py [--setup a|b|c|all] [--seeds 0,1,2] [--quick]
    .venv/bin/python bench/train_mnist.py --setup b --step-times-only  # (b)'s step against its GEMMs
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python bench/train_mnist.py  # see docs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from _mnist_runs import Epoch, Run, TorchSession, gradient_times, run_numpy, torch_job, torch_python
from _setups import (DEEP, DEEP_EPOCHS, STRONG, TIME_TO, checks, deep_available, deep_setup, run_label,
                     strong_setup, text_setup, torch_impls)
from _step_times import print_step_times, step_times
from nncore import kernels, load_mnist
from nncore.training import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "nncore" / "data" / "mnist"  # the copy shipped in the repo
#: Pause between an nncore epoch and a PyTorch epoch: idle OpenBLAS / OpenMP worker threads
#: spin for a while after their last call, and must not steal a core from the other side.
PAUSE_S = 0.25
TORCH_IMPLS = ("default", "foreach", "fused")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Return the command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--setup", choices=("a", "b", "c", "all"), default="all", help="which setups to run")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--epochs", type=int, default=4, help="epochs for setup (b) (default 4)")
    p.add_argument("--deep-epochs", type=int, default=DEEP_EPOCHS, help=f"epochs for setup (c) (default {DEEP_EPOCHS})")
    p.add_argument("--step-rounds", type=int, default=7, help="alternating rounds of (b)'s step timing (default 7)")
    p.add_argument("--step-times-only", action="store_true",
                   help="setup (b): only time its step against its GEMMs (a minute), no training runs")
    p.add_argument("--batch", type=int, help=f"batch size for setup (b) (default {STRONG['batch_size']})")
    p.add_argument("--lr", type=float, help=f"learning rate for setup (b) (default {STRONG['learning_rate']})")
    p.add_argument("--blas-threads", default="a=2,b=2,c=2",
                   help="OpenBLAS threads for nncore, per setup (e.g. a=1,b=2,c=2) or one number")
    p.add_argument("--torch-threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    p.add_argument("--input", choices=("float32", "uint8"), default="float32",
                   help="pixels handed to nncore.train (PyTorch always gets float32)")
    p.add_argument("--torch-python", default=os.environ.get("NNSVC_TORCH_PYTHON") or None,
                   help="interpreter with torch (default $NNSVC_TORCH_PYTHON, else this one)")
    p.add_argument("--torch-impl", default="default,fused",
                   help=f"torch.optim.Adam implementations for (b) and (c), comma-separated from "
                        f"{', '.join(TORCH_IMPLS)}; each trains beside nncore (default default,fused)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch runs")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="MNIST IDX directory")
    p.add_argument("--json", type=Path, help="also write all results to this JSON file")
    p.add_argument("--quick", action="store_true", help="tiny runs, only to check the script works")
    args = p.parse_args(argv)
    try:
        args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        p.error(f"--seeds must be comma-separated integers; got {args.seeds!r}")
    args.blas_threads = _per_setup(p, args.blas_threads)
    args.torch_impl = [s.strip() for s in args.torch_impl.split(",") if s.strip()]
    if not args.torch_impl or not set(args.torch_impl) <= set(TORCH_IMPLS):
        p.error(f"--torch-impl must be a comma-separated list of {', '.join(TORCH_IMPLS)}")
    if not args.seeds or min(args.epochs, args.deep_epochs, args.step_rounds, args.torch_threads) < 1:
        p.error("--seeds needs at least one seed; --epochs, --deep-epochs, --step-rounds and "
                "--torch-threads must be >= 1")
    return args


def _per_setup(p: argparse.ArgumentParser, text: str) -> dict[str, int]:
    """Parse "a=1,b=2,c=2" (or one number for all; c defaults to b) into {"a": 1, "b": 2, "c": 2}."""
    try:
        if "=" not in text:
            return dict.fromkeys("abc", int(text))
        out = {k.strip(): int(v) for k, v in (item.split("=") for item in text.split(","))}
    except ValueError:
        out = {}
    if "b" in out:
        out.setdefault("c", out["b"])
    if set(out) != {"a", "b", "c"} or min(out.values()) < 1:
        p.error(f"--blas-threads must be N or a=N,b=M[,c=K] with N, M, K >= 1; got {text!r}")
    return out


def _cpu_name() -> str:
    """Return the CPU's model name and family from /proc/cpuinfo (or what platform knows)."""
    fields: dict[str, str] = {}
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    if "model name" not in fields:
        return platform.processor() or platform.machine()
    return f"{fields['model name']} (family {fields.get('cpu family', '?')}, model {fields.get('model', '?')})"


def describe_machine(threads: dict[str, int], torch_threads: int, torch_note: str) -> dict:
    """Print and return the environment the figures depend on."""
    cpu = _cpu_name()
    blas = [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for i in threadpool_info() if i.get("user_api") == "blas"]
    env = {k: os.environ.get(k, "(unset)") for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", kernels.ENV_VAR)}
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "blas": blas, "env": env, "blas_threads": threads, "torch_threads": torch_threads, "torch": torch_note,
            "kernels": kernels.backend(), "load_average": os.getloadavg()}
    print("== Machine")
    print(f"CPU {cpu}, {os.cpu_count()} cores; Python {info['python']}, NumPy {np.__version__}")
    for b in blas:
        print(f"BLAS {b['internal_api']} {b['version']}, kernel {b['architecture']}, "
              f"{b['num_threads']} threads available; used: setup (a) {threads['a']}, (b) {threads['b']}, "
              f"(c) {threads['c']}")
    print(f"nncore kernels {kernels.backend()}; load average " + " ".join(f"{v:.2f}" for v in info["load_average"]))
    print("env " + ", ".join(f"{k}={v}" for k, v in env.items()))
    print(f"{torch_note}; torch threads {torch_threads}")
    return info


def print_epoch(impl: str, e: Epoch) -> None:
    """Print one epoch line under the run header."""
    print(f"  {impl:11s} {e.epoch:5d} {e.samples_per_s:11,.0f} {e.seconds:9.3f} {e.loss:8.4f} {e.test_accuracy:9.4f}",
          flush=True)


def run_pair(config: TrainConfig, label: str, ctx: dict) -> list[Run]:
    """Train config in nncore and (when available) in PyTorch, alternating epochs; return the runs."""
    print(f"\n[{label}] seed {config.seed}")
    print(f"  {'impl':11s} {'epoch':>5s} {'samples/s':>11s} {'epoch s':>9s} {'loss':>8s} {'test acc':>9s}")
    sessions = []
    if ctx["torch_python"]:
        for impl in torch_impls(config, ctx["torch_impl"]):
            job = ctx["tmp"] / f"job-{impl}.npz"
            torch_job(config, ctx["n_train"], ctx["torch_threads"], impl, job)
            sessions.append(TorchSession(ctx["torch_python"], ctx["torch_data"], job, label, config.seed,
                                         run_label(impl)))
            ctx["torch_info"] = sessions[-1].info

    def after_numpy_epoch(epoch: Epoch) -> None:
        print_epoch("numpy", epoch)
        for session in sessions:  # PyTorch's same epoch right after ours: both meet the same load
            time.sleep(PAUSE_S)
            print_epoch(session.run.impl, session.epoch())
        if sessions:
            time.sleep(PAUSE_S)

    try:
        runs = [run_numpy(config, ctx["numpy_data"], label, after_numpy_epoch)]
    except BaseException:  # Ctrl-C or an error: do not leave PyTorch running on its own
        for session in sessions:
            session.proc.kill()
        raise
    for session in sessions:
        session.close()
        runs.append(session.run)
    return runs


def setup_a(ctx: dict, args: argparse.Namespace) -> list[Run]:
    """Run setup (a) with sigmoid and ReLU for every seed, then time the gradient methods."""
    print("\n== Setup (a): the text's 784-50-10, std 0.01, SGD lr 0.1, batch 100, "
          f"{text_setup('sigmoid', 0, args.quick).iterations} iterations, sampling with replacement")
    runs = []
    for activation in ("sigmoid", "relu"):
        for seed in args.seeds:
            runs += run_pair(text_setup(activation, seed, args.quick), f"a {activation}", ctx)
    hidden, batch = (5, 10) if args.quick else (50, 100)
    x, t = ctx["numpy_data"][0], ctx["numpy_data"][1]
    g = gradient_times(hidden, batch, x, t, repeats=20 if args.quick else 200)
    print(f"\n== Numerical gradient vs backprop, one step of (a): 784-{hidden}-10 sigmoid, batch {batch}, float32")
    print(f"numerical gradient {g['numerical_s']:.3f} s; backprop (net.gradient) {g['backprop_s'] * 1e6:.1f} us "
          f"-> {g['numerical_s'] / g['backprop_s']:,.0f}x; train()'s buffered backprop {g['fast_backprop_s'] * 1e6:.1f} us; "
          f"max |numerical - backprop| {g['max_abs_diff']:.2e}")
    ctx["gradient_times"] = g
    return runs


def setup_b(ctx: dict, args: argparse.Namespace) -> list[Run]:
    """Run setup (b) for every seed, then time its step against its GEMMs on both sides."""
    cfg = strong_setup(0, args)
    print(f"\n== Setup (b): 784-{cfg.hidden_size}-10 {cfg.activation}, {cfg.weight_init} init, {cfg.optimizer} "
          f"lr {cfg.learning_rate} {cfg.lr_schedule} over {cfg.epochs} epochs, batch {cfg.batch_size}, shuffled")
    runs = []
    for seed in [] if args.step_times_only else args.seeds:
        runs += run_pair(strong_setup(seed, args), "b", ctx)
    rounds, repeats = (2, 5) if args.quick else (args.step_rounds, 50)
    ctx["step_times"] = step_times(cfg, ctx["numpy_data"], ctx, rounds, repeats)
    ctx["checks"] += print_step_times(ctx["step_times"], rounds)
    return runs


def setup_c(ctx: dict, args: argparse.Namespace) -> list[Run]:
    """Run setup (c) for every seed, if this nncore has MultiLayerNet."""
    sizes = "-".join(str(h) for h in DEEP["hidden_sizes"])
    print(f"\n== Setup (c): 784-{sizes}-10 {DEEP['activation']}, batch norm, dropout {DEEP['dropout']}, "
          f"{DEEP['optimizer']} lr {DEEP['learning_rate']} {DEEP['lr_schedule']} over {args.deep_epochs} epochs, "
          f"batch {DEEP['batch_size']}, shuffled")
    if not deep_available():
        print("(c) needs MultiLayerNet: this nncore has no nncore.MultiLayerNet; skipped")
        return []
    runs = []
    for seed in args.seeds:
        runs += run_pair(deep_setup(seed, args), "c", ctx)
    return runs


def summarize(runs: list[Run], quick: bool, extra_checks: list[str]) -> list[str]:
    """Print the summary table and target checks; return the check lines."""
    print("\n== Summary: samples/s as the median over seeds of each run's median epoch (and of its fastest)")
    print("(paired: median over epochs of nncore's epoch / PyTorch's same epoch, run right after it)")
    print(f"{'setup':10s} {'against':11s} {'numpy/s':>9s} {'torch/s':>9s} {'ratio':>6s} {'paired':>6s} | "
          f"{'best np':>9s} {'best pt':>9s} {'ratio':>6s} | test accuracy per seed (numpy ; torch)")
    lines = []
    for label in dict.fromkeys(r.setup for r in runs):
        mine = [r for r in runs if r.setup == label and r.impl == "numpy"]
        refs = {impl: [r for r in runs if r.setup == label and r.impl == impl]
                for impl in dict.fromkeys(r.impl for r in runs if r.setup == label and r.impl != "numpy")}
        ratios = {impl: _print_row(label, impl, mine, ref) for impl, ref in refs.items()} if refs else {}
        if not refs:
            _print_row(label, "-", mine, [])
        times = {}
        if label in TIME_TO:
            for name, rs in {"numpy": mine, **refs}.items():
                times[name] = [r.time_to(TIME_TO[label]) for r in rs]
                text = ", ".join(f"{t:.2f} s" if t is not None else "not reached" for t in times[name])
                print(f"  time to {TIME_TO[label]:.1%} ({name}, seeds {', '.join(str(r.seed) for r in rs)}): {text}")
        lines += checks(label, mine, ratios, times)
    print("\n== Targets" + (" (quick run: too short for the targets to apply)" if quick else ""))
    for line in lines + extra_checks:
        print(line)
    return lines + extra_checks


def _print_row(label: str, against: str, mine: list[Run], ref: list[Run]) -> tuple[float, float, float]:
    """Print one summary row (nncore against one PyTorch run); return (median, paired, best) ratios."""
    med = [_median([r.samples_per_s for r in rs]) for rs in (mine, ref)]
    best = [_median([r.best_samples_per_s for r in rs]) for rs in (mine, ref)]
    ratios = (med[0] / med[1], _paired_ratio(mine, ref), best[0] / best[1]) if ref else (float("nan"),) * 3
    accs = " ".join(f"{r.test_accuracy:.4f}" for r in mine) + " ; " + " ".join(f"{r.test_accuracy:.4f}" for r in ref)
    theirs = (f"{med[1]:9,.0f} {ratios[0]:5.2f}x {ratios[1]:5.2f}x" if ref else f"{'-':>9s} {'-':>6s} {'-':>6s}")
    best_theirs = f"{best[1]:9,.0f} {ratios[2]:5.2f}x" if ref else f"{'-':>9s} {'-':>6s}"
    print(f"{label:10s} {against:11s} {med[0]:9,.0f} {theirs} | {best[0]:9,.0f} {best_theirs} | {accs}")
    return ratios


def _paired_ratio(mine: list[Run], ref: list[Run]) -> float:
    """Median over all epochs of nncore's samples/s over PyTorch's in the same epoch and seed."""
    ratios = [a.samples_per_s / b.samples_per_s for r, q in zip(mine, ref) for a, b in zip(r.epochs, q.epochs)]
    return _median(ratios)


def _median(values: list[float]) -> float:
    """Return the median, or NaN for no values."""
    return statistics.median(values) if values else float("nan")


def load_data(data_dir: Path, tmp: Path, numpy_input: str) -> dict:
    """Load MNIST (cached in tmp, never in data_dir) and write the copy PyTorch reads."""
    (x_u8, t_train), (x_test_u8, t_test) = load_mnist(normalize=False, data_dir=data_dir, cache_dir=tmp)
    torch_data = tmp / "torch-data.npz"  # not mnist.npz: that name is load_mnist's cache
    np.savez(torch_data, x_train=x_u8, t_train=t_train, x_test=x_test_u8, t_test=t_test)
    if numpy_input == "float32":
        (x_train, _), (x_test, _) = load_mnist(normalize=True, data_dir=data_dir, cache_dir=tmp)
    else:
        x_train, x_test = x_u8, x_test_u8
    return {"numpy_data": (x_train, t_train, x_test, t_test), "torch_data": torch_data, "n_train": len(t_train)}


def main(argv: list[str] | None = None) -> int:
    """Run the selected setups and print their figures."""
    args = parse_args(argv)
    python, note = (None, "PyTorch: skipped (--no-torch)") if args.no_torch else torch_python(args.torch_python)
    with tempfile.TemporaryDirectory(prefix="nnsvc-bench-") as tmp:
        machine = describe_machine(args.blas_threads, args.torch_threads, note)
        ctx = {"tmp": Path(tmp), "torch_threads": args.torch_threads, "torch_python": python,
               "torch_impl": args.torch_impl, "checks": [], **load_data(args.data_dir, Path(tmp), args.input)}
        runs = []
        for name, setup in (("a", setup_a), ("b", setup_b), ("c", setup_c)):
            if args.setup in (name, "all"):
                with threadpool_limits(args.blas_threads[name], "blas"):
                    runs += setup(ctx, args)
        target_lines = summarize(runs, args.quick, ctx["checks"])
    if python and ctx.get("torch_info"):
        print(f"PyTorch runtime: {ctx['torch_info']}")
    if args.json:
        result = {"machine": machine, "args": {k: str(v) for k, v in vars(args).items()},
                  "runs": [r.to_dict() for r in runs], "gradient_times": ctx.get("gradient_times"),
                  "step_times": ctx.get("step_times"), "torch_info": ctx.get("torch_info"), "checks": target_lines}
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
