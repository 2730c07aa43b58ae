"""The dashboard's JSON API: the same validation and the same messages as gRPC, on a real server."""

from __future__ import annotations

import grpc
import httpx
import pytest
from google.protobuf import json_format

from nncore import choices
from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc
from tests.conftest import wait_for_job

TINY_JOB = {"dataset": "tiny", "hiddenSizes": [8], "epochs": 2, "seed": 3}


@pytest.fixture
def web(make_server):
    """(httpx client on the HTTP port, gRPC stub) of one server with HTTP on."""
    running = make_server(http=True, http_port=0)
    with httpx.Client(base_url=f"http://127.0.0.1:{running.server.http_port}", timeout=30) as client, \
            grpc.insecure_channel(running.target) as channel:
        yield client, pb_grpc.NNServiceStub(channel)


def as_json(message) -> dict:
    """A gRPC answer as the API must show it."""
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def grpc_error(call) -> str:
    """The details of the RpcError `call` raises."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.details()


def test_a_job_from_json_is_the_job_grpc_shows(web):
    client, stub = web
    created = client.post("/api/v1/jobs", json={**TINY_JOB, "name": "from the API"})
    assert created.status_code == 201
    job_id = created.json()["jobId"]
    assert created.json()["status"]["state"] == "JOB_STATE_QUEUED"
    wait_for_job(stub, job_id)
    job = client.get(f"/api/v1/jobs/{job_id}").json()
    assert job == as_json(stub.GetStatus(pb.GetStatusRequest(job_id=job_id)))
    assert job["name"] == "from the API" and len(job["history"]) == 2
    assert job["config"]["hiddenSizes"] == [8] and job["config"]["seed"] == "3"


@pytest.mark.parametrize("body", [
    {"dataset": "tiny", "epochs": 999},
    {"dataset": "no-such-set"},
    {"optimizer": "rmsprop"},
    {"hiddenSize": 8, "hiddenSizes": [8]},
    {"learningRate": -1},
])
def test_a_bad_request_gets_grpc_trains_message_as_400(web, body):
    client, stub = web
    answer = client.post("/api/v1/jobs", json=body)
    assert answer.status_code == 400
    assert answer.json() == {"error": grpc_error(lambda: stub.Train(json_format.ParseDict(body, pb.TrainRequest()))),
                             "code": "INVALID_ARGUMENT"}


@pytest.mark.parametrize("body, says", [
    ({"epochs": "many"}, "epochs"), ({"bogus": 1}, "bogus"), ([1, 2], "JSON object"), ("mnist", "JSON object"),
])
def test_a_body_that_is_no_train_request_is_named_in_a_400(web, body, says):
    answer = web[0].post("/api/v1/jobs", json=body)
    assert answer.status_code == 400 and says in answer.json()["error"]


def test_jobs_list_newest_first_in_pages_like_list_jobs(web):
    client, stub = web
    ids = [client.post("/api/v1/jobs", json=TINY_JOB).json()["jobId"] for _ in range(3)]
    for job_id in ids:
        wait_for_job(stub, job_id)
    first = client.get("/api/v1/jobs", params={"page_size": 2}).json()
    assert [j["jobId"] for j in first["jobs"]] == ids[::-1][:2]
    rest = client.get("/api/v1/jobs", params={"page_size": 2, "page_token": first["nextPageToken"]}).json()
    assert [j["jobId"] for j in rest["jobs"]] == ids[:1] and rest["nextPageToken"] == ""
    listed = stub.ListJobs(pb.ListJobsRequest(page_size=2))
    assert {k: v for k, v in first.items() if k != "feedVersion"} == as_json(listed)
    assert int(first["feedVersion"]) >= 3 * 2  # each job was published at least queued and ended
    assert client.get("/api/v1/jobs", params={"state": "running"}).json()["jobs"] == []
    bad = client.get("/api/v1/jobs", params={"state": "sleeping"})
    assert bad.status_code == 400 and "state must be one of" in bad.json()["error"]


def test_cancel_then_delete_a_job_and_its_model(web):
    client, stub = web
    long_job = client.post("/api/v1/jobs", json={**TINY_JOB, "epochs": 50, "batchSize": 1}).json()["jobId"]
    refused = client.delete(f"/api/v1/jobs/{long_job}")  # still active
    assert refused.status_code == 400 and refused.json()["code"] == "FAILED_PRECONDITION"
    assert client.post(f"/api/v1/jobs/{long_job}/cancel").json()["state"] in (
        "JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED")
    assert wait_for_job(stub, long_job).state == pb.JOB_STATE_CANCELLED
    assert client.delete(f"/api/v1/jobs/{long_job}").json()["jobId"] == long_job
    assert client.get(f"/api/v1/jobs/{long_job}").status_code == 404
    done = client.post("/api/v1/jobs", json=TINY_JOB).json()["jobId"]
    model_id = wait_for_job(stub, done).model_id
    assert [m["modelId"] for m in client.get("/api/v1/models").json()["models"]] == [model_id]
    assert client.delete(f"/api/v1/models/{model_id}").json()["modelId"] == model_id
    assert client.get("/api/v1/models").json()["models"] == []
    assert client.delete(f"/api/v1/models/{model_id}").status_code == 404


def test_models_and_datasets_are_listmodels_and_listdatasets(web):
    client, stub = web
    wait_for_job(stub, client.post("/api/v1/jobs", json=TINY_JOB).json()["jobId"])
    assert client.get("/api/v1/models").json() == as_json(stub.ListModels(pb.ListModelsRequest()))
    assert client.get("/api/v1/models").json()["models"][0]["inputDtype"] == "uint8"  # the digit pad's filter
    assert client.get("/api/v1/datasets").json() == as_json(stub.ListDatasets(pb.ListDatasetsRequest()))
    refused = client.delete("/api/v1/datasets/mnist")  # built in: not deletable
    assert refused.status_code >= 400 and refused.json()["error"] == grpc_error(
        lambda: stub.DeleteDataset(pb.DeleteDatasetRequest(name="mnist")))


def test_choices_are_nncores_with_the_servers_limits_and_datasets(web):
    client, _ = web
    answer = client.get("/api/v1/choices").json()
    assert answer["optimizers"] == list(choices.OPTIMIZERS)
    assert answer["activations"] == list(choices.ACTIVATIONS)
    assert answer["weightInits"] == list(choices.WEIGHT_INITS)
    assert answer["lrSchedules"] == list(choices.LR_SCHEDULES)
    assert answer["defaults"]["hiddenSizes"] == list(choices.DEFAULTS["hidden_sizes"])
    assert answer["defaults"]["batchSize"] == choices.DEFAULTS["batch_size"]
    assert answer["defaults"]["learningRates"] == dict(choices.DEFAULT_LEARNING_RATES)
    assert answer["limits"]["maxEpochs"] == 50  # TEST_SETTINGS
    assert {"mnist", "tiny"} <= {d["name"] for d in answer["datasets"]}


def test_the_page_and_its_assets_are_open_and_the_api_needs_the_token(make_server):
    running = make_server(http=True, http_port=0, auth_tokens=("s3cret",))
    base = f"http://127.0.0.1:{running.server.http_port}"
    page = httpx.get(f"{base}/", timeout=5)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/app.js">' in page.text and "https://" not in page.text
    script = httpx.get(f"{base}/static/app.js", timeout=5)
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    for path in ("/api/v1/jobs", "/api/v1/events", "/api/v1/choices"):
        assert httpx.get(f"{base}{path}", timeout=5).status_code == 401
    allowed = httpx.get(f"{base}/api/v1/jobs", headers={"Authorization": "Bearer s3cret"}, timeout=5)
    assert allowed.status_code == 200 and allowed.json()["jobs"] == []


def test_the_openapi_document_lists_the_api_but_not_the_endless_stream(web):
    paths = web[0].get("/openapi.json").json()["paths"]
    assert {"/api/v1/jobs", "/api/v1/jobs/{job_id}", "/api/v1/jobs/{job_id}/cancel", "/api/v1/models",
            "/api/v1/models/{model_id}", "/api/v1/datasets", "/api/v1/datasets/{name}", "/api/v1/choices"} <= set(paths)
    assert "/api/v1/events" not in paths and "/" not in paths
