"""bench/serve.py --quick still runs end to end (a real nn-server subprocess); no timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
HEADINGS = ("Latency, batch 1", "Throughput", "Latency vs concurrency", "Bulk Predict",
            "Predict while training", "Peak RSS", "Targets", "KServe v2 ModelInfer vs Predict")
TARGETS = 19  # rows in the "Targets" section: every target of issues 7 and 14, with its figure


def test_quick_benchmark_prints_every_section_and_writes_its_plot(tmp_path, mnist_dir):
    plot, figures = tmp_path / "latency.png", tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, "bench/serve.py", "--quick", "--mnist-dir", str(mnist_dir),
         "--plot", str(plot), "--json", str(figures)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    for heading in HEADINGS:
        assert f"== {heading} ==" in result.stdout, heading
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = json.loads(figures.read_text())["median"]
    assert len(out["targets"]) == TARGETS
    assert all(value["value"] == value["value"] for value in out["targets"].values())  # no NaN figure
    assert set(out["rss_mb"]) == {"0", "1", "2", "4"} and all(mb > 0 for mb in out["rss_mb"].values())


def test_sections_run_only_what_is_asked_and_unknown_names_are_usage_errors(tmp_path, mnist_dir):
    figures = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, "bench/serve.py", "--quick", "--mnist-dir", str(mnist_dir), "--sections", "latency",
         "--json", str(figures)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "== Latency, batch 1 ==" in result.stdout and "== Throughput ==" not in result.stdout
    out = json.loads(figures.read_text())["median"]
    assert len(out["targets"]) == 8 and all("p50" in t or "p99" in t for t in out["targets"])
    assert "rss_mb" not in out and "bulk" not in out
    bad = subprocess.run([sys.executable, "bench/serve.py", "--quick", "--sections", "latency,speed"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--sections takes names from" in bad.stderr
