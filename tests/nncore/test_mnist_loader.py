"""load_mnist on tiny IDX files the test writes: formats, .npz cache, data directory resolution."""

import gzip
import hashlib
import logging
import os
import re
import zipfile

import numpy as np
import pytest
from nncore_testutils import MNIST_DIR, write_fake_mnist, write_idx

from nncore import idxset, mnist
from nncore.mnist import CACHE_NAME, MNIST_FILES, MNIST_SHA256, MnistNotFoundError, default_mnist_dir, load_mnist

X_TRAIN, T_TRAIN, X_TEST, T_TEST = MNIST_FILES


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_load_formats(gz, tmp_path):
    a = write_fake_mnist(tmp_path, gz=gz)
    (x, t), (xt, tt) = load_mnist(data_dir=tmp_path)
    assert x.shape == (12, 784) and x.dtype == np.float32 and xt.shape == (5, 784)
    np.testing.assert_array_equal(x, a[X_TRAIN].reshape(12, -1).astype(np.float32) / 255)
    assert 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_array_equal(t, a[T_TRAIN])
    assert t.dtype == np.uint8
    (x, t), (xt, tt) = load_mnist(normalize=False, flatten=False, one_hot_label=True, data_dir=tmp_path)
    assert x.shape == (12, 1, 28, 28) and x.dtype == np.uint8
    np.testing.assert_array_equal(x[:, 0], a[X_TRAIN])
    assert t.shape == (12, 10) and t.dtype == np.float32
    np.testing.assert_array_equal(t.argmax(axis=1), a[T_TRAIN])
    np.testing.assert_array_equal(t.sum(axis=1), 1.0)
    np.testing.assert_array_equal(tt.argmax(axis=1), a[T_TEST])


def test_cache_is_an_npz_without_pickle_and_is_used(tmp_path):
    a = write_fake_mnist(tmp_path)
    load_mnist(data_dir=tmp_path)
    cache = tmp_path / CACHE_NAME
    with np.load(cache, allow_pickle=False) as npz:
        assert all(npz[k].dtype != object for k in npz.files)
        np.testing.assert_array_equal(npz["x_train"], a[X_TRAIN])
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
    for name in MNIST_FILES:  # only the cache is left: loading must still work
        (tmp_path / name).unlink()
    (_, t), _ = load_mnist(data_dir=tmp_path, normalize=False)
    np.testing.assert_array_equal(t, a[T_TRAIN])


def test_stale_cache_is_rebuilt(tmp_path):
    write_fake_mnist(tmp_path, seed=0)
    load_mnist(data_dir=tmp_path)
    new_labels = (np.arange(12) % 10).astype(np.uint8)
    write_idx(tmp_path / T_TRAIN, new_labels)
    os.utime(tmp_path / T_TRAIN, ns=(1, 1))  # a different mtime even on a coarse clock
    (_, t), _ = load_mnist(data_dir=tmp_path)
    np.testing.assert_array_equal(t, new_labels)


def test_corrupt_cache_is_ignored_and_rebuilt(tmp_path, caplog):
    a = write_fake_mnist(tmp_path)
    (tmp_path / CACHE_NAME).write_bytes(b"PK\x03\x04 definitely not a zip")
    with caplog.at_level(logging.WARNING, logger="nncore.idxset"):
        (_, t), _ = load_mnist(data_dir=tmp_path)
    np.testing.assert_array_equal(t, a[T_TRAIN])
    assert "ignoring unreadable MNIST cache" in caplog.text
    assert zipfile.is_zipfile(tmp_path / CACHE_NAME)


def test_read_only_data_dir_loads_without_caching(tmp_path):
    a = write_fake_mnist(tmp_path / "ro")
    (tmp_path / "ro").chmod(0o555)
    try:
        (_, t), _ = load_mnist(data_dir=tmp_path / "ro")
        np.testing.assert_array_equal(t, a[T_TRAIN])
        assert not (tmp_path / "ro" / CACHE_NAME).exists()
        load_mnist(data_dir=tmp_path / "ro", cache_dir=tmp_path / "cache")
        assert (tmp_path / "cache" / CACHE_NAME).is_file()
    finally:
        (tmp_path / "ro").chmod(0o755)


