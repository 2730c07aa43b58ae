"""Helpers for bench/serve.py: an nn-server subprocess, timed calls, percentiles and RSS."""

from __future__ import annotations

import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _timing import median_time

from client import NNClient

REPO_ROOT = Path(__file__).resolve().parents[1]
EMBEDDED_MNIST = REPO_ROOT / "nncore" / "data" / "mnist"  # the copy shipped in the repo
_LISTENING = re.compile(r"nnservice listening on port (\d+)")
_HTTP = re.compile(r"HTTP \(.*\) on https? port (\d+)")  # logged before _LISTENING
START_TIMEOUT = 60.0
SERVER_CMD = os.environ.get("NNSVC_BENCH_SERVER", "-m server").split()


class ServerProcess:
    """`python -m server` on 127.0.0.1, port 0, logging (INFO, the default) to a file."""

    def __init__(self, state_dir: Path, mnist_dir: Path, max_jobs: int = 4, extra_args: tuple = ()) -> None:
        self.state_dir = Path(state_dir)
        self.log_path = self.state_dir.parent / f"{self.state_dir.name}.log"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, *SERVER_CMD, "--host", "127.0.0.1", "--port", "0", "--http-port", "0",
                "--state-dir", str(self.state_dir), "--mnist-dir", str(mnist_dir), "--no-download",
                "--max-concurrent-jobs", str(max_jobs), "--shutdown-grace", "2", *extra_args]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=self._log, stderr=subprocess.STDOUT)
        self.port = self._wait_for_port()
        self.target = f"127.0.0.1:{self.port}"

    def __repr__(self) -> str:
        return f"ServerProcess(pid={self.proc.pid}, target={self.target!r})"

    def _wait_for_port(self) -> int:
        """Read the server's log until it says which port it bound."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            match = _LISTENING.search(self.log_path.read_text(errors="replace"))
            if match:
                return int(match.group(1))
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nn-server did not start; its log:\n{self.log_path.read_text(errors='replace')}")

    @property
    def http_port(self) -> int:
        """The HTTP front door's port, as the server logged it (it binds --http-port 0)."""
        match = _HTTP.search(self.log_path.read_text(errors="replace"))
        if match is None:
            raise RuntimeError(f"nn-server logged no HTTP port (started with --no-http?): {self.log_path}")
        return int(match.group(1))

    def status(self, key: str) -> int:
        """A /proc/<pid>/status field in kB (VmHWM = peak RSS, VmRSS = current RSS)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)

    def peak_rss_mb(self) -> float:
        """Peak resident set size since start or the last reset_peak(), in MB."""
        return self.status("VmHWM") / 1024

    def reset_peak(self) -> None:
        """Reset VmHWM to the current RSS (Linux: write 5 to clear_refs)."""
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")

    def stop(self) -> None:
        """SIGTERM (a graceful drain), then kill if it takes too long."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass(frozen=True)
class Lat:
    """Latency percentiles in milliseconds."""

    p50: float
    p99: float

    @classmethod
    def of(cls, seconds: list[float] | np.ndarray) -> Lat:
        """Percentiles of a sample of durations in seconds."""
        ms = np.asarray(seconds) * 1e3
        return cls(float(np.percentile(ms, 50)), float(np.percentile(ms, 99)))

    @classmethod
    def median(cls, rounds: list[Lat]) -> Lat:
        """The median over rounds of each percentile (robust to a noisy round)."""
        return cls(statistics.median(r.p50 for r in rounds), statistics.median(r.p99 for r in rounds))


def timed_calls(call: Callable[[], object], n: int, warmup: int = 10) -> list[float]:
    """Durations of n sequential calls, in seconds (after a few untimed ones)."""
    for _ in range(warmup):
        call()
    clock, out = time.perf_counter, []
    for _ in range(n):
        start = clock()
        call()
        out.append(clock() - start)
    return out


