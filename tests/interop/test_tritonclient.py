"""tritonclient[grpc] 2.73 against a real nn-server: health, metadata, infer (raw UINT8 and FP32)
equal to nnservice's Predict, an error, and the repository index.

tritonclient pins protobuf < 7 while nnservice uses protobuf 7, so it lives in its own venv
(.venv-triton, `make triton-venv`, which `make test` builds) and runs as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import grpc
import numpy as np
import pytest

from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc
from server.tensors import encode_array
from tests.reliability.reliability_testutils import copy_model

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("tritonclient_script.py")


def triton_python() -> Path:
    """The interpreter with tritonclient: $NNSVC_TRITON_PYTHON, else .venv-triton's."""
    path = Path(os.environ.get("NNSVC_TRITON_PYTHON") or REPO_ROOT / ".venv-triton" / "bin" / "python")
    if not path.exists():
        pytest.skip(f"no tritonclient interpreter at {path}: run `make triton-venv` (make test does)")
    return path


def run_script(tmp_path: Path, target: str, model_id: str, pixels: np.ndarray, token: str = "",
               script: Path = SCRIPT) -> dict:
    """Run a tritonclient script (the gRPC one unless told); its report.json."""
    np.save(tmp_path / "pixels.npy", pixels, allow_pickle=False)
    args = [str(triton_python()), str(script), target, model_id, str(tmp_path / "pixels.npy"), str(tmp_path)]
    done = subprocess.run(args + ([token] if token else []), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"tritonclient script failed:\n{done.stdout}\n{done.stderr}"
    return json.loads((tmp_path / "report.json").read_text())


def predict(stub, model_id: str, x: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """nnservice's own Predict of the same rows."""
    answer = stub.Predict(pb.PredictRequest(model_id=model_id, input=encode_array(x)), timeout=10)
    return np.frombuffer(answer.probabilities.raw_data, "<f4").reshape(len(x), -1), list(answer.classes)


def test_tritonclient_sees_what_predict_answers(trained_model, tmp_path):
    pixels = np.random.default_rng(11).integers(0, 256, (3, 784), dtype=np.uint8)
    report = run_script(tmp_path, trained_model.server.target, trained_model.model_id, pixels)
    assert report["live"] and report["ready"] and report["model_ready"]
    assert report["server"]["name"] == "nnservice" and "model_repository" in report["server"]["extensions"]
    assert [i["name"] for i in report["metadata"]["inputs"]] == ["input"]
    assert [(o["name"], o["datatype"]) for o in report["metadata"]["outputs"]] == [
        ("probabilities", "FP32"), ("class", "INT64")]
    with grpc.insecure_channel(trained_model.server.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        for datatype, x in (("UINT8", pixels), ("FP32", pixels.astype(np.float32) / np.float32(255))):
            expected, classes = predict(stub, trained_model.model_id, x)
            np.testing.assert_array_equal(np.load(tmp_path / f"{datatype}-probabilities.npy"), expected)
            assert np.load(tmp_path / f"{datatype}-class.npy").tolist() == classes
            assert report[f"{datatype}-id"] == "interop-1"
    assert report["error"]["status"] == "StatusCode.INVALID_ARGUMENT"
    assert "input shape must be" in report["error"]["message"]
    assert report["missing"]["status"] == "StatusCode.NOT_FOUND"
    assert any(m["name"] == trained_model.model_id and m["state"] == "READY" for m in report["index"]["models"])


def test_tritonclient_needs_the_bearer_token_when_the_server_does(make_server, trained_model, tmp_path):
    state = tmp_path / "state-auth"
    model_id = copy_model(trained_model, state)
    running = make_server(state_dir=state, auth_tokens=("s3cret-token",))
    pixels = np.random.default_rng(12).integers(0, 256, (1, 784), dtype=np.uint8)
    report = run_script(tmp_path, running.target, model_id, pixels, token="s3cret-token")
    assert report["model_ready"] and np.load(tmp_path / "UINT8-class.npy").shape == (1,)
    args = [str(triton_python()), str(SCRIPT), running.target, model_id, str(tmp_path / "pixels.npy"), str(tmp_path)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "UNAUTHENTICATED" in done.stderr


def readme_example() -> str:
    """The ```python block of the README's "KServe v2 / Triton clients" section."""
    text = (REPO_ROOT / "README.md").read_text()
    section = text[text.index("## KServe v2 / Triton clients"):]
    return section[section.index("```python\n") + len("```python\n"):section.index("\n```", section.index("```python"))]


def test_the_readme_example_runs_and_prints_class_and_probabilities(trained_model):
    code = readme_example()
    assert len(code.splitlines()) == 5
    code = f"MODEL = {trained_model.model_id!r}\n" + code.replace("127.0.0.1:50051", trained_model.server.target)
    done = subprocess.run([str(triton_python()), "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with grpc.insecure_channel(trained_model.server.target) as channel:
        _, classes = predict(pb_grpc.NNServiceStub(channel), trained_model.model_id, np.zeros((1, 784), np.uint8))
    assert done.stdout.startswith(f"[{classes[0]}] [[")  # the class of the all-black image, then 10 probabilities


def test_a_missing_tritonclient_venv_is_not_a_skip_ci_allows(tmp_path, monkeypatch):
    from tests.skip_policy import unexpected_skips

    monkeypatch.setenv("NNSVC_TRITON_PYTHON", str(tmp_path / "no-python"))
    with pytest.raises(pytest.skip.Exception) as info:
        triton_python()
    assert unexpected_skips([("test", str(info.value))]) == [("test", str(info.value))]
