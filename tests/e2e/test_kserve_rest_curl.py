"""The README's and docs' KServe v2 REST curl calls (examples/kserve_rest.sh), run with the real curl."""

from __future__ import annotations

import json
import shutil

from test_grpcurl import grpcurl  # noqa: F401  (the fixture: the venv's grpcurl binary)
from walkthrough import ROOT, readme_block, run_step, script_body, steps

SCRIPT = ROOT / "examples" / "kserve_rest.sh"
HTTP_ADDRESS = "127.0.0.1:8080"


def test_readme_shows_the_scripts_infer_step():
    """The README's REST block is step 5 of examples/kserve_rest.sh, line for line."""
    assert "\n".join(readme_block("kserve_rest.sh")) == steps(SCRIPT)[5]


def test_rest_script_against_a_real_server(grpcurl, make_server):  # noqa: F811
    """Every step, verbatim but for the ports: ready, described, a 7 classified as 7, indexed, a 400."""
    assert shutil.which("curl"), "curl is needed (apt-get install curl; .ci/run installs it)"
    server = make_server(http=True, http_port=0)
    address, http = f"127.0.0.1:{server.port}", f"127.0.0.1:{server.server.http_port}"
    step = {n: text.replace(HTTP_ADDRESS, http) for n, text in steps(SCRIPT).items()}
    assert list(step) == [1, 2, 3, 4, 5, 6, 7]
    job = run_step(step[1], address).job
    assert job
    assert json.loads(run_step(step[2], address, job).stdout) == {"ready": True}
    assert json.loads(run_step(step[3], address, job).stdout)["extensions"] == ["model_repository"]
    meta = json.loads(run_step(step[4], address, job).stdout)
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 28, 28]}]
    answer = json.loads(run_step(step[5], address, job).stdout)
    assert (answer["id"], answer["model_name"], answer["model_version"]) == ("digit-0", job, "1")
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert outputs["class"]["data"] == [7] and len(outputs["probabilities"]["data"]) == 10
    index = json.loads(run_step(step[6], address, job).stdout)
    assert index == [{"name": job, "version": "1", "state": "READY", "reason": ""}]
    error, _, status = run_step(step[7], address, job).stdout.strip().rpartition(" ")
    assert status == "400" and "input shape must be" in json.loads(error)["error"]


def test_the_docs_curl_lines_are_the_scripts():
    """docs/kserve.md's REST bash block shows lines of examples/kserve_rest.sh only (so they run)."""
    text = (ROOT / "docs" / "kserve.md").read_text()
    section = text[text.index("## REST"):]
    start = section.index("```bash\n") + len("```bash\n")
    shown = section[start:section.index("```", start)].strip().splitlines()
    assert len(shown) >= 4 and set(shown) <= set(script_body(SCRIPT))
