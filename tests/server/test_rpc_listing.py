"""ListJobs (state filter, paging) and ListModels / GetModel against a real server."""

from __future__ import annotations

import grpc
import pytest

from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc

TINY = dict(hidden_size=8, epochs=1, train_size=300, eval_size=100)
LONG = dict(hidden_size=512, epochs=50, eval_size=100)


def all_pages(fetch, page_size: int) -> list[list]:
    pages, token = [], ""
    while True:
        items, token = fetch(page_size, token)
        pages.append(items)
        if not token:
            return pages


@pytest.fixture(scope="module")
def populated(request, mnist_dir, mnist_cache, tmp_path_factory):
    """A server with 3 SUCCEEDED, 1 RUNNING and 1 CANCELLED job (newest last in `ids`)."""
    from tests.conftest import TEST_SETTINGS, start_server
    from server import Settings

    settings = Settings(**{**TEST_SETTINGS, "max_concurrent_jobs": 1, "mnist_dir": mnist_dir,
                           "state_dir": tmp_path_factory.mktemp("listing")})
    running = start_server(settings, mnist_cache)
    channel = grpc.insecure_channel(running.target)
    stub = pb_grpc.NNServiceStub(channel)
    ids = []
    for i in range(3):
        ids.append(stub.Train(pb.TrainRequest(name=f"tiny {i}", **TINY)).job_id)
        assert list(stub.WatchJob(pb.WatchJobRequest(job_id=ids[-1]), timeout=60))[-1].state == pb.JOB_STATE_SUCCEEDED
    ids.append(stub.Train(pb.TrainRequest(name="long", **LONG)).job_id)
    # The filter tests need "long" RUNNING, not still QUEUED: wait for its first RUNNING status.
    stream = stub.WatchJob(pb.WatchJobRequest(job_id=ids[-1]), timeout=60)
    assert any(status.state == pb.JOB_STATE_RUNNING for status in stream)
    stream.cancel()
    ids.append(stub.Train(pb.TrainRequest(name="queued", **TINY)).job_id)  # waits behind "long"
    assert stub.CancelJob(pb.CancelJobRequest(job_id=ids[-1])).state == pb.JOB_STATE_CANCELLED
    yield stub, ids
    channel.close()
    running.stop(0)


def test_list_jobs_pages_newest_first_without_gaps(populated):
    stub, ids = populated

    def fetch(size, token):
        r = stub.ListJobs(pb.ListJobsRequest(page_size=size, page_token=token))
        return [j.job_id for j in r.jobs], r.next_page_token

    pages = all_pages(fetch, 2)
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i for p in pages for i in p] == ids[::-1]
    assert fetch(0, "")[0] == ids[::-1]  # default page size holds them all


@pytest.mark.parametrize("state, expected", [
    (pb.JOB_STATE_SUCCEEDED, [2, 1, 0]), (pb.JOB_STATE_RUNNING, [3]), (pb.JOB_STATE_CANCELLED, [4]),
    (pb.JOB_STATE_FAILED, []), (pb.JOB_STATE_QUEUED, []),
])
def test_list_jobs_filters_by_state(populated, state, expected):
    stub, ids = populated
    response = stub.ListJobs(pb.ListJobsRequest(state=state))
    assert [j.job_id for j in response.jobs] == [ids[i] for i in expected]
    assert all(j.state == state for j in response.jobs)


def test_running_jobs_are_listed_with_live_progress(populated):
    stub, ids = populated
    (job,) = stub.ListJobs(pb.ListJobsRequest(state=pb.JOB_STATE_RUNNING)).jobs
    assert job.name == "long" and job.config.hidden_size == 512 and job.total_epochs == 50
    # live: the listed counters move on while the job trains (SQLite keeps them once a second)
    watch = stub.WatchJob(pb.WatchJobRequest(job_id=ids[3]), timeout=60)
    for status in watch:
        if status.iteration > job.iteration + 2:  # the ETA needs two steps to measure
            break
    watch.cancel()
    (later,) = stub.ListJobs(pb.ListJobsRequest(state=pb.JOB_STATE_RUNNING)).jobs
    assert later.iteration > job.iteration and later.total_iterations == 50 * 60000 // 100
    assert 0 < later.progress < 1 and later.progress == pytest.approx(later.iteration / later.total_iterations)
    assert later.loss > 0 and later.eta_seconds > 0  # the time left while running (issue 17)


def test_list_models_and_get_model(populated):
    stub, ids = populated

    def fetch(size, token):
        r = stub.ListModels(pb.ListModelsRequest(page_size=size, page_token=token))
        return list(r.models), r.next_page_token

    pages = all_pages(fetch, 2)
    models = [m for p in pages for m in p]
    assert [len(p) for p in pages] == [2, 1]
    assert [m.model_id for m in models] == ids[2::-1]
    for model in models:
        assert model == stub.GetModel(pb.GetModelRequest(model_id=model.model_id))
        assert model.job_id == model.model_id and len(model.sha256) == 64 and model.size_bytes > 0
        assert model.architecture.input_size == 784 and model.architecture.hidden_size == 8
        assert model.config.train_size == 300 and model.final_metrics.epoch == 1
        assert model.name.startswith("tiny") and model.create_time.seconds > 0


def test_pages_are_capped_at_500_rows(make_server, trained_model, tmp_path):
    import json
    import os
    from pathlib import Path

    from server.records import SUCCEEDED, JobRecord
    from server.store import JobStore

    count = 501
    state_dir = tmp_path / "capped"
    source = Path(trained_model.server.settings.state_dir) / "models" / trained_model.model_id
    meta = json.loads((source / "model.json").read_text())
    state_dir.mkdir()
    store = JobStore(state_dir / "jobs.sqlite3")
    for i in range(count):
        model_id = f"copy-{i:04d}"
        folder = state_dir / "models" / model_id
        folder.mkdir(parents=True)
        for stored in source.iterdir():  # the weights, hard-linked: same bytes, same sha256
            if stored.name != "model.json":
                os.link(stored, folder / stored.name)
        (folder / "model.json").write_text(json.dumps({**meta, "model_id": model_id, "job_id": model_id,
                                                        "created": meta["created"] + i}))
        store.insert(JobRecord(job_id=model_id, name="", config=meta["config"], state=SUCCEEDED,
                               created=float(i), model_id=model_id))
    store.close()
    server = make_server(state_dir=state_dir)
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        jobs = stub.ListJobs(pb.ListJobsRequest(page_size=100000))
        assert len(jobs.jobs) == 500 and jobs.next_page_token  # clamped, and the rest is a page away
        rest = stub.ListJobs(pb.ListJobsRequest(page_size=100000, page_token=jobs.next_page_token))
        assert [j.job_id for j in rest.jobs] == ["copy-0000"] and not rest.next_page_token
        assert len(stub.ListJobs(pb.ListJobsRequest()).jobs) == 50  # 0 means the default page
        models = stub.ListModels(pb.ListModelsRequest(page_size=100000))
        assert len(models.models) == 500 and models.next_page_token
        rest = stub.ListModels(pb.ListModelsRequest(page_size=100000, page_token=models.next_page_token))
        assert [m.model_id for m in rest.models] == ["copy-0000"] and not rest.next_page_token
