"""Fuzzed KServe v2 requests (ModelInfer, ModelMetadata, ModelReady, RepositoryIndex) against one
real server: every answer is OK or a documented code (never INTERNAL or UNKNOWN), and the server
stays SERVING and still answers a valid ModelInfer."""

from __future__ import annotations

import collections
import os
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protos import grpc_predict_v2_pb2 as kpb
from protos import grpc_predict_v2_pb2_grpc as kpb_grpc
from tests.reliability.reliability_testutils import record_figure
from tests.reliability.test_fuzz import DOCUMENTED

# NNSVC_KSERVE_FUZZ_EXAMPLES=50000 for a longer hunt; the default keeps the run near 20 seconds.
MAX_EXAMPLES = int(os.environ.get("NNSVC_KSERVE_FUZZ_EXAMPLES", "2600"))
Input = kpb.ModelInferRequest.InferInputTensor
Output = kpb.ModelInferRequest.InferRequestedOutputTensor
DATATYPES = ["UINT8", "FP32", "INT64", "FP16", "BYTES", "uint8", ""]
OUTPUT_NAMES = ["probabilities", "class", "logits", ""]


def _names(model_id: str) -> st.SearchStrategy[str]:
    """Mostly the real model, else near misses and noise."""
    misses = [model_id.upper(), "", "0" * len(model_id), model_id + "/../x"]
    return st.one_of(st.sampled_from([model_id] * 12 + misses), st.text(max_size=40))


@st.composite
def _shapes(draw) -> list[int]:
    """Valid shapes, off-by-ones, negatives and huge dimensions."""
    rows = draw(st.one_of(st.integers(1, 4), st.integers(-2, 0), st.integers(1000, 2**62)))
    tail = draw(st.sampled_from([[784], [28, 28], [28, 27], [785], [], [1, 784], [28, 28, 1]]))
    return [rows, *tail] if draw(st.booleans()) or tail else draw(st.lists(st.integers(-2**63, 2**63 - 1), max_size=4))


@st.composite
def _inputs(draw) -> tuple[list, list[bytes]]:
    """Input tensors and raw contents, often consistent, often not."""
    shape = draw(_shapes())
    datatype = draw(st.sampled_from(DATATYPES))
    name = draw(st.sampled_from(["input", "input", "x", ""]))
    count = max(0, min(4 * 784, shape[0] * 784 if len(shape) > 1 and shape[0] > 0 else 0))
    size = count * (4 if datatype == "FP32" else 1)
    raw = draw(st.one_of(st.just(bytes(size)), st.binary(max_size=64),
                         st.integers(0, 2 * size + 8).map(lambda n: b"\x7f" * n)))
    contents = draw(st.one_of(
        st.none(),
        st.builds(lambda v: kpb.InferTensorContents(uint_contents=v), st.lists(st.integers(0, 2**32 - 1), max_size=8)),
        st.just(kpb.InferTensorContents(uint_contents=[7] * count)),
        st.just(kpb.InferTensorContents(fp32_contents=[0.5] * count)),
        st.builds(lambda v: kpb.InferTensorContents(fp32_contents=v), st.lists(st.floats(width=32), max_size=8)),
        st.just(kpb.InferTensorContents(int64_contents=[1] * count, fp32_contents=[0.0] * count))))
    tensor = Input(name=name, datatype=datatype, shape=shape, contents=contents)
    tensors = draw(st.sampled_from([[tensor], [tensor], [tensor, tensor], []]))
    raws = draw(st.sampled_from([[raw], [raw], [], [raw, raw]])) if contents is None or draw(st.booleans()) else []
    return tensors, raws


@st.composite
def _infer_requests(draw, model_id: str) -> kpb.ModelInferRequest:
    tensors, raws = draw(_inputs())
    outputs = [Output(name=n) for n in draw(st.lists(st.sampled_from(OUTPUT_NAMES), max_size=3))]
    return kpb.ModelInferRequest(
        model_name=draw(_names(model_id)), model_version=draw(st.sampled_from(["", "", "", "1", "1", "2", "latest"])),
        id=draw(st.text(max_size=20)), inputs=tensors, outputs=outputs, raw_input_contents=raws,
        parameters={"priority": kpb.InferParameter(uint64_param=draw(st.integers(0, 2**64 - 1)))})


def kserve_requests(model_id: str) -> st.SearchStrategy[tuple[str, object]]:
    """(rpc, request) pairs, ModelInfer the most often."""
    version = st.sampled_from(["", "", "1", "2", "x" * 300])
    return st.one_of(
        _infer_requests(model_id).map(lambda r: ("ModelInfer", r)),
        _infer_requests(model_id).map(lambda r: ("ModelInfer", r)),
        st.builds(kpb.ModelMetadataRequest, name=_names(model_id), version=version).map(lambda r: ("ModelMetadata", r)),
        st.builds(kpb.ModelReadyRequest, name=_names(model_id), version=version).map(lambda r: ("ModelReady", r)),
        st.builds(kpb.RepositoryIndexRequest, repository_name=st.sampled_from(["", "x"]), ready=st.booleans())
        .map(lambda r: ("RepositoryIndex", r)))


def test_fuzzed_kserve_requests_get_documented_codes_and_the_server_stays_up(fuzz_server, request):
    server, model_id = fuzz_server
    codes: collections.Counter = collections.Counter()
    started = time.monotonic()
    with grpc.insecure_channel(server.target) as channel:
        stub, health = kpb_grpc.GRPCInferenceServiceStub(channel), health_pb2_grpc.HealthStub(channel)

        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=kserve_requests(model_id))
        def run(case):
            rpc, message = case
            try:
                getattr(stub, rpc)(message, timeout=10)
                code, details = grpc.StatusCode.OK, ""
            except grpc.RpcError as error:
                code, details = error.code(), error.details()
            codes[(rpc, code.name)] += 1
            assert code in DOCUMENTED, f"{rpc}({message!r:.300}) -> {code.name}: {details}"

        run()
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == \
            health_pb2.HealthCheckResponse.SERVING
        valid = kpb.ModelInferRequest(model_name=model_id, inputs=[Input(name="input", datatype="UINT8",
                                      shape=[1, 784])], raw_input_contents=[bytes(784)])
        assert len(stub.ModelInfer(valid, timeout=10).raw_output_contents) == 2
    total = sum(codes.values())
    record_figure(request, "kserve fuzz cases tried", total)
    record_figure(request, "kserve fuzz answers", dict(sorted((f"{r} {c}", n) for (r, c), n in codes.items())))
    record_figure(request, "kserve fuzz seconds", round(time.monotonic() - started, 1))
    assert total >= min(2500, MAX_EXAMPLES)  # at least 2,500 malformed requests in a default run
    assert codes[("ModelInfer", "OK")] > 0 and codes[("ModelInfer", "INVALID_ARGUMENT")] > 0
