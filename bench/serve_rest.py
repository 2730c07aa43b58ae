"""KServe v2 REST infer against gRPC Predict: one nn-server subprocess, one trained model, one image.

REST (POST /v2/models/{id}/infer: JSON UINT8, JSON FP32, and Triton's binary extension, over a
kept-alive connection) and gRPC Predict (a bare stub, raw uint8) alternate in blocks, round
after round; p50/p99 medians over rounds are printed side by side with the ratio (issue 15's target: REST p50 <= 2x Predict p50).
What the JSON itself costs (the server's parse, validation and np.asarray of the 784 values,
and encoding the answer) is timed separately, in this process.

    .venv/bin/python bench/serve_rest.py [--quick] [--rounds 7] [--calls 400]
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_lib import EMBEDDED_MNIST, Lat, ServerProcess, interleaved, load_avg, ratio  # noqa: E402

from client import NNClient  # noqa: E402
from client.channel import make_channel  # noqa: E402
from nncore.mnist import load_mnist  # noqa: E402
from protos import nn_service_pb2 as pb  # noqa: E402
from protos import nn_service_pb2_grpc as pb_grpc  # noqa: E402
from server.web.kserve_models import InferRequest  # noqa: E402

TARGET = 2.0  # REST p50 at most this many times Predict's


def infer_body(image: np.ndarray, datatype: str) -> bytes:
    """The JSON a client sends for one image: UINT8 pixels or FP32 features in [0, 1]."""
    data = image.ravel().tolist() if datatype == "UINT8" else (image.ravel() / np.float32(255)).tolist()
    return json.dumps({"inputs": [{"name": "input", "shape": [1, 784], "datatype": datatype, "data": data}],
                       "outputs": [{"name": "probabilities"}, {"name": "class"}]}).encode()


def binary_body(image: np.ndarray) -> tuple[bytes, dict]:
    """Triton's binary extension, as tritonclient.http sends it by default: the JSON part (raw
    input, every output asked for raw), then the 784 pixel bytes; and its extra header."""
    header = json.dumps({"inputs": [{"name": "input", "shape": [1, 784], "datatype": "UINT8",
                                     "parameters": {"binary_data_size": image.size}}],
                         "parameters": {"binary_data_output": True}}).encode()
    return header + image.tobytes(), {"Inference-Header-Content-Length": str(len(header))}


def rest_probe(conn: http.client.HTTPConnection):
    """GET /v2/health/live: what the HTTP stack costs with next to no work behind it."""
    def call() -> bytes:
        conn.request("GET", "/v2/health/live")
        return conn.getresponse().read()
    return call


def rest_call(conn: http.client.HTTPConnection, path: str, body: bytes, extra: dict | None = None):
    """One POST on a kept-alive connection (http.client writes headers and body in one send)."""
    headers = {"Content-Type": "application/json", **(extra or {})}

    def call() -> bytes:
        conn.request("POST", path, body, headers)
        answer = conn.getresponse()
        data = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"infer answered {answer.status}: {data[:200]!r}")
        return data
    return call


def per_call_us(fn, n: int) -> float:
    """The median of 5 timings of n calls, in microseconds per call."""
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - start) / n)
    return sorted(times)[2] * 1e6


def json_costs(bodies: dict[str, bytes], answer: bytes, n: int) -> dict[str, float]:
    """The JSON's share of a request: what the server does with the body before predicting
    (pydantic's JSON parser into the request model, then one np.asarray), and encoding an answer;
    json.loads then validation, what FastAPI would do with a declared body, beside it."""
    costs = {}
    for datatype, body in bodies.items():
        decoded = InferRequest.model_validate_json(body)
        costs[f"parse + validate (pydantic), {datatype}"] = per_call_us(
            lambda b=body: InferRequest.model_validate_json(b), n)
        costs[f"json.loads + validate, {datatype}"] = per_call_us(
            lambda b=body: InferRequest.model_validate(json.loads(b)), n)
        costs[f"np.asarray of the 784 values, {datatype}"] = per_call_us(
            lambda d=decoded.inputs[0].data: np.asarray(d), n)
    reply = json.loads(answer)
    costs["json.dumps of the answer"] = per_call_us(lambda: json.dumps(reply), n)
    return costs


def row(label: str, value: str, base: str = "", ratio_: float | None = None) -> None:
    """One line of the table: figure, baseline and their ratio."""
    r = "" if ratio_ is None else f"{ratio_:6.2f}x"
    print(f"  {label:<44} {value:>20} {base:>20} {r:>8}", flush=True)


def blas() -> str:
    """The BLAS library and kernel threadpoolctl reports."""
    info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return ", ".join(f"{i.get('internal_api')} {i.get('architecture', '?')}" for i in info) or "none"


def measure(args: argparse.Namespace, state: Path) -> dict[str, Lat]:
    """Train a model on a fresh server, then time Predict and REST infer in alternating blocks."""
    (_, _), (x_test, _) = load_mnist(normalize=False, data_dir=EMBEDDED_MNIST, cache_dir=state / "mnist")
    image = np.ascontiguousarray(x_test[0], dtype=np.uint8)  # (784,) pixels 0..255
    with ServerProcess(state / "server", EMBEDDED_MNIST) as server, \
            NNClient(server.target, timeout=120) as client:
        job_id, _ = client.train(name="bench rest 784-100-10", hidden_size=100, epochs=1,
                                 train_size=args.train_size, eval_size=500)
        model_id = client.wait(job_id, progress=False, timeout=600).model_id
        channel = make_channel(server.target)
        stub = pb_grpc.NNServiceStub(channel)
        request = pb.PredictRequest(model_id=model_id, input=pb.Tensor(
            shape=[1, 784], dtype=pb.DTYPE_UINT8, raw_data=image.tobytes()))
        conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
        path = f"/v2/models/{model_id}/infer"
        bodies = {datatype: infer_body(image, datatype) for datatype in ("UINT8", "FP32")}
        calls = {"predict": lambda: stub.Predict(request, timeout=30),
                 "rest UINT8": rest_call(conn, path, bodies["UINT8"]),
                 "rest FP32": rest_call(conn, path, bodies["FP32"]),
                 "rest binary": rest_call(conn, path, *binary_body(image)),
                 "rest live": rest_probe(conn)}
        lats = interleaved(calls, args.calls, args.rounds)
        answer = calls["rest UINT8"]()
        conn.close()
        channel.close()
    costs = json_costs(bodies, answer, max(10, args.calls))
    report(lats, costs, bodies, args.quick)
    return lats


def report(lats: dict[str, Lat], costs: dict[str, float], bodies: dict[str, bytes], quick: bool) -> None:
    """The side-by-side table, the JSON costs and the target line."""
    base = lats["predict"]
    print("\n== KServe v2 REST infer vs gRPC Predict (batch 1, 784-100-10) ==")
    row("gRPC Predict, raw uint8 p50 / p99", f"{base.p50:.3f} / {base.p99:.3f} ms", "baseline")
    for kind, label in (("rest UINT8", "JSON UINT8"), ("rest FP32", "JSON FP32"), ("rest binary", "binary UINT8")):
        lat = lats[kind]
        row(f"REST infer, {label} p50", f"{lat.p50:.3f} ms", f"{base.p50:.3f} ms", ratio(lat.p50, base.p50))
        row(f"REST infer, {label} p99", f"{lat.p99:.3f} ms", f"{base.p99:.3f} ms", ratio(lat.p99, base.p99))
    live = lats["rest live"]
    row("REST GET /v2/health/live p50 (the HTTP stack)", f"{live.p50:.3f} ms", f"{base.p50:.3f} ms",
        ratio(live.p50, base.p50))
    print("\n== What the JSON costs (in-process, per request) ==")
    for datatype, body in bodies.items():
        row(f"request body, {datatype}", f"{len(body)} bytes", "raw: 784 bytes" if datatype == "UINT8" else "")
    for label, us in costs.items():
        row(label, f"{us:.1f} us")
    worst = max(ratio(lats[k].p50, base.p50) for k in ("rest UINT8", "rest FP32"))
    verdict = "met" if worst <= TARGET else "NOT met"
    if quick:
        verdict = "quick run: the target is not judged"
    print(f"\n  target: REST infer p50 <= {TARGET:g}x gRPC Predict p50: {worst:.2f}x, {verdict}")


def main(argv: list[str] | None = None) -> None:
    """Parse the options, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds (medians are reported)")
    parser.add_argument("--calls", type=int, default=400, help="calls per kind per round")
    parser.add_argument("--train-size", type=int, default=10_000, help="images the model trains on")
    parser.add_argument("--quick", action="store_true", help="a tiny run (a smoke test, not a measurement)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.calls, args.train_size = 1, 20, 500
    print(f"BLAS: {blas()}; load average {load_avg()}")
    with tempfile.TemporaryDirectory() as tmp:
        measure(args, Path(tmp))
    print(f"load average after: {load_avg()}")


if __name__ == "__main__":
    main()
