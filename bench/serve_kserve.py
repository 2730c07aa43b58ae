"""bench/serve.py's KServe section: ModelInfer (batch 1, raw uint8) against nnservice Predict,
same model, same channel, alternating call by call in one run (issue 14's targets)."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Callable

import numpy as np
from serve_lib import Lat, median_rates, ratio

from protos import grpc_predict_v2_pb2 as kpb
from protos import grpc_predict_v2_pb2_grpc as kpb_grpc

HEADING = "KServe v2 ModelInfer vs Predict"
THREADS = 8


def infer_request(model_id: str, image: np.ndarray) -> kpb.ModelInferRequest:
    """What tritonclient sends for one uint8 image: one raw input, both outputs asked for."""
    Input = kpb.ModelInferRequest.InferInputTensor
    Output = kpb.ModelInferRequest.InferRequestedOutputTensor
    return kpb.ModelInferRequest(
        model_name=model_id, inputs=[Input(name="input", datatype="UINT8", shape=[1, 784])],
        outputs=[Output(name="probabilities"), Output(name="class")], raw_input_contents=[image.tobytes()])


def alternating(calls: dict[str, Callable[[], object]], n: int, rounds: int) -> dict[str, Lat]:
    """Per kind, the median over rounds of p50/p99, the kinds alternating call by call, so that a
    burst of load from elsewhere on the machine falls on both alike (blocks of calls would not)."""
    per_kind: dict[str, list[Lat]] = {name: [] for name in calls}
    clock = time.perf_counter
    for _ in range(rounds):
        times: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(10):  # warm-up
            for call in calls.values():
                call()
        for _ in range(n):
            for name, call in calls.items():
                start = clock()
                call()
                times[name].append(clock() - start)
        for name, sample in times.items():
            per_kind[name].append(Lat.of(sample))
    return {name: Lat.median(lats) for name, lats in per_kind.items()}


def kserve_section(channel, predict: Callable[[], object], model_id: str, image: np.ndarray, plan,
                   out: dict, heading: Callable[[str], None], row: Callable) -> None:
    """p50/p99 call by call alternating, then RPC/s with 8 client threads, ModelInfer against Predict (the baseline)."""
    heading(HEADING)
    stub = kpb_grpc.GRPCInferenceServiceStub(channel)
    request = infer_request(model_id, image)
    calls = {"predict": predict, "kserve": lambda: stub.ModelInfer(request, timeout=30)}
    lats = alternating(calls, plan.calls, plan.rounds)
    rates = median_rates(calls, THREADS, plan.seconds, plan.rate_rounds)
    base, lat = lats["predict"], lats["kserve"]
    row("Predict, raw uint8, 784-100-10 p50", f"{base.p50:.3f} ms", "baseline")
    row("ModelInfer, raw uint8, 784-100-10 p50", f"{lat.p50:.3f} ms", f"{base.p50:.3f} ms", ratio(lat.p50, base.p50))
    row("Predict p99", f"{base.p99:.3f} ms", "baseline")
    row("ModelInfer p99", f"{lat.p99:.3f} ms", f"{base.p99:.3f} ms", ratio(lat.p99, base.p99))
    row(f"Predict, {THREADS} threads", f"{rates['predict']:.0f} RPC/s", "baseline")
    row(f"ModelInfer, {THREADS} threads", f"{rates['kserve']:.0f} RPC/s", f"{rates['predict']:.0f} RPC/s",
        ratio(rates["kserve"], rates["predict"]))
    out["kserve"] = {**{name: asdict(v) for name, v in lats.items()},
                     **{f"{name}@{THREADS}": rate for name, rate in rates.items()}}


def kserve_target_rows(out: dict) -> list[tuple[str, float, float]]:
    """(target, value, limit) rows of issue 14; a negative limit means "at least -limit"."""
    k = out["kserve"]
    return [("ModelInfer p50 <= 1.1x Predict p50", ratio(k["kserve"]["p50"], k["predict"]["p50"]), 1.1),
            ("ModelInfer p99 <= 1.2x Predict p99", ratio(k["kserve"]["p99"], k["predict"]["p99"]), 1.2),
            (f"ModelInfer RPC/s at {THREADS} thr >= 0.9x Predict",
             ratio(k[f"kserve@{THREADS}"], k[f"predict@{THREADS}"]), -0.9)]
