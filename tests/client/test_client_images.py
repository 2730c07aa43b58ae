"""Unit tests for client.images (pictures and .npy) and client.mnist (the IDX reader)."""
from __future__ import annotations

import gzip
import struct
import sys

import numpy as np
import pytest

from client import mnist as client_mnist
from client.errors import INSTALL_HINT, MissingExtraError
from client.images import load_images, load_picture
from client.mnist import TEST_IMAGES, TEST_LABELS, load_test_image, resolve_dir

Image = pytest.importorskip("PIL.Image")


def _digit() -> np.ndarray:
    """A synthetic MNIST-like '7': white strokes on black, inside a 20x20 box."""
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[5:8, 6:22] = 255
    for row in range(8, 24):
        col = 21 - (row - 8) // 2
        digit[row, col - 1:col + 2] = 200
    return digit


def _centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    mass = image.astype(np.float64)
    ys, xs = np.indices(image.shape)
    return float((ys * mass).sum() / mass.sum()), float((xs * mass).sum() / mass.sum())


def test_a_28x28_dark_png_is_taken_as_is(tmp_path):
    path = tmp_path / "seven.png"
    Image.fromarray(_digit()).save(path)
    assert np.array_equal(load_picture(path), _digit())


def test_a_light_background_is_inverted(tmp_path):
    path = tmp_path / "paper.png"
    Image.fromarray(255 - _digit()).save(path)
    assert np.array_equal(load_picture(path), _digit())


def test_a_large_off_centre_colour_photo_is_fitted_and_centred_like_mnist(tmp_path):
    page = np.full((300, 400, 3), 240, dtype=np.uint8)  # light page, dark ink, far from the middle
    page[30:150, 250:280] = (20, 20, 60)
    page[30:50, 210:330] = (20, 20, 60)
    path = tmp_path / "photo.jpg"
    Image.fromarray(page).save(path, quality=95)
    digit = load_picture(path)
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    assert digit[[0, -1]].max() < 40 and digit[:, [0, -1]].max() < 40  # dark border
    ink_rows = np.flatnonzero((digit > 64).any(axis=1))
    ink_cols = np.flatnonzero((digit > 64).any(axis=0))
    assert ink_rows[-1] - ink_rows[0] + 1 <= 21 and ink_cols[-1] - ink_cols[0] + 1 <= 21
    cy, cx = _centre_of_mass(digit)
    assert abs(cy - 14) <= 1.5 and abs(cx - 14) <= 1.5


def test_a_blank_picture_gives_a_blank_digit(tmp_path):
    path = tmp_path / "blank.png"
    Image.fromarray(np.full((50, 40), 255, dtype=np.uint8)).save(path)
    assert not load_picture(path).any()


def test_npy_files_single_and_batch(tmp_path):
    one, batch = tmp_path / "one.npy", tmp_path / "batch.npy"
    np.save(one, _digit())
    np.save(batch, np.stack([_digit(), 255 - _digit()]).reshape(2, 784))
    assert load_images(one).shape == (28, 28)  # as stored: the SDK makes one input a batch of one
    assert np.array_equal(load_images(batch)[1], (255 - _digit()).ravel())


def test_pictures_take_the_models_square_shape_and_nothing_else(tmp_path):
    path = tmp_path / "digit.png"
    Image.fromarray(255 - _digit()).resize((56, 56)).save(path)  # dark on light, twice the size
    assert load_images(path, (14, 14)).shape == (1, 14, 14)
    with pytest.raises(ValueError, match=r"square images; .* shape \[5\]"):
        load_images(path, (5,))


def test_pickled_npy_is_refused(tmp_path):
    path = tmp_path / "evil.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickle"):
        load_images(path)


def test_unsupported_file_types_name_the_allowed_ones(tmp_path):
    with pytest.raises(ValueError, match=r"allowed: \.npy, \.png"):
        load_images(tmp_path / "digit.gif")


def test_without_pillow_the_picture_loader_names_the_extra(tmp_path, monkeypatch):
    path = tmp_path / "seven.png"
    Image.fromarray(_digit()).save(path)
    monkeypatch.setitem(sys.modules, "PIL", None)  # makes `from PIL import Image` fail
    with pytest.raises(MissingExtraError, match=r"pip install 'nnservice\[images\]'") as info:
        load_images(path)
    assert INSTALL_HINT in str(info.value)


def _write_idx(directory, images: np.ndarray, labels: np.ndarray, compress: bool = True) -> None:
    opener, suffix = (gzip.open, ".gz") if compress else (open, "")
    with opener(directory / f"{TEST_IMAGES}{suffix}", "wb") as f:
        f.write(struct.pack(">IIII", 2051, *images.shape) + images.tobytes())
    with opener(directory / f"{TEST_LABELS}{suffix}", "wb") as f:
        f.write(struct.pack(">II", 2049, len(labels)) + labels.tobytes())


@pytest.mark.parametrize("compress", [True, False])
def test_idx_reader_returns_the_requested_image_and_label(tmp_path, compress):
    images = np.random.default_rng(5).integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    labels = np.array([4, 1, 9], dtype=np.uint8)
    _write_idx(tmp_path, images, labels, compress)
    for index in range(3):
        image, label = load_test_image(tmp_path, index)
        assert np.array_equal(image, images[index]) and label == labels[index]
    with pytest.raises(IndexError, match=r"allowed: 0\.\.2"):
        load_test_image(tmp_path, 3)
    with pytest.raises(IndexError):
        load_test_image(tmp_path, -1)


def test_idx_reader_rejects_wrong_magic_and_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=TEST_IMAGES):
        load_test_image(tmp_path, 0)
    with gzip.open(tmp_path / f"{TEST_IMAGES}.gz", "wb") as f:
        f.write(struct.pack(">IIII", 2049, 1, 28, 28) + bytes(784))
    with pytest.raises(ValueError, match="magic 2049, expected 2051"):
        load_test_image(tmp_path, 0)


def test_mnist_dir_comes_from_the_flag_then_the_environment_then_the_embedded_copy(tmp_path, monkeypatch,
                                                                                    mnist_dir):
    assert resolve_dir(tmp_path, {}) == tmp_path
    assert resolve_dir(None, {"NNSVC_MNIST_DIR": str(tmp_path)}) == tmp_path
    assert resolve_dir(None, {}) == client_mnist.EMBEDDED_MNIST_DIR == mnist_dir  # found without nncore
    monkeypatch.setattr(client_mnist, "EMBEDDED_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(ValueError, match="--mnist-dir"):
        resolve_dir(None, {})


def test_idx_reader_matches_a_full_decode_of_the_shared_test_set(mnist_dir):
    with gzip.open(mnist_dir / f"{TEST_IMAGES}.gz", "rb") as f:
        everything = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(mnist_dir / f"{TEST_LABELS}.gz", "rb") as f:
        all_labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    for index in (0, 1234, len(everything) - 1):
        image, label = load_test_image(mnist_dir, index)
        assert np.array_equal(image, everything[index]) and label == all_labels[index]
