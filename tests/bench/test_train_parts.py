"""The PyTorch-free parts of bench/train_mnist.py: setups, target checks, summary, step timing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import _setups  # noqa: E402
import train_mnist  # noqa: E402
from _mnist_runs import Epoch, Run, torch_job  # noqa: E402
from _step_times import numpy_calls, print_step_times  # noqa: E402

from nncore.training import TrainConfig  # noqa: E402


def run(impl, setup, seed, rates, accs, samples=1000):
    """A Run whose epochs trained `samples` at the given samples/s and reached the given accuracies."""
    r = Run(impl, setup, seed)
    r.epochs = [Epoch(i + 1, samples / s, samples, 0.1, a) for i, (s, a) in enumerate(zip(rates, accs))]
    return r


def test_adam_setups_pair_with_every_requested_torch_adam_and_sgd_with_one():
    assert _setups.torch_impls(TrainConfig(optimizer="adam"), ["default", "fused"]) == ["default", "fused"]
    assert _setups.torch_impls(TrainConfig(optimizer="sgd"), ["default", "fused"]) == ["default"]
    assert [_setups.run_label(i) for i in ("default", "fused")] == ["torch", "torch-fused"]


def test_b_is_checked_against_fused_adam_by_the_paired_ratio():
    mine = [run("numpy", "b", 0, [100, 100], [0.97, 0.981])]
    lines = _setups.checks("b", mine, {"torch": (2.0, 2.0, 2.0), "torch-fused": (1.2, 0.95, 1.3)},
                           {"numpy": [2.0], "torch": [3.0], "torch-fused": [2.5]})
    assert "b: 98.0% within 15 s of training for every seed: met" in lines
    assert any(line.startswith("b: throughput >= 1.0x torch-fused: NOT met (paired epochs 0.95x") for line in lines)


def test_c_needs_its_accuracy_and_a_shorter_time_than_each_torch_run():
    mine = [run("numpy", "c", s, [10, 10], [0.984, acc]) for s, acc in ((0, 0.987), (1, 0.9855))]
    lines = _setups.checks("c", mine, {}, {"numpy": [5.0, 6.0], "torch": [7.0, 5.5], "torch-fused": [9.0, None]})
    assert "c: accuracy >= 98.6% for every seed: NOT met" in lines  # seed 1 ends at 98.55%
    assert "c: time to 98.5% shorter than torch's for every seed: NOT met" in lines  # 6.0 > 5.5
    assert "c: time to 98.5% shorter than torch-fused's for every seed: met" in lines  # never reached there


def test_summary_prints_one_row_per_torch_run_with_its_paired_ratio(capsys):
    runs = [run("numpy", "b", 0, [300, 100], [0.98, 0.98]), run("torch", "b", 0, [100, 100], [0.98, 0.98]),
            run("torch-fused", "b", 0, [150, 200], [0.98, 0.98])]
    lines = train_mnist.summarize(runs, quick=False, extra_checks=["extra line"])
    out = capsys.readouterr().out
    assert "b          torch" in out and "b          torch-fused" in out
    assert "throughput >= 1.0x torch-fused: met (paired epochs 1.25x" in "\n".join(lines)  # (2.0, 0.5)
    assert lines[-1] == "extra line" and "extra line" in out


def test_blas_threads_take_setup_c_and_default_it_to_b():
    args = train_mnist.parse_args(["--blas-threads", "a=1,b=2"])
    assert args.blas_threads == {"a": 1, "b": 2, "c": 2}
    assert train_mnist.parse_args(["--blas-threads", "3", "--torch-impl", "fused"]).torch_impl == ["fused"]
    with pytest.raises(SystemExit):
        train_mnist.parse_args(["--torch-impl", "fast"])


def test_step_timing_calls_run_and_the_ratio_line_names_the_target(mnist_dir, capsys):
    from nncore import load_mnist

    (x, t), _ = load_mnist(normalize=True, data_dir=mnist_dir)
    config = TrainConfig(hidden_size=16, optimizer="adam", batch_size=8, seed=0)
    calls = numpy_calls(config, x[:64], t[:64], np.arange(8))
    calls["gemm"](), calls["step"]()
    found = {"numpy gemm": {"median_s": 1e-3, "min_s": 1e-3, "max_s": 1e-3},
             "numpy step": {"median_s": 2e-3, "min_s": 2e-3, "max_s": 2e-3}}
    assert print_step_times(found, 1) == ["b: full step <= 1.5x its GEMMs: NOT met (2.00x)"]
    assert "full step / GEMMs 2.00x" in capsys.readouterr().out


def test_torch_job_describes_the_net_and_can_carry_one_batch(tmp_path):
    config = TrainConfig(hidden_size=4, optimizer="adam", batch_size=8, epochs=1, seed=0, train_size=32)
    torch_job(config, 32, 2, "fused", tmp_path / "job.npz", mode="steps", batch=np.arange(8))
    with np.load(tmp_path / "job.npz", allow_pickle=False) as job:
        meta = json.loads(str(job["meta"]))
        assert job["batch"].tolist() == list(range(8)) and job["W1"].shape == (784, 4)
    assert meta["layers"] == 2 and meta["batch_norm"] is False and meta["dropout"] == 0.0
    assert meta["mode"] == "steps" and meta["torch_impl"] == "fused"


def test_step_times_only_times_b_without_training_it(monkeypatch):
    found = {"numpy gemm": {"median_s": 1e-3, "min_s": 1e-3, "max_s": 1e-3},
             "numpy step": {"median_s": 1.2e-3, "min_s": 1.2e-3, "max_s": 1.2e-3}}
    trained = []
    monkeypatch.setattr(train_mnist, "run_pair", lambda config, label, ctx: trained.append(config.seed) or [])
    monkeypatch.setattr(train_mnist, "step_times", lambda config, data, ctx, rounds, repeats: found)
    ctx = {"numpy_data": None, "checks": []}
    assert train_mnist.setup_b(ctx, train_mnist.parse_args(["--setup", "b", "--step-times-only"])) == []
    assert trained == [] and ctx["checks"] == ["b: full step <= 1.5x its GEMMs: met (1.20x)"]
    train_mnist.setup_b(ctx, train_mnist.parse_args(["--setup", "b", "--seeds", "0,1"]))
    assert trained == [0, 1]
