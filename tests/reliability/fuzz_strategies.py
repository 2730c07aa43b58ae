"""Hypothesis strategies for nnservice requests: random fields, extreme numbers, odd ids."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from protos import nn_service_pb2 as pb

UINT32, UINT64, INT64 = 2**32 - 1, 2**64 - 1, 2**63 - 1
ODD_IDS = ["", "../", "../../etc/passwd", "a\x00b", "\x00", "..", "a/b", "a\\b", " ", "-", "_",
           "0123456789abcdef", "ÄÖÜ", "🙂" * 20, "a" * 64, "a" * 65, "%2e%2e%2f", "CON", "x\ny",
           "\u202e\u0000", "9" * 18, "9" * 19, "-1", "١٢٣", "0" * 64]
CHARS = st.characters(exclude_categories=["Cs"])  # protobuf strings are UTF-8: no lone surrogates
FLOATS = st.one_of(st.floats(width=32, allow_nan=True, allow_infinity=True),
                   st.sampled_from([0.0, -0.0, 1.0, 1e6, -1e6, 1e6 + 1, 3.4e38, -3.4e38, 1e-45,
                                    float("nan"), float("inf"), float("-inf")]))
DOUBLES = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0.0, -0.0, 1e-300, 5e-324, 10.0, 10.000001, 1e308]))


def _long_text(draw_char: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Strings up to 10 kB made of one repeated character (cheap to generate)."""
    return st.builds(lambda c, n: c * n, draw_char, st.integers(1, 10_000))


def ids(known: list[str]) -> st.SearchStrategy[str]:
    """Job / model ids: real ones, well-formed unknown ones, odd ones, random text, 10 kB strings."""
    return st.one_of(st.sampled_from(known or ["0123456789abcdef"]), st.sampled_from(ODD_IDS),
                     st.text(max_size=80), st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
                     _long_text(CHARS))


def _uint(limit: int) -> st.SearchStrategy[int]:
    return st.one_of(st.integers(0, 70), st.integers(0, limit), st.sampled_from([limit, 60000, 60001, 4096]))


def _choice(valid: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(valid + ["", " ", "RELU", "tanh", "\x00"]), st.text(max_size=30),
                     _long_text(CHARS))


@st.composite
def train_requests(draw) -> pb.TrainRequest:
    """TrainRequest with any subset of fields set, in and out of range."""
    request = pb.TrainRequest()
    for name in ("hidden_size", "batch_size", "epochs", "train_size", "eval_size"):
        if draw(st.booleans()):
            setattr(request, name, draw(_uint(UINT32)))
    if draw(st.booleans()):
        request.learning_rate = draw(DOUBLES)
    if draw(st.booleans()):
        request.seed = draw(st.one_of(st.integers(0, UINT64), st.sampled_from([0, 2**63 - 1, 2**63, UINT64])))
    for name, valid in (("activation", ["relu", "sigmoid"]), ("weight_init", ["he", "xavier", "std"]),
                        ("optimizer", ["adam", "sgd", "momentum", "adagrad"]), ("dataset", ["mnist"]),
                        ("lr_schedule", ["constant", "cosine"]), ("sampling", ["shuffle", "replacement"]),
                        ("name", ["a job", "x" * 200, "x" * 201])):
        if draw(st.booleans()):
            setattr(request, name, draw(_choice(valid)))
    return request


