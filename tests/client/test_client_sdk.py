"""NNClient against a real server on port 0: every method, its results and its errors."""
from __future__ import annotations

import io
import re

import grpc
import numpy as np
import pytest

from client import NNClient, NNServiceError
from client.mnist import load_test_image
from server.datasets import DatasetRegistry
from tests.datasets_testutils import tiny_arrays, tiny_entry

from .conftest import LONG_JOB, TINY_JOB


@pytest.fixture
def client(nn_server):
    """An NNClient on a fresh server."""
    with NNClient(nn_server.target, timeout=30) as sdk:
        yield sdk


@pytest.fixture(scope="module")
def shared(trained_model):
    """An NNClient on the session server that holds the trained model."""
    with NNClient(trained_model.server.target, timeout=30) as sdk:
        yield sdk


def _code(call) -> grpc.StatusCode:
    with pytest.raises(NNServiceError) as info:
        call()
    return info.value.code


def test_health(client):
    assert client.health().serving
    assert client.health("nnservice.v1.NNService").status == "SERVING"


def test_train_watch_wait_and_status_agree(client):
    job_id, first = client.train(name="tiny", **TINY_JOB)
    assert re.fullmatch(r"[0-9a-f]{16}", job_id)
    assert first.job_id == job_id and first.state in ("QUEUED", "RUNNING") and first.name == "tiny"
    seen = list(client.watch(job_id))
    assert seen[-1].done and seen[-1].state == "SUCCEEDED"
    assert [s.iteration for s in seen] == sorted(s.iteration for s in seen)
    final = client.wait(job_id, progress=False)
    assert final.state == "SUCCEEDED" and final.model_id == job_id
    assert len(final.history) == TINY_JOB["epochs"] == final.epoch
    assert final.config.hidden_size == TINY_JOB["hidden_size"] and final.config.seed == TINY_JOB["seed"]
    assert final.start_time <= final.end_time
    assert client.status(job_id) == final


def test_wait_draws_a_progress_bar_with_epoch_loss_and_accuracy(client):
    job_id, _ = client.train(**TINY_JOB)
    bar = io.StringIO()
    final = client.wait(job_id, progress=True, file=bar)
    text = bar.getvalue()
    assert final.state == "SUCCEEDED"
    assert f"job {job_id}" in text and f"epoch={final.epoch}/{final.total_epochs}" in text
    assert "loss=" in text and "acc=" in text and f"{final.total_iterations}/{final.total_iterations}" in text


def test_bad_hyperparameters_are_refused_by_the_server(client):
    with pytest.raises(NNServiceError) as info:
        client.train(epochs=10_000)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT and "epochs" in info.value.message
    assert info.value.method == "Train"


def test_cancel_a_running_job_and_a_watch_deadline(client):
    job_id, _ = client.train(**LONG_JOB)
    with pytest.raises(NNServiceError) as info:
        list(client.watch(job_id, timeout=0.3))
    assert info.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert client.cancel(job_id).state in ("CANCELLING", "CANCELLED")
    final = client.wait(job_id, progress=False, timeout=60)
    assert final.state == "CANCELLED" and final.model_id == ""
    assert _code(lambda: client.cancel(job_id)) == grpc.StatusCode.FAILED_PRECONDITION


def test_unknown_and_malformed_ids(client):
    for call in (lambda: client.status("abc"), lambda: client.cancel("abc"),
                 lambda: client.get_model("abc"), lambda: list(client.watch("abc"))):
        assert _code(call) == grpc.StatusCode.NOT_FOUND
    with pytest.raises(NNServiceError, match="abc") as info:
        client.status("abc")
    assert str(info.value).startswith("NOT_FOUND: ")
    assert _code(lambda: client.status("../etc")) == grpc.StatusCode.INVALID_ARGUMENT


def test_list_jobs_newest_first_with_paging_filter_and_limit(client):
    ids = []
    for seed in (1, 2, 3):
        job_id, _ = client.train(**{**TINY_JOB, "seed": seed})
        client.wait(job_id, progress=False)
        ids.append(job_id)
    jobs = client.list_jobs()
    assert [j.job_id for j in jobs] == ids[::-1]
    assert [j.job_id for j in client.list_jobs(page_size=1)] == ids[::-1]  # follows page tokens
    assert [j.job_id for j in client.list_jobs(page_size=1, limit=2)] == ids[:0:-1]
    assert {j.job_id for j in client.list_jobs(state="succeeded")} == set(ids)
    assert client.list_jobs(state="RUNNING") == []
    with pytest.raises(ValueError, match="allowed"):
        client.list_jobs(state="sleeping")


def test_list_models_and_get_model(shared, trained_model):
    models = {m.model_id: m for m in shared.list_models(page_size=1)}
    assert trained_model.model_id in models
    info = shared.get_model(trained_model.model_id)
    assert info == models[trained_model.model_id]
    assert info.job_id == trained_model.model_id
    assert (info.architecture.input_size, info.architecture.hidden_size, info.architecture.output_size) == (784, 32, 10)
    assert info.config.train_size == 5000 and len(info.sha256) == 64 and info.size_bytes > 0
    assert info.final_metrics == shared.status(trained_model.model_id).last_metrics


