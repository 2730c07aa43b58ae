"""bench/dask_scale.py's printout: every figure with its baseline and target, round by round."""

from __future__ import annotations

from serve_lib import load_avg


def report(out: dict) -> None:
    """The figures, each with its baseline and target, round by round."""
    print(f"load average at start {out['load']}, at end {load_avg()}")
    scalings = [v for k, v in out.items() if k.startswith("scaling")]
    for b in (scalings[0].get("blas") or []) if scalings else []:
        print(f"worker BLAS {b['internal_api']} {b['version']}, kernel {b['architecture']}, "
              f"{b['num_threads']} thread(s) at rest")
    for s in scalings:
        _report_scaling(s)
    _report_rest(out)


def _report_scaling(s: dict) -> None:
    """The scaling rounds of one job size, with the cores each process took."""
    print(f"== Scaling ({s['size']} jobs): four jobs of {s['job']} ==")
    for r in s["rounds"]:
        print(f"  1 worker {r['1_worker_s']:.1f} s   2 workers {r['2_worker_s']:.1f} s   "
              f"ratio {r['ratio']:.2f}   cores the workers got {r['1_worker_cores']:.2f} / "
              f"{r['2_worker_cores']:.2f}   (load {r['load']})")
        for n in ("1", "2"):
            print(f"    cores while {n} worker(s) ran: " + ", ".join(
                f"{k} {v:.3f}" for k, v in r[f"{n}_worker_shares"].items()))
    print(f"  median ratio {s['ratio']:.2f} (target <= 0.6)")


def _report_rest(out: dict) -> None:
    """Dispatch, progress and Predict figures, those that were run."""
    if "dispatch" in out:
        d = out["dispatch"]
        print("== Dispatch: Train -> SUCCEEDED of a tiny job (median) ==")
        print(f"  thread pool {d['thread_s']:.3f} s   dask {d['dask_s']:.3f} s   "
              f"overhead {d['overhead_s']:.3f} s (target <= 0.5)")
    if "progress" in out:
        p = out["progress"]
        print("== Progress: worker event -> WatchJob ==")
        print(f"  {p['updates']} updates   p50 {p['p50_ms']:.0f} ms   max {p['max_ms']:.0f} ms; a step waits at most "
              f"{p['interval_s'] * 1e3:.0f} ms for its event: {p['interval_s'] * 1e3 + p['max_ms']:.0f} ms (target <= 1000)")
    if "predict" in out:
        print("== Predict p99 idle -> while two jobs train ==")
    for name, mode in out.get("predict", {}).items():
        rounds = "   ".join(f"{r['idle_p99_ms']:.2f} -> {r['training_p99_ms']:.2f} ms ({r['ratio']:.2f}x, "
                           f"load {r['load']})" for r in mode["rounds"])
        print(f"  {name:9s} {rounds}")
        print(f"  {'':9s} median ratio {mode['ratio']:.2f}" + ("  (target <= 1.5)" if name == "dask-idle" else ""))
