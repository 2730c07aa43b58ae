"""Unit tests for client.types: protobuf messages to dataclasses, enum strings, JSON."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
import pytest

from client import JOB_STATES, TERMINAL_STATES, JobStatus, ModelInfo, Prediction, TrainingConfig
from client.types import EpochMetrics, state_name, state_value, to_jsonable
from protos import nn_service_pb2 as pb

CREATED = dt.datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=dt.timezone.utc)


def _config_message() -> pb.TrainingConfig:
    return pb.TrainingConfig(hidden_size=64, activation="relu", weight_init="he", optimizer="adam",
                             learning_rate=0.001, batch_size=100, epochs=3, seed=2**40 + 7,
                             dataset="mnist", train_size=5000, eval_size=1000,
                             lr_schedule="cosine", sampling="shuffle")


def _status_message(state=pb.JOB_STATE_RUNNING) -> pb.JobStatus:
    message = pb.JobStatus(
        job_id="0123456789abcdef", name="demo", state=state, progress=0.5, epoch=1, total_epochs=2,
        iteration=50, total_iterations=100, loss=0.31, eta_seconds=4.5, config=_config_message(),
        note="worker tcp://a:1 was lost mid-job; resumed from epoch 1 on worker tcp://b:2",
        history=[pb.EpochMetrics(epoch=1, loss=0.4, train_accuracy=0.9, test_accuracy=0.88, seconds=1.5)],
    )
    message.create_time.FromDatetime(CREATED)
    return message


def test_job_status_carries_every_field_with_python_types():
    status = JobStatus.from_proto(_status_message())
    assert status.state == "RUNNING"
    assert (status.epoch, status.total_epochs, status.iteration, status.total_iterations) == (1, 2, 50, 100)
    assert status.history == (EpochMetrics(1, 0.4, 0.9, 0.88, 1.5),)
    assert status.last_metrics.test_accuracy == pytest.approx(0.88)
    assert status.create_time == CREATED and status.create_time.tzinfo is not None
    assert status.start_time is None and status.end_time is None
    assert status.config.seed == 2**40 + 7 and status.config.lr_schedule == "cosine"
    assert status.note.startswith("worker tcp://a:1 was lost")
    assert not status.done


def test_a_status_without_config_or_history_has_none():
    status = JobStatus.from_proto(pb.JobStatus(job_id="x", state=pb.JOB_STATE_QUEUED))
    assert status.config is None and status.last_metrics is None and status.history == ()


@pytest.mark.parametrize("name", JOB_STATES)
def test_done_exactly_for_terminal_states(name):
    status = JobStatus.from_proto(_status_message(state_value(name)))
    assert status.state == name
    assert status.done == (name in TERMINAL_STATES)


def test_state_names_are_accepted_in_any_spelling():
    assert state_value("running") == state_value("JOB_STATE_RUNNING") == pb.JOB_STATE_RUNNING
    with pytest.raises(ValueError, match="allowed: QUEUED, RUNNING"):
        state_value("sleeping")
    assert state_name(0) == "UNSPECIFIED"
    assert state_name(99) == "UNKNOWN_99"


def test_dataclasses_cover_every_field_of_their_messages():
    assert {f.name for f in dataclasses.fields(TrainingConfig)} == set(pb.TrainingConfig.DESCRIPTOR.fields_by_name)
    assert {f.name for f in dataclasses.fields(JobStatus)} == set(pb.JobStatus.DESCRIPTOR.fields_by_name)
    assert {f.name for f in dataclasses.fields(ModelInfo)} == set(pb.ModelInfo.DESCRIPTOR.fields_by_name)


def test_model_info_from_proto():
    message = pb.ModelInfo(
        model_id="m1", job_id="m1", name="n", sha256="ab" * 32, size_bytes=12345,
        architecture=pb.Architecture(input_size=784, hidden_size=32, output_size=10,
                                     activation="relu", dtype="float32"),
        config=_config_message(),
        final_metrics=pb.EpochMetrics(epoch=2, loss=0.2, train_accuracy=0.95, test_accuracy=0.93),
    )
    info = ModelInfo.from_proto(message)
    assert info.architecture.hidden_size == 32 and info.architecture.dtype == "float32"
    assert info.final_metrics.epoch == 2 and info.config.hidden_size == 64
    assert info.create_time is None and info.size_bytes == 12345
    bare = ModelInfo.from_proto(pb.ModelInfo(model_id="m2"))
    assert bare.architecture is None and bare.final_metrics is None and bare.config is None


def test_json_conversion_round_trips_through_json():
    status = JobStatus.from_proto(_status_message())
    data = json.loads(json.dumps(to_jsonable(status)))
    assert data["state"] == "RUNNING"
    assert data["history"][0]["test_accuracy"] == pytest.approx(0.88)
    assert dt.datetime.fromisoformat(data["create_time"]) == CREATED
    assert data["start_time"] is None and data["config"]["seed"] == 2**40 + 7

    probs = np.eye(10, dtype=np.float32)[[3, 7]]
    prediction = Prediction("m", np.array([3, 7], dtype=np.int64), probs)
    data = json.loads(json.dumps(to_jsonable(prediction)))
    assert data["classes"] == [3, 7] and len(data["probabilities"]) == 2 and len(prediction) == 2
    assert "n=2" in repr(prediction)
