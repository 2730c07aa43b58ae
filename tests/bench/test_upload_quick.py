"""bench/upload.py --quick still runs end to end (real nn-server and sink subprocesses); no timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_quick_upload_benchmark_prints_its_sections(tmp_path, mnist_dir):
    figures = tmp_path / "figures.json"
    result = subprocess.run([sys.executable, "bench/upload.py", "--quick", "--json", str(figures)],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    for heading in ("Upload throughput (loopback)", "Server memory during the upload"):
        assert f"== {heading} ==" in result.stdout, heading
    out = json.loads(figures.read_text())["throughput"]
    assert out["file_mb"] > 1 and out["upload_mb_s"] > 0 and out["bare_mb_s"] > 0
    assert out["peak_rss_mb"] >= out["rss_before_mb"] > 0
    assert len(out["paired"]) == 1 and out["paired"][0] > 0
    assert "paired (each run's upload against its own bare stream): median" in result.stdout
