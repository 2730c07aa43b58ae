"""The README's grpcurl upload (examples/upload_dataset.sh), run with the real grpcurl binary."""

from __future__ import annotations

import grpc
from test_grpcurl import grpcurl  # noqa: F401  (the fixture: the venv's grpcurl binary)
from walkthrough import ROOT, json_messages, readme_block, run_step, script_body, steps

from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc
from tests.conftest import wait_for_job

SCRIPT = ROOT / "examples" / "upload_dataset.sh"


def test_readme_shows_exactly_the_upload_script():
    """The README's upload block and examples/upload_dataset.sh are the same lines."""
    assert readme_block("upload_dataset.sh") == script_body(SCRIPT)


def test_upload_script_against_a_real_server(grpcurl, make_server):  # noqa: F811
    """Every step, verbatim but for the port: the upload is checked, listed, and trains."""
    server = make_server()
    address = f"127.0.0.1:{server.port}"
    step = steps(SCRIPT)
    assert list(step) == [1, 2, 3, 4, 5, 6]
    run_step(step[1], address)
    info = json_messages(run_step(step[2], address).stdout)[0]
    assert (info["name"], info["source"], info["input_shape"], info["classes"]) == \
        ("points", "DATASET_SOURCE_UPLOADED", ["4"], 3)
    assert (info["train_size"], info["test_size"]) == ("90", "30")  # 64-bit integers print as strings
    listed = json_messages(run_step(step[3], address).stdout)[0]
    assert [d["name"] for d in listed["datasets"]] == ["fashion-mnist", "mnist", "points"]
    job = run_step(step[4], address).job
    watched = json_messages(run_step(step[5], address, job, timeout=300).stdout)
    assert watched[-1]["state"] == "JOB_STATE_SUCCEEDED", watched[-1].get("error")
    with grpc.insecure_channel(server.target) as channel:
        status = wait_for_job(pb_grpc.NNServiceStub(channel), job)
        model = pb_grpc.NNServiceStub(channel).GetModel(pb.GetModelRequest(model_id=status.model_id))
    assert status.state == pb.JOB_STATE_SUCCEEDED, status.error
    assert status.history[-1].test_accuracy > 0.9  # the three classes are far apart
    assert model.input_dtype == "float32"  # the CSV's features are fractions: floats, not pixels
    (answer,) = json_messages(run_step(step[6], address, job).stdout)
    assert (answer["classes"], answer["class_names"]) == ([2], ["2"])
