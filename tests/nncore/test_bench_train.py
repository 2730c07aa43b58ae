"""bench/train_mnist.py --quick still runs and prints its sections (no timing is asserted)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import nncore

BENCH = Path(__file__).resolve().parents[2] / "bench" / "train_mnist.py"
HEADINGS = ["== Machine", "== Setup (a)", "[a sigmoid] seed 0", "[a relu] seed 0",
            "== Numerical gradient vs backprop", "== Setup (b)", "[b] seed 0",
            "== Setup (b), one step against its GEMMs alone", "nncore: full step / GEMMs", "== Setup (c)",
            "== Summary", "== Targets", "b: full step <= 1.5x its GEMMs"]


def run_bench(mnist_dir, tmp_path, *extra, env_update=None):
    env = {k: v for k, v in os.environ.items() if k != "NNSVC_TORCH_PYTHON"}
    env.update(env_update or {})
    cmd = [sys.executable, str(BENCH), "--quick", "--seeds", "0", "--data-dir", str(mnist_dir),
           "--json", str(tmp_path / "out.json"), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow
def test_quick_run_prints_every_section_and_writes_json(mnist_dir, tmp_path):
    proc = run_bench(mnist_dir, tmp_path, "--no-torch")
    assert proc.returncode == 0, proc.stderr
    for heading in HEADINGS:
        assert heading in proc.stdout, heading
    assert "PyTorch: skipped" in proc.stdout
    assert "samples/s" in proc.stdout and "test acc" in proc.stdout
    result = json.loads((tmp_path / "out.json").read_text())
    deep = hasattr(nncore, "MultiLayerNet")
    assert ("[c] seed 0" in proc.stdout) == deep and ("(c) needs MultiLayerNet" in proc.stdout) != deep
    assert {r["setup"] for r in result["runs"]} == {"a sigmoid", "a relu", "b"} | ({"c"} if deep else set())
    assert all(r["impl"] == "numpy" and r["epochs"] for r in result["runs"])
    assert result["gradient_times"]["numerical_s"] > result["gradient_times"]["backprop_s"]
    assert set(result["step_times"]) == {"numpy gemm", "numpy step"}  # no PyTorch: nncore's side only
    assert result["machine"]["kernels"] in ("numpy", "numba")


@pytest.mark.slow
def test_without_torch_it_says_so_and_still_prints_numpy_figures(mnist_dir, tmp_path):
    proc = run_bench(mnist_dir, tmp_path, "--setup", "b", "--torch-python", sys.executable)
    assert proc.returncode == 0, proc.stderr
    if "PyTorch: not available" not in proc.stdout:
        pytest.skip("this interpreter has torch")
    assert "[b] seed 0" in proc.stdout and "numpy" in proc.stdout
    assert "not measured (PyTorch not available)" in proc.stdout


@pytest.mark.slow
def test_quick_run_with_torch_when_an_interpreter_is_configured(mnist_dir, tmp_path):
    python = os.environ.get("NNSVC_TORCH_PYTHON")
    if not python:
        pytest.skip("set NNSVC_TORCH_PYTHON to an interpreter with torch to run the comparison")
    proc = run_bench(mnist_dir, tmp_path, "--setup", "a", env_update={"NNSVC_TORCH_PYTHON": python})
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "out.json").read_text())
    by_impl = {r["impl"]: r for r in result["runs"] if r["setup"] == "a sigmoid"}
    # Same weights, batches and rates: the two implementations agree closely on loss and accuracy.
    for ours, theirs in zip(by_impl["numpy"]["epochs"], by_impl["torch"]["epochs"]):
        assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-3)
        assert ours["test_accuracy"] == pytest.approx(theirs["test_accuracy"], abs=2e-3)


def test_bad_options_are_rejected_with_the_allowed_values():
    proc = subprocess.run([sys.executable, str(BENCH), "--blas-threads", "a=0"], capture_output=True, text=True)
    assert proc.returncode == 2 and "--blas-threads must be N or a=N,b=M" in proc.stderr
    proc = subprocess.run([sys.executable, str(BENCH), "--torch-impl", "cuda"], capture_output=True, text=True)
    assert proc.returncode == 2 and "--torch-impl must be a comma-separated list of default, foreach, fused" in proc.stderr
    proc = subprocess.run([sys.executable, str(BENCH), "--seeds", "x"], capture_output=True, text=True)
    assert proc.returncode == 2 and "--seeds must be comma-separated integers" in proc.stderr
