"""Restart: stop a server mid-training, start another on the same state dir, nothing is lost."""

from __future__ import annotations

import grpc
import numpy as np

from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc

# A quarter to half a second per epoch here: the stop lands mid-training after the first checkpoint.
SLOW_JOB = dict(hidden_size=256, epochs=5, train_size=30000, eval_size=1000, seed=5, name="interrupted")
PIXELS = pb.Tensor(shape=[2, 784], dtype=pb.DTYPE_UINT8, raw_data=bytes(range(256)) * 6 + bytes(32))


def until_epoch(stub, job_id: str, epoch: int) -> pb.JobStatus:
    stream = stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=60)
    for status in stream:
        if status.epoch >= epoch:
            stream.cancel()
            return status
    raise AssertionError(f"job {job_id} ended before epoch {epoch}: {status}")


def test_records_and_models_survive_and_the_interrupted_job_resumes(make_server):
    first = make_server(shutdown_grace=5.0)
    with grpc.insecure_channel(first.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        done = stub.Train(pb.TrainRequest(hidden_size=8, epochs=1, train_size=500, eval_size=100)).job_id
        assert list(stub.WatchJob(pb.WatchJobRequest(job_id=done), timeout=60))[-1].state == pb.JOB_STATE_SUCCEEDED
        before_probs = stub.Predict(pb.PredictRequest(model_id=done, input=PIXELS)).probabilities.raw_data
        slow = stub.Train(pb.TrainRequest(**SLOW_JOB)).job_id
        before = until_epoch(stub, slow, 1)
    first.stop(grace=5.0)

    second = make_server(state_dir=first.settings.state_dir)
    with grpc.insecure_channel(second.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        finished = stub.GetStatus(pb.GetStatusRequest(job_id=done))
        assert finished.state == pb.JOB_STATE_SUCCEEDED and finished.model_id == done
        assert [m.model_id for m in stub.ListModels(pb.ListModelsRequest()).models] == [done]
        after_probs = stub.Predict(pb.PredictRequest(model_id=done, input=PIXELS)).probabilities.raw_data
        assert after_probs == before_probs

        resumed = stub.GetStatus(pb.GetStatusRequest(job_id=slow))
        assert resumed.state in (pb.JOB_STATE_QUEUED, pb.JOB_STATE_RUNNING)
        assert 1 <= resumed.epoch < 5 and resumed.name == "interrupted"
        statuses = list(stub.WatchJob(pb.WatchJobRequest(job_id=slow), timeout=60))
        final = statuses[-1]
        assert final.state == pb.JOB_STATE_SUCCEEDED and final.model_id == slow
        # after the resume the time left is measured again from this run's own steps
        resumed_running = [s for s in statuses if s.state == pb.JOB_STATE_RUNNING and s.iteration > resumed.iteration + 2]
        assert resumed_running and all(s.eta_seconds > 0 for s in resumed_running[:-1])
        assert final.eta_seconds == 0
        assert [h.epoch for h in final.history] == [1, 2, 3, 4, 5]
        # epoch 1 was restored from the checkpoint, not trained again
        assert final.history[0].seconds == before.history[0].seconds
        assert final.create_time == before.create_time and final.start_time == before.start_time
        probs = stub.Predict(pb.PredictRequest(model_id=slow, input=PIXELS)).probabilities
        np.testing.assert_allclose(np.frombuffer(probs.raw_data, "<f4").reshape(2, 10).sum(axis=1), 1.0, rtol=1e-5)
