"""Fuzzed ImportModel streams and lifecycle requests (DeleteModel, DeleteJob, ExportModel) against
one real server holding two models: every answer is OK or a documented code (never INTERNAL or
UNKNOWN), the server stays SERVING, and no model is lost or half-written: afterwards the models
on disk are exactly the two, each answering Predict with the same bytes as before."""

from __future__ import annotations

import collections
import hashlib
import io
import json
import os

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc
from server import Settings
from tests.conftest import start_server
from tests.reliability.fuzz_strategies import ODD_IDS, mutated_bytes
from tests.reliability.reliability_testutils import record_figure
from tests.server.lifecycle_testutils import export_file, raw_probabilities, train_tiny

DOCUMENTED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
              grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.RESOURCE_EXHAUSTED}
MAX_EXAMPLES = int(os.environ.get("NNSVC_LIFECYCLE_FUZZ_EXAMPLES", "630"))
BATCH = (4, 5)  # calls per example: at least 4 * 630 = 2,520 requests per run by default
LIMITS = dict(max_upload_bytes=192 * 1024, max_parameters=60_000, max_message_bytes=4 << 20,
              grpc_workers=8, shutdown_grace=2.0, http=False)  # 8080 may be taken by another run
EDGES = st.sampled_from([float("inf"), float("-inf"), float("nan"), -1, 0, 1, 2**32, 2**64, 1e300])
JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8) | EDGES,
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                 max_size=3), max_leaves=6)