def test_predict_uint8_float_and_single_images_agree(shared, trained_model, mnist_dir):
    pixels = np.stack([load_test_image(mnist_dir, i)[0] for i in range(32)])  # (32, 28, 28) uint8
    as_uint8 = shared.predict(trained_model.model_id, pixels)
    as_float = shared.predict(trained_model.model_id, (pixels / 255.0).reshape(32, 784))
    assert as_uint8.classes.dtype == np.int64 and as_uint8.classes.shape == (32,)
    assert as_uint8.probabilities.dtype == np.float32 and as_uint8.probabilities.shape == (32, 10)
    assert np.allclose(as_uint8.probabilities.sum(axis=1), 1.0, atol=1e-4)
    assert np.array_equal(as_uint8.classes, as_uint8.probabilities.argmax(axis=1))
    assert np.array_equal(as_uint8.classes, as_float.classes)
    assert np.allclose(as_uint8.probabilities, as_float.probabilities, atol=1e-5)
    one = shared.predict(trained_model.model_id, pixels[5])
    assert len(one) == 1 and one.classes[0] == as_uint8.classes[5]
    assert np.allclose(one.probabilities[0], as_uint8.probabilities[5], atol=1e-6)
    flat = shared.predict(trained_model.model_id, pixels[5].ravel())  # [784]: one image too
    assert np.array_equal(flat.probabilities, one.probabilities)
    assert one.probabilities.flags.writeable  # a copy, not a view of the message
    strided = shared.predict(trained_model.model_id, pixels[::2])  # not contiguous: sent in C order
    assert np.allclose(strided.probabilities, as_uint8.probabilities[::2], atol=1e-6)


def test_a_large_batch_is_split_under_the_server_limits(trained_model):
    """12000 rows exceed the test server's 10000-row and 8 MiB limits in one request."""
    pixels = np.random.default_rng(0).integers(0, 256, size=(12_000, 784), dtype=np.uint8)
    target, model_id = trained_model.server.target, trained_model.model_id
    with NNClient(target, max_request_bytes=64 << 20, max_batch_rows=20_000) as unsplit:
        assert _code(lambda: unsplit.predict(model_id, pixels)) in (
            grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED)
    with NNClient(target) as client:
        whole = client.predict(model_id, pixels)
    with NNClient(target, max_request_bytes=100_000) as small:  # 126 rows a request
        pieces = small.predict(model_id, pixels[:1000])
    assert whole.probabilities.shape == (12_000, 10)
    assert np.array_equal(pieces.classes, whole.classes[:1000])
    assert np.allclose(pieces.probabilities, whole.probabilities[:1000], atol=1e-6)


def test_predict_errors(shared, trained_model):
    model_id = trained_model.model_id
    assert _code(lambda: shared.predict("0123456789abcdef", np.zeros((1, 784), np.uint8))) == grpc.StatusCode.NOT_FOUND
    with pytest.raises(NNServiceError, match=r"\[N, 784\]") as info:
        shared.predict(model_id, np.zeros((2, 100), np.uint8))
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT and info.value.method == "Predict"
    assert _code(lambda: shared.predict(model_id, np.zeros((0, 784), np.uint8))) == grpc.StatusCode.INVALID_ARGUMENT


def test_a_stopped_server_gives_unavailable(make_server):
    server = make_server()
    with NNClient(server.target, retry_attempts=2) as client:
        assert client.health().serving
        server.stop(0)
        assert _code(client.list_models) == grpc.StatusCode.UNAVAILABLE


def test_a_deep_network_from_the_sdk(client):
    job_id, _ = client.train(hidden_sizes=[24, 12], batch_norm=True, dropout=0.1, weight_decay=1e-4,
                             epochs=1, train_size=1000, eval_size=200, seed=2)
    final = client.wait(job_id, progress=False)
    assert final.state == "SUCCEEDED", final.error
    config = final.config
    assert config.hidden_sizes == (24, 12) and config.batch_norm and config.dropout == pytest.approx(0.1)
    assert config.weight_decay == pytest.approx(1e-4)
    arch = client.get_model(job_id).architecture
    assert arch.layers == "784-24-12-10" and arch.batch_norm
    assert arch.parameter_count == 784 * 24 + 24 + 24 * 12 + 12 + 12 * 10 + 10 + 2 * (24 + 12)
    assert _code(lambda: client.train(hidden_size=8, hidden_sizes=[8])) == grpc.StatusCode.INVALID_ARGUMENT
def test_a_model_of_another_shape_with_class_names(make_server):
    names, shape = ("cat", "dog", "fish"), (3, 4)
    server = make_server(datasets=DatasetRegistry([tiny_entry("shapes", input_shape=shape, class_names=names)]))
    _, _, x_test, t_test = tiny_arrays(shape, len(names))
    with NNClient(server.target, timeout=30) as sdk:
        job_id, _ = sdk.train(dataset="shapes", hidden_size=16, epochs=5, batch_size=20, seed=0)
        model_id = sdk.wait(job_id, progress=False).model_id
        info = sdk.get_model(model_id)
        assert (info.dataset, info.class_names, info.architecture.input_shape) == ("shapes", names, shape)
        batch = sdk.predict(model_id, x_test[:40])
        assert batch.class_names == tuple(names[c] for c in batch.classes)
        assert batch.probabilities.shape == (40, 3) and np.mean(batch.classes == t_test[:40]) > 0.9
        flat = sdk.predict(model_id, x_test[:40].reshape(40, 12) / 255.0)
        assert np.array_equal(flat.classes, batch.classes)
        one = sdk.predict(model_id, x_test[0])  # one input of the model's shape: a batch of one
        assert len(one) == 1 and one.class_names == (names[int(one.classes[0])],)
        with pytest.raises(NNServiceError) as info:
            sdk.predict(model_id, np.zeros((28, 28), np.uint8))
        assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT and "[N, 12] or [N, 3, 4]" in str(info.value)
