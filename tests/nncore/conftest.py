"""Fixtures for nncore tests (helpers live in nncore_testutils)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from nncore_testutils import MNIST_DIR

from nncore.download import MNIST_FILES


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded Generator, fresh for each test."""
    return np.random.default_rng(12345)


@pytest.fixture
def mnist_dir() -> Path:
    """The MNIST copy embedded in the package; its absence is a broken checkout, so it fails."""
    missing = [name for name in MNIST_FILES
               if not ((MNIST_DIR / f"{name}.gz").is_file() or (MNIST_DIR / name).is_file())]
    assert not missing, f"the embedded MNIST in {MNIST_DIR} lacks {', '.join(missing)}"
    return MNIST_DIR


@pytest.fixture(params=["numpy", "numba"])
def kernels_backend(request, monkeypatch) -> str:
    """Run the test with NumPy's kernels, then with numba's (the dev extra installs numba: no skip)."""
    from nncore import kernels

    monkeypatch.setattr(kernels, "fast", kernels._load(request.param))
    return request.param


@pytest.fixture
def numpy_kernels(monkeypatch) -> None:
    """Force the plain NumPy kernels (the teaching code) for this test."""
    from nncore import kernels

    monkeypatch.setattr(kernels, "fast", None)
