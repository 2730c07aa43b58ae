"""SDK and nnctl: delete_model, delete_job, export_model, import_model against real servers on port 0."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest

from client import NNClient, NNServiceError
from tests.datasets_testutils import tiny_arrays

from .conftest import LONG_JOB, TINY_JOB

IMAGES = tiny_arrays(n_train=20, n_test=10, seed=5)[2]  # uint8 [10, 28, 28]


def _trained(client: NNClient, **fields) -> str:
    """The model id of a finished tiny job."""
    job_id, _ = client.train(**{**TINY_JOB, **fields})
    status = client.wait(job_id, progress=False)
    assert status.state == "SUCCEEDED", status.error
    return status.model_id


def test_sdk_export_import_moves_a_model_and_its_names(make_server, tmp_path):
    with NNClient(make_server().target) as source, NNClient(make_server().target) as target:
        model_id = _trained(source, hidden_size=None, hidden_sizes=[16, 8], batch_norm=True)
        bar = io.StringIO()
        out_dir = tmp_path / "out"
        out_dir.mkdir()
        path = source.export_model(model_id, out_dir / "m.npz", file=bar)
        assert "export" in bar.getvalue() and path.stat().st_size > 0
        assert [p.name for p in out_dir.iterdir()] == ["m.npz"]  # no partial file left
        imported = target.import_model(path, name="moved", progress=False)
        assert imported.name == "moved" and imported.class_names == source.get_model(model_id).class_names
        here, there = source.predict(model_id, IMAGES), target.predict(imported.model_id, IMAGES)
        assert there.class_names == here.class_names
        assert there.probabilities.tobytes() == here.probabilities.tobytes()


def test_sdk_deletes_and_their_errors(make_server, tmp_path):
    with NNClient(make_server(max_concurrent_jobs=1).target) as client:
        first, second = _trained(client), _trained(client)
        assert client.delete_model(first).model_id == first
        with pytest.raises(NNServiceError) as info:
            client.predict(first, IMAGES)
        assert info.value.code.name == "NOT_FOUND"
        assert client.status(first).state == "SUCCEEDED"  # the job's record stays
        assert client.delete_job(second, delete_model=True).job_id == second
        assert [m.model_id for m in client.list_models()] == []
        running, _ = client.train(**LONG_JOB)
        with pytest.raises(NNServiceError) as info:
            client.delete_job(running)
        assert info.value.code.name == "FAILED_PRECONDITION" and "cancel it first" in str(info.value)
        client.cancel(running)
        with pytest.raises(ValueError):
            client.export_model(second, tmp_path / "x.bin", format="tflite")


def test_nnctl_model_export_import_rm_and_job_rm(nnctl, make_server, tmp_path):
    source, target = make_server(), make_server()
    with NNClient(source.target) as client:
        model_id = _trained(client)
    src, dst = ["--target", source.target], ["--target", target.target]
    out_file = tmp_path / "m.npz"
    code, out, _ = nnctl(*src, "model", "export", model_id, "-o", out_file, "--no-progress")
    assert code == 0 and str(out_file) in out and out_file.is_file()
    code, out, _ = nnctl(*src, "model", "export", model_id, "-o", tmp_path / "m.onnx", "--format", "onnx",
                         "--json")
    assert code == 0 and json.loads(out)["format"] == "onnx" and (tmp_path / "m.onnx").stat().st_size > 0
    code, out, _ = nnctl(*dst, "model", "import", out_file, "--name", "copy", "--json")
    imported = json.loads(out)
    assert code == 0 and imported["name"] == "copy" and imported["dataset"] == "tiny"
    code, out, _ = nnctl(*dst, "model", imported["model_id"])  # the old form still shows a model
    assert code == 0 and imported["model_id"] in out
    code, out, _ = nnctl(*dst, "model", "rm", imported["model_id"])
    assert code == 0 and "deleted model" in out
    code, _, err = nnctl(*dst, "model", "show", imported["model_id"])
    assert code == 1 and "NOT_FOUND" in err
    code, out, _ = nnctl(*src, "job", "rm", model_id, "--with-model")
    assert code == 0 and "and its model" in out
    code, _, err = nnctl(*src, "status", model_id)
    assert code == 1 and "NOT_FOUND" in err
    code, _, err = nnctl(*src, "model", "frob", model_id)
    assert code == 1 and "usage" in err
