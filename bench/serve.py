"""Serving benchmark: Predict against an empty RPC (health Check) on a real nn-server.

The server runs as a subprocess (`python -m server`), as in production: its RSS is its own, and
the client's threads do not share its GIL. NNSVC_BENCH_SERVER replaces `-m server` (e.g. with a
profiling script that calls server.__main__.main). Every figure is printed next to its baseline
and as a ratio; `--runs N` repeats everything on fresh servers and reports the medians; `--quick`
runs a tiny version of everything (a smoke test for tests/bench, not a measurement).

    .venv/bin/python bench/serve.py [--quick] [--runs 3] [--sections latency,throughput]
                                    [--json out.json] [--plot out.png]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_lib import (EMBEDDED_MNIST, Lat, ServerProcess, best_seconds, concurrent,  # noqa: E402
                       interleaved, load_avg, median_rates, median_tree, plot_concurrency, ratio,
                       wait_running)

from client import NNClient  # noqa: E402
from client.channel import make_channel  # noqa: E402
from nncore.mnist import load_mnist  # noqa: E402
from protos import nn_service_pb2 as pb  # noqa: E402
from protos import nn_service_pb2_grpc as pb_grpc  # noqa: E402
from server.models import ModelStore  # noqa: E402
from serve_kserve import HEADING as KSERVE_HEADING, kserve_section, kserve_target_rows  # noqa: E402

HEADINGS = ("Latency, batch 1", "Throughput", "Latency vs concurrency", "Bulk Predict",
            "Predict while training", "Peak RSS", "Targets", KSERVE_HEADING)
HIDDEN = (100, 800)
BULK_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Plan:
    """How much of everything to do (full run or --quick)."""

    rounds: int = 7          # interleaved rounds; medians over rounds are reported
    calls: int = 400         # calls per kind per round
    seconds: float = 1.0     # per throughput / concurrency measurement
    rate_rounds: int = 5
    levels: tuple = (1, 2, 4, 8, 16)
    bulk_rows: int = 10_000
    bulk_repeat: int = 5
    model_train_size: int = 10_000
    rss_train_size: int | None = None  # None = all 60,000 images, evaluated on all of them
    rss_eval_size: int | None = None


QUICK = Plan(rounds=1, calls=20, seconds=0.2, rate_rounds=1, levels=(1, 2), bulk_rows=200,
             bulk_repeat=1, model_train_size=500, rss_train_size=500, rss_eval_size=200)


def heading(title: str) -> None:
    """Print a section heading (the quick test checks that each one appears)."""
    print(f"\n== {title} ==", flush=True)


def row(label: str, value: str, base: str = "", ratio_: float | None = None) -> None:
    """One line of a table: figure, baseline and their ratio."""
    r = "" if ratio_ is None else f"{ratio_:6.2f}x"
    print(f"  {label:<42} {value:>20} {base:>20} {r:>8}", flush=True)


def fmt(lat: Lat) -> str:
    """p50 / p99 in ms."""
    return f"{lat.p50:.3f} / {lat.p99:.3f} ms"


def train_models(client: NNClient, plan: Plan) -> dict[int, str]:
    """Train one 784-H-10 model per hidden size through the API; returns {H: model_id}."""
    ids = {}
    for hidden in HIDDEN:
        job_id, _ = client.train(name=f"bench 784-{hidden}-10", hidden_size=hidden, epochs=1,
                                 train_size=plan.model_train_size, eval_size=1000, seed=1)
        status = client.wait(job_id, progress=False, timeout=600)
        if status.state != "SUCCEEDED":
            raise RuntimeError(f"training 784-{hidden}-10 failed: {status}")
        ids[hidden] = status.model_id
    return ids


def float_request(model_id: str, image: np.ndarray) -> pb.PredictRequest:
    """A JSON-style request: float_data, as grpcurl or a JSON client sends it."""
    x = (image.astype(np.float32) / 255).ravel()
    return pb.PredictRequest(model_id=model_id, input=pb.Tensor(
        shape=[1, 784], dtype=pb.DTYPE_FLOAT32, float_data=x.tolist()))


def raw_request(model_id: str, image: np.ndarray) -> pb.PredictRequest:
    """The SDK's wire format (uint8 raw_data), built by hand: the least a client can do per call."""
    return pb.PredictRequest(model_id=model_id, input=pb.Tensor(
        shape=[1, 784], dtype=pb.DTYPE_UINT8, raw_data=image.tobytes()))


