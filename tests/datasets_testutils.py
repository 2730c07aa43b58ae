"""Tiny generated datasets for tests where the real data is not the point (they train in a blink)."""

from __future__ import annotations

import numpy as np

from server.datasets import DEBIAN_FASHION_MNIST_DIR, DatasetEntry

TINY = "tiny"
#: The skip reason when Debian's Fashion-MNIST is absent; CI installs it, so this skip fails CI.
FASHION_REASON = "Fashion-MNIST not installed: apt-get install dataset-fashion-mnist"


def fashion_mnist_installed() -> bool:
    """Whether Debian's dataset-fashion-mnist put the four files where the server looks."""
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")
    return all((DEBIAN_FASHION_MNIST_DIR / f"{name}.gz").is_file() for name in names)


def tiny_arrays(input_shape: tuple[int, ...] = (28, 28), classes: int = 10, n_train: int = 600,
                n_test: int = 200, seed: int = 0) -> tuple[np.ndarray, ...]:
    """uint8 images of `classes` noisy prototypes: a small net learns them in one epoch."""
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 256, (classes, *input_shape)).astype(np.int16)
    arrays = []
    for n in (n_train, n_test):
        t = rng.integers(0, classes, n).astype(np.uint8)
        t[:classes] = np.arange(classes)  # every class present, so nothing depends on luck
        noise = rng.integers(-60, 61, (n, *input_shape))
        arrays += [np.clip(prototypes[t] + noise, 0, 255).astype(np.uint8), t]
    return tuple(arrays)


def tiny_entry(name: str = TINY, input_shape: tuple[int, ...] = (28, 28), class_names=None,
               n_train: int = 600, n_test: int = 200, seed: int = 0) -> DatasetEntry:
    """A registry entry for tiny_arrays (class names "c0", "c1", ... unless given)."""
    class_names = tuple(class_names or (f"c{i}" for i in range(10)))
    arrays = tiny_arrays(input_shape, len(class_names), n_train, n_test, seed)
    return DatasetEntry(name=name, loader=lambda: arrays, input_shape=input_shape, class_names=class_names,
                        train_size=n_train, test_size=n_test, source="generated for the tests")
