"""Run by .venv-triton's python (tritonclient[grpc] pins protobuf < 7): talk to an nn-server through
tritonclient only, and write what it saw as JSON plus .npy arrays for the test to compare.

usage: tritonclient_script.py TARGET MODEL_ID PIXELS.npy OUT_DIR [TOKEN]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException


def infer(client, model_id: str, x: np.ndarray, datatype: str, headers) -> grpcclient.InferResult:
    """One infer call with raw contents (tritonclient always sends raw_input_contents)."""
    tensor = grpcclient.InferInput("input", list(x.shape), datatype)
    tensor.set_data_from_numpy(x)
    outputs = [grpcclient.InferRequestedOutput("probabilities"), grpcclient.InferRequestedOutput("class")]
    return client.infer(model_id, [tensor], outputs=outputs, request_id="interop-1", headers=headers)


def main(target: str, model_id: str, pixels_path: str, out_dir: str, token: str = "") -> None:
    """Every call the interoperability test checks; results into out_dir."""
    out = Path(out_dir)
    headers = {"authorization": f"Bearer {token}"} if token else None
    client = grpcclient.InferenceServerClient(url=target)
    pixels = np.load(pixels_path, allow_pickle=False)
    meta = client.get_model_metadata(model_id, headers=headers, as_json=True)
    server = client.get_server_metadata(headers=headers, as_json=True)
    report = {"live": client.is_server_live(headers=headers), "ready": client.is_server_ready(headers=headers),
              "model_ready": client.is_model_ready(model_id, headers=headers), "metadata": meta, "server": server}
    for datatype, x in (("UINT8", pixels), ("FP32", pixels.astype(np.float32) / np.float32(255))):
        result = infer(client, model_id, x, datatype, headers)
        np.save(out / f"{datatype}-probabilities.npy", result.as_numpy("probabilities"), allow_pickle=False)
        np.save(out / f"{datatype}-class.npy", result.as_numpy("class"), allow_pickle=False)
        report[f"{datatype}-id"] = result.get_response().id
    try:
        infer(client, model_id, pixels[:, :27], "UINT8", headers)
        report["error"] = None
    except InferenceServerException as exc:
        report["error"] = {"status": exc.status(), "message": exc.message()}
    try:
        client.get_model_metadata("0" * 16, headers=headers)
        report["missing"] = None
    except InferenceServerException as exc:
        report["missing"] = {"status": exc.status(), "message": exc.message()}
    index = client.get_model_repository_index(headers=headers, as_json=True)
    report["index"] = index
    (out / "report.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:])
