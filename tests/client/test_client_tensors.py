"""Unit tests for client.tensors: batch checks, raw-byte encoding, splitting under a budget."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from client.tensors import (
    REQUEST_OVERHEAD,
    as_image_batch,
    decode_tensor,
    encode_images,
    one_input_shapes,
    rows_per_request,
    split_rows,
)
from protos import nn_service_pb2 as pb


def _rng():
    return np.random.default_rng(1234)


@pytest.mark.parametrize("model_shape, shape", [
    ((28, 28), (784,)), ((28, 28), (28, 28)), ((3, 4), (12,)), ((3, 4), (3, 4)), ((5,), (5,))])
def test_one_input_of_the_models_shape_becomes_a_batch_of_one(model_shape, shape):
    image = _rng().integers(0, 256, size=shape, dtype=np.uint8)
    batch = as_image_batch(image, one_input_shapes(model_shape))
    assert batch.shape == (1, *shape)
    assert np.array_equal(batch[0], image)


def test_without_the_models_shape_nothing_is_reshaped():
    image = _rng().integers(0, 256, size=(28, 28), dtype=np.uint8)
    assert as_image_batch(image).shape == (28, 28)  # the server judges (and refuses) it


def test_uint8_is_kept_and_float64_becomes_float32():
    pixels = _rng().integers(0, 256, size=(3, 784), dtype=np.uint8)
    assert as_image_batch(pixels).dtype == np.uint8
    floats = _rng().random((3, 28, 28))
    batch = as_image_batch(floats)
    assert batch.dtype == np.float32
    assert np.allclose(batch, floats, atol=1e-7)


def test_other_shapes_are_left_for_the_server_to_judge():
    odd = np.zeros((3, 100), dtype=np.float32)
    assert as_image_batch(odd).shape == (3, 100)


@pytest.mark.parametrize("bad, words", [
    (np.full((2, 784), 255.0), "[0, 1]"),
    (np.full((2, 784), -0.5), "[0, 1]"),
    (np.array([[np.nan] * 784]), "finite"),
    (np.zeros((2, 784), dtype=np.int64), "uint8"),
    (np.array([["a"] * 784]), "uint8"),
])
def test_bad_values_or_dtypes_are_refused_with_the_allowed_ones(bad, words):
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        as_image_batch(bad)


def test_features_of_any_finite_value_pass_but_not_nan_or_integers():
    features = np.array([[-3.5, 0.25, 1e4]])
    batch = as_image_batch(features, pixels=False)
    assert batch.dtype == np.float32 and batch.tolist() == [[-3.5, 0.25, 1e4]]
    with pytest.raises(ValueError, match="finite"):
        as_image_batch(np.array([[np.inf, 0.0, 0.0]]), pixels=False)
    with pytest.raises(ValueError, match="astype"):
        as_image_batch(np.array([[1, 2, 3]]), pixels=False)


def test_uint8_is_sent_as_dtype_uint8_one_byte_per_pixel():
    pixels = _rng().integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    tensor = encode_images(pixels)
    assert tensor.dtype == pb.DTYPE_UINT8
    assert list(tensor.shape) == [5, 28, 28]
    assert len(tensor.raw_data) == 5 * 784
    assert not tensor.float_data
    assert np.array_equal(decode_tensor(tensor), pixels)


def test_float_is_sent_as_little_endian_float32():
    floats = _rng().random((4, 784)).astype(np.float32)
    tensor = encode_images(floats)
    assert tensor.dtype == pb.DTYPE_FLOAT32
    assert len(tensor.raw_data) == 4 * 784 * 4
    assert np.array_equal(np.frombuffer(tensor.raw_data, dtype="<f4").reshape(4, 784), floats)
    assert np.array_equal(decode_tensor(tensor), floats)


def test_decode_reads_float_data_and_unspecified_raw_data():
    values = _rng().random((2, 10)).astype(np.float32)
    packed = pb.Tensor(shape=[2, 10], float_data=values.ravel().tolist())
    assert np.array_equal(decode_tensor(packed), values)
    raw = pb.Tensor(shape=[2, 10], raw_data=values.astype("<f4").tobytes())  # dtype UNSPECIFIED
    assert np.array_equal(decode_tensor(raw), values)


@pytest.mark.parametrize("tensor", [
    pb.Tensor(shape=[2, 10], dtype=pb.DTYPE_FLOAT32, raw_data=b"\0" * 76),
    pb.Tensor(shape=[2, 10], dtype=pb.DTYPE_FLOAT32, raw_data=b"\0" * 81),
    pb.Tensor(shape=[2, 10], float_data=[0.5] * 19),
])
def test_decode_refuses_a_length_that_does_not_match_the_shape(tensor):
    with pytest.raises(ValueError):
        decode_tensor(tensor)


def test_one_image_larger_than_the_budget_is_refused():
    with pytest.raises(ValueError, match="budget"):
        rows_per_request(np.zeros((2, 784), dtype=np.float32), 3000, 100)


def test_empty_and_one_dimensional_arrays_are_sent_whole():
    for array in (np.zeros((0, 784), dtype=np.uint8), np.zeros(100, dtype=np.float32)):
        chunks = list(split_rows(array, 8192, 10))
        assert len(chunks) == 1 and chunks[0] is array


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 2500),
    uint8=st.booleans(),
    budget=st.integers(REQUEST_OVERHEAD + 4 * 784, 2_000_000),
    max_rows=st.integers(1, 3000),
)
def test_every_chunk_fits_the_budget_and_the_chunks_rebuild_the_batch(rows, uint8, budget, max_rows):
    dtype = np.uint8 if uint8 else np.float32
    batch = np.arange(rows * 784, dtype=np.int64).reshape(rows, 784).astype(dtype)
    chunks = list(split_rows(batch, budget, max_rows))
    step = rows_per_request(batch, budget, max_rows)
    assert len(chunks) == -(-rows // step)
    for chunk in chunks:
        assert chunk.shape[0] <= max_rows
        request = pb.PredictRequest(model_id="m" * 64, input=encode_images(chunk))
        assert request.ByteSize() <= budget
    assert np.array_equal(np.concatenate(chunks), batch)
