"""TrainRequest validation and conversion; records and model metadata to messages."""

from __future__ import annotations

import math
from pathlib import Path

import grpc
import pytest

from protos import nn_service_pb2 as pb
from server.convert import job_to_status, model_to_info, train_request_to_spec
from server.datasets import builtin_registry
from server.errors import InvalidArgument
from server.records import FAILED, RUNNING, SUCCEEDED, JobRecord
from server.settings import Settings
from tests.datasets_testutils import tiny_entry

LIMITS = Settings(max_hidden_size=512, max_epochs=50)
# Entries only: nothing is loaded when a request is validated.
DATASETS = builtin_registry(None, Path("/nonexistent/data"), None)
DATASETS.register(tiny_entry("tiny", input_shape=(5,), class_names=("a", "b", "c"), n_train=300, n_test=40))


def spec(**fields):
    return train_request_to_spec(pb.TrainRequest(**fields), LIMITS, DATASETS)


def test_an_empty_request_takes_the_documented_defaults():
    s = spec()
    c = s.config
    assert (c.hidden_size, c.activation, c.weight_init, c.optimizer, c.learning_rate) == (
        100, "relu", "he", "adam", 0.001)
    assert (c.batch_size, c.epochs, c.train_size, c.eval_size, c.lr_schedule, c.sampling) == (
        100, 5, 60000, None, "constant", "shuffle")
    assert s.dataset == "mnist" and s.name == ""
    assert 0 <= c.seed < 2**63


def test_seed_is_drawn_when_unset_and_kept_when_set():
    assert len({spec().config.seed for _ in range(5)}) == 5
    assert spec(seed=0).config.seed == 0
    assert spec(seed=2**63 - 1).config.seed == 2**63 - 1


def test_given_values_are_kept_and_normalised():
    s = spec(hidden_size=32, activation="Sigmoid", optimizer="sgd", learning_rate=0.5, batch_size=10,
             epochs=3, train_size=1000, eval_size=200, lr_schedule="cosine", sampling="replacement",
             weight_init="std", name="my job", dataset="MNIST")
    c = s.config
    assert (c.hidden_size, c.activation, c.optimizer, c.learning_rate, c.batch_size, c.epochs) == (
        32, "sigmoid", "sgd", 0.5, 10, 3)
    assert (c.train_size, c.eval_size, c.lr_schedule, c.sampling, c.weight_init) == (
        1000, 200, "cosine", "replacement", "std")
    assert s.name == "my job" and s.config_dict()["dataset"] == "mnist"


def test_defaults_respect_small_limits_and_small_train_sizes():
    small = Settings(max_hidden_size=16, max_epochs=2)
    c = train_request_to_spec(pb.TrainRequest(train_size=40), small, DATASETS).config
    assert (c.hidden_size, c.epochs, c.batch_size) == (16, 2, 40)


def test_sizes_come_from_the_dataset_entry():
    s = spec(dataset="tiny")
    assert s.dataset == "tiny" and s.config.train_size == 300
    with pytest.raises(InvalidArgument, match=r"train_size must be in \[1, 300\]"):
        spec(dataset="tiny", train_size=301)
    with pytest.raises(InvalidArgument, match=r"eval_size must be in \[1, 40\]"):
        spec(dataset="tiny", eval_size=41)
    assert spec(dataset="fashion-mnist").config.train_size == 60000


@pytest.mark.parametrize("fields, fragment", [
    (dict(hidden_size=0), r"hidden_size must be in \[1, 512\]; got 0"),
    (dict(hidden_size=513), r"hidden_size must be in \[1, 512\]; got 513"),
    (dict(epochs=0), r"epochs must be in \[1, 50\]"),
    (dict(epochs=51), r"epochs must be in \[1, 50\]"),
    (dict(batch_size=0), r"batch_size must be in \[1, 60000\]"),
    (dict(batch_size=101, train_size=100), r"batch_size must be in \[1, 100\]"),
    (dict(train_size=0), r"train_size must be in \[1, 60000\]"),
    (dict(train_size=60001), r"train_size must be in \[1, 60000\]"),
    (dict(eval_size=0), r"eval_size must be in \[1, 10000\]"),
    (dict(eval_size=10001), r"eval_size must be in \[1, 10000\]"),
    (dict(learning_rate=0.0), r"learning_rate must be finite and in \(0, 10\]"),
    (dict(learning_rate=-1.0), r"learning_rate must be finite and in \(0, 10\]"),
    (dict(learning_rate=11.0), r"learning_rate must be finite and in \(0, 10\]"),
    (dict(learning_rate=math.nan), r"learning_rate must be finite"),
    (dict(learning_rate=math.inf), r"learning_rate must be finite"),
    (dict(activation="tanh"), r"activation must be one of relu, sigmoid; got 'tanh'"),
    (dict(optimizer="rmsprop"), r"optimizer must be one of sgd, momentum, adagrad, adam"),
    (dict(weight_init="zeros"), r"weight_init must be one of auto, he, xavier, std"),
    (dict(lr_schedule="step"), r"lr_schedule must be one of constant, cosine"),
    (dict(sampling="stratified"), r"sampling must be one of shuffle, replacement"),
    (dict(dataset="cifar10"), r"unknown dataset 'cifar10'; the server knows: fashion-mnist, mnist, tiny"),
    (dict(name="n" * 201), r"name must be at most 200 characters; got 201"),
    (dict(seed=2**63), r"seed must be an integer in \[0, 9223372036854775807\]"),
])
def test_each_bad_field_is_invalid_argument_naming_the_allowed_values(fields, fragment):
    with pytest.raises(InvalidArgument, match=fragment) as info:
        spec(**fields)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT


