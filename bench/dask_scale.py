"""Dask executor figures, side by side in one run (issue 16): scaling over workers, dispatch
overhead vs the thread pool, progress latency to WatchJob, Predict p99 while Dask jobs train.

    .venv/bin/python bench/dask_scale.py [--quick] [--json FILE]

Each section starts its own nn-server subprocess (and LocalClusters of worker processes, one
thread and TRAIN=1 each, as the compose profile runs them). The machine is shared: the load
average is printed with the figures."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np
from distributed import Client, LocalCluster

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_lib import EMBEDDED_MNIST, Lat, ServerProcess, load_avg, ratio, timed_calls  # noqa: E402
from protos import nn_service_pb2 as pb  # noqa: E402
from protos import nn_service_pb2_grpc as pb_grpc  # noqa: E402
from server.dask_task import TOPIC  # noqa: E402

ENDED = {pb.JOB_STATE_SUCCEEDED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED}


def cluster(workers: int) -> LocalCluster:
    """Worker processes with one thread and TRAIN=1 each."""
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, resources={"TRAIN": 1},
                        host="127.0.0.1", scheduler_port=0, dashboard_address=":0", silence_logs=40)


class Server:
    """An nn-server subprocess (thread executor, or dask on `address`) and a stub on it."""

    def __init__(self, workdir: Path, name: str, address: str = "", jobs: int = 4) -> None:
        extra = ("--executor", "dask", "--dask-scheduler", address) if address else ()
        self.proc = ServerProcess(workdir / name, EMBEDDED_MNIST, max_jobs=jobs, extra_args=extra)
        self.channel = grpc.insecure_channel(self.proc.target)
        self.stub = pb_grpc.NNServiceStub(self.channel)

    def __repr__(self) -> str:
        return f"Server({self.proc!r})"

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.channel.close()
        self.proc.stop()

    def train(self, **fields) -> str:
        """Submit a job; its id."""
        return self.stub.Train(pb.TrainRequest(**fields), timeout=30).job_id

    def wait(self, job_id: str, timeout: float = 600) -> pb.JobStatus:
        """Poll until the job ends; fail loudly unless it succeeded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.stub.GetStatus(pb.GetStatusRequest(job_id=job_id), timeout=10)
            if status.state in ENDED:
                if status.state != pb.JOB_STATE_SUCCEEDED:
                    raise RuntimeError(f"job {job_id} ended {status.state}: {status.error}")
                return status
            time.sleep(0.01)
        raise RuntimeError(f"job {job_id} did not end in {timeout} s")


def scaling(workdir: Path, quick: bool) -> dict:
    """Four jobs at once on two single-threaded workers vs on one."""
    job = dict(hidden_size=64 if quick else 100, epochs=1 if quick else 6, train_size=3000 if quick else 30000,
               eval_size=1000, seed=1)
    out = {}
    for workers in (1, 2):
        with cluster(workers) as local, Server(workdir, f"scale{workers}", local.scheduler_address) as server:
            warm = [server.train(**{**job, "train_size": 100, "epochs": 1}) for _ in range(workers)]
            for job_id in warm:  # one per worker (TRAIN=1): each has the data loaded
                server.wait(job_id)
            start = time.perf_counter()
            ids = [server.train(**job) for _ in range(4)]
            for job_id in ids:
                server.wait(job_id)
            out[f"{workers}_worker_s"] = time.perf_counter() - start
    out["ratio"] = ratio(out["2_worker_s"], out["1_worker_s"])
    return out


def dispatch(workdir: Path, quick: bool) -> dict:
    """Train -> SUCCEEDED of a tiny job, median over runs: the thread pool vs one Dask worker."""
    job = dict(hidden_size=8, epochs=1, train_size=100, eval_size=100, batch_size=100, seed=1)
    runs = 3 if quick else 7
    out = {}
    with cluster(1) as local:
        for name, address in (("thread", ""), ("dask", local.scheduler_address)):
            with Server(workdir, f"dispatch-{name}", address) as server:
                server.wait(server.train(**job))  # warm-up: the data loaded, the client connected
                times = []
                for _ in range(runs):
                    start = time.perf_counter()
                    server.wait(server.train(**job))
                    times.append(time.perf_counter() - start)
                out[f"{name}_s"] = statistics.median(times)
    out["overhead_s"] = out["dask_s"] - out["thread_s"]
    return out


