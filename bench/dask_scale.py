"""Dask executor figures, side by side in one run (issue 16): scaling over workers, dispatch
overhead vs the thread pool, progress latency to WatchJob, Predict p99 while Dask jobs train.

    .venv/bin/python bench/dask_scale.py [--quick] [--rounds 3] [--sizes short long]
        [--sections scaling dispatch progress predict] [--json FILE]

Each section starts its own nn-server subprocesses (and LocalClusters of worker processes, one
thread and TRAIN=1 each, as the compose profile runs them). The machine is shared, so what is
compared runs side by side, alternating round by round; every round is printed, with the load
average and the BLAS library the workers use."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np
from distributed import Client
from threadpoolctl import threadpool_info

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _dask_report import report  # noqa: E402
from serve_lib import (EMBEDDED_MNIST, REPO_ROOT, Lat, ServerProcess, cpu_seconds, load_avg, ratio,  # noqa: E402
                       timed_calls)
from protos import nn_service_pb2 as pb  # noqa: E402
from protos import nn_service_pb2_grpc as pb_grpc  # noqa: E402
from server.dask_task import PROGRESS_INTERVAL, TOPIC, cluster_env  # noqa: E402

ENDED = {pb.JOB_STATE_SUCCEEDED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED}
# Four of these per round: 784-100-10 on all 60,000 images, 4 epochs (~2.5 s of one core each on
# this machine unloaded), so per-job costs (dispatch, model store) are small beside the training.
SCALE_JOB = dict(hidden_size=100, epochs=4, train_size=60000, eval_size=1000, seed=1)
# The same net for 16 epochs (~6.5 s of one core): a job nearer real training, whose fixed costs
# (dispatch, the first and last epochs' events and checkpoints) weigh four times less.
LONG_SCALE_JOB = dict(SCALE_JOB, epochs=16)
SIZES = {"short": SCALE_JOB, "long": LONG_SCALE_JOB}
SECTIONS = ("scaling", "dispatch", "progress", "predict")
# The training load of the Predict section: cancelled once its Predicts are timed.
LOAD_JOB = dict(hidden_size=100, epochs=50, train_size=20000, eval_size=500, seed=3)


def _dask(command: str, *args: str) -> subprocess.Popen:
    """`dask <command> <args>` from this environment, quietly, in the repository (workers import
    server), with the compose profile's Dask settings (server.dask_task.CLUSTER_CONFIG)."""
    return subprocess.Popen([sys.executable, "-m", f"distributed.cli.dask_{command}", *args], cwd=REPO_ROOT,
                            env={**os.environ, **cluster_env()}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _address_in(info: Path, scheduler: subprocess.Popen) -> str:
    """The scheduler's address, once it has written its scheduler file."""
    while scheduler.poll() is None:
        try:
            return json.loads(info.read_text())["address"]
        except (OSError, ValueError):  # not written yet, or half
            time.sleep(0.05)
    raise RuntimeError(f"the Dask scheduler exited with status {scheduler.returncode}")


class cluster:
    """A Dask scheduler and `workers` worker processes (one thread, TRAIN=1 each, as the compose
    profile runs them), each in its own process: a LocalCluster would run the scheduler in this
    process, on the same GIL as the Predicts the bench times."""

    def __init__(self, workers: int) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="nnsvc-dask-cluster-")
        info = Path(self._dir.name) / "scheduler.json"
        self._procs = [_dask("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                             "--scheduler-file", str(info))]
        try:
            self.scheduler_address = _address_in(info, self._procs[0])
            self._procs.append(_dask("worker", self.scheduler_address, "--nworkers", str(workers), "--nthreads",
                                     "1", "--resources", "TRAIN=1", "--host", "127.0.0.1", "--no-dashboard",
                                     "--preload", "server.dask_task"))
            with Client(self.scheduler_address, set_as_default=False) as client:
                client.wait_for_workers(workers, timeout=120)
        except BaseException:  # no processes left behind by a cluster that did not start
            self.__exit__()
            raise

    def __repr__(self) -> str:
        return f"cluster({self.scheduler_address!r})"

    def service_pids(self) -> dict[str, int]:
        """The scheduler's process id and that of `dask worker` (its nannies)."""
        return {"scheduler": self._procs[0].pid, "nannies": self._procs[1].pid}

    def worker_pids(self) -> list[int]:
        """The process ids of the workers."""
        with Client(self.scheduler_address, set_as_default=False) as client:
            return list(client.run(os.getpid).values())

    def __enter__(self) -> "cluster":
        return self

    def __exit__(self, *exc) -> None:
        for proc in reversed(self._procs):  # workers first: they leave the scheduler cleanly
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._dir.cleanup()


class Server:
    """An nn-server subprocess (thread executor, or dask on `address`) and a stub on it."""

    def __init__(self, workdir: Path, name: str, address: str = "", jobs: int = 4, idle: bool = True) -> None:
        extra = ("--executor", "dask", "--dask-scheduler", address) if address else ()
        extra += () if idle else ("--no-dask-idle-training",)
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

    def wait(self, job_id: str, timeout: float = 600, poll: float = 0.01, ok=(pb.JOB_STATE_SUCCEEDED,)) -> pb.JobStatus:
        """Poll every `poll` seconds until the job ends; fail loudly unless it ended in `ok`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.stub.GetStatus(pb.GetStatusRequest(job_id=job_id), timeout=10)
            if status.state in ENDED:
                if status.state not in ok:
                    raise RuntimeError(f"job {job_id} ended {status.state}: {status.error}")
                return status
            time.sleep(poll)
        raise RuntimeError(f"job {job_id} did not end in {timeout} s")


def scaling(workdir: Path, quick: bool, rounds: int, size: str = "short") -> dict:
    """Four jobs at once on two single-threaded workers vs on one: both clusters up side by side,
    the two timed in turn each round (their order alternating), so load changes hit both alike.
    The workers train at normal priority here: SCHED_IDLE ones would only get what this shared
    machine's other work leaves, which would measure that work, not the scaling. Each timed run
    also counts the cores every process took: the workers, their scheduler, nannies and server,
    this bench, and the other, waiting cluster with its server."""
    job = dict(SCALE_JOB, hidden_size=64, epochs=1, train_size=3000) if quick else SIZES[size]
    out: dict = {"job": job, "size": size, "rounds": []}
    with cluster(1) as one, cluster(2) as two, \
            Server(workdir, f"scale1-{size}", one.scheduler_address, idle=False) as server1, \
            Server(workdir, f"scale2-{size}", two.scheduler_address, idle=False) as server2:
        servers = {1: server1, 2: server2}
        for workers, server in servers.items():  # one per worker (TRAIN=1): each has the data loaded
            for job_id in [server.train(**{**job, "train_size": 100, "epochs": 1}) for _ in range(workers)]:
                server.wait(job_id)
        pids = {n: {"workers": local.worker_pids(), **{k: [v] for k, v in local.service_pids().items()},
                    "server": [servers[n].proc.proc.pid]} for n, local in ((1, one), (2, two))}
        for r in range(rounds):
            times, cores, shares = {}, {}, {}
            for workers in ((1, 2) if r % 2 == 0 else (2, 1)):
                groups = {**pids[workers], "other cluster": sum(pids[3 - workers].values(), [])}
                cpu = {k: sum(map(cpu_seconds, v)) for k, v in groups.items()} | {"bench": cpu_seconds()}
                start = time.perf_counter()
                ids = [servers[workers].train(**job) for _ in range(4)]
                for job_id in ids:  # polling slowly: the bench must not take the workers' cores
                    servers[workers].wait(job_id, poll=0.1)
                times[workers] = time.perf_counter() - start
                used = {k: sum(map(cpu_seconds, v)) for k, v in groups.items()} | {"bench": cpu_seconds()}
                shares[workers] = {k: (used[k] - cpu[k]) / times[workers] for k in cpu}
                cores[workers] = shares[workers]["workers"]
            out["rounds"].append({"1_worker_s": times[1], "2_worker_s": times[2], "ratio": ratio(times[2], times[1]),
                                  "1_worker_cores": cores[1], "2_worker_cores": cores[2], "load": load_avg(),
                                  "1_worker_shares": shares[1], "2_worker_shares": shares[2]})
        out["blas"] = _worker_blas(one)
    out["ratio"] = statistics.median(r["ratio"] for r in out["rounds"])
    return out


def _worker_blas(local: cluster) -> list:
    """The BLAS libraries a worker has loaded: name, version, kernel, threads."""
    with Client(local.scheduler_address, set_as_default=False) as client:
        infos = next(iter(client.run(threadpool_info).values()))
    return [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for i in infos if i.get("user_api") == "blas"]


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
            "max_ms": float(max(lags) * 1e3), "interval_s": PROGRESS_INTERVAL}


def predict_under_training(workdir: Path, quick: bool, rounds: int) -> dict:
    """Single-image Predict p99, idle and while two jobs train, on three servers side by side:
    jobs on Dask workers at normal priority ("dask"), at SCHED_IDLE (the default, "dask-idle"),
    and on the server's own threads ("thread"). Each round measures every server in turn, idle
    then training (its two jobs cancelled after), so all see the same load."""
    n = 200 if quick else 1000
    modes = {"dask": dict(idle=False), "dask-idle": dict(idle=True), "thread": dict(address="")}
    out: dict = {mode: {"rounds": []} for mode in modes}
    with cluster(2) as local, contextlib.ExitStack() as stack:
        servers, requests = {}, {}
        for mode, kw in modes.items():
            kw = {"address": local.scheduler_address, **kw}
            servers[mode] = server = stack.enter_context(Server(workdir, f"predict-{mode}", **kw))
            model = server.wait(server.train(hidden_size=32, epochs=1, train_size=2000, seed=1)).model_id
            requests[mode] = pb.PredictRequest(model_id=model, input=pb.Tensor(shape=[1, 784], float_data=[0.0] * 784))
        for r in range(rounds):
            for mode in list(modes)[r % 3:] + list(modes)[:r % 3]:
                server, request = servers[mode], requests[mode]
                call = lambda: server.stub.Predict(request, timeout=10)  # noqa: E731
                idle = Lat.of(timed_calls(call, n))
                busy = _while_training(server, call, n)
                out[mode]["rounds"].append({"idle_p99_ms": idle.p99, "training_p99_ms": busy.p99,
                                            "ratio": ratio(busy.p99, idle.p99), "load": load_avg()})
    for mode in modes:
        out[mode]["ratio"] = statistics.median(r["ratio"] for r in out[mode]["rounds"])
    return out


def _while_training(server: Server, call, n: int) -> Lat:
    """Latencies of n calls while two LOAD_JOBs train on `server`; the jobs are cancelled after."""
    ids = [server.train(**LOAD_JOB) for _ in range(2)]
    while any(server.stub.GetStatus(pb.GetStatusRequest(job_id=j)).iteration == 0 for j in ids):
        time.sleep(0.05)
    busy = Lat.of(timed_calls(call, n))
    for job_id in ids:
        server.stub.CancelJob(pb.CancelJobRequest(job_id=job_id))
    for job_id in ids:
        server.wait(job_id, poll=0.05, ok=(pb.JOB_STATE_CANCELLED,))
    return busy


def main(argv: list[str] | None = None) -> int:
    """Run every section and print the figures (and write them as JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small jobs: checks the bench runs, not figures")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the side-by-side sections")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES),
                        help="scaling job sizes: short (4 epochs, the figure since session 4), long (16)")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        help="the sections to run (all by default)")
    args = parser.parse_args(argv)
    out: dict = {"load": load_avg()}
    with tempfile.TemporaryDirectory(prefix="nnsvc-dask-bench-") as tmp:
        workdir = Path(tmp)
        rounds = 1 if args.quick else args.rounds
        if "scaling" in args.sections:
            for size in (("short",) if args.quick else args.sizes):
                out[f"scaling_{size}"] = scaling(workdir, args.quick, rounds, size)
        if "dispatch" in args.sections:
            out["dispatch"] = dispatch(workdir, args.quick)
        if "progress" in args.sections:
            out["progress"] = progress_latency(workdir, args.quick)
        if "predict" in args.sections:
            out["predict"] = predict_under_training(workdir, args.quick, rounds)
    report(out)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
