"""Metrics overhead (#15): gRPC Predict with metrics on vs off, and /metrics scrape time with 1,000 jobs.

Two nn-server processes on copies of one state directory (the same model, the same 1,000 job
records written through the job store before they start): one with metrics, one with
--no-metrics. (a) batch-1 Predict, the two servers alternating call by call, so that load from
elsewhere on the machine falls on both alike; medians over rounds of p50/p99, and their ratio
(target: on <= 1.05x off at p50). (b) GET /metrics on the server with metrics, against GET
/healthz on the same HTTP server as the baseline, interleaved (target: /metrics p50 and p99
< 100 ms). (c) the data plane's Predict in this process, with and without metrics, alternating
call by call: what metrics add to one call, without the network's noise. `--quick` runs a tiny version (a smoke test for tests/bench, not a measurement).

    .venv/bin/python bench/metrics_overhead.py [--quick] [--rounds 9] [--calls 1000] [--jobs 1000]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from threadpoolctl import threadpool_info

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_kserve import alternating  # noqa: E402
from serve_lib import EMBEDDED_MNIST, Lat, ServerProcess, load_avg, ratio  # noqa: E402

from client import NNClient  # noqa: E402
from client.channel import make_channel  # noqa: E402
from nncore.mnist import load_mnist  # noqa: E402
from protos import nn_service_pb2 as pb  # noqa: E402
from protos import nn_service_pb2_grpc as pb_grpc  # noqa: E402
from server import Settings, create_server  # noqa: E402
from server.ids import new_job_id  # noqa: E402
from server.records import CANCELLED, FAILED, SUCCEEDED, JobRecord  # noqa: E402
from server.store import JobStore  # noqa: E402
from server.tensors import decode_input  # noqa: E402

SCRAPES = 50
TARGET_P50_RATIO = 1.05
TARGET_SCRAPE_MS = 100.0


def prepare(workdir: Path, mnist_dir: Path, jobs: int, train_size: int) -> tuple[Path, str]:
    """A state dir holding one 784-100-10 model and `jobs` more ended job records; (dir, model id)."""
    state = workdir / "on"
    with ServerProcess(state, mnist_dir) as server, NNClient(server.target) as client:
        job_id, _ = client.train(hidden_size=100, epochs=1, train_size=train_size, eval_size=1000, seed=0)
        status = client.wait(job_id, progress=False, timeout=300)
        assert status.model_id, status
    store = JobStore(state / "jobs.sqlite3")  # the server is stopped: write the records it will find
    try:
        history = [{"epoch": e, "loss": 0.3, "train_accuracy": 0.9, "test_accuracy": 0.9, "seconds": 1.0}
                   for e in range(1, 6)]
        for i in range(jobs):
            store.insert(JobRecord(
                job_id=new_job_id(), name=f"bench job {i}", state=(SUCCEEDED, FAILED, CANCELLED)[i % 3],
                config={"dataset": "mnist", "hidden_size": 100, "epochs": 5}, created=time.time(),
                epoch=5, total_epochs=5, iteration=500, total_iterations=500, history=history))
    finally:
        store.close()
    shutil.copytree(state, workdir / "off")
    return state, status.model_id


def predict_request(model_id: str) -> pb.PredictRequest:
    """Batch 1, MNIST test image 0 as raw uint8: the SDK's wire format."""
    (_, _), (x_test, _) = load_mnist(normalize=False, data_dir=EMBEDDED_MNIST)
    return pb.PredictRequest(model_id=model_id, input=pb.Tensor(
        shape=[1, 784], dtype=pb.DTYPE_UINT8, raw_data=x_test[0].tobytes()))


def predict_section(on: ServerProcess, off: ServerProcess, model_id: str, rounds: int, calls: int) -> Lat:
    """Predict p50/p99 on both servers, alternating call by call; prints them and the ratio."""
    request = predict_request(model_id)
    channels = {name: make_channel(server.target) for name, server in (("on", on), ("off", off))}
    stubs = {name: pb_grpc.NNServiceStub(channel) for name, channel in channels.items()}
    lats = alternating({name: (lambda s=stub: s.Predict(request, timeout=30)) for name, stub in stubs.items()},
                       calls, rounds)
    for channel in channels.values():
        channel.close()
    print("\n== gRPC Predict, batch 1, 784-100-10, raw uint8: metrics on vs off ==")
    print(f"  {'':<24} {'p50 ms':>10} {'p99 ms':>10}")
    for name in ("on", "off"):
        print(f"  metrics {name:<16} {lats[name].p50:>10.3f} {lats[name].p99:>10.3f}")
    p50, p99 = ratio(lats["on"].p50, lats["off"].p50), ratio(lats["on"].p99, lats["off"].p99)
    print(f"  {'on / off':<24} {p50:>9.3f}x {p99:>9.3f}x")
    return p50


