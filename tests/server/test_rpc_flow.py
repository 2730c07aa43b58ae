"""Train -> WatchJob -> GetStatus -> Predict against a real server on port 0, on real MNIST."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc
from server.tensors import encode_array

TEST_ROWS = 2000


@pytest.fixture(scope="module")
def test_images(mnist_cache):
    data = mnist_cache.get("mnist")
    return data.x_test[:TEST_ROWS], data.t_test[:TEST_ROWS]


@pytest.fixture
def model_stub(trained_model):
    with grpc.insecure_channel(trained_model.server.target) as channel:
        yield pb_grpc.NNServiceStub(channel)


def predict(stub, model_id, tensor) -> pb.PredictResponse:
    return stub.Predict(pb.PredictRequest(model_id=model_id, input=tensor))


def probabilities(response: pb.PredictResponse) -> np.ndarray:
    t = response.probabilities
    flat = np.frombuffer(t.raw_data, "<f4") if t.raw_data else np.asarray(t.float_data, np.float32)
    return flat.reshape(tuple(t.shape))


def test_watch_streams_progress_until_the_job_succeeds(stub):
    job = stub.Train(pb.TrainRequest(hidden_size=64, epochs=2, train_size=10000, eval_size=500, seed=3,
                                     name="watched"))
    assert len(job.job_id) == 16 and job.status.state == pb.JOB_STATE_QUEUED
    assert job.status.config.seed == 3 and job.status.name == "watched"
    updates = list(stub.WatchJob(pb.WatchJobRequest(job_id=job.job_id), timeout=60))
    states = [u.state for u in updates]
    assert states[-1] == pb.JOB_STATE_SUCCEEDED and pb.JOB_STATE_RUNNING in states
    progress = [u.progress for u in updates]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert [h.epoch for h in updates[-1].history] == [1, 2]
    status = stub.GetStatus(pb.GetStatusRequest(job_id=job.job_id))
    assert status.model_id == job.job_id and status.eta_seconds == 0.0
    assert status.end_time.ToNanoseconds() >= status.start_time.ToNanoseconds() >= status.create_time.ToNanoseconds() > 0


def test_predict_on_real_test_images_is_well_above_chance(trained_model, model_stub, test_images):
    x, t = test_images
    status = model_stub.GetStatus(pb.GetStatusRequest(job_id=trained_model.model_id))
    assert status.state == pb.JOB_STATE_SUCCEEDED and status.config.hidden_size == 32
    response = predict(model_stub, trained_model.model_id, encode_array(x.astype(np.float32) / 255))
    classes = np.asarray(response.classes)
    assert (classes == t).mean() > 0.8  # chance is 0.1
    probs = probabilities(response)
    assert probs.shape == (TEST_ROWS, 10) and response.probabilities.raw_data
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(probs.argmax(axis=1), classes)


def test_all_encodings_agree(trained_model, model_stub, test_images):
    x = test_images[0][:32]
    floats = x.astype(np.float32) / 255
    raw = predict(model_stub, trained_model.model_id, encode_array(floats))
    pixels = predict(model_stub, trained_model.model_id, encode_array(x))
    packed = predict(model_stub, trained_model.model_id, encode_array(floats, as_floats=True))
    image_shaped = pb.Tensor(shape=[32, 28, 28], raw_data=floats.tobytes())
    shaped = predict(model_stub, trained_model.model_id, image_shaped)
    assert packed.probabilities.float_data and not packed.probabilities.raw_data
    reference = probabilities(raw)
    for other in (pixels, packed, shaped):
        assert list(other.classes) == list(raw.classes)
        np.testing.assert_allclose(probabilities(other), reference, rtol=1e-4, atol=1e-6)
    for i in range(4):  # one row at a time takes the server's single-row path: the same answers
        for tensor in (encode_array(x[i:i + 1]), encode_array(floats[i:i + 1]),
                       encode_array(floats[i:i + 1], as_floats=True)):
            one = predict(model_stub, trained_model.model_id, tensor)
            assert list(one.classes) == [raw.classes[i]] and list(one.probabilities.shape) == [1, 10]
            assert bool(one.probabilities.float_data) == bool(tensor.float_data)
            np.testing.assert_allclose(probabilities(one)[0], reference[i], rtol=1e-4, atol=1e-6)
