"""The dashboard in a real browser (Debian's chromium, driven by Playwright) against a real server:
the page loads, a job from the form trains live with growing curves, a drawn digit is classified
exactly as gRPC Predict classifies the same pixels, and a token is asked for when one is needed."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc
from tests.conftest import wait_for_job
from tests.skip_policy import unexpected_skips
from tests.web.screenshot import (CHROMIUM_REASON, chromium_path, draw, job_ids, launch, newest_job_id,
                                  open_dashboard, prediction, start_job, wait_for_state)

# Records what the page showed of every job at each DOM change: state, progress, curve points.
RECORD = """() => {
  window.seen = [];
  const look = () => document.querySelectorAll('#jobs tbody tr').forEach((row) => window.seen.push({
    job: row.dataset.jobId, state: row.dataset.state, progress: Number(row.querySelector('.progress').dataset.progress),
    points: Number(document.querySelector(`#loss-chart path[data-job='${row.dataset.jobId}'][data-kind=loss]`)
      ?.dataset.points ?? -1)}));
  new MutationObserver(look).observe(document.querySelector('main'), {subtree: true, childList: true, attributes: true});
}"""


def test_ci_installs_chromium_so_its_skip_fails_ci():
    assert unexpected_skips([("browser test", CHROMIUM_REASON)]), "tests/skip_policy.py must not allow it"


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    """A headless chromium with a fresh profile (skips without chromium: CI installs it, so it fails there)."""
    if chromium_path() is None:
        pytest.skip(CHROMIUM_REASON)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright, tmp_path_factory.mktemp("chromium-profile"))
        yield browser
        browser.close()


def url_of(running) -> str:
    """The dashboard's address on a running server."""
    return f"http://127.0.0.1:{running.server.http_port}/"


def test_a_job_from_the_form_shows_live_progress_and_its_curves_grow(make_server, context, tmp_path):
    running = make_server(http=True, http_port=0)
    page = open_dashboard(context, url_of(running))
    page.wait_for_selector("#stream-state[data-state=live]")
    assert page.locator("#datasets tbody tr[data-id=mnist]").count() == 1
    page.screenshot(path=str(tmp_path / "loaded.png"), full_page=True)
    page.evaluate(RECORD)
    # Long enough to be seen running (a few seconds): 30 epochs of 120 steps on the tiny dataset.
    start_job(page, name="from the form", dataset="tiny", hiddenSizes="64", epochs=30, batchSize=5)
    job_id = newest_job_id(page, set())
    assert wait_for_state(page, job_id) == "SUCCEEDED"
    page.screenshot(path=str(tmp_path / "trained.png"), full_page=True)
    seen = [s for s in page.evaluate("window.seen") if s["job"] == job_id]
    running_views = [s for s in seen if s["state"] == "RUNNING"]
    assert any(0 < s["progress"] < 1 for s in running_views), seen[:20]
    points = sorted({s["points"] for s in running_views if s["points"] > 0})
    assert len(points) >= 2, points  # the curve gained points while the job trained
    assert seen[-1]["points"] == 30 and seen[-1]["progress"] == 1
    with grpc.insecure_channel(running.target) as channel:
        status = pb_grpc.NNServiceStub(channel).GetStatus(pb.GetStatusRequest(job_id=job_id))
    assert status.name == "from the form" and list(status.config.hidden_sizes) == [64]
    assert status.config.batch_size == 5 and status.config.dataset == "tiny"
    page.wait_for_selector(f"#models tbody tr[data-id='{status.model_id}']")
    page.close()


def test_the_form_shows_the_servers_refusal_inline(make_server, context):
    running = make_server(http=True, http_port=0)
    page = open_dashboard(context, url_of(running))
    start_job(page, dataset="tiny", hiddenSizes="100000")
    page.wait_for_selector("#train-error:not(:empty)")
    assert "hidden_sizes[0] must be in [1, 512]" in page.locator("#train-error").text_content()
    assert job_ids(page) == set()
    page.close()


def test_a_drawn_digit_gets_the_prediction_grpc_predict_gives_those_pixels(make_server, context, tmp_path):
    running = make_server(http=True, http_port=0)
    with grpc.insecure_channel(running.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        job = stub.Train(pb.TrainRequest(dataset="tiny", hidden_size=16, epochs=2, seed=1))
        model_id = wait_for_job(stub, job.job_id).model_id
        page = open_dashboard(context, url_of(running))
        page.locator("#digit-model").select_option(model_id)
        draw(page)
        pixels, cls, probabilities = prediction(page, model_id)
        page.screenshot(path=str(tmp_path / "digit.png"), full_page=True)
        image = np.array(pixels, dtype=np.uint8)
        assert image.shape == (784,) and image.max() > 0 and len(set(pixels)) > 2  # grey levels, not a mask
        grid = image.reshape(28, 28).astype(float)
        rows, cols = np.nonzero(grid)
        height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert max(height, width) == 20 and min(height, width) < 20  # fitted to 20x20, aspect kept
        centre = [(grid.sum(axis=1 - axis) * (np.arange(28) + 0.5)).sum() / grid.sum() for axis in (0, 1)]
        np.testing.assert_allclose(centre, [14, 14], atol=1.0)  # centre of mass centred (rounded shift)
        answer = stub.Predict(pb.PredictRequest(model_id=model_id, input=pb.Tensor(
            shape=[1, 28, 28], dtype=pb.DTYPE_UINT8, raw_data=image.tobytes())))
    assert cls == answer.classes[0]
    np.testing.assert_allclose(probabilities, np.frombuffer(answer.probabilities.raw_data, "<f4"), atol=1e-6)
    assert page.locator("#digit-bars .bar").count() == 10
    page.close()


def test_the_page_asks_for_the_token_and_keeps_it_for_the_session(make_server, context):
    running = make_server(http=True, http_port=0, auth_tokens=("s3cret",))
    page = context.new_page()
    page.goto(url_of(running))
    page.wait_for_selector("#token-dialog[open]")
    assert "bearer token" in page.locator("#token-error").text_content()
    page.fill("#token-dialog input[name=token]", "s3cret")
    page.click("#token-dialog button[type=submit]")
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_selector("#stream-state[data-state=live]")
    assert page.evaluate("sessionStorage.getItem('nnservice-token')") == "s3cret"
    page.reload()
    page.wait_for_selector("body[data-ready=true]")  # no second prompt
    assert not page.locator("#token-dialog").evaluate("d => d.open")
    page.close()