LABELS = {"check": "health Check (empty RPC)", "sdk": "SDK predict, raw uint8",
          "stub": "bare stub, raw uint8", "float": "bare stub, float_data (JSON-style)"}


def label(name: str) -> str:
    """'sdk100' -> '784-100-10 SDK predict, raw uint8'."""
    if name == "check":
        return LABELS[name]
    kind = name.rstrip("0123456789")
    return f"784-{name[len(kind):]}-10 {LABELS[kind]}"


def make_calls(client: NNClient, stub, ids: dict[int, str], image: np.ndarray) -> dict[str, object]:
    """The calls measured: Check; per model, Predict via the SDK, a bare stub, and float_data."""
    calls = {"check": client.health}
    for hidden, mid in ids.items():
        calls[f"sdk{hidden}"] = lambda mid=mid: client.predict(mid, image)
        calls[f"stub{hidden}"] = lambda mid=mid: stub.Predict(raw_request(mid, image), timeout=30)
        calls[f"float{hidden}"] = lambda mid=mid: stub.Predict(float_request(mid, image), timeout=30)
    return calls


def latency_section(calls: dict, plan: Plan, out: dict) -> None:
    """Batch-1 p50/p99 of every kind against health Check, interleaved in rounds."""
    heading(HEADINGS[0])
    lats = interleaved(calls, plan.calls, plan.rounds)
    check = lats["check"]
    row(label("check") + " p50 / p99", fmt(check), "baseline")
    for name, lat in lats.items():
        if name != "check":
            row(label(name) + " p50", f"{lat.p50:.3f} ms", f"{check.p50:.3f} ms", ratio(lat.p50, check.p50))
            row(label(name) + " p99", f"{lat.p99:.3f} ms", f"{check.p99:.3f} ms", ratio(lat.p99, check.p99))
    out["latency"] = {name: asdict(lat) for name, lat in lats.items()}


def throughput_section(calls: dict, plan: Plan, out: dict) -> None:
    """RPC/s with 1 and 8 client threads (one shared channel), Predict against Check."""
    heading(HEADINGS[1])
    names, rates = ("check", "sdk100", "stub100", "sdk800", "stub800"), {}
    for threads in (1, 8):
        rates.update(median_rates({f"{n}@{threads}": calls[n] for n in names}, threads, plan.seconds,
                                  plan.rate_rounds))
        base = rates[f"check@{threads}"]
        row(f"{label('check')}, {threads} thread(s)", f"{base:.0f} RPC/s", "baseline")
        for name in ("sdk100", "stub100", "sdk800", "stub800"):
            rate = rates[f"{name}@{threads}"]
            row(f"{label(name)}, {threads} thr", f"{rate:.0f} RPC/s", f"{base:.0f} RPC/s", ratio(rate, base))
    out["throughput"] = rates


def concurrency_section(calls: dict, plan: Plan, out: dict) -> None:
    """p50/p99 against the number of client threads (the plot's data)."""
    heading(HEADINGS[2])
    table = {}
    for threads in plan.levels:
        for name in ("check", "sdk100", "sdk800"):
            rate, lats = concurrent(calls[name], threads, plan.seconds)
            lat = Lat.of(lats)
            table[f"{name}@{threads}"] = {**asdict(lat), "rps": rate}
            row(f"{name:>7}, {threads:>2} thread(s): p50 / p99", fmt(lat), f"{rate:.0f} RPC/s")
    out["concurrency"] = table


def bulk_section(target: str, state_dir: Path, ids: dict, images: np.ndarray, plan: Plan, out: dict) -> None:
    """One Predict of many images (uint8, float32) against the in-process forward pass, interleaved."""
    heading(HEADINGS[3])
    x8 = np.ascontiguousarray(images[: plan.bulk_rows])
    x32, n = x8.astype(np.float32) / 255, len(x8)
    store, res = ModelStore(state_dir / "models"), {}
    with NNClient(target, timeout=120, max_request_bytes=BULK_MAX_BYTES, max_batch_rows=n) as client:
        for hidden, mid in ids.items():
            model = store.load(mid)  # the server's own loading code and forward pass, in this process
            runs = {"local": lambda: model.predict_proba(x8), "uint8": lambda: client.predict(mid, x8),
                    "float32": lambda: client.predict(mid, x32)}
            times: dict[str, list[float]] = {k: [] for k in (*runs, "local2thr")}
            for _ in range(plan.bulk_repeat):
                with threadpool_limits(limits=1, user_api="blas"):  # the server's policy
                    for key, fn in runs.items():
                        times[key].append(best_seconds(fn, 1))
                with threadpool_limits(limits=2, user_api="blas"):
                    times["local2thr"].append(best_seconds(runs["local"], 1))
            rates = {key: n / statistics.median(ts) for key, ts in times.items()}
            local = rates["local"]
            row(f"in-process forward 784-{hidden}-10, 1 BLAS thread", f"{local:.0f} img/s", "baseline")
            row(f"  (same, 2 BLAS threads)", f"{rates['local2thr']:.0f} img/s", f"{local:.0f} img/s",
                ratio(rates["local2thr"], local))
            for kind in ("uint8", "float32"):
                row(f"Predict {n} images 784-{hidden}-10 raw {kind}", f"{rates[kind]:.0f} img/s",
                    f"{local:.0f} img/s", ratio(rates[kind], local))
            res.update({f"{key}{hidden}": rate for key, rate in rates.items()})
    out["bulk"] = {"rows": n, **res}


