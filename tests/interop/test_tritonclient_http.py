"""tritonclient.http 2.73 (JSON tensors with binary_data=False, and its binary default) against a real nn-server's HTTP port:
health, metadata, infer (UINT8 and FP32) equal to gRPC Predict, errors and the repository index."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest

from protos import nn_service_pb2_grpc as pb_grpc
from tests.interop.test_tritonclient import predict, run_script
from tests.reliability.reliability_testutils import copy_model

SCRIPT = Path(__file__).with_name("tritonclient_http_script.py")


def test_tritonclient_http_sees_what_predict_answers(make_server, trained_model, tmp_path):
    model_id = copy_model(trained_model, tmp_path / "state")
    running = make_server(state_dir=tmp_path / "state", http=True, http_port=0)
    pixels = np.random.default_rng(13).integers(0, 256, (3, 784), dtype=np.uint8)
    report = run_script(tmp_path, f"127.0.0.1:{running.server.http_port}", model_id, pixels, script=SCRIPT)
    assert report["live"] and report["ready"] and report["model_ready"]
    assert report["server"]["name"] == "nnservice" and report["server"]["extensions"] == ["model_repository"]
    assert [(o["name"], o["datatype"]) for o in report["metadata"]["outputs"]] == [
        ("probabilities", "FP32"), ("class", "INT64")]
    with grpc.insecure_channel(running.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        for datatype, x in (("UINT8", pixels), ("FP32", pixels.astype(np.float32) / np.float32(255))):
            expected, classes = predict(stub, model_id, x)
            for kind in ("http", "http-bin"):  # JSON tensors, then the binary extension
                np.testing.assert_array_equal(np.load(tmp_path / f"{kind}-{datatype}-probabilities.npy"), expected)
                assert np.load(tmp_path / f"{kind}-{datatype}-class.npy").tolist() == classes
            assert report[f"{datatype}-id"] == "interop-http-1"
    assert report["error"]["status"] == "400" and "input shape must be" in report["error"]["message"]
    assert report["missing"]["status"] == "404"
    assert [(m["name"], m["state"]) for m in report["index"]] == [(model_id, "READY")]


def test_tritonclient_http_sends_the_bearer_token_the_server_needs(make_server, trained_model, tmp_path):
    model_id = copy_model(trained_model, tmp_path / "state")
    running = make_server(state_dir=tmp_path / "state", http=True, http_port=0, auth_tokens=("http-token",))
    target = f"127.0.0.1:{running.server.http_port}"
    pixels = np.random.default_rng(14).integers(0, 256, (1, 784), dtype=np.uint8)
    report = run_script(tmp_path, target, model_id, pixels, token="http-token", script=SCRIPT)
    assert report["model_ready"] and np.load(tmp_path / "http-UINT8-class.npy").shape == (1,)
    with pytest.raises(AssertionError, match="bearer token"):
        run_script(tmp_path, target, model_id, pixels, script=SCRIPT)
