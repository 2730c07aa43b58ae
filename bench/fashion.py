"""Fashion-MNIST through Train on a real nn-server, side by side with the same job on MNIST.

    .venv/bin/python bench/fashion.py [--seeds 0,1,2] [--data-dir DIR]    (make bench-fashion)

The target (issue 13): at least 88 % test accuracy on Fashion-MNIST in a job of at most 60 s
of training. Training seconds are the sum of the epochs' `seconds` (what the job reports; the
per-epoch evaluation is not training); wall seconds run from Train to the job's end. The
baseline row is the same job on the embedded MNIST. Fashion-MNIST comes from --data-dir
(<dir>/fashion-mnist/), else Debian's dataset-fashion-mnist package.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # serve_lib beside this file

from serve_lib import EMBEDDED_MNIST, ServerProcess, load_avg  # noqa: E402

from client import NNClient  # noqa: E402

#: The job: 784-256-10 ReLU, Adam 0.002 with a cosine schedule, batch 128, 8 epochs.
JOB = dict(hidden_size=256, epochs=8, batch_size=128, optimizer="adam", learning_rate=0.002,
           lr_schedule="cosine")
#: --quick: the same path end to end in seconds (for tests/bench); the target is not judged.
QUICK_JOB = dict(hidden_size=32, epochs=1, batch_size=128, optimizer="adam", train_size=10000, eval_size=2000)
TARGET_ACCURACY, TARGET_SECONDS = 0.88, 60.0


def run_job(client: NNClient, dataset: str, seed: int, job: dict) -> dict:
    """Train one job through the server; its accuracy, training and wall seconds."""
    started = time.perf_counter()
    job_id, _ = client.train(dataset=dataset, seed=seed, name=f"bench {dataset} {seed}", **job)
    final = client.wait(job_id, progress=False)
    wall = time.perf_counter() - started
    if final.state != "SUCCEEDED":
        raise RuntimeError(f"{dataset} job {job_id} ended {final.state}: {final.error}")
    return {"accuracy": final.history[-1].test_accuracy, "train_s": sum(e.seconds for e in final.history),
            "wall_s": wall, "curve": [e.test_accuracy for e in final.history]}


def report(results: dict[str, list[dict]], job: dict) -> bool:
    """Print the table (medians over seeds) and whether Fashion-MNIST met the target."""
    print(f"\njob: {job}; medians over {len(next(iter(results.values())))} seed(s); "
          f"load average {load_avg()}")
    print(f"{'dataset':<15} {'test accuracy':>14} {'(min-max)':>15} {'training s':>11} {'wall s':>8}")
    for dataset, runs in results.items():
        accs = [r["accuracy"] for r in runs]
        print(f"{dataset:<15} {statistics.median(accs):>13.2%} {f'{min(accs):.2%}-{max(accs):.2%}':>15} "
              f"{statistics.median(r['train_s'] for r in runs):>11.1f} "
              f"{statistics.median(r['wall_s'] for r in runs):>8.1f}")
    fashion = results["fashion-mnist"]
    met = all(r["accuracy"] >= TARGET_ACCURACY and r["train_s"] <= TARGET_SECONDS for r in fashion)
    print(f"target (every seed): >= {TARGET_ACCURACY:.0%} in <= {TARGET_SECONDS:.0f} s of training: "
          f"{'met' if met else 'NOT met'}")
    for r in fashion:
        print("  fashion-mnist accuracy per epoch:", " ".join(f"{a:.3f}" for a in r["curve"]))
    return met


def main(argv: list[str] | None = None) -> int:
    """Run the jobs on one nn-server process and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--data-dir", type=Path, default=None, help="folder holding fashion-mnist/")
    parser.add_argument("--quick", action="store_true", help="a 1-epoch job, one seed: checks the path, not the target")
    args = parser.parse_args(argv)
    job = QUICK_JOB if args.quick else JOB
    seeds = [0] if args.quick else [int(s) for s in args.seeds.split(",")]
    extra = ("--data-dir", str(args.data_dir)) if args.data_dir else ()
    results: dict[str, list[dict]] = {"fashion-mnist": [], "mnist": []}
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "state", EMBEDDED_MNIST, max_jobs=1, extra_args=extra)
        try:
            with NNClient(server.target, timeout=60) as client:
                for seed in seeds:
                    for dataset in results:
                        results[dataset].append(run_job(client, dataset, seed, job))
                        print(f"{dataset} seed {seed}: {results[dataset][-1]['accuracy']:.2%}", flush=True)
        finally:
            server.stop()
    met = report(results, job)
    if args.quick:
        print("quick run: the target is not judged")
        return 0
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
