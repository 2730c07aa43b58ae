"""The dataset registry: entries, register/unregister, loading once, and the built-in loaders."""

from __future__ import annotations

import gzip

import grpc
import numpy as np
import pytest

from nncore import download as nncore_download
from nncore.download import MNIST_FILES, DatasetNotFoundError
from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc
from server import datasets as server_datasets
from server.datasets import (FASHION_MNIST_CLASSES, DatasetEntry, DatasetRegistry, builtin_registry)
from server.errors import FailedPrecondition, InvalidArgument
from tests.conftest import wait_for_job
from tests.datasets_testutils import FASHION_REASON, fashion_mnist_installed, tiny_arrays, tiny_entry
from tests.nncore.nncore_testutils import idx_bytes, write_fake_mnist



def test_register_entry_unregister_and_names():
    registry = DatasetRegistry([tiny_entry("a")])
    registry.register(tiny_entry("b"))
    assert registry.names() == ["a", "b"] and registry.entry("B").name == "b"
    with pytest.raises(FailedPrecondition, match="'a' already exists"):
        registry.register(tiny_entry("a"))
    assert registry.unregister("a").name == "a"
    with pytest.raises(InvalidArgument, match="unknown dataset 'a'; the server knows: b"):
        registry.entry("a")


def test_built_in_entries_describe_mnist_and_fashion_mnist_and_stay(tmp_path):
    registry = builtin_registry(None, tmp_path, tmp_path)
    mnist, fashion = registry.entry(""), registry.entry("fashion-mnist")
    assert (mnist.name, mnist.input_shape, mnist.input_size, mnist.classes) == ("mnist", (28, 28), 784, 10)
    assert fashion.class_names == FASHION_MNIST_CLASSES and fashion.class_names[-1] == "Ankle boot"
    assert len(fashion.checksums) == 4 and (fashion.train_size, fashion.test_size) == (60000, 10000)
    with pytest.raises(FailedPrecondition, match="built-in"):
        registry.unregister("mnist")


@pytest.mark.parametrize("fields, words", [
    (dict(name="Bad Name"), "dataset name must match"),
    (dict(input_shape=()), "input_shape must be"),
    (dict(input_shape=(0, 3)), "input_shape must be"),
    (dict(class_names=("only",)), "at least 2 classes"),
    (dict(train_size=0), "train_size and test_size"),
    (dict(dtype="float64"), "dtype must be one of uint8, float32"),
])
def test_an_entry_that_cannot_describe_a_dataset_is_refused(fields, words):
    values = dict(name="ok", loader=tiny_arrays, input_shape=(28, 28), class_names=("a", "b"),
                  train_size=10, test_size=10)
    with pytest.raises(ValueError, match=words):
        DatasetEntry(**{**values, **fields})


def test_each_dataset_is_loaded_once_frozen_and_a_failed_load_is_retried():
    calls = []

    def loader():
        calls.append(1)
        if len(calls) == 1:
            raise OSError("disk hiccup")
        return tiny_arrays((2, 3), 2, 20, 10)

    registry = DatasetRegistry([DatasetEntry("d", loader, (2, 3), ("x", "y"), 20, 10)])
    with pytest.raises(OSError, match="hiccup"):
        registry.get("d")
    data = registry.get("d")
    assert registry.get("d") is data and len(calls) == 2
    assert data.x_train.shape == (20, 6) and not data.x_train.flags.writeable
    registry.unregister("d")
    with pytest.raises(InvalidArgument):
        registry.get("d")


@pytest.mark.parametrize("arrays, words", [
    (tiny_arrays((2, 2), 2, 20, 10), "train rows have 4 features; its input shape [2, 3] needs 6"),
    (tiny_arrays((2, 3), 5, 20, 10), "labels must be one per row, in 0..1"),
    (tuple(a.astype(np.float32) if i % 2 == 0 else a for i, a in enumerate(tiny_arrays((2, 3), 2, 20, 10))),
     "train examples are float32; its entry declares uint8"),
])
def test_loaded_arrays_must_fit_the_entry(arrays, words):
    registry = DatasetRegistry([DatasetEntry("d", lambda: arrays, (2, 3), ("x", "y"), 20, 10)])
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        registry.get("d")


def test_fashion_mnist_from_the_data_dir_comes_first(tmp_path):
    written = write_fake_mnist(tmp_path / "data" / "fashion-mnist")
    data = builtin_registry(None, tmp_path / "data", tmp_path / "cache").get("fashion-mnist")
    np.testing.assert_array_equal(data.t_train, written[MNIST_FILES[1]])
    assert data.x_train.shape == (12, 784)


def test_missing_fashion_mnist_says_where_it_looked_and_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(server_datasets, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "no-debian-package")
    registry = builtin_registry(None, tmp_path / "data", tmp_path / "cache")
    with pytest.raises(DatasetNotFoundError) as info:
        registry.get("fashion-mnist")
    message = str(info.value)
    assert "Fashion-MNIST not found" in message and "--allow-download" in message
    assert str(tmp_path / "data" / "fashion-mnist") in message and "no-debian-package" in message


def test_a_download_that_fails_its_checksum_is_refused_and_nothing_is_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(server_datasets, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "no-debian-package")
    fetched = []

    def fake_fetch(url: str) -> bytes:  # never the network: a file that is not Fashion-MNIST
        fetched.append(url)
        return gzip.compress(idx_bytes(np.zeros(3, np.uint8)))

    monkeypatch.setattr(nncore_download, "_urllib_fetch", fake_fetch)
    registry = builtin_registry(None, tmp_path / "data", tmp_path / "cache", allow_download=True)
    with pytest.raises(DatasetNotFoundError, match="does not match the expected"):
        registry.get("fashion-mnist")
    assert fetched and all("fashion-mnist" in url for url in fetched)
    assert not any((tmp_path / "data" / "fashion-mnist").iterdir())


@pytest.fixture(scope="module")
def fashion_installed():
    """The Debian package's folder; CI installs it, so a skip here fails CI (tests/skip_policy.py)."""
    if not fashion_mnist_installed():
        pytest.skip(FASHION_REASON)
    return server_datasets.DEBIAN_FASHION_MNIST_DIR


def test_fashion_mnist_from_the_debian_package(fashion_installed, mnist_cache):
    data = mnist_cache.get("fashion-mnist")
    assert data.x_train.shape == (60000, 784) and data.x_test.shape == (10000, 784)
    assert data.x_train.dtype == np.uint8 and set(np.unique(data.t_test)) == set(range(10))


@pytest.mark.slow
def test_a_short_fashion_mnist_job_reaches_a_sane_accuracy(fashion_installed, make_server):
    server = make_server()
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        job_id = stub.Train(pb.TrainRequest(dataset="fashion-mnist", hidden_size=64, epochs=1,
                                            eval_size=2000, seed=0)).job_id
        status = wait_for_job(stub, job_id)
        assert status.state == pb.JOB_STATE_SUCCEEDED, status.error
        assert status.history[-1].test_accuracy > 0.80  # 0.857 measured (one epoch, 784-64-10, Adam)
        info = stub.GetModel(pb.GetModelRequest(model_id=job_id))
        assert info.dataset == "fashion-mnist" and tuple(info.class_names) == FASHION_MNIST_CLASSES