@pytest.fixture(scope="module")
def held(tmp_path_factory, mnist_cache):
    """(server, {model id: raw probabilities}, {model id: exported file}) of a server with two models."""
    running = start_server(Settings(state_dir=tmp_path_factory.mktemp("lifecycle-fuzz"), **LIMITS), mnist_cache)
    with grpc.insecure_channel(running.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        ids = [train_tiny(stub, hidden_size=None, hidden_sizes=[12, 8], batch_norm=True, dropout=0.1).model_id,
               train_tiny(stub, hidden_size=6, activation="sigmoid").model_id]
        answers = {m: raw_probabilities(stub, m) for m in ids}
        files = {m: export_file(stub, m) for m in ids}
    yield running, answers, files
    running.stop(0)


def _members(data: bytes) -> dict[str, np.ndarray]:
    """The arrays of an exported file."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def model_files(files: list[bytes]) -> st.SearchStrategy[bytes]:
    """Exported files, intact or with their JSON members, arrays or bytes changed (`files` is
    bound here, not passed to the strategy, so hypothesis does not repr 100 kB per example)."""
    return _changed_file(st.sampled_from(range(len(files))).map(lambda i: files[i]))


@st.composite
def _changed_file(draw, originals) -> bytes:
    """One of model_files."""
    data = draw(originals)
    if draw(st.integers(0, 3)) == 0:
        return data
    arrays = _members(data)
    for _ in range(draw(st.integers(0, 3))):
        change = draw(st.sampled_from(["json", "json", "drop", "shape", "dtype", "extra"]))
        names = ["metadata", "architecture"] if change == "json" else sorted(arrays)
        key = draw(st.sampled_from([k for k in names if k in arrays] or sorted(arrays)))
        if change == "json":
            doc = _json_object(arrays[key])
            if doc is not None:  # not already cut or recast by an earlier change
                doc[draw(st.sampled_from(sorted(doc) + ["x"]))] = draw(EDGES | JSON)
                arrays[key] = np.frombuffer(json.dumps(doc).encode(), dtype=np.uint8)
        elif change == "drop":
            del arrays[key]
        elif change == "shape":
            arrays[key] = arrays[key].reshape(-1)[: draw(st.integers(0, arrays[key].size))]
        elif change == "dtype":
            arrays[key] = arrays[key].astype(draw(st.sampled_from(["float64", "int32", "uint8", "float16"])))
        else:
            arrays[draw(st.text(min_size=1, max_size=8))] = np.zeros(draw(st.integers(0, 4)))
    out = io.BytesIO()
    (np.savez_compressed if draw(st.booleans()) else np.savez)(out, **arrays)
    return out.getvalue() if draw(st.booleans()) else mutated_bytes(draw, out.getvalue())


def _json_object(member: np.ndarray) -> dict | None:
    """The JSON object a uint8 member holds, or None."""
    try:
        doc = json.loads(member.tobytes()) if member.dtype == np.uint8 else None
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


@st.composite
def import_streams(draw, files) -> list[pb.ImportModelRequest]:
    """One ImportModel stream: metadata (sizes and digests right or wrong), chunks, maybe a trailer."""
    data = draw(files)
    digest = hashlib.sha256(data).hexdigest()
    meta = pb.ModelImportMetadata(name=draw(st.text(max_size=3) | st.just("n" * 201)),
                                  sha256=draw(st.sampled_from([digest, "", "0" * 64, "zz"])))
    if draw(st.booleans()):
        meta.size_bytes = draw(st.sampled_from([len(data), len(data) + 1, max(0, len(data) - 1)]))
    chunk = draw(st.integers(8 * 1024, 64 * 1024))  # smaller chunks cost messages, not new cases
    stream = [pb.ImportModelRequest(metadata=meta)]
    stream += [pb.ImportModelRequest(chunk=data[i:i + chunk]) for i in range(0, len(data), chunk)]
    if draw(st.booleans()):
        stream.append(pb.ImportModelRequest(sha256=draw(st.sampled_from([digest, "", "x" * 64]))))
    if draw(st.integers(0, 5)) == 0:  # out of order: metadata again, or missing
        stream.insert(draw(st.integers(0, len(stream))), pb.ImportModelRequest(metadata=meta))
        stream = stream[draw(st.integers(0, 1)):]
    return stream


def lifecycle_calls(held_ids: list[str]):
    """(rpc name, request) of DeleteModel / DeleteJob / ExportModel with odd ids and formats. The
    held models may be exported and their jobs deleted, never the models themselves."""
    other = st.sampled_from(ODD_IDS) | st.text(max_size=70) | st.from_regex(r"[a-f0-9]{16}", fullmatch=True)
    return st.one_of(
        st.builds(lambda i: ("DeleteModel", pb.DeleteModelRequest(model_id=i)), other),
        st.builds(lambda i, d: ("DeleteJob", pb.DeleteJobRequest(job_id=i, delete_model=d)), other, st.booleans()),
        st.builds(lambda i: ("DeleteJob", pb.DeleteJobRequest(job_id=i)), st.sampled_from(held_ids)),
        st.builds(lambda i, f: ("ExportModel", pb.ExportModelRequest(model_id=i, format=f)),
                  st.sampled_from(held_ids) | other,
                  st.sampled_from(["", "npz", "onnx", "ONNX", "tflite"]) | st.text(max_size=10)))


def _call(stub, name: str, request) -> grpc.StatusCode:
    """Run one call (a stream: to its end) and return its code."""
    try:
        answer = getattr(stub, name)(iter(request) if name == "ImportModel" else request, timeout=30)
        if name == "ExportModel":
            list(answer)
        elif name == "ImportModel":  # keep only the held models for the end of the run
            stub.DeleteModel(pb.DeleteModelRequest(model_id=answer.model_id), timeout=10)
        return grpc.StatusCode.OK
    except grpc.RpcError as error:
        assert error.code() in DOCUMENTED, f"{name} {str(request)[:300]} -> {error.code().name}: {error.details()}"
        return error.code()


def test_fuzzed_imports_and_lifecycle_requests_lose_nothing(held, request):
    server, answers, files = held
    codes: collections.Counter = collections.Counter()
    imports = st.tuples(st.just("ImportModel"), import_streams(model_files(list(files.values()))))
    others = lifecycle_calls(list(answers))
    calls = st.booleans().flatmap(lambda importing: imports if importing else others)  # half imports
    with grpc.insecure_channel(server.target) as channel:
        stub, health = pb_grpc.NNServiceStub(channel), health_pb2_grpc.HealthStub(channel)

        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(batch=st.lists(calls, min_size=BATCH[0], max_size=BATCH[1]))
        def run(batch):
            for name, call in batch:
                codes[f"{name} {_call(stub, name, call).name}"] += 1

        run()
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == \
            health_pb2.HealthCheckResponse.SERVING
        for model_id, answer in answers.items():
            assert raw_probabilities(stub, model_id) == answer
        listed = {m.model_id for m in stub.ListModels(pb.ListModelsRequest(), timeout=10).models}
    on_disk = {p.name for p in (server.settings.state_dir / "models").iterdir()}
    assert listed == on_disk == set(answers)  # nothing half-written, no leftovers
    record_figure(request, "lifecycle fuzz answers", dict(sorted(codes.items())))
    assert sum(codes.values()) >= BATCH[0] * MAX_EXAMPLES
    assert codes["ImportModel OK"] > 0 and codes["ImportModel INVALID_ARGUMENT"] > 0