@st.composite
def plausible_tensors(draw) -> pb.Tensor:
    """Well-formed tensors (1..600 rows), with extreme, non-finite or off-by-k payloads mixed in."""
    rows = draw(st.integers(1, 600))
    shape = draw(st.sampled_from([[rows, 784], [rows, 28, 28]]))
    dtype = draw(st.sampled_from([pb.DTYPE_UNSPECIFIED, pb.DTYPE_FLOAT32, pb.DTYPE_UINT8]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    tensor = pb.Tensor(shape=shape, dtype=dtype)
    if dtype == pb.DTYPE_UINT8:
        tensor.raw_data = rng.integers(0, 256, rows * 784, dtype=np.uint8).tobytes()
    else:
        x = rng.random((rows, 784), dtype=np.float32) * draw(st.sampled_from([1.0, 255.0, 1e6, 1e-30]))
        for _ in range(draw(st.integers(0, 3))):  # a few planted extreme values
            x.flat[rng.integers(x.size)] = draw(FLOATS)
        if rows <= 100 and draw(st.booleans()):
            tensor.float_data.extend(x.ravel().tolist())
        else:
            tensor.raw_data = x.astype("<f4").tobytes()
    offset = draw(st.sampled_from([0, 0, 0, 0, -1, 1, -784, 4]))  # wrong byte length sometimes
    if offset and tensor.raw_data:
        tensor.raw_data = tensor.raw_data[:offset] if offset < 0 else tensor.raw_data + bytes(offset)
    return tensor


@st.composite
def wild_tensors(draw) -> pb.Tensor:
    """Tensors with wrong shapes, unknown dtypes and payloads of any size (within the message limit)."""
    rows = draw(st.one_of(st.integers(-2, 5), st.sampled_from([0, 1000, 1001, 2**31, INT64, -INT64 - 1])))
    shape = draw(st.one_of(
        st.sampled_from([[rows, 784], [rows, 28, 28], [rows], [784], [rows, 785], [rows, 28, 27],
                         [rows, 784, 1], [], [rows, 1, 784]]),
        st.lists(st.integers(-INT64 - 1, INT64), max_size=6)))
    tensor = pb.Tensor(shape=shape, dtype=draw(st.one_of(st.integers(0, 2), st.integers(-2**31, 2**31 - 1))))
    kind = draw(st.sampled_from(["raw", "floats", "many_floats", "both", "none"]))
    if kind == "raw":
        tensor.raw_data = bytes(draw(st.integers(0, 1_500_000)))
    elif kind == "floats":
        tensor.float_data.extend(draw(st.lists(FLOATS, max_size=50)))
    elif kind == "many_floats":
        tensor.float_data.extend([draw(FLOATS)] * draw(st.integers(0, 400_000)))
    elif kind == "both":
        tensor.raw_data, tensor.float_data[:] = b"\0" * 4, [0.0]
    return tensor


def requests(known_ids: list[str]) -> st.SearchStrategy[tuple[str, object]]:
    """(rpc name, request) pairs over every request type of NNService."""
    any_id = ids(known_ids)
    token = st.one_of(st.sampled_from(ODD_IDS), st.text(max_size=40), st.integers(-5, 10**20).map(str))
    return st.one_of(
        st.tuples(st.just("Train"), train_requests()),
        st.tuples(st.just("Predict"), st.builds(
            pb.PredictRequest, model_id=st.one_of(st.sampled_from(known_ids or ["x"]), any_id),
            input=st.one_of(plausible_tensors(), wild_tensors()))),
        st.tuples(st.just("GetStatus"), st.builds(pb.GetStatusRequest, job_id=any_id)),
        st.tuples(st.just("CancelJob"), st.builds(pb.CancelJobRequest, job_id=any_id)),
        st.tuples(st.just("WatchJob"), st.builds(pb.WatchJobRequest, job_id=any_id)),
        st.tuples(st.just("GetModel"), st.builds(pb.GetModelRequest, model_id=any_id)),
        st.tuples(st.just("ListJobs"), st.builds(
            pb.ListJobsRequest, state=st.one_of(st.integers(0, 7), st.integers(-2**31, 2**31 - 1)),
            page_size=_uint(UINT32), page_token=token)),
        st.tuples(st.just("ListModels"), st.builds(pb.ListModelsRequest, page_size=_uint(UINT32),
                                                   page_token=st.one_of(token, any_id))),
    )


def mutated_bytes(draw, data: bytes) -> bytes:
    """The file truncated, with a flipped byte, replaced by garbage, or unchanged (draw: hypothesis')."""
    mutation = draw(st.sampled_from(["none", "truncate", "flip", "garbage", "empty"]))
    if mutation == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    if mutation == "flip":
        at = draw(st.integers(0, len(data) - 1))
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
    if mutation == "garbage":
        return draw(st.binary(min_size=1, max_size=2048))
    return b"" if mutation == "empty" else data