def progress_latency(workdir: Path, quick: bool) -> dict:
    """How long after a worker sends a step's progress WatchJob delivers it: this process
    subscribes to the same worker events and times each iteration's arrival on both paths."""
    with cluster(1) as local, Server(workdir, "progress", local.scheduler_address) as server, \
            Client(local.scheduler_address, set_as_default=False) as client:
        sent: dict[int, float] = {}
        client.subscribe_topic(TOPIC, lambda event: sent.setdefault(event[1].get("iteration", -1),
                                                                    time.monotonic()))
        job_id = server.train(hidden_size=64, epochs=2 if quick else 6, train_size=5000 if quick else 20000,
                              eval_size=500, seed=2)
        lags = []
        for status in server.stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=300):
            now = time.monotonic()
            if status.iteration in sent:
                lags.append(now - sent[status.iteration])
    return {"updates": len(lags), "p50_ms": float(np.percentile(lags, 50) * 1e3),
            "max_ms": float(max(lags) * 1e3)}


def predict_under_training(workdir: Path, quick: bool) -> dict:
    """Single-image Predict p99: idle, then while two jobs train: on Dask workers (on this same
    machine they compete for its cores; "dask-idle" runs them SCHED_IDLE, a stand-in for cores
    the server does not use), and on the server's own threads for comparison."""
    n = 200 if quick else 600
    load = dict(hidden_size=100, epochs=50, train_size=20000, eval_size=500, seed=3)
    out = {}
    for name in ("dask", "dask-idle", "thread"):
        with cluster(2) as local, Client(local.scheduler_address, set_as_default=False) as client, \
                Server(workdir, f"predict-{name}", "" if name == "thread" else local.scheduler_address) as server:
            model = server.wait(server.train(hidden_size=32, epochs=1, train_size=2000, seed=1)).model_id
            if name == "dask-idle":
                for pid in client.run(os.getpid).values():
                    _sched_idle(pid)
            request = pb.PredictRequest(model_id=model, input=pb.Tensor(shape=[1, 784], float_data=[0.0] * 784))
            call = lambda: server.stub.Predict(request, timeout=10)  # noqa: E731
            idle = Lat.of(timed_calls(call, n))
            ids = [server.train(**load) for _ in range(2)]
            while any(server.stub.GetStatus(pb.GetStatusRequest(job_id=j)).iteration == 0 for j in ids):
                time.sleep(0.05)
            busy = Lat.of(timed_calls(call, n))
            for job_id in ids:
                server.stub.CancelJob(pb.CancelJobRequest(job_id=job_id))
            out[name] = {"idle_p99_ms": idle.p99, "training_p99_ms": busy.p99, "ratio": ratio(busy.p99, idle.p99)}
    return out


def _sched_idle(pid: int) -> None:
    """Every thread of process `pid` SCHED_IDLE (threads it starts later inherit it)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setscheduler(int(task.name), os.SCHED_IDLE, os.sched_param(0))


def report(out: dict) -> None:
    """The figures, each with its baseline and target."""
    s, d, p, q = out["scaling"], out["dispatch"], out["progress"], out["predict"]
    print(f"load average at start {out['load']}, at end {load_avg()}")
    print("== Scaling: four jobs ==")
    print(f"  1 worker {s['1_worker_s']:.1f} s   2 workers {s['2_worker_s']:.1f} s   "
          f"ratio {s['ratio']:.2f} (target <= 0.6)")
    print("== Dispatch: Train -> SUCCEEDED of a tiny job (median) ==")
    print(f"  thread pool {d['thread_s']:.3f} s   dask {d['dask_s']:.3f} s   "
          f"overhead {d['overhead_s']:.3f} s (target <= 0.5)")
    print("== Progress: worker event -> WatchJob ==")
    print(f"  {p['updates']} updates   p50 {p['p50_ms']:.0f} ms   max {p['max_ms']:.0f} ms (target <= 1000)")
    print("== Predict p99 while two jobs train ==")
    for name in ("dask", "dask-idle", "thread"):
        r = q[name]
        print(f"  {name:9s} idle {r['idle_p99_ms']:.2f} ms   training {r['training_p99_ms']:.2f} ms   "
              f"ratio {r['ratio']:.2f}" + ("  (target <= 1.5)" if name == "dask" else ""))


def main(argv: list[str] | None = None) -> int:
    """Run every section and print the figures (and write them as JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small jobs: checks the bench runs, not figures")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    out: dict = {"load": load_avg()}
    with tempfile.TemporaryDirectory(prefix="nnsvc-dask-bench-") as tmp:
        workdir = Path(tmp)
        out["scaling"] = scaling(workdir, args.quick)
        out["dispatch"] = dispatch(workdir, args.quick)
        out["progress"] = progress_latency(workdir, args.quick)
        out["predict"] = predict_under_training(workdir, args.quick)
    report(out)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