def training_section(client: NNClient, calls: dict, plan: Plan, out: dict) -> None:
    """Predict p50/p99 with 0, 1 and 2 training jobs (784-100-10, full MNIST) in the server."""
    heading(HEADINGS[4])
    kinds = {name: calls[name] for name in ("check", "sdk100", "sdk800")}
    phases, jobs = {}, []
    try:
        for n_jobs in (0, 1, 2):
            while len(jobs) < n_jobs:
                job_id, _ = client.train(name="bench load", hidden_size=100, epochs=50, seed=len(jobs))
                jobs.append(job_id)
                wait_running(client, job_id)
            phases[n_jobs] = interleaved(kinds, plan.calls, plan.rounds)
    finally:
        for job_id in jobs:
            client.cancel(job_id)
    for name in kinds:
        idle = phases[0][name]
        for n_jobs in (0, 1, 2):
            lat = phases[n_jobs][name]
            row(f"{name:>7} with {n_jobs} job(s): p50 / p99", fmt(lat), f"idle p99 {idle.p99:.3f}",
                ratio(lat.p99, idle.p99))
    out["training"] = {f"{name}@{n}": asdict(phases[n][name]) for n in phases for name in kinds}


def rss_section(workdir: Path, mnist_dir: Path, plan: Plan, out: dict) -> None:
    """Peak RSS (VmHWM) of a fresh server: idle, then with 1, 2 and 4 concurrent 784-100-10 jobs."""
    heading(HEADINGS[5])
    peaks = {}
    with ServerProcess(workdir / "rss-state", mnist_dir) as server, NNClient(server.target) as client:
        for _ in range(20):
            client.health()
        peaks[0] = server.peak_rss_mb()
        row("idle (started, no job yet)", f"{peaks[0]:.0f} MB", "")
        for n_jobs in (1, 2, 4):
            server.reset_peak()
            ids = [client.train(name=f"bench rss {i}", hidden_size=100, epochs=1, seed=i,
                                train_size=plan.rss_train_size, eval_size=plan.rss_eval_size)[0]
                   for i in range(n_jobs)]
            for job_id in ids:
                client.wait(job_id, progress=False, timeout=900)
            peaks[n_jobs] = server.peak_rss_mb()
            row(f"{n_jobs} concurrent job(s), MNIST loaded", f"{peaks[n_jobs]:.0f} MB",
                f"idle {peaks[0]:.0f} MB", ratio(peaks[n_jobs], peaks[0]))
    out["rss_mb"] = peaks


def target_rows(out: dict) -> list[tuple[str, float, float]]:
    """(target, this run's value, limit) for each measured section; a negative limit means "at least -limit"."""
    rows = []
    if "latency" in out:
        lat = out["latency"]
        p50, p99 = lat["check"]["p50"], lat["check"]["p99"]
        for via in ("sdk", "stub"):
            small, large = lat[f"{via}100"], lat[f"{via}800"]
            rows += [(f"{via}: 784-100-10 p50 <= 1.25x Check p50", ratio(small["p50"], p50), 1.25),
                     (f"{via}: 784-800-10 p50 <= Check p50 + 0.3 ms", large["p50"] - p50, 0.3),
                     (f"{via}: 784-100-10 p99 <= 1.5x Check p99", ratio(small["p99"], p99), 1.5),
                     (f"{via}: 784-800-10 p99 <= 1.5x Check p99", ratio(large["p99"], p99), 1.5)]
    if "throughput" in out:
        thr = out["throughput"]
        for name in ("sdk100", "stub100", "sdk800", "stub800"):
            rate = ratio(thr[f"{name}@8"], thr["check@8"])
            rows.append((f"{name}: RPC/s at 8 threads >= 0.9x Check", rate, -0.9))
    if "bulk" in out:
        bulk = out["bulk"]
        rows.append((f"bulk {int(bulk['rows'])} uint8 784-800-10 >= 0.5x in-process",
                     ratio(bulk["uint8800"], bulk["local800"]), -0.5))
    if "training" in out:
        tr = out["training"]
        for name in ("sdk100", "sdk800"):
            busy = ratio(tr[f"{name}@2"]["p99"], tr[f"{name}@0"]["p99"])
            rows.append((f"{name}: p99 with 2 jobs <= 3x idle p99", busy, 3.0))
    if "rss_mb" in out:
        rows.append(("peak RSS with 4 jobs of 784-100-10 <= 400 MB", out["rss_mb"][4], 400.0))
    if "kserve" in out:
        rows += kserve_target_rows(out)
    return rows


