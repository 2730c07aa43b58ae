"""Predict tensors: zero-copy decode of every encoding, each rejection, and encoding answers."""

from __future__ import annotations

import re

import numpy as np
import pytest

from protos import nn_service_pb2 as pb
from server.errors import InvalidArgument
from server.tensors import InputSpec, decode_input, encode_array, encode_probabilities, encode_row

MAX_ROWS = 16
MNIST = InputSpec((28, 28))


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).random((3, 784), dtype=np.float32)


def test_raw_float32_is_a_view_of_the_message_bytes(images):
    tensor = pb.Tensor(shape=[3, 784], raw_data=images.astype("<f4").tobytes())
    batch = decode_input(tensor, MNIST, MAX_ROWS)
    np.testing.assert_array_equal(batch.x, images)
    assert batch.x.dtype == np.float32 and not batch.as_floats
    assert not batch.x.flags.owndata and not batch.x.flags.writeable  # frombuffer, no copy


def test_float_data_and_image_shape(images):
    tensor = pb.Tensor(shape=[3, 28, 28], dtype=pb.DTYPE_FLOAT32, float_data=images.ravel().tolist())
    batch = decode_input(tensor, MNIST, MAX_ROWS)
    np.testing.assert_array_equal(batch.x, images)
    assert batch.x.shape == (3, 784) and batch.as_floats


def test_uint8_pixels_stay_uint8():
    pixels = np.arange(2 * 784, dtype=np.uint64).astype(np.uint8).reshape(2, 784)
    batch = decode_input(encode_array(pixels), MNIST, MAX_ROWS)
    assert batch.is_uint8 and not batch.as_floats
    np.testing.assert_array_equal(batch.x, pixels)


@pytest.mark.parametrize("shape", [[1, 784], [1, 28, 28]])
def test_one_uint8_image_is_a_read_only_view_as_one_row(shape):
    pixels = np.arange(784, dtype=np.uint64).astype(np.uint8)
    batch = decode_input(pb.Tensor(shape=shape, dtype=pb.DTYPE_UINT8, raw_data=pixels.tobytes()), MNIST, MAX_ROWS)
    assert batch.x.shape == (1, 784) and batch.is_uint8 and not batch.as_floats
    assert not batch.x.flags.writeable
    np.testing.assert_array_equal(batch.x[0], pixels)


def raw(rows: int, value: float = 0.5) -> bytes:
    return np.full((rows, 784), value, dtype="<f4").tobytes()


@pytest.mark.parametrize("tensor, fragment", [
    (pb.Tensor(shape=[784], raw_data=raw(1)), r"shape must be \[N, 784\] or \[N, 28, 28\] for this model; got \[784\]"),
    (pb.Tensor(shape=[1, 783], raw_data=raw(1)), r"got \[1, 783\]"),
    (pb.Tensor(shape=[1, 28, 27], raw_data=raw(1)), r"got \[1, 28, 27\]"),
    (pb.Tensor(shape=[1, 1, 28, 28], raw_data=raw(1)), r"shape must be"),
    (pb.Tensor(shape=[0, 784]), r"input batch is empty"),
    (pb.Tensor(shape=[-1, 784], raw_data=raw(1)), r"input batch is empty"),
    (pb.Tensor(shape=[MAX_ROWS + 1, 784], raw_data=raw(MAX_ROWS + 1)), r"at most 16 are allowed"),
    (pb.Tensor(shape=[1, 784]), r"no float_data or raw_data"),
    (pb.Tensor(shape=[1, 784], raw_data=raw(1), float_data=[0.0] * 784), r"exactly one of float_data or raw_data"),
    (pb.Tensor(shape=[2, 784], raw_data=raw(1)), r"raw_data has 3136 bytes; .* needs 6272"),
    (pb.Tensor(shape=[1, 784], raw_data=raw(1)[:-1]), r"raw_data has 3135 bytes"),
    (pb.Tensor(shape=[1, 784], dtype=pb.DTYPE_UINT8, raw_data=raw(1)), r"UINT8 needs 784"),
    # 784 bytes, the size of one uint8 image, but not one: the quick check must not accept these
    (pb.Tensor(shape=[1, 784], raw_data=bytes(784)), r"raw_data has 784 bytes; .* \(float32\) needs 3136"),
    (pb.Tensor(shape=[784], dtype=pb.DTYPE_UINT8, raw_data=bytes(784)), r"got \[784\]"),
    (pb.Tensor(shape=[1, 1, 784], dtype=pb.DTYPE_UINT8, raw_data=bytes(784)), r"got \[1, 1, 784\]"),
    (pb.Tensor(shape=[2, 392], dtype=pb.DTYPE_UINT8, raw_data=bytes(784)), r"got \[2, 392\]"),
    (pb.Tensor(shape=[1, 784], dtype=pb.DTYPE_UINT8, raw_data=bytes(784), float_data=[0.0] * 784),
     r"exactly one of float_data or raw_data"),
    (pb.Tensor(shape=[1, 784], float_data=[0.0] * 783), r"float_data has 783 values; .* needs 784"),
    (pb.Tensor(shape=[1, 784], dtype=pb.DTYPE_UINT8, float_data=[0.0] * 784), r"dtype must be FLOAT32 or UNSPECIFIED"),
    (pb.Tensor(shape=[1, 784], dtype=7, raw_data=raw(1)), r"dtype must be one of UNSPECIFIED \(float32\), FLOAT32, UINT8"),
    (pb.Tensor(shape=[1, 784], raw_data=raw(1, np.nan)), r"finite"),
    (pb.Tensor(shape=[1, 784], raw_data=raw(1, np.inf)), r"finite"),
    (pb.Tensor(shape=[1, 784], raw_data=raw(1, -np.inf)), r"finite"),
    (pb.Tensor(shape=[1, 784], raw_data=raw(1, 3e7)), r"within \[-1e\+06, 1e\+06\]"),
    (pb.Tensor(shape=[1, 784], float_data=[np.nan] + [0.0] * 783), r"finite"),
])
def test_bad_tensors_are_invalid_argument_with_an_actionable_message(tensor, fragment):
    with pytest.raises(InvalidArgument, match=fragment):
        decode_input(tensor, MNIST, MAX_ROWS)


