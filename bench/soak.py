"""Soak: mixed clients against a real nn-server that is SIGKILLed and restarted at random.

For `--minutes`, `--workers` client threads pick actions from ACTIONS (Train small fast jobs,
Cancel, Watch, Predict, GetStatus, ListJobs) against one `nn-server` subprocess on loopback,
while the main thread SIGKILLs the server every `--kill-min`..`--kill-max` seconds and restarts
it on the same state dir and port. After each restart every model seen so far is asked for the
probabilities of one fixed input, which must equal, bit for bit, those recorded before. At the
end the load stops, queued jobs get `--settle` seconds to end, and the soak prints the calls by
status code, jobs finished, models verified, jobs left active (stuck), and the server's peak RSS
per restart. It stops by itself; nothing leaves 127.0.0.1.

ACTIONS (bench/soak_actions.py) is a table (name -> weight, function): the issues that add
UploadDataset and DeleteModel add their actions there, with the codes those calls may answer.

    .venv/bin/python bench/soak.py [--minutes 30] [--kill-min 60] [--kill-max 180] [--seed 0]
                                   [--workers 3] [--kills N] [--json out.json]
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
import tempfile
import threading
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_lib import ServerProcess  # noqa: E402
from soak_actions import ACTIONS, FINAL, UNEXPECTED, Soak  # noqa: E402

from client import NNClient, NNServiceError  # noqa: E402

SERVER_ARGS = ("--max-concurrent-jobs", "1", "--max-queued-jobs", "4")
DEFAULT_MNIST = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist").resolve()


def worker(soak: Soak, seed: int) -> None:
    """One client: random actions until the soak stops, each call counted by its status code."""
    rng = random.Random(seed)
    names, weights = list(ACTIONS), [weight for weight, _ in ACTIONS.values()]
    with NNClient(soak.target, timeout=10, retry_attempts=2) as client:
        while not soak.stop.is_set():
            name = rng.choices(names, weights)[0]
            try:
                ACTIONS[name][1](soak, client, rng)
                code = "OK"
            except NNServiceError as exc:
                code = exc.code.name
                if code in UNEXPECTED:
                    soak.note(name, exc)
            with soak.lock:
                soak.calls[name, code] += 1
            soak.stop.wait(soak.think)


def wait_serving(target: str, timeout: float = 60.0) -> None:
    """Block until the server's health says SERVING."""
    deadline = time.monotonic() + timeout
    with NNClient(target, timeout=2, retry_attempts=1) as client:
        while time.monotonic() < deadline:
            try:
                if client.health().serving:
                    return
            except NNServiceError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"the server at {target} did not become SERVING within {timeout}s")


def verify_models(soak: Soak) -> dict[str, int]:
    """Every model seen so far answers FIXED_INPUT exactly as before: counts ok / changed / lost."""
    with soak.lock:
        known = list(soak.models)
    counts = collections.Counter()
    with NNClient(soak.target, timeout=30) as client:
        for model_id in known:
            try:
                counts["ok" if _check_patiently(soak, client, model_id) else "changed"] += 1
            except NNServiceError as exc:
                counts[f"lost ({exc.code.name})"] += 1
                soak.note(f"verify {model_id}", exc)
    return dict(counts)


def _check_patiently(soak: Soak, client: NNClient, model_id: str, patience: float = 30.0) -> bool:
    """check_model, retrying UNAVAILABLE for `patience` seconds: right after a restart the
    client's connection may still be backing off from the outage (a 30-min soak saw one such
    answer), which says nothing about the model."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return soak.check_model(client, model_id)
        except NNServiceError as exc:
            if exc.code.name != "UNAVAILABLE" or time.monotonic() > deadline:
                raise
            soak.note(f"verify {model_id} (retried)", exc)
            time.sleep(0.5)


def settle(soak: Soak, seconds: float) -> list[str]:
    """Give queued and running jobs `seconds` to end; the ids still active after that (stuck)."""
    deadline = time.monotonic() + seconds
    with NNClient(soak.target, timeout=30) as client:
        while True:
            active = [s for s in client.list_jobs() if s.state not in FINAL]
            if not active or time.monotonic() > deadline:
                for status in client.list_jobs():
                    soak.saw(status)
                return [f"{s.job_id} {s.state} epoch {s.epoch} iteration {s.iteration}" for s in active]
            time.sleep(1.0)


def kill_and_restart(server: ServerProcess, started: float, state: Path, args, run_no: int):
    """SIGKILL the server (its RSS read just before), start it again on the same port and state
    dir, and verify the models; returns the new server and this restart's figures."""
    figures = {"uptime_s": round(time.monotonic() - started, 1), "peak_rss_mb": round(server.peak_rss_mb(), 1),
               "rss_mb": round(server.status("VmRSS") / 1024, 1)}
    server.proc.kill()  # SIGKILL: no drain, no cleanup
    server.proc.wait(30)
    server.stop()
    server.log_path.rename(f"{server.log_path}.{run_no}")
    return ServerProcess(state, args.mnist_dir, extra_args=(*SERVER_ARGS, "--port", str(server.port))), figures