def targets_section(out: dict) -> None:
    """Each target (issue 7's, and issue 14's for KServe) with this run's figure."""
    heading(HEADINGS[6])
    out["targets"] = {}
    for text, value, limit in target_rows(out):
        met = value >= -limit if limit < 0 else value <= limit
        print(f"  {text:<50} {value:8.2f}   {'met' if met else 'NOT met'}", flush=True)
        out["targets"][text] = {"value": value, "met": met}


SECTIONS = ("latency", "throughput", "concurrency", "bulk", "training", "rss", "kserve")


def run(plan: Plan, mnist_dir: Path, workdir: Path, sections: tuple[str, ...] = SECTIONS) -> dict:
    """The chosen sections (all by default), in one run on fresh servers; returns the figures."""
    (_, _), (x_test, _) = load_mnist(normalize=False, data_dir=mnist_dir, cache_dir=workdir / "mnist")
    out: dict = {"load_avg_start": load_avg()}
    if set(sections) - {"rss"}:
        with ServerProcess(workdir / "state", mnist_dir) as server, NNClient(server.target) as client:
            ids = train_models(client, plan)
            channel = make_channel(server.target)
            calls = make_calls(client, pb_grpc.NNServiceStub(channel), ids, x_test[0])
            if "latency" in sections:
                latency_section(calls, plan, out)
            if "throughput" in sections:
                throughput_section(calls, plan, out)
            if "concurrency" in sections:
                concurrency_section(calls, plan, out)
            if "bulk" in sections:
                bulk_section(server.target, server.state_dir, ids, x_test, plan, out)
            if "training" in sections:
                training_section(client, calls, plan, out)
            if "kserve" in sections:
                kserve_section(channel, calls["stub100"], ids[100], x_test[0], plan, out, heading, row)
            channel.close()
    if "rss" in sections:
        rss_section(workdir, mnist_dir, plan, out)
    targets_section(out)
    out["load_avg_end"] = load_avg()
    return out


def main(argv: list[str] | None = None) -> int:
    """Parse the flags and run the benchmark `--runs` times; with several, report the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts: checks the benchmark works")
    parser.add_argument("--runs", type=int, default=1, help="complete runs; medians are reported")
    parser.add_argument("--mnist-dir", type=Path, default=EMBEDDED_MNIST, help="MNIST IDX files")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--plot", type=Path, help="write the latency-vs-concurrency PNG here")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated subset of {','.join(SECTIONS)} (default: all)")
    args = parser.parse_args(argv)
    sections = tuple(name.strip() for name in args.sections.split(",") if name.strip())
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown or not sections:
        parser.error(f"--sections takes names from {','.join(SECTIONS)}; got {args.sections!r}")
    if args.plot is not None and "concurrency" not in sections:
        parser.error("--plot needs the concurrency section")
    logging.basicConfig(level=logging.WARNING)
    plan = QUICK if args.quick else Plan()
    print(f"nnservice serving benchmark ({'quick' if args.quick else 'full'}), load average {load_avg()}")
    runs = []
    for number in range(1, max(1, args.runs) + 1):
        print(f"\n#### run {number} of {args.runs}", flush=True)
        with tempfile.TemporaryDirectory(prefix="nnsvc-bench-") as tmp:
            runs.append(run(plan, args.mnist_dir, Path(tmp), sections))
    out = median_tree(runs)
    if len(runs) > 1:
        print(f"\n#### medians of {len(runs)} runs (each figure's median; ratios from those)")
        targets_section(out)
    if args.plot is not None:
        plot_concurrency(out, plan.levels, args.plot)
    if args.json is not None:
        args.json.write_text(json.dumps({"plan": asdict(plan), "median": out, "runs": runs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
