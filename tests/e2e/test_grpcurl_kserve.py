"""The README's KServe grpcurl calls (examples/kserve_grpcurl.sh), run with the real grpcurl binary."""

from __future__ import annotations

from test_grpcurl import grpcurl  # noqa: F401  (the fixture: the venv's grpcurl binary)
from walkthrough import ROOT, json_messages, readme_block, run_step, script_body, steps

SCRIPT = ROOT / "examples" / "kserve_grpcurl.sh"


def test_readme_shows_exactly_the_kserve_script():
    """The README's KServe block and examples/kserve_grpcurl.sh are the same lines."""
    assert readme_block("kserve_grpcurl.sh") == script_body(SCRIPT)


def test_kserve_script_against_a_real_server(grpcurl, make_server):  # noqa: F811
    """Every step, verbatim but for the port: ready, indexed, described, and a 7 classified as 7."""
    server = make_server()
    address = f"127.0.0.1:{server.port}"
    step = steps(SCRIPT)
    assert list(step) == [1, 2, 3, 4, 5]
    job = run_step(step[1], address).job
    assert job
    assert json_messages(run_step(step[2], address, job).stdout) == [{"ready": True}]
    index = json_messages(run_step(step[3], address, job).stdout)[0]["models"]
    assert index == [{"name": job, "version": "1", "state": "READY"}]
    meta = json_messages(run_step(step[4], address, job).stdout)[0]
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": ["-1", "28", "28"]}]
    answer = json_messages(run_step(step[5], address, job).stdout)[0]
    assert (answer["id"], answer["model_name"], answer["model_version"]) == ("digit-0", job, "1")
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert outputs["class"]["contents"]["int64_contents"] == ["7"]
    assert len(outputs["probabilities"]["contents"]["fp32_contents"]) == 10