def record(**overrides) -> JobRecord:
    config = spec(hidden_size=8, epochs=2, seed=3, train_size=500).config_dict()
    values = dict(job_id="abc", name="n", config=config, state=RUNNING, created=1_700_000_000.25,
                  started=1_700_000_001.5, epoch=1, total_epochs=2, iteration=5, total_iterations=10,
                  loss=0.5, eta_seconds=3.0,
                  history=[dict(epoch=1, loss=0.7, train_accuracy=0.8, test_accuracy=0.75, seconds=0.1)])
    values.update(overrides)
    return JobRecord(**values)


def test_job_to_status_carries_every_field():
    status = job_to_status(record())
    assert status.job_id == "abc" and status.state == pb.JOB_STATE_RUNNING
    assert status.progress == pytest.approx(0.5) and status.eta_seconds == 3.0
    assert (status.epoch, status.total_epochs, status.iteration, status.total_iterations) == (1, 2, 5, 10)
    assert status.history[0].test_accuracy == pytest.approx(0.75)
    assert status.create_time.ToNanoseconds() == 1_700_000_000_250_000_000
    assert status.start_time.seconds == 1_700_000_001 and not status.HasField("end_time")
    assert (status.config.hidden_size, status.config.seed, status.config.train_size) == (8, 3, 500)
    assert status.config.eval_size == 0 and status.config.dataset == "mnist"


def test_finished_jobs_report_no_eta_and_full_progress():
    done = job_to_status(record(state=SUCCEEDED, ended=1_700_000_002.0, model_id="abc"))
    assert done.progress == 1.0 and done.eta_seconds == 0.0 and done.model_id == "abc"
    failed = job_to_status(record(state=FAILED, error="boom", loss=math.nan))
    assert failed.error == "boom" and failed.loss == 0.0


def test_model_to_info():
    meta = {"model_id": "abc", "job_id": "abc", "name": "n", "created": 1_700_000_000.0,
            "sha256": "f" * 64, "size_bytes": 1234, "config": record().config,
            "architecture": {"input_size": 784, "hidden_size": 8, "output_size": 10,
                             "activation": "relu", "dtype": "float32"},
            "final_metrics": record().history[0]}
    info = model_to_info(meta)
    assert (info.architecture.hidden_size, info.architecture.dtype, info.size_bytes) == (8, "float32", 1234)
    assert info.final_metrics.epoch == 1 and info.config.hidden_size == 8
    assert info.create_time.seconds == 1_700_000_000
    # A model.json from before datasets were recorded is an MNIST model.
    assert info.dataset == "mnist" and list(info.architecture.input_shape) == [28, 28]
    assert list(info.class_names) == [str(d) for d in range(10)]
    assert info.input_dtype == "uint8"  # every built-in dataset is pixels


def test_model_to_info_carries_the_dataset_shape_and_class_names():
    meta = {"model_id": "abc", "job_id": "abc", "created": 1.0, "sha256": "f" * 64, "size_bytes": 1,
            "config": record().config, "dataset": "tiny", "input_shape": [5], "class_names": ["a", "b", "c"],
            "architecture": {"input_size": 5, "hidden_size": 8, "output_size": 3,
                             "activation": "relu", "dtype": "float32"}}
    info = model_to_info(meta)
    assert info.dataset == "tiny" and list(info.architecture.input_shape) == [5]
    assert list(info.class_names) == ["a", "b", "c"]
    assert info.input_dtype == ""  # an uploaded dataset's, not recorded before input_dtype was
    assert model_to_info({**meta, "input_dtype": "float32"}).input_dtype == "float32"
