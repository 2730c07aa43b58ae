"""Drive the dashboard in Debian's chromium with Playwright: the browser tests' helpers, and
`python -m tests.web.screenshot [docs/dashboard.png]`, which writes the README's screenshot
with the same code (a server on free ports, two MNIST jobs from the form, a digit drawn).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

#: What the tests skip with when chromium is missing; CI installs it, so there this skip FAILS.
CHROMIUM_REASON = "chromium not installed: apt-get install chromium (Debian's; Playwright's download is not used)"
# No sandbox (root in a container); nothing the browser would fetch by itself (no internet here).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 1000}
# The strokes of a "7" on the 280x280 pad, in pad pixels.
SEVEN = [[(70, 60), (210, 60), (190, 110), (150, 180), (125, 240)]]


def chromium_path() -> str | None:
    """Debian's chromium binary, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def launch(playwright, profile: Path):
    """A headless chromium context with a fresh profile in `profile`."""
    return playwright.chromium.launch_persistent_context(
        str(profile), executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS, viewport=VIEWPORT)


def open_dashboard(context, url: str):
    """A page at `url` once the dashboard has loaded its tables (its scripts set body[data-ready])."""
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]")
    return page


def start_job(page, **fields) -> None:
    """Fill the job form (field name -> value; booleans tick boxes) and press train."""
    form = page.locator("#train-form")
    for name, value in fields.items():
        field = form.locator(f"[name={name}]")
        if isinstance(value, bool):
            field.set_checked(value)
        elif field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(str(value))
        else:
            field.fill(str(value))
    form.locator("button[type=submit]").click()


def draw(page, strokes=SEVEN) -> None:
    """Draw `strokes` on the digit pad with mouse moves (pad pixels; the pad is 280x280 CSS px)."""
    box = page.locator("#digit-canvas").bounding_box()
    for stroke in strokes:
        page.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
        page.mouse.down()
        for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]):
            for step in range(1, 11):  # many small moves, as a hand makes
                t = step / 10
                page.mouse.move(box["x"] + x0 + t * (x1 - x0), box["y"] + y0 + t * (y1 - y0))
        page.mouse.up()


def prediction(page, model_id: str) -> tuple[list[int], int, list[float]]:
    """(the 784 pixels the page sent, its predicted class, its ten probabilities) once it answered."""
    page.wait_for_function("id => document.querySelector('#digit-answer').dataset.model === id", arg=model_id)
    pixels = json.loads(page.locator("#digit-canvas").get_attribute("data-pixels"))
    answer = page.locator("#digit-answer")
    return pixels, int(answer.get_attribute("data-class")), json.loads(answer.get_attribute("data-probabilities"))


def wait_for_state(page, job_id: str, states: str = "SUCCEEDED FAILED CANCELLED", timeout: float = 120_000) -> str:
    """The state of the job's row once it is one of `states`."""
    page.wait_for_function(
        "([id, states]) => states.split(' ').includes(document.querySelector(`tr[data-job-id='${id}']`)?.dataset.state)",
        arg=[job_id, states], timeout=timeout)
    return page.locator(f"tr[data-job-id='{job_id}']").get_attribute("data-state")


def newest_job_id(page, after: set[str]) -> str:
    """The id of the job row that appears beside the ids in `after`."""
    page.wait_for_function("ids => [...document.querySelectorAll('#jobs tbody tr')].some(r => !ids.includes(r.dataset.jobId))",
                           arg=sorted(after))
    rows = page.locator("#jobs tbody tr").evaluate_all("rows => rows.map(r => r.dataset.jobId)")
    return next(job_id for job_id in rows if job_id not in after)


def job_ids(page) -> set[str]:
    """The ids in the jobs table."""
    return set(page.locator("#jobs tbody tr").evaluate_all("rows => rows.map(r => r.dataset.jobId)"))


def write_screenshot(url: str, path: Path, profile: Path) -> None:
    """Two MNIST jobs started from the form (curves overlaid), a "7" drawn: `path` as a PNG."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = launch(playwright, profile)
        page = open_dashboard(context, url)
        ids: set[str] = set()
        for name, optimizer, hidden in (("adam 128", "adam", "128"), ("sgd 128-64", "sgd", "128,64")):
            start_job(page, name=name, dataset="mnist", hiddenSizes=hidden, optimizer=optimizer,
                      epochs=12, trainSize=10000, batchSize=100)
            job_id = newest_job_id(page, ids)
            ids.add(job_id)
        for job_id in ids:
            page.locator(f"tr[data-job-id='{job_id}'] [name=show]").check()
            wait_for_state(page, job_id)
        page.locator("#digit-model").select_option(index=0)
        draw(page)
        page.wait_for_function("document.querySelector('#digit-answer').dataset.model")
        page.screenshot(path=str(path), full_page=True)
        context.close()


def main(argv: list[str] | None = None) -> int:
    """Start a server on free ports over a temporary state dir and write the screenshot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default="docs/dashboard.png", type=Path)
    args = parser.parse_args(argv)
    if chromium_path() is None:
        print(CHROMIUM_REASON, file=sys.stderr)
        return 1
    from server import Settings, create_server

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(state_dir=Path(tmp) / "state", http_port=0, max_concurrent_jobs=2)
        server, _ = create_server(settings, "127.0.0.1:0")
        server.start()
        try:
            write_screenshot(f"http://127.0.0.1:{server.http_port}/", args.path, Path(tmp) / "profile")
        finally:
            server.stop(0)
    print(f"wrote {args.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
