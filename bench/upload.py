"""Upload benchmark: UploadDataset against a bare gRPC client stream of the same bytes, the
server's peak RSS during a large upload, and Fashion-MNIST uploaded as a zip then trained.

Both servers are subprocesses on loopback: nn-server (`python -m server`) and a trivial sink
(this file with --sink) that only counts the bytes of a stream of 1 MiB messages. The upload
figure is the whole UploadDataset call (stream, checksum, parse, store), as a user waits for it.
Printed: the ratio of the median speeds, and the median of the paired ratios (each run's upload
against the bare stream run just before it, which cancels the machine's slow drifts).

    .venv/bin/python bench/upload.py [--quick] [--mb 100] [--runs 3] [--skip-fashion]
                                     [--fashion-dir /usr/share/datasets/fashion-mnist] [--json out.json]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import grpc
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import quartiles  # noqa: E402
from serve_lib import EMBEDDED_MNIST, ServerProcess, cpu_seconds, ratio  # noqa: E402

from client import NNClient  # noqa: E402

CHUNK = 1 << 20
SINK_METHOD = "/bench.Sink/Upload"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                   "Bag", "Ankle boot"]
# A 784-256-10 ReLU net, Adam with a cosine schedule: 89.3 % on Fashion-MNIST after 15 epochs
# (32 s of training on this machine under load, measured with nncore.train alone).
FASHION_JOB = dict(hidden_size=256, epochs=15, batch_size=100, lr_schedule="cosine", seed=1)
TARGETS = {"throughput": 0.50, "rss": 2.0, "accuracy": 0.88, "train_seconds": 60.0}


def run_sink(port_file: Path) -> None:
    """Serve SINK_METHOD until killed: a stream of raw byte messages, answered with their total."""
    def upload(requests, context):
        return str(sum(len(r) for r in requests)).encode()

    handler = grpc.method_handlers_generic_handler("bench.Sink", {
        "Upload": grpc.stream_unary_rpc_method_handler(upload)})
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(4), handlers=[handler],
                         options=[("grpc.max_receive_message_length", 4 * CHUNK)])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    port_file.write_text(str(port))
    server.wait_for_termination()


def bare_stream_seconds(target: str, path: Path) -> float:
    """Seconds to stream the file's bytes in 1 MiB raw messages to the sink."""
    def chunks():
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    with grpc.insecure_channel(target) as channel:
        call = channel.stream_unary(SINK_METHOD)
        started = time.perf_counter()
        total = int(call(chunks(), timeout=600))
        seconds = time.perf_counter() - started
    assert total == path.stat().st_size, (total, path.stat().st_size)
    return seconds


def make_npz(path: Path, megabytes: int) -> None:
    """An .npz of uint8 28x28 images and labels, about `megabytes` MB, with a test split."""
    rng = np.random.default_rng(0)
    rows = megabytes * 1_000_000 // 785
    n_test = rows // 7
    x = rng.integers(0, 256, size=(rows, 28, 28), dtype=np.uint8)
    t = rng.integers(0, 10, size=rows, dtype=np.uint8)
    with open(path, "wb") as out:
        np.savez(out, x_train=x[n_test:], t_train=t[n_test:], x_test=x[:n_test], t_test=t[:n_test])


