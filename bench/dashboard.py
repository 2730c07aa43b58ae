"""The dashboard's targets (issue 15), each beside a baseline measured in the same run:

(a) a job's state change reaches an open dashboard within 1 s: from the Train / CancelJob RPC to
    the event's arrival at a /api/v1/events client (baseline: the same Cancel seen on gRPC
    WatchJob) and to the jobs table's DOM update in chromium; p50 / max over N changes;
(b) with 1,000 jobs in the store, GET /api/v1/jobs (the table's first page) and the page's first
    render answer in < 100 ms, p50 / p99 (baselines: gRPC ListJobs of the same page; the same
    page over an empty store).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python bench/dashboard.py [--changes 20]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
import httpx
from serve_lib import EMBEDDED_MNIST, Lat, ServerProcess, load_avg
from threadpoolctl import threadpool_info

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from nncore.training import TrainConfig  # noqa: E402
from protos import nn_service_pb2 as pb  # noqa: E402
from protos import nn_service_pb2_grpc as pb_grpc  # noqa: E402
from server.records import JobRecord  # noqa: E402
from server.store import JobStore  # noqa: E402
from tests.web.screenshot import chromium_path, launch, open_dashboard  # noqa: E402

LONG_JOB = pb.TrainRequest(hidden_size=100, epochs=50, train_size=2000, batch_size=10, seed=1)
# Records every jobs-table row state change with the wall clock, for (a)'s DOM figure.
RECORD_ROWS = """() => { window.rowTimes = [];
  new MutationObserver((changes) => { const t = performance.timeOrigin + performance.now();
    for (const c of changes) { const row = c.target.closest && c.target.closest('tr[data-job-id]');
      if (row) window.rowTimes.push([row.dataset.jobId, row.dataset.state, t]); } })
  .observe(document.querySelector('#jobs tbody'), {subtree: true, childList: true, attributes: true,
           attributeFilter: ['data-state']}); }"""


class EventClient:
    """Follows /api/v1/events on a thread; when(job_id, states) waits for a change's arrival time."""

    def __init__(self, base: str) -> None:
        self.arrivals: list[tuple[float, float, str, str]] = []  # (perf_counter, wall, job, state)
        self._cond = threading.Condition()
        self._client = httpx.Client(base_url=base, timeout=None)
        threading.Thread(target=self._follow, daemon=True).start()

    def __repr__(self) -> str:
        return f"EventClient({len(self.arrivals)} events)"

    def _follow(self) -> None:
        with self._client.stream("GET", "/api/v1/events") as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    data, now = json.loads(line[6:]), time.perf_counter()
                    with self._cond:
                        self.arrivals.append((now, time.time(), data["jobId"], data.get("state", "")))
                        self._cond.notify_all()

    def when(self, job_id: str, states: tuple[str, ...] = (), timeout: float = 30) -> float:
        """perf_counter() at the first arrival of job_id in one of `states` (any state if none)."""
        def found():
            return next((t for t, _, j, s in self.arrivals if j == job_id and (not states or s in states)), None)
        with self._cond:
            self._cond.wait_for(lambda: found() is not None, timeout)
            if found() is None:
                raise RuntimeError(f"no {states} event for {job_id}")
            return found()


def watch_times(stub, job_id: str, out: dict) -> threading.Thread:
    """WatchJob on a thread, recording perf_counter() at each state's first arrival (the baseline)."""
    def follow():
        for status in stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=120):
            out.setdefault(pb.JobState.Name(status.state), time.perf_counter())
    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    return thread