def scrape_section(on: ServerProcess, jobs: int, scrapes: int) -> Lat:
    """GET /metrics and GET /healthz, interleaved, on the server with metrics; prints p50/p99."""
    base = f"http://127.0.0.1:{on.http_port}"
    times: dict[str, list[float]] = {"/metrics": [], "/healthz": []}
    with httpx.Client(base_url=base, timeout=30) as http:
        body = http.get("/metrics").text
        stored = sum(float(m.group(1)) for m in re.finditer(r"^nnservice_jobs\{[^}]*\} (\S+)$", body, re.M))
        assert stored == jobs + 1, f"the scrape counts {stored} jobs, not {jobs + 1}"
        for _ in range(scrapes):
            for path, out in times.items():
                start = time.perf_counter()
                answer = http.get(path)
                out.append(time.perf_counter() - start)
                answer.raise_for_status()
    lats = {path: Lat.of(seconds) for path, seconds in times.items()}
    print(f"\n== GET /metrics with {jobs + 1} jobs in the store ({scrapes} scrapes, "
          f"{len(body) / 1024:.1f} KiB each) ==")
    for path, lat in lats.items():
        print(f"  {path:<24} {lat.p50:>10.3f} {lat.p99:>10.3f}   (p50 / p99 ms)")
    return lats["/metrics"]


def in_process_section(workdir: Path, model_id: str, rounds: int, calls: int) -> None:
    """DataPlane.predict on two in-process servers (built, not started) over the state copies, and
    the scrape's body built without HTTP."""
    tensor = predict_request(model_id).input
    servers = {name: create_server(Settings(state_dir=workdir / name, metrics=name == "on", http=False,
                                            mnist_dir=EMBEDDED_MNIST), "127.0.0.1:0")[0]
               for name in ("on", "off")}
    try:
        planes = {name: server.plane for name, server in servers.items()}
        decode = lambda spec: decode_input(tensor, spec, 1)  # noqa: E731 - the servicer's closure
        medians: dict[str, list[float]] = {"on": [], "off": []}
        clock = time.perf_counter
        for _ in range(rounds):
            times: dict[str, list[float]] = {"on": [], "off": []}
            for _ in range(calls):
                for name, plane in planes.items():
                    start = clock()
                    plane.predict(model_id, decode)
                    times[name].append(clock() - start)
            for name, seconds in times.items():
                medians[name].append(statistics.median(seconds) * 1e6)
        scrape = Lat.of([timed(planes["on"].metrics.exposition) for _ in range(SCRAPES)])
    finally:
        for server in servers.values():
            server.stop(0)
    print(f"\n== DataPlane.predict in process, batch 1 ({rounds} rounds of {calls} calls each) ==")
    for name in ("on", "off"):
        print(f"  metrics {name:<16} median {statistics.median(medians[name]):8.2f} us   "
              f"best round {min(medians[name]):8.2f} us")
    added = statistics.median(medians["on"]) - statistics.median(medians["off"])
    print(f"  {'added by metrics':<24} median {added:8.2f} us")
    print(f"  Metrics.exposition() alone (the scrape's body, {SCRAPES} times): p50 {scrape.p50:.3f} ms, "
          f"p99 {scrape.p99:.3f} ms")


def timed(call) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def blas() -> str:
    """The BLAS library this interpreter (and so each server) loads, as threadpoolctl sees it."""
    found = [f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
             for i in threadpool_info() if i.get("user_api") == "blas"]
    return ", ".join(found) or "none found"


def main(argv: list[str] | None = None) -> int:
    """Prepare the state, start both servers, run both sections, print the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts: checks the benchmark works")
    parser.add_argument("--rounds", type=int, default=9, help="alternating Predict rounds (medians reported)")
    parser.add_argument("--calls", type=int, default=1000, help="Predicts per server per round")
    parser.add_argument("--jobs", type=int, default=1000, help="job records in the store")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.calls, args.jobs = 1, 20, 30
    load_mnist(normalize=False, data_dir=EMBEDDED_MNIST)  # parse once before anything is timed
    print(f"nnservice metrics overhead ({'quick' if args.quick else 'full'}); load average {load_avg()}; "
          f"BLAS: {blas()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="nnsvc-metrics-") as tmp:
        workdir = Path(tmp)
        state, model_id = prepare(workdir, EMBEDDED_MNIST, args.jobs, 500 if args.quick else 5000)
        with ServerProcess(state, EMBEDDED_MNIST) as on, \
                ServerProcess(workdir / "off", EMBEDDED_MNIST, extra_args=("--no-metrics",)) as off:
            p50_ratio = predict_section(on, off, model_id, args.rounds, args.calls)
            scrape = scrape_section(on, args.jobs, 5 if args.quick else SCRAPES)
        in_process_section(workdir, model_id, args.rounds, 20 * args.calls)
    print("\n== Targets ==")
    checks = ((f"Predict p50 with metrics <= {TARGET_P50_RATIO}x without", f"{p50_ratio:.3f}x",
               p50_ratio <= TARGET_P50_RATIO),
              (f"/metrics p50 and p99 < {TARGET_SCRAPE_MS:.0f} ms", f"{scrape.p50:.1f} / {scrape.p99:.1f} ms",
               scrape.p99 < TARGET_SCRAPE_MS))
    for text, figure, met in checks:
        verdict = "quick run: not judged" if args.quick else ("met" if met else "NOT met")
        print(f"  {text:<48} {figure:>18}   {verdict}")
    print(f"load average at the end {load_avg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
