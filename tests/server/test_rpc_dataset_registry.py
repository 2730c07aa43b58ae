"""Datasets through a real server: the registry validates Train, a model knows its dataset,
Predict checks the model's own shape and answers class names; jobs pin the datasets they use."""

from __future__ import annotations

import json

import grpc
import numpy as np
import pytest

from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc
from server.datasets import DatasetRegistry
from server.errors import FailedPrecondition, InvalidArgument
from server.tensors import encode_array
from tests.conftest import wait_for_job
from tests.datasets_testutils import tiny_arrays, tiny_entry

NAMES = ("cat", "dog", "fish")
SHAPE = (3, 4)


@pytest.fixture
def shapes_server(make_server):
    """A server whose only dataset is "shapes": 3x4 inputs of three named classes."""
    registry = DatasetRegistry([tiny_entry("shapes", input_shape=SHAPE, class_names=NAMES)])
    return make_server(datasets=registry), registry


def _train(stub, **fields) -> pb.JobStatus:
    status = wait_for_job(stub, stub.Train(pb.TrainRequest(**fields)).job_id)
    assert status.state == pb.JOB_STATE_SUCCEEDED, status.error
    return status


def test_a_dataset_of_any_shape_trains_and_its_model_knows_it(shapes_server):
    server, _ = shapes_server
    _, _, x_test, t_test = tiny_arrays(SHAPE, len(NAMES))
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        status = _train(stub, dataset="shapes", hidden_size=16, epochs=5, batch_size=20, seed=0)
        assert status.config.dataset == "shapes" and status.history[-1].test_accuracy > 0.9
        info = stub.GetModel(pb.GetModelRequest(model_id=status.model_id))
        assert info.dataset == "shapes" and tuple(info.class_names) == NAMES
        assert list(info.architecture.input_shape) == list(SHAPE)
        assert (info.architecture.input_size, info.architecture.output_size) == (12, 3)
        asked = pb.PredictRequest(model_id=status.model_id, input=encode_array(x_test[:50]),
                                  include_class_names=True)
        answer = stub.Predict(asked)
        assert list(answer.class_names) == [NAMES[c] for c in answer.classes]
        assert np.mean(np.asarray(answer.classes) == t_test[:50]) > 0.9
        flat = stub.Predict(pb.PredictRequest(model_id=status.model_id, input=encode_array(x_test[:50].reshape(50, 12))))
        assert list(flat.classes) == list(answer.classes) and not flat.class_names  # not asked: none
        one = stub.Predict(pb.PredictRequest(model_id=status.model_id, input=encode_array(x_test[:1]),
                                             include_class_names=True))
        assert list(one.class_names) == [NAMES[one.classes[0]]]
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(pb.PredictRequest(model_id=status.model_id, input=encode_array(np.zeros((1, 784), np.uint8))))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "input shape must be [N, 12] or [N, 3, 4] for this model; got [1, 784]" in info.value.details()


def test_train_names_the_known_datasets_and_takes_sizes_from_the_entry(shapes_server):
    server, _ = shapes_server
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        for request, words in [(pb.TrainRequest(dataset="cifar10"), "unknown dataset 'cifar10'; the server knows: shapes"),
                               (pb.TrainRequest(), "unknown dataset 'mnist'; the server knows: shapes"),
                               (pb.TrainRequest(dataset="shapes", eval_size=201), "eval_size must be in [1, 200]")]:
            with pytest.raises(grpc.RpcError) as info:
                stub.Train(request)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and words in info.value.details()


def test_a_queued_or_running_job_pins_its_dataset(make_server, mnist_cache):
    server = make_server(max_concurrent_jobs=1)
    jobs = server.server._jobs  # the data plane's own answer, which DeleteDataset asks
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        running = stub.Train(pb.TrainRequest(hidden_size=256, epochs=50)).job_id  # mnist, minutes
        queued = stub.Train(pb.TrainRequest(dataset="tiny", epochs=1)).job_id
        assert jobs.jobs_using("mnist") == [running] and jobs.jobs_using("tiny") == [queued]
        assert jobs.jobs_using("fashion-mnist") == []
        for job_id in (queued, running):
            stub.CancelJob(pb.CancelJobRequest(job_id=job_id))
            wait_for_job(stub, job_id)
        assert jobs.jobs_using("mnist") == jobs.jobs_using("tiny") == []


def test_a_model_saved_before_datasets_were_recorded_is_served_as_mnist(make_server):
    first = make_server()
    with grpc.insecure_channel(first.target) as channel:
        model_id = _train(pb_grpc.NNServiceStub(channel), hidden_size=8, epochs=1, train_size=500,
                          eval_size=100).model_id
    first.stop()
    meta_path = first.settings.state_dir / "models" / model_id / "model.json"
    meta = json.loads(meta_path.read_text())
    assert (meta["dataset"], meta["input_shape"]) == ("mnist", [28, 28])
    for key in ("dataset", "input_shape", "class_names"):
        del meta[key]
    meta_path.write_text(json.dumps(meta))
    second = make_server(state_dir=first.settings.state_dir)
    with grpc.insecure_channel(second.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        info = stub.GetModel(pb.GetModelRequest(model_id=model_id))
        assert info.dataset == "mnist" and list(info.architecture.input_shape) == [28, 28]
        assert list(info.class_names) == [str(d) for d in range(10)]
        answer = stub.Predict(pb.PredictRequest(model_id=model_id, include_class_names=True,
                                                input=encode_array(np.zeros((2, 28, 28), np.uint8))))
        assert list(answer.class_names) == [str(c) for c in answer.classes]


def test_a_dataset_in_use_cannot_be_removed_and_a_removed_one_takes_no_jobs(make_server):
    registry = DatasetRegistry([tiny_entry("tiny"), tiny_entry("mine", input_shape=(4,), class_names="ab")])
    server = make_server(max_concurrent_jobs=1, datasets=registry)
    jobs = server.server._jobs
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        blocker = stub.Train(pb.TrainRequest(dataset="tiny", hidden_size=256, epochs=50, batch_size=1)).job_id
        queued = stub.Train(pb.TrainRequest(dataset="mine", epochs=1)).job_id
        with pytest.raises(FailedPrecondition, match=f"used by queued or running job\\(s\\) {queued}"):
            jobs.remove_dataset("mine")
        stub.CancelJob(pb.CancelJobRequest(job_id=queued))
        assert wait_for_job(stub, queued).state == pb.JOB_STATE_CANCELLED
        assert jobs.remove_dataset("mine").name == "mine" and jobs.datasets.names() == ["tiny"]
        assert registry.names() == ["mine", "tiny"]  # the server works on its own fork
        with pytest.raises(InvalidArgument, match="unknown dataset 'mine'"):  # a request validated before
            jobs.submit({"dataset": "mine", "epochs": 1}, "late")
        stub.CancelJob(pb.CancelJobRequest(job_id=blocker))
        wait_for_job(stub, blocker)
