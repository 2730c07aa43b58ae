"""bench/fashion.py --quick runs end to end (a real nn-server, Fashion-MNIST and MNIST jobs); no timing is asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.datasets_testutils import FASHION_REASON, fashion_mnist_installed

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_fashion_benchmark_prints_both_datasets_and_the_target_line():
    if not fashion_mnist_installed():
        pytest.skip(FASHION_REASON)
    result = subprocess.run([sys.executable, "bench/fashion.py", "--quick"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {line.split()[0] for line in result.stdout.splitlines()
            if line.split()[:1] in (["mnist"], ["fashion-mnist"])}
    assert rows == {"mnist", "fashion-mnist"}
    assert "target (every seed): >= 88% in <= 60 s of training" in result.stdout
    assert "quick run: the target is not judged" in result.stdout
