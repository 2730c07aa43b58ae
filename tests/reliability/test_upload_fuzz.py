"""Fuzzed UploadDataset streams against one real server: random metadata, chunk splits,
truncations, flipped bytes and garbage get OK or a documented code (never INTERNAL/UNKNOWN), a
refused upload leaves nothing stored, and the server stays SERVING."""

from __future__ import annotations

import collections
import hashlib
import os
import string

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc
from server import Settings
from tests.conftest import start_server
from tests.reliability.fuzz_strategies import mutated_bytes
from tests.reliability.reliability_testutils import record_figure
from tests.server.upload_testutils import stored_entries
from tests.upload_files import (blobs, csv_bytes, idx_members, npz_bytes, split_arrays, tar_gz_bytes,
                                zip_bomb, zip_bytes)

DOCUMENTED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED,
              grpc.StatusCode.ALREADY_EXISTS}
MAX_EXAMPLES = int(os.environ.get("NNSVC_UPLOAD_FUZZ_EXAMPLES", "200"))
LIMITS = dict(max_upload_bytes=256 * 1024, max_dataset_bytes=1 << 20, max_message_bytes=4 << 20,
              grpc_workers=8, shutdown_grace=2.0, http=False)  # 8080 may be taken by another run


def _files() -> dict[str, bytes]:
    """One valid file per format (and a bomb), the material the fuzzer cuts and flips."""
    arrays = split_arrays(n_train=40, n_test=10)
    x, t = blobs(30, classes=2, shape=(3,))
    return {"npz": npz_bytes(**arrays), "csv": csv_bytes(x, t), "zip": zip_bytes(idx_members(arrays)),
            "tar.gz": tar_gz_bytes(idx_members(arrays, gz=False)), "bomb": zip_bomb(4 << 20)}


FILES = _files()


@st.composite
def uploads(draw):
    """(name, list of UploadDatasetRequest) for one random upload stream; about half are intact."""
    kind = draw(st.sampled_from(sorted(FILES)))
    intact = kind != "bomb" and draw(st.booleans())
    data = FILES[kind] if intact else mutated_bytes(draw, FILES[kind])
    fmt = "zip" if kind == "bomb" else kind
    name = draw(st.from_regex(r"[a-z0-9][a-z0-9_-]{0,11}", fullmatch=True)) if intact or draw(st.booleans()) \
        else draw(st.text(string.printable, max_size=70))
    meta = pb.DatasetUploadMetadata(name=name, format=fmt if intact else draw(
        st.sampled_from([fmt, "npz", "csv", "", "bin"])))
    if draw(st.booleans()):
        meta.size_bytes = len(data) if intact else draw(st.sampled_from([len(FILES[kind]), len(data) + 1]))
    digests = [hashlib.sha256(data).hexdigest(), ""]
    meta.sha256 = draw(st.sampled_from(digests if intact else digests + ["zz", "0" * 64]))
    if not intact:
        if draw(st.booleans()):
            meta.test_fraction = draw(st.floats(allow_nan=True, allow_infinity=True))
        meta.class_names.extend(draw(st.lists(st.text(max_size=5), max_size=4)))
    chunk = draw(st.integers(1, 64 * 1024))
    requests = [pb.UploadDatasetRequest(metadata=meta)]
    requests += [pb.UploadDatasetRequest(chunk=data[i:i + chunk]) for i in range(0, len(data), chunk)]
    if draw(st.booleans()):  # the digest as the last message, as the SDK sends it
        trailers = [hashlib.sha256(data).hexdigest()] if intact else ["", "0" * 64, "x" * 64]
        requests.append(pb.UploadDatasetRequest(sha256=draw(st.sampled_from(trailers))))
    if not intact and draw(st.integers(0, 4)) == 0:  # out of order: metadata again, or not first
        requests.insert(draw(st.integers(0, len(requests))), pb.UploadDatasetRequest(metadata=meta))
        if draw(st.booleans()):
            requests = requests[1:]
    return name, requests


@pytest.fixture(scope="module")
def upload_server(tmp_path_factory):
    """One server with small upload limits for every fuzzed stream."""
    state_dir = tmp_path_factory.mktemp("upload-fuzz")
    running = start_server(Settings(state_dir=state_dir, **LIMITS), None)
    yield running
    running.stop(0)


def test_fuzzed_upload_streams_get_documented_codes_and_store_nothing_when_refused(upload_server, request):
    codes: collections.Counter = collections.Counter()
    with grpc.insecure_channel(upload_server.target) as channel:
        stub, health = pb_grpc.NNServiceStub(channel), health_pb2_grpc.HealthStub(channel)

        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=uploads())
        def run(case):
            name, requests = case
            try:
                stub.UploadDataset(iter(requests), timeout=30)
                code = grpc.StatusCode.OK
            except grpc.RpcError as error:
                code = error.code()
                assert code in DOCUMENTED, f"{requests[0]!r:.300} -> {code.name}: {error.details()}"
            codes[code.name] += 1
            if code == grpc.StatusCode.OK:  # keep the store empty for the next case
                stub.DeleteDataset(pb.DeleteDatasetRequest(name=name), timeout=10)
            assert stored_entries(upload_server.settings.state_dir) == []

        run()
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == \
            health_pb2.HealthCheckResponse.SERVING
        assert [d.name for d in stub.ListDatasets(pb.ListDatasetsRequest(), timeout=10).datasets] == ["fashion-mnist", "mnist"]
    record_figure(request, "upload fuzz answers by code", dict(sorted(codes.items())))
    assert sum(codes.values()) >= MAX_EXAMPLES // 2
    assert codes["OK"] > 0 and codes["INVALID_ARGUMENT"] > 0  # the fuzzer reached both sides