def interleaved(calls: dict[str, Callable[[], object]], n: int, rounds: int) -> dict[str, Lat]:
    """Per kind, the median over rounds of p50/p99; kinds alternate in blocks of n calls."""
    per_kind: dict[str, list[Lat]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            per_kind[name].append(Lat.of(timed_calls(call, n)))
    return {name: Lat.median(lats) for name, lats in per_kind.items()}


def concurrent(call: Callable[[], object], threads: int, seconds: float) -> tuple[float, list[float]]:
    """(calls per second, all latencies) with `threads` threads calling for `seconds`."""
    start_line = threading.Barrier(threads + 1)
    results: list[list[float]] = [[] for _ in range(threads)]
    stop_at: list[float] = []

    def worker(out: list[float]) -> None:
        call()  # warm the thread's path
        start_line.wait()
        clock = time.perf_counter
        while True:
            start = clock()
            if stop_at and start >= stop_at[0]:
                return
            call()
            out.append(clock() - start)

    pool = [threading.Thread(target=worker, args=(r,), daemon=True) for r in results]
    for thread in pool:
        thread.start()
    start_line.wait()
    began = time.perf_counter()
    stop_at.append(began + seconds)
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - began
    latencies = [x for r in results for x in r]
    return len(latencies) / elapsed, latencies


def median_rates(calls: dict[str, Callable[[], object]], threads: int, seconds: float,
                 rounds: int) -> dict[str, float]:
    """Per kind, the median calls/s over rounds; kinds alternate within each round."""
    rates: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            rates[name].append(concurrent(call, threads, seconds)[0])
    return {name: statistics.median(values) for name, values in rates.items()}


def best_seconds(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of `repeat` runs of fn, in seconds (one warm-up run first)."""
    fn()
    return median_time(fn, repeat)


def median_tree(runs: list[dict]) -> dict:
    """The runs' figures merged: each number is replaced by its median over the runs."""
    first = runs[0]
    if isinstance(first, dict):
        return {key: median_tree([run[key] for run in runs]) for key in first}
    if isinstance(first, (int, float)) and not isinstance(first, bool):
        return statistics.median(runs)
    return first


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of process `pid` (all its threads) so far; None: this process."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def ratio(value: float, baseline: float) -> float:
    """value / baseline (inf when the baseline is 0)."""
    return value / baseline if baseline else float("inf")


def load_avg() -> str:
    """The 1-minute load average, for the report (the machine is shared)."""
    return f"{os.getloadavg()[0]:.2f}"


def wait_running(client: NNClient, job_id: str, timeout: float = 120) -> None:
    """Block until the job is RUNNING and has made progress."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.status(job_id)
        if status.state == "RUNNING" and status.iteration > 0:
            return
        if status.done:
            raise RuntimeError(f"load job ended early: {status}")
        time.sleep(0.05)
    raise RuntimeError(f"load job {job_id} did not start")


def plot_concurrency(out: dict, levels: tuple, path: Path) -> None:
    """Latency p50 (solid) and p99 (dashed) against client threads, per kind of call."""
    import matplotlib  # only here: the benchmark runs without a display, and plots once
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    names = {"check": "health Check", "sdk100": "Predict 784-100-10 (SDK)",
             "sdk800": "Predict 784-800-10 (SDK)"}
    for (name, label), color in zip(names.items(), ("tab:gray", "tab:blue", "tab:orange")):
        for pct, style in (("p50", "-"), ("p99", "--")):
            ys = [out["concurrency"][f"{name}@{t}"][pct] for t in levels]
            ax.plot(levels, ys, style, color=color, marker="o", label=f"{label} {pct}")
    ax.set(xscale="log", yscale="log", xlabel="client threads (one shared channel)", ylabel="latency (ms)",
           title="nn-server: batch-1 latency vs client concurrency (2 cores)")
    ax.set_xticks(levels, [str(t) for t in levels])
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"  plot written to {path}", flush=True)