def test_a_single_nan_among_many_rows_is_found():
    x = np.zeros((8, 784), dtype="<f4")
    x[5, 300] = np.nan
    with pytest.raises(InvalidArgument, match="finite"):
        decode_input(pb.Tensor(shape=[8, 784], raw_data=x.tobytes()), MNIST, MAX_ROWS)


@pytest.mark.parametrize("input_shape, good, bad", [
    ((3, 4), [[2, 3, 4], [2, 12]], [[2, 4, 3], [2, 784], [2, 28, 28]]),
    ((5,), [[2, 5]], [[2, 784], [2, 1, 5]]),
])
def test_the_shape_is_the_models_own(input_shape, good, bad):
    spec = InputSpec(input_shape)
    features = spec.features
    for shape in good:
        x = np.arange(2 * features, dtype=np.uint8).reshape(shape)
        batch = decode_input(encode_array(x), spec, MAX_ROWS)
        assert batch.x.shape == (2, features)
    for shape in bad:
        x = np.zeros(shape, dtype=np.uint8)
        with pytest.raises(InvalidArgument, match=re.escape(f"must be {spec.shapes_text} for this model")):
            decode_input(encode_array(x), spec, MAX_ROWS)


@pytest.mark.parametrize("input_shape", [(3, 4), (5,)])
def test_the_quick_one_row_check_follows_the_model(input_shape):
    spec = InputSpec(input_shape)
    row = np.arange(spec.features, dtype=np.uint8)
    for shape in ([1, spec.features], [1, *input_shape]):
        batch = decode_input(pb.Tensor(shape=shape, dtype=pb.DTYPE_UINT8, raw_data=row.tobytes()), spec, MAX_ROWS)
        np.testing.assert_array_equal(batch.x[0], row)
    with pytest.raises(InvalidArgument):  # an MNIST image is not this model's input
        decode_input(pb.Tensor(shape=[1, 784], dtype=pb.DTYPE_UINT8, raw_data=bytes(784)), spec, MAX_ROWS)


def test_probabilities_are_encoded_like_the_input():
    probs = np.random.default_rng(1).dirichlet(np.ones(10), size=4).astype(np.float32)
    as_raw = encode_probabilities(probs, as_floats=False)
    assert list(as_raw.shape) == [4, 10] and not as_raw.float_data
    np.testing.assert_array_equal(np.frombuffer(as_raw.raw_data, "<f4").reshape(4, 10), probs)
    as_floats = encode_probabilities(probs, as_floats=True)
    assert not as_floats.raw_data
    np.testing.assert_array_equal(np.asarray(as_floats.float_data, np.float32).reshape(4, 10), probs)


@pytest.mark.parametrize("as_floats", [False, True])
def test_one_row_is_encoded_like_encode_probabilities(as_floats):
    probs = np.random.default_rng(2).dirichlet(np.ones(10), size=1).astype(np.float32)
    row = encode_row(probs[0].tolist(), as_floats)
    assert row == encode_probabilities(probs, as_floats)