def run(args: argparse.Namespace) -> dict:
    """The whole soak; returns its figures."""
    rng = random.Random(args.seed)
    state = Path(tempfile.mkdtemp(prefix="nnsvc-soak-")) / "state"
    server, started = ServerProcess(state, args.mnist_dir, extra_args=SERVER_ARGS), time.monotonic()
    soak = Soak(server.target, args.think)
    restarts: list[dict] = []
    end = time.monotonic() + args.minutes * 60
    threads = [threading.Thread(target=worker, args=(soak, args.seed * 100 + i), daemon=True)
               for i in range(args.workers)]
    for thread in threads:
        thread.start()
    while len(restarts) < args.kills:
        kill_at = time.monotonic() + rng.uniform(args.kill_min, args.kill_max)
        if kill_at >= end:
            break
        time.sleep(kill_at - time.monotonic())
        server, figures = kill_and_restart(server, started, state, args, len(restarts))
        started = time.monotonic()
        wait_serving(soak.target)
        figures["models_after_restart"] = verify_models(soak)
        restarts.append(figures)
        print(f"restart {len(restarts)}: {figures}", flush=True)
    time.sleep(max(0.0, end - time.monotonic()))
    soak.stop.set()
    for thread in threads:
        thread.join(60)
    stuck = settle(soak, args.settle)
    last = verify_models(soak)
    final_rss = {"peak_rss_mb": round(server.peak_rss_mb(), 1), "rss_mb": round(server.status("VmRSS") / 1024, 1)}
    server.stop()
    return {"minutes": args.minutes, "seed": args.seed, "state_dir": str(state), "restarts": restarts,
            "calls": {f"{a} {c}": n for (a, c), n in sorted(soak.calls.items())},
            "codes": dict(collections.Counter(code for (_, code) in soak.calls.elements())),
            "jobs_submitted": len(soak.jobs), "jobs_finished": dict(collections.Counter(soak.final.values())),
            "models": len(soak.models), "models_at_end": last, "mismatches": soak.mismatches,
            "stuck_jobs": stuck, "final_server": final_rss, "errors": soak.errors}


def report(out: dict) -> None:
    """Print the figures as sections."""
    print("== Calls by status code ==")
    for key, count in out["calls"].items():
        print(f"  {key:32s} {count:8d}")
    print("  totals: " + ", ".join(f"{code} {n}" for code, n in sorted(out["codes"].items())))
    print("== Jobs ==")
    print(f"  submitted {out['jobs_submitted']}, finished {out['jobs_finished']}, "
          f"left active (stuck) {len(out['stuck_jobs'])} {out['stuck_jobs']}")
    print("== Models verified bit for bit ==")
    for i, restart in enumerate(out["restarts"], 1):
        print(f"  after restart {i}: {restart['models_after_restart']}")
    print(f"  at the end: {out['models_at_end']}; answers that changed during the soak: {out['mismatches']}")
    if out["errors"]:
        print("  unexpected errors (first 20): " + "\n    ".join(["", *out["errors"]]))
    print("== Server RSS per restart ==  (MB, read just before each SIGKILL)")
    for i, restart in enumerate(out["restarts"], 1):
        print(f"  run {i}: up {restart['uptime_s']} s, peak {restart['peak_rss_mb']}, now {restart['rss_mb']}")
    print(f"  last run (stopped gracefully): peak {out['final_server']['peak_rss_mb']}, "
          f"now {out['final_server']['rss_mb']}")


def main(argv: list[str] | None = None) -> int:
    """Parse the options, soak, print; exit 1 if a model changed or was lost, a job got stuck,
    or a call answered INTERNAL or UNKNOWN."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="how long the load runs")
    parser.add_argument("--kill-min", type=float, default=60.0, help="shortest time between kills (s)")
    parser.add_argument("--kill-max", type=float, default=180.0, help="longest time between kills (s)")
    parser.add_argument("--kills", type=int, default=10**6, help="at most this many kills")
    parser.add_argument("--workers", type=int, default=3, help="client threads")
    parser.add_argument("--think", type=float, default=0.1, help="pause between a client's calls (s)")
    parser.add_argument("--settle", type=float, default=120.0, help="time left to jobs at the end (s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mnist-dir", type=Path, default=DEFAULT_MNIST, help="MNIST IDX files")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if not 0 < args.kill_min <= args.kill_max or args.minutes <= 0 or args.workers < 1:
        parser.error("need 0 < --kill-min <= --kill-max, --minutes > 0 and --workers >= 1")
    out = run(args)
    report(out)
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=1))
    checks = [restart["models_after_restart"] for restart in out["restarts"]] + [out["models_at_end"]]
    lost = sum(n for counts in checks for key, n in counts.items() if key != "ok")
    bad = out["codes"].get("INTERNAL", 0) + out["codes"].get("UNKNOWN", 0)
    return 1 if lost or out["mismatches"] or out["stuck_jobs"] or bad else 0


if __name__ == "__main__":
    sys.exit(main())