def test_unwritable_cache_location_is_skipped_silently(tmp_path, caplog):
    a = write_fake_mnist(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with caplog.at_level(logging.WARNING, logger="nncore.mnist"):
        (_, t), (_, tt) = load_mnist(data_dir=tmp_path, cache_dir=blocker / "cache")
    np.testing.assert_array_equal(t, a[T_TRAIN])  # the data still loads, from the IDX files
    np.testing.assert_array_equal(tt, a[T_TEST])
    assert blocker.read_text() == "not a directory" and not (tmp_path / CACHE_NAME).exists()
    assert not caplog.records  # silently: no warning for a cache that cannot be written


def test_missing_files_raise_mnist_not_found_naming_dir_and_files(tmp_path):
    write_fake_mnist(tmp_path)
    (tmp_path / T_TEST).unlink()
    with pytest.raises(MnistNotFoundError) as excinfo:
        load_mnist(data_dir=tmp_path)
    message = str(excinfo.value)
    assert isinstance(excinfo.value, FileNotFoundError)
    assert str(tmp_path) in message and f"missing {T_TEST}" in message
    assert all(name in message for name in MNIST_FILES) and "download" in message


def test_download_true_fetches_missing_files(tmp_path, monkeypatch):
    arrays = write_fake_mnist(tmp_path / "src")
    calls = []

    def fake_download(data_dir, **kwargs):
        calls.append(data_dir)
        data_dir.mkdir()
        for name in MNIST_FILES:
            write_idx(data_dir / name, arrays[name])

    monkeypatch.setattr(idxset, "download_idx_files", fake_download)
    (_, t), _ = load_mnist(data_dir=tmp_path / "dst", download=True)
    assert calls == [tmp_path / "dst"]
    np.testing.assert_array_equal(t, arrays[T_TRAIN])


@pytest.mark.parametrize(
    ("name", "arr", "message"),
    [
        (T_TRAIN, np.zeros(11, dtype=np.uint8), "11 labels for 12 images"),
        (T_TRAIN, np.full(12, 10, dtype=np.uint8), r"labels must be in 0..9"),
        (X_TRAIN, np.zeros((12, 784), dtype=np.uint8), r"expected uint8 images of shape \(N, rows, cols\)"),
        (T_TEST, np.zeros((5, 1), dtype=np.uint8), r"expected uint8 labels of shape \(N,\)"),
    ],
)
def test_wrong_dimensions_raise_value_error_naming_the_file(name, arr, message, tmp_path):
    write_fake_mnist(tmp_path)
    write_idx(tmp_path / name, arr)
    with pytest.raises(ValueError, match=message) as excinfo:
        load_mnist(data_dir=tmp_path)
    assert str(tmp_path / name) in str(excinfo.value)


def test_truncated_file_raises_value_error_naming_it(tmp_path):
    write_fake_mnist(tmp_path)
    path = tmp_path / X_TEST
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="truncated") as excinfo:
        load_mnist(data_dir=tmp_path)
    assert str(path) in str(excinfo.value)


def test_data_dir_resolution(tmp_path, monkeypatch):
    a = write_fake_mnist(tmp_path / "env")
    monkeypatch.setenv("NNSVC_MNIST_DIR", str(tmp_path / "env"))
    (_, t), _ = load_mnist()
    np.testing.assert_array_equal(t, a[T_TRAIN])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_mnist_dir() == tmp_path / "xdg" / "nnservice" / "mnist"
    monkeypatch.delenv("NNSVC_MNIST_DIR")
    monkeypatch.setattr(mnist, "EMBEDDED_MNIST_DIR", tmp_path / "no-embedded-copy")
    with pytest.raises(MnistNotFoundError, match=str(tmp_path / "xdg" / "nnservice" / "mnist")):
        load_mnist()
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_mnist_dir() == tmp_path / "home" / ".cache" / "nnservice" / "mnist"


def test_real_mnist_from_the_embedded_copy_without_writing_into_it(mnist_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("NNSVC_MNIST_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cache_existed = (mnist_dir / CACHE_NAME).exists()
    (x, t), (xt, tt) = load_mnist(normalize=False)
    assert x.shape == (60000, 784) and xt.shape == (10000, 784) and x.dtype == np.uint8
    assert t.shape == (60000,) and tt.shape == (10000,)
    assert set(np.unique(t)) == set(range(10)) and set(np.unique(tt)) == set(range(10))
    assert x.max() == 255 and x.min() == 0
    assert (mnist_dir / CACHE_NAME).exists() == cache_existed  # never writes into the package
    assert (default_mnist_dir() / CACHE_NAME).is_file()  # the parsed copy went to the user cache
    assert MNIST_DIR == mnist_dir == mnist.EMBEDDED_MNIST_DIR


def test_embedded_mnist_matches_its_published_checksums(mnist_dir):
    for name in MNIST_FILES:
        content = gzip.decompress((mnist_dir / f"{name}.gz").read_bytes())
        assert hashlib.sha256(content).hexdigest() == MNIST_SHA256[name], name
        assert MNIST_SHA256[name] in (mnist_dir / "README.md").read_text()


def test_the_embedded_files_are_package_data_so_an_install_carries_them(mnist_dir):
    root = mnist_dir.parents[2]
    pyproject = (root / "pyproject.toml").read_text()
    declared = re.search(r'^nncore = \[(.*)\]$', pyproject, re.MULTILINE)
    assert declared, "pyproject.toml lacks nncore's package-data"
    patterns = re.findall(r'"([^"]+)"', declared.group(1))
    carried = {p.name for pattern in patterns for p in (root / "nncore").glob(pattern)}
    assert {f"{name}.gz" for name in MNIST_FILES} | {"README.md"} <= carried
