"""KServe v2 REST against a real server (HTTP on port 0): every endpoint, infer equal to gRPC
ModelInfer and Predict, FP32 and UINT8, the protocol's errors, draining and bearer tokens."""

from __future__ import annotations

import json
import shutil

import grpc
import httpx
import numpy as np
import pytest
from google.protobuf.json_format import MessageToDict

from protos import grpc_predict_v2_pb2 as kpb
from protos import grpc_predict_v2_pb2_grpc as kpb_grpc
from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc
from server import Settings
from server.tensors import encode_array
from tests.conftest import TEST_SETTINGS, start_server

Input = kpb.ModelInferRequest.InferInputTensor


@pytest.fixture(scope="module")
def rest(trained_model, mnist_cache, tmp_path_factory):
    """(http client, grpc channel, model id) for a server with HTTP on and a copy of the model."""
    state = tmp_path_factory.mktemp("rest")
    source = trained_model.server.settings.state_dir / "models" / trained_model.model_id
    shutil.copytree(source, state / "models" / trained_model.model_id)
    running = start_server(Settings(**{**TEST_SETTINGS, "state_dir": state, "http": True, "http_port": 0}),
                           mnist_cache)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{running.server.http_port}", timeout=10) as client, \
                grpc.insecure_channel(running.target) as channel:
            yield client, channel, trained_model.model_id
    finally:
        running.stop(0)


def pixels(rows: int, seed: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(rows, 28, 28), dtype=np.uint8)


def infer_body(x: np.ndarray, datatype: str, nested: bool = False, **extra) -> dict:
    data = x.tolist() if nested else x.ravel().tolist()
    return {"inputs": [{"name": "input", "shape": list(x.shape), "datatype": datatype, "data": data}], **extra}


def grpc_infer(channel, model_id: str, x: np.ndarray, datatype: str) -> tuple[np.ndarray, list[int]]:
    """KServe gRPC ModelInfer with typed contents, as the REST form's JSON is typed."""
    contents = (kpb.InferTensorContents(fp32_contents=x.ravel()) if datatype == "FP32"
                else kpb.InferTensorContents(uint_contents=x.ravel()))
    answer = kpb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(kpb.ModelInferRequest(
        model_name=model_id, inputs=[Input(name="input", datatype=datatype, shape=x.shape, contents=contents)]),
        timeout=10)
    probs = np.array(answer.outputs[0].contents.fp32_contents, np.float32).reshape(len(x), -1)
    return probs, list(answer.outputs[1].contents.int64_contents)


def grpc_predict(channel, model_id: str, x: np.ndarray) -> tuple[np.ndarray, list[int]]:
    answer = pb_grpc.NNServiceStub(channel).Predict(pb.PredictRequest(model_id=model_id, input=encode_array(x)),
                                                    timeout=10)
    return np.frombuffer(answer.probabilities.raw_data, "<f4").reshape(len(x), -1), list(answer.classes)


def test_server_endpoints_answer_what_grpc_answers(rest):
    client, channel, _ = rest
    stub = kpb_grpc.GRPCInferenceServiceStub(channel)
    meta = MessageToDict(stub.ServerMetadata(kpb.ServerMetadataRequest(), timeout=5))
    assert client.get("/v2").json() == meta and meta["extensions"] == ["model_repository"]
    live, ready = client.get("/v2/health/live"), client.get("/v2/health/ready")
    assert (live.status_code, live.json()) == (200, {"live": True})
    assert (ready.status_code, ready.json()) == (200, {"ready": True})


@pytest.mark.parametrize("path", ["", "/versions/1"])
def test_model_metadata_and_readiness_equal_grpc(rest, path):
    client, channel, model_id = rest
    stub = kpb_grpc.GRPCInferenceServiceStub(channel)
    expected = MessageToDict(stub.ModelMetadata(kpb.ModelMetadataRequest(name=model_id), timeout=5))
    expected["inputs"][0]["shape"] = [int(d) for d in expected["inputs"][0]["shape"]]  # int64: strings in proto JSON
    for tensor in expected["outputs"]:
        tensor["shape"] = [int(d) for d in tensor["shape"]]
    assert client.get(f"/v2/models/{model_id}{path}").json() == expected
    answer = client.get(f"/v2/models/{model_id}{path}/ready")
    assert (answer.status_code, answer.json()) == (200, {"ready": True})