def state_changes(target: str, base: str, changes: int, page) -> dict[str, list[float]]:
    """(a): seconds from Train / CancelJob to the event (and the DOM row, with a page) per change."""
    events = EventClient(base)
    time.sleep(0.5)  # the stream is open
    sample: dict[str, list[float]] = {k: [] for k in ("train->event", "cancel->event", "cancel->watch",
                                                      "train->dom", "cancel->dom")}
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        for _ in range(changes):
            t0, w0 = time.perf_counter(), time.time()
            job_id = stub.Train(LONG_JOB).job_id
            # The feed keeps each job's latest record: a job that starts at once may arrive RUNNING.
            sample["train->event"].append(events.when(job_id) - t0)
            events.when(job_id, ("JOB_STATE_RUNNING",))
            watched: dict[str, float] = {}
            watcher = watch_times(stub, job_id, watched)
            time.sleep(0.2)  # WatchJob has sent its first status
            t1, w1 = time.perf_counter(), time.time()
            stub.CancelJob(pb.CancelJobRequest(job_id=job_id))
            stopping = ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED")
            sample["cancel->event"].append(events.when(job_id, stopping) - t1)
            watcher.join(30)
            sample["cancel->watch"].append(min(watched.get(s[10:], watched.get(s, 1e9)) for s in stopping) - t1)
            if page is not None:
                rows = page.evaluate("window.rowTimes")
                dom = lambda states: min(t for j, s, t in rows if j == job_id and s in states) / 1e3  # noqa: E731
                sample["train->dom"].append(dom(("QUEUED", "RUNNING", "CANCELLING", "CANCELLED")) - w0)
                sample["cancel->dom"].append(dom(("CANCELLING", "CANCELLED")) - w1)
    return {k: v for k, v in sample.items() if v}


def seed_jobs(state_dir: Path, count: int, epochs: int = 20) -> None:
    """`count` finished jobs with `epochs` epochs of history in a new job database."""
    state_dir.mkdir(parents=True, exist_ok=True)
    config = {**TrainConfig().resolved().to_dict(), "dataset": "mnist"}
    history = [{"epoch": e, "loss": 1 / e, "train_accuracy": 0.9, "test_accuracy": 0.89, "seconds": 1.5}
               for e in range(1, epochs + 1)]
    store = JobStore(state_dir / "jobs.sqlite3")
    start = time.time() - count
    for i in range(count):
        store.insert(JobRecord(job_id=f"{i:016x}", name=f"seeded job {i}", config=config, state="SUCCEEDED",
                               created=start + i, started=start + i, ended=start + i + 0.5, epoch=epochs,
                               total_epochs=epochs, history=history, model_id=f"{i:016x}"))
    store.close()


def listing(target: str, base: str, calls: int) -> dict[str, Lat]:
    """(b): GET /api/v1/jobs (first page) and gRPC ListJobs, alternating call by call."""
    times: dict[str, list[float]] = {"http": [], "grpc": []}
    with grpc.insecure_channel(target) as channel, httpx.Client(base_url=base) as client:
        stub = pb_grpc.NNServiceStub(channel)
        calls_by_kind = {"http": lambda: client.get("/api/v1/jobs").raise_for_status(),
                         "grpc": lambda: stub.ListJobs(pb.ListJobsRequest())}
        for i in range(calls + 10):
            for kind, call in calls_by_kind.items():
                start = time.perf_counter()
                call()
                if i >= 10:  # after a warm-up
                    times[kind].append(time.perf_counter() - start)
    return {kind: Lat.of(sample) for kind, sample in times.items()}


