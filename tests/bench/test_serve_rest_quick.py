"""bench/serve_rest.py --quick runs end to end (a real nn-server subprocess); no timing is asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_quick_rest_benchmark_prints_both_tables_and_the_target_line():
    result = subprocess.run([sys.executable, "bench/serve_rest.py", "--quick"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    for heading in ("KServe v2 REST infer vs gRPC Predict", "What the JSON costs"):
        assert f"== {heading}" in result.stdout, heading
    for label in ("gRPC Predict, raw uint8 p50 / p99", "REST infer, JSON UINT8 p50", "REST infer, JSON FP32 p99", "REST infer, binary UINT8 p50",
                  "parse + validate (pydantic), FP32", "np.asarray of the 784 values, UINT8"):
        assert label in result.stdout, label
    assert "target: REST infer p50 <= 2x gRPC Predict p50" in result.stdout and "not judged" in result.stdout
    assert "BLAS: " in result.stdout and "load average" in result.stdout