@pytest.mark.parametrize("rows", [1, 3])
@pytest.mark.parametrize("datatype", ["UINT8", "FP32"])
def test_infer_equals_model_infer_and_predict(rest, rows, datatype):
    client, channel, model_id = rest
    x = pixels(rows) if datatype == "UINT8" else pixels(rows) / np.float32(255)
    answer = client.post(f"/v2/models/{model_id}/infer", json=infer_body(x, datatype, id="rest-1"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["model_name"], body["model_version"], body["id"]) == (model_id, "1", "rest-1")
    assert [(o["name"], o["datatype"], o["shape"]) for o in body["outputs"]] == [
        ("probabilities", "FP32", [rows, 10]), ("class", "INT64", [rows])]
    probs = np.array(body["outputs"][0]["data"], np.float32).reshape(rows, 10)
    for expected, classes in (grpc_infer(channel, model_id, x, datatype), grpc_predict(channel, model_id, x)):
        np.testing.assert_array_equal(probs, expected)
        assert body["outputs"][1]["data"] == classes


def test_nested_data_flat_shapes_parameters_and_requested_outputs(rest):
    client, channel, model_id = rest
    x = pixels(2, seed=8)
    flat = client.post(f"/v2/models/{model_id}/versions/1/infer", json=infer_body(x.reshape(2, 784), "UINT8"))
    body = infer_body(x, "UINT8", nested=True, parameters={"priority": 1}, outputs=[{"name": "class"}])
    nested = client.post(f"/v2/models/{model_id}/infer", json=body).json()
    assert [o["name"] for o in nested["outputs"]] == ["class"] and "id" not in nested
    assert nested["outputs"][0]["data"] == flat.json()["outputs"][1]["data"] == grpc_predict(channel, model_id, x)[1]


def test_repository_index_equals_grpc(rest):
    client, channel, model_id = rest
    stub = kpb_grpc.GRPCInferenceServiceStub(channel)
    models = MessageToDict(stub.RepositoryIndex(kpb.RepositoryIndexRequest(), timeout=5))["models"]
    expected = [{"reason": "", **m} for m in models]
    assert client.post("/v2/repository/index").json() == expected  # tritonclient sends no body
    assert client.post("/v2/repository/index", json={"ready": True}).json() == expected
    assert [m["name"] for m in expected] == [model_id]


BAD_BODIES = [
    ('{"inputs": [', 400, "not valid JSON"),
    ("[1, 2]", 400, "must be a JSON object"),
    ('{"inputs": [{"name": "input", "shape": [1, 784], "datatype": "UINT8"}]}', 400, "the input has no data"),
    ('{"inputs": [{"name": "input", "shape": [1, 784], "datatype": "UINT8", "data": {}}]}', 400, "body.inputs.0.data"),
    ('{"inputs": [{"name": "input", "shape": ["a"], "datatype": "UINT8", "data": []}]}', 400, "body.inputs.0.shape.0"),
    (json.dumps(infer_body(np.zeros((1, 27, 28), np.uint8), "UINT8")), 400, "input shape must be [N, 784]"),
    (json.dumps(infer_body(np.zeros((1, 784), np.uint8), "INT32")), 400, "datatype must be FP32"),
    (json.dumps(infer_body(np.zeros((1, 784), np.uint8), "BYTES")), 400, "datatype must be FP32"),
    (json.dumps(infer_body(np.full((1, 784), 256), "UINT8")), 400, "UINT8 values must be 0..255; found 256"),
    (json.dumps(infer_body(np.full((1, 784), -1), "UINT8")), 400, "found -1"),
    (json.dumps(infer_body(np.full((1, 784), 0.5), "UINT8")), 400, "must be integers 0..255"),
    (json.dumps(infer_body(np.full((1, 784), "a"), "FP32")), 400, "must be numbers; found strings"),
    (json.dumps(infer_body(np.zeros((1, 783)), "FP32") | {"inputs": [{
        "name": "input", "shape": [1, 784], "datatype": "FP32", "data": [0.0] * 783}]}), 400, "has 783 values"),
    ('{"inputs": [{"name": "input", "shape": [1, 784], "datatype": "FP32", "data": [[1], [1, 2]]}]}', 400,
     "nested evenly"),
    (json.dumps(infer_body(np.full((1, 784), 1e7), "FP32")), 400, "must be finite and within"),
    ('{"inputs": [{"name": "input", "shape": [1, 1], "datatype": "FP32", "data": [NaN]}]}', 400, "input shape must"),
    ('{"inputs": [{"name": "input", "shape": [1, 784], "datatype": "FP32", "data": [%s]}]}' % ", ".join(["NaN"] * 784),
     400, "must be finite"),
    (json.dumps(infer_body(np.zeros((1, 784), np.uint8), "UINT8", outputs=[{"name": "logits"}])), 400,
     "unknown output 'logits'"),
    (json.dumps({"inputs": []}), 400, "the request has 0"),
]


@pytest.mark.parametrize("text, status, needle", BAD_BODIES)
def test_bad_infer_bodies_get_400_naming_the_problem(rest, text, status, needle):
    client, _, model_id = rest
    answer = client.post(f"/v2/models/{model_id}/infer", content=text.encode(),
                         headers={"content-type": "application/json"})
    assert answer.status_code == status, answer.text
    assert needle in answer.json()["error"] and answer.json()["code"] == "INVALID_ARGUMENT"


def test_unknown_models_and_versions_are_404(rest):
    client, _, model_id = rest
    missing = "0" * 16
    body = infer_body(np.zeros((1, 784), np.uint8), "UINT8")
    for answer in (client.get(f"/v2/models/{missing}"), client.get(f"/v2/models/{missing}/ready"),
                   client.post(f"/v2/models/{missing}/infer", json=body)):
        assert answer.status_code == 404 and missing in answer.json()["error"]
    wrong = client.post(f"/v2/models/{model_id}/versions/2/infer", json=body)
    assert wrong.status_code == 404 and "only version is '1'" in wrong.json()["error"]
    assert client.get(f"/v2/models/{model_id}/versions/2/ready").status_code == 404
    assert client.get("/v2/models/not-an-id!").status_code == 400


def test_a_damaged_model_is_not_ready(make_server, trained_model, tmp_path):
    models = tmp_path / "damaged-state" / "models"
    shutil.copytree(trained_model.server.settings.state_dir / "models" / trained_model.model_id,
                    models / trained_model.model_id)
    (models / trained_model.model_id / "weights.npz").write_bytes(b"not a network")
    running = make_server(state_dir=tmp_path / "damaged-state", http=True, http_port=0)
    base = f"http://127.0.0.1:{running.server.http_port}"
    answer = httpx.get(f"{base}/v2/models/{trained_model.model_id}/ready", timeout=10)
    assert (answer.status_code, answer.json()) == (400, {"ready": False})
    index = httpx.post(f"{base}/v2/repository/index", timeout=10).json()
    assert index[0]["state"] == "UNAVAILABLE" and "corrupt" in index[0]["reason"]


def test_while_draining_ready_is_503_live_stays_and_the_rest_is_refused(make_server):
    running = make_server(http=True, http_port=0)
    base = f"http://127.0.0.1:{running.server.http_port}"
    running.server.begin_drain()
    ready = httpx.get(f"{base}/v2/health/ready", timeout=5)
    assert (ready.status_code, ready.json()) == (503, {"ready": False})
    assert httpx.get(f"{base}/v2/health/live", timeout=5).json() == {"live": True}
    refused = httpx.post(f"{base}/v2/models/{'0' * 16}/infer", json={"inputs": []}, timeout=5)
    assert refused.status_code == 503 and refused.json()["code"] == "UNAVAILABLE"
    assert httpx.get(f"{base}/v2", timeout=5).status_code == 503


def test_tokens_guard_infer_and_the_probes_stay_open(make_server, trained_model, tmp_path):
    state = tmp_path / "auth-state"
    shutil.copytree(trained_model.server.settings.state_dir / "models" / trained_model.model_id,
                    state / "models" / trained_model.model_id)
    running = make_server(state_dir=state, http=True, http_port=0, auth_tokens=("s3cret",))
    url = f"http://127.0.0.1:{running.server.http_port}/v2/models/{trained_model.model_id}/infer"
    body = infer_body(pixels(1), "UINT8")
    refused = httpx.post(url, json=body, timeout=10)
    assert refused.status_code == 401 and refused.json()["code"] == "UNAUTHENTICATED"
    allowed = httpx.post(url, json=body, headers={"Authorization": "Bearer s3cret"}, timeout=10)
    assert allowed.status_code == 200 and allowed.json()["outputs"][1]["shape"] == [1]
    probe = httpx.get(f"http://127.0.0.1:{running.server.http_port}/v2/health/ready", timeout=5)
    assert probe.status_code == 200


def test_the_openapi_document_describes_every_route_and_the_infer_body(rest):
    client, _, _ = rest
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in ("/v2", "/v2/health/live", "/v2/health/ready", "/v2/models/{name}", "/v2/models/{name}/ready",
                 "/v2/models/{name}/versions/{version}", "/v2/models/{name}/versions/{version}/ready",
                 "/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer", "/v2/repository/index"):
        assert path in paths, path
    schema = paths["/v2/models/{name}/infer"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["inputs"] and "$ref" not in json.dumps(schema)
    assert set(schema["properties"]["inputs"]["items"]["properties"]) >= {"name", "shape", "datatype", "data"}
    assert not [p for p in paths.values() for op in p.values() if "422" in op["responses"]]  # 400 instead
    assert client.get("/docs").status_code == 404  # Swagger UI would need a CDN: off


def binary_post(client, model_id: str, header: dict, raw: bytes, length: str | None = None) -> httpx.Response:
    """An infer request in Triton's binary extension: the JSON part, then raw bytes."""
    text = json.dumps(header).encode()
    return client.post(f"/v2/models/{model_id}/infer", content=text + raw,
                       headers={"Inference-Header-Content-Length": length or str(len(text))})


def split_binary(answer: httpx.Response) -> tuple[dict, bytes]:
    length = int(answer.headers["inference-header-content-length"])
    return json.loads(answer.content[:length]), answer.content[length:]


@pytest.mark.parametrize("datatype", ["UINT8", "FP32"])
def test_the_binary_extension_in_and_out_equals_predict(rest, datatype):
    client, channel, model_id = rest
    x = pixels(2, seed=9) if datatype == "UINT8" else pixels(2, seed=9) / np.float32(255)
    raw = x.astype("<f4").tobytes() if datatype == "FP32" else x.tobytes()
    header = {"id": "bin-1", "inputs": [{"name": "input", "shape": [2, 28, 28], "datatype": datatype,
                                         "parameters": {"binary_data_size": len(raw)}}],
              "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}, {"name": "class"}]}
    answer = binary_post(client, model_id, header, raw)
    assert answer.status_code == 200, answer.text
    body, tail = split_binary(answer)
    probs_out, class_out = body["outputs"]
    assert probs_out["parameters"] == {"binary_data_size": 80} and "data" not in probs_out and len(tail) == 80
    expected, classes = grpc_predict(channel, model_id, x)
    np.testing.assert_array_equal(np.frombuffer(tail, "<f4").reshape(2, 10), expected)
    assert class_out["data"] == classes and body["id"] == "bin-1"


def test_binary_data_output_answers_every_output_raw(rest):
    client, channel, model_id = rest
    x = pixels(1, seed=10)
    body, tail = split_binary(client.post(f"/v2/models/{model_id}/infer",
                                          json=infer_body(x, "UINT8", parameters={"binary_data_output": True})))
    assert [o["parameters"]["binary_data_size"] for o in body["outputs"]] == [40, 8]
    expected, classes = grpc_predict(channel, model_id, x)
    np.testing.assert_array_equal(np.frombuffer(tail[:40], "<f4").reshape(1, 10), expected)
    assert np.frombuffer(tail[40:], "<i8").tolist() == classes


def test_binary_parts_that_do_not_add_up_get_400(rest):
    client, _, model_id = rest
    header = {"inputs": [{"name": "input", "shape": [1, 784], "datatype": "UINT8",
                          "parameters": {"binary_data_size": 784}}]}
    short = binary_post(client, model_id, header, bytes(783))
    assert short.status_code == 400 and "binary part has 783" in short.json()["error"]
    wrong_size = binary_post(client, model_id, {**header, "inputs": [{**header["inputs"][0],
                                                "parameters": {"binary_data_size": 700}}]}, bytes(700))
    assert wrong_size.status_code == 400 and "raw input has 700 bytes" in wrong_size.json()["error"]
    for length in ("-1", "99999", "x"):
        bad = binary_post(client, model_id, header, bytes(784), length=length)
        assert bad.status_code == 400 and "inference-header-content-length" in bad.json()["error"]


def test_unknown_routes_and_methods_get_the_protocols_error_body(rest):
    client, _, _ = rest
    missing = client.get("/v2/models/a/b/c")
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"
    assert "/openapi.json" in missing.json()["error"]
    wrong = client.delete("/v2")
    assert wrong.status_code == 405 and wrong.json() == {"error": "Method Not Allowed", "code": "UNIMPLEMENTED"}