def first_renders(context, url: str, loads: int) -> dict[str, Lat]:
    """From navigation start to the jobs table's first render, and to every table and the form
    filled (the page's performance marks), over `loads` loads after two warm-up loads."""
    page = context.new_page()
    sample: dict[str, list[float]] = {"jobs-rendered": [], "dashboard-ready": []}
    for i in range(loads + 2):
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]")
        for mark, times in sample.items():
            if i >= 2:
                times.append(page.evaluate(f"performance.getEntriesByName('{mark}')[0].startTime") / 1e3)
    bare = []  # the browser's floor here: navigating to one small static file, to its load event
    for i in range(loads + 2):
        page.goto(url + "static/dashboard.css")
        if i >= 2:
            bare.append(page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd") / 1e3)
    page.close()
    return {"bare": Lat.of(bare), **{mark: Lat.of(times) for mark, times in sample.items()}}


def row(name: str, value: str, baseline: str = "", target: str = "") -> None:
    """One line of the report."""
    print(f"{name:<46} {value:>22} {baseline:>22} {target}")


def report_changes(sample: dict[str, list[float]]) -> None:
    """(a)'s lines: p50 / max in ms per kind of change."""
    print(f"\n== (a) state change -> open dashboard, {len(sample['train->event'])} changes each")
    row("", "p50 / max", "baseline p50 / max")
    fmt = lambda s: f"{Lat.of(s).p50:.1f} / {max(s) * 1e3:.1f} ms"  # noqa: E731
    row("Train -> event at an events client", fmt(sample["train->event"]), "", "target < 1000 ms")
    row("Cancel -> event at an events client", fmt(sample["cancel->event"]), fmt(sample["cancel->watch"]) +
        " (WatchJob)", "target < 1000 ms")
    for kind in ("train->dom", "cancel->dom"):
        if kind in sample:
            row(f"{kind.split('->')[0].title()} -> jobs table row updated (chromium)", fmt(sample[kind]), "",
                "target < 1000 ms")


def main() -> int:
    """Run (a) and (b) and print them side by side with their baselines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20, help="state changes per kind for (a)")
    parser.add_argument("--calls", type=int, default=300, help="GET /api/v1/jobs calls for (b)")
    parser.add_argument("--loads", type=int, default=20, help="page loads for (b)")
    args = parser.parse_args()
    blas = [f"{i['internal_api']} {i.get('architecture')}" for i in threadpool_info() if i["user_api"] == "blas"]
    print(f"BLAS {', '.join(blas)}; load average {load_avg()} at start")
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(Path(tmp) / "live", EMBEDDED_MNIST) as live:
        base = f"http://127.0.0.1:{live.http_port}"
        with _browser(Path(tmp)) as context:
            page = None
            if context is not None:
                page = open_dashboard(context, base + "/")
                page.evaluate(RECORD_ROWS)
            report_changes(state_changes(live.target, base, args.changes, page))
            seed_jobs(Path(tmp) / "full", 1000)
            with ServerProcess(Path(tmp) / "full", EMBEDDED_MNIST) as full, \
                    ServerProcess(Path(tmp) / "empty", EMBEDDED_MNIST) as empty:
                full_base, empty_base = (f"http://127.0.0.1:{s.http_port}" for s in (full, empty))
                lats = listing(full.target, full_base, args.calls)
                print(f"\n== (b) 1,000 jobs in the store (20 epochs of history each), {args.calls} calls")
                row("", "p50 / p99", "baseline p50 / p99")
                row("GET /api/v1/jobs (first page, 50 jobs)", f"{lats['http'].p50:.1f} / {lats['http'].p99:.1f} ms",
                    f"{lats['grpc'].p50:.1f} / {lats['grpc'].p99:.1f} ms (ListJobs)", "target < 100 ms")
                if context is not None:
                    full_page, empty_page = (first_renders(context, b + "/", args.loads) for b in (full_base, empty_base))
                    for mark, name, target in (("jobs-rendered", "page: jobs table rendered", "target < 100 ms"),
                                               ("dashboard-ready", "page: every table and the form", "")):
                        full_lat, empty_lat = full_page[mark], empty_page[mark]
                        row(f"{name}, {args.loads} loads", f"{full_lat.p50:.0f} / {full_lat.p99:.0f} ms",
                            f"{empty_lat.p50:.0f} / {empty_lat.p99:.0f} ms (empty store)", target)
                    bare = full_page["bare"]
                    row("chromium's floor: navigate to dashboard.css", f"{bare.p50:.0f} / {bare.p99:.0f} ms")
    print(f"\nload average {load_avg()} at the end")
    return 0


class _browser:
    """A chromium context for the DOM figures, or None without chromium (those lines are left out)."""

    def __init__(self, tmp: Path) -> None:
        self._tmp = tmp
        self._playwright = self._context = None

    def __repr__(self) -> str:
        return f"_browser({self._context!r})"

    def __enter__(self):
        if chromium_path() is None:
            print("chromium not installed: the DOM and page-render lines are left out")
            return None
        from playwright.sync_api import sync_playwright
        self._playwright = sync_playwright().start()
        self._context = launch(self._playwright, self._tmp / "profile")
        return self._context

    def __exit__(self, *exc) -> None:
        if self._context is not None:
            self._context.close()
            self._playwright.stop()


if __name__ == "__main__":
    sys.exit(main())