class _Cpu:
    """CPU seconds a block took in this process (the client) and in another (a server)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.client, self.server = pid, 0.0, 0.0

    def __enter__(self) -> "_Cpu":
        self._start = cpu_seconds(), cpu_seconds(self.pid)
        return self

    def __exit__(self, *exc) -> None:
        self.client, self.server = cpu_seconds() - self._start[0], cpu_seconds(self.pid) - self._start[1]


def throughput_and_rss(work: Path, megabytes: int, runs: int) -> dict:
    """Median MB/s of UploadDataset and of the bare stream (interleaved), the CPU seconds each
    side spent, and peak RSS."""
    path = work / "big.npz"
    make_npz(path, megabytes)
    size_mb = path.stat().st_size / 1e6
    port_file = work / "sink.port"
    sink = subprocess.Popen([sys.executable, __file__, "--sink", str(port_file)])
    try:
        while not port_file.exists() or not port_file.read_text():
            time.sleep(0.05)
        sink_target = f"127.0.0.1:{port_file.read_text()}"
        with ServerProcess(work / "state", EMBEDDED_MNIST) as server, NNClient(server.target) as nn:
            upload, unhashed, bare, peaks, before = [], [], [], [], []
            cpu: dict[str, list] = {"bare": [], "upload": []}
            for run in range(runs):  # interleaved, so load changes hit all three alike
                with _Cpu(sink.pid) as used:
                    bare.append(bare_stream_seconds(sink_target, path))
                cpu["bare"].append((used.client, used.server))
                before.append(server.status("VmRSS") / 1024)
                server.reset_peak()
                started = time.perf_counter()
                with _Cpu(server.proc.pid) as used:
                    nn.upload_dataset(path, f"big{run}", progress=False)
                upload.append(time.perf_counter() - started)
                cpu["upload"].append((used.client, used.server))
                peaks.append(server.peak_rss_mb())
                nn.delete_dataset(f"big{run}")
                started = time.perf_counter()
                nn.upload_dataset(path, f"big{run}", progress=False, sha256=False)
                unhashed.append(time.perf_counter() - started)
                nn.delete_dataset(f"big{run}")
    finally:
        sink.kill()
        sink.wait()
    median = statistics.median
    return {"file_mb": round(size_mb, 1), "upload_mb_s": round(size_mb / median(upload), 1),
            "upload_no_sha_mb_s": round(size_mb / median(unhashed), 1),
            "bare_mb_s": round(size_mb / median(bare), 1),
            "runs_s": {"upload": [round(t, 3) for t in upload], "bare": [round(t, 3) for t in bare]},
            # each upload against the bare stream just before it: the machine's drifts cancel
            "paired": [round(b / u, 3) for b, u in zip(bare, upload)],
            "cpu_s": {kind: [round(median(c for c, _ in pairs), 3), round(median(s for _, s in pairs), 3)]
                      for kind, pairs in cpu.items()},
            "rss_before_mb": round(median(before), 1), "peak_rss_mb": round(max(peaks), 1),
            "peak_growth_mb": round(max(p - b for p, b in zip(peaks, before)), 1)}


def fashion(work: Path, fashion_dir: Path) -> dict:
    """Fashion-MNIST's four IDX files zipped, uploaded through the SDK, trained through Train."""
    archive = work / "fashion-mnist.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as out:  # the .gz members stay compressed
        for member in sorted(fashion_dir.glob("*-ubyte.gz")):
            out.write(member, member.name)
    with ServerProcess(work / "fashion-state", EMBEDDED_MNIST) as server, NNClient(server.target) as nn:
        started = time.perf_counter()
        info = nn.upload_dataset(archive, "fashion", class_names=FASHION_CLASSES, progress=False)
        upload_s = time.perf_counter() - started
        job_id, _ = nn.train(dataset="fashion", **FASHION_JOB)
        final = nn.wait(job_id, progress=False)
    if final.state != "SUCCEEDED":
        raise RuntimeError(f"the Fashion-MNIST job ended {final.state}: {final.error}")
    wall = (final.end_time - final.start_time).total_seconds()
    return {"train_rows": info.train_size, "test_rows": info.test_size, "upload_s": round(upload_s, 2),
            "test_accuracy": final.history[-1].test_accuracy,
            "train_seconds": round(sum(e.seconds for e in final.history), 1), "job_seconds": round(wall, 1),
            "job": FASHION_JOB}


def report(figures: dict) -> None:
    """Print each figure next to its baseline or target."""
    t = figures.get("throughput")
    if t:
        print("== Upload throughput (loopback) ==")
        print(f"file {t['file_mb']} MB: UploadDataset {t['upload_mb_s']} MB/s, bare client stream to a sink "
              f"{t['bare_mb_s']} MB/s -> {ratio(t['upload_mb_s'], t['bare_mb_s']):.2f}x "
              f"(target >= {TARGETS['throughput']:.2f}x)")
        low, mid, high = quartiles(t["paired"])
        print(f"  paired (each run's upload against its own bare stream): median {mid:.2f}x "
              f"(quartiles {low:.2f}-{high:.2f}, {len(t['paired'])} runs)")
        print(f"  without a sha256 (sha256=False): {t['upload_no_sha_mb_s']} MB/s -> "
              f"{ratio(t['upload_no_sha_mb_s'], t['bare_mb_s']):.2f}x")
        print(f"  seconds per run, upload {t['runs_s']['upload']}, bare {t['runs_s']['bare']}")
        (bc, bs), (uc, us) = t["cpu_s"]["bare"], t["cpu_s"]["upload"]
        print(f"  CPU seconds (median): bare client {bc} + sink {bs} = {bc + bs:.3f}; upload client {uc} + "
              f"server {us} = {uc + us:.3f} -> {ratio(bc + bs, uc + us):.2f}x (the bound on a saturated machine)")
        print("== Server memory during the upload ==")
        print(f"peak RSS {t['peak_rss_mb']} MB (before: {t['rss_before_mb']} MB, growth {t['peak_growth_mb']} MB) "
              f"= {t['peak_rss_mb'] / t['file_mb']:.2f}x the file (target <= {TARGETS['rss']:.1f}x)")
    f = figures.get("fashion")
    if f:
        print("== Fashion-MNIST: zip of the IDX files through the SDK, then Train ==")
        print(f"{f['train_rows']} + {f['test_rows']} rows uploaded in {f['upload_s']} s; {f['job']}: "
              f"test accuracy {100 * f['test_accuracy']:.2f}% (target >= {100 * TARGETS['accuracy']:.0f}%) in "
              f"{f['train_seconds']} s of training (target <= {TARGETS['train_seconds']:.0f} s; "
              f"job {f['job_seconds']} s with evaluation)")


def main(argv: list[str] | None = None) -> int:
    """Run the sections asked for and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sink", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="a tiny run (smoke test, not a measurement)")
    parser.add_argument("--mb", type=int, default=100, help="size of the uploaded file (default 100 MB)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions; medians are reported")
    parser.add_argument("--fashion-dir", type=Path, default=FASHION_DIR)
    parser.add_argument("--skip-fashion", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.sink:
        run_sink(args.sink)
        return 0
    figures = {}
    with tempfile.TemporaryDirectory(prefix="nnsvc-upload-bench-") as tmp:
        work = Path(tmp)
        figures["throughput"] = throughput_and_rss(work, 2 if args.quick else args.mb, 1 if args.quick else args.runs)
        if not args.skip_fashion and not args.quick:
            figures["fashion"] = fashion(work, args.fashion_dir)
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
