"""Run by .venv-triton's python: talk to an nn-server's HTTP port through tritonclient.http only
(JSON tensors, binary_data=False, and Triton's binary extension, its default), and write what it saw as JSON plus .npy arrays for the test.

usage: tritonclient_http_script.py HOST:HTTP_PORT MODEL_ID PIXELS.npy OUT_DIR [TOKEN]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def infer(client, model_id: str, x: np.ndarray, datatype: str, headers) -> httpclient.InferResult:
    """One infer call with JSON input and outputs (binary_data=False both ways)."""
    tensor = httpclient.InferInput("input", list(x.shape), datatype)
    tensor.set_data_from_numpy(x, binary_data=False)
    outputs = [httpclient.InferRequestedOutput("probabilities", binary_data=False),
               httpclient.InferRequestedOutput("class", binary_data=False)]
    return client.infer(model_id, [tensor], outputs=outputs, request_id="interop-http-1", headers=headers)


def infer_binary(client, model_id: str, x: np.ndarray, datatype: str, headers) -> httpclient.InferResult:
    """tritonclient.http's defaults: binary input, no outputs named (so every output binary)."""
    tensor = httpclient.InferInput("input", list(x.shape), datatype)
    tensor.set_data_from_numpy(x)
    # A copy: tritonclient adds Inference-Header-Content-Length to the dict it is given, and a
    # later JSON-only call with the same dict would send that stale length.
    return client.infer(model_id, [tensor], headers=dict(headers) if headers else None)


def error_of(call) -> dict | None:
    """The status and message of the InferenceServerException `call` raises (None if it does not)."""
    try:
        call()
    except InferenceServerException as exc:
        return {"status": exc.status(), "message": exc.message()}
    return None


def main(target: str, model_id: str, pixels_path: str, out_dir: str, token: str = "") -> None:
    """Every call the interoperability test checks; results into out_dir."""
    out = Path(out_dir)
    headers = {"Authorization": f"Bearer {token}"} if token else None
    client = httpclient.InferenceServerClient(url=target)
    pixels = np.load(pixels_path, allow_pickle=False)
    report = {"live": client.is_server_live(headers=headers), "ready": client.is_server_ready(headers=headers),
              "model_ready": client.is_model_ready(model_id, headers=headers),
              "server": client.get_server_metadata(headers=headers),
              "metadata": client.get_model_metadata(model_id, headers=headers)}
    for datatype, x in (("UINT8", pixels), ("FP32", pixels.astype(np.float32) / np.float32(255))):
        result = infer(client, model_id, x, datatype, headers)
        np.save(out / f"http-{datatype}-probabilities.npy", result.as_numpy("probabilities"), allow_pickle=False)
        np.save(out / f"http-{datatype}-class.npy", result.as_numpy("class"), allow_pickle=False)
        report[f"{datatype}-id"] = result.get_response()["id"]
        result = infer_binary(client, model_id, x, datatype, headers)
        np.save(out / f"http-bin-{datatype}-probabilities.npy", result.as_numpy("probabilities"), allow_pickle=False)
        np.save(out / f"http-bin-{datatype}-class.npy", result.as_numpy("class"), allow_pickle=False)
    report["error"] = error_of(lambda: infer(client, model_id, pixels[:, :27], "UINT8", headers))
    report["missing"] = error_of(lambda: client.get_model_metadata("0" * 16, headers=headers))
    report["index"] = client.get_model_repository_index(headers=headers)
    (out / "report.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:])
