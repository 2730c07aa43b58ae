"""Chunk messages framed by hand (client.streams) and read by hand (server.chunkwire) agree with protobuf."""

from __future__ import annotations

import numpy as np
import pytest

from client.streams import chunk_message, serialize_part
from protos import nn_service_pb2 as pb
from server.chunkwire import ChunkWireInterceptor, chunk_payload, part_parser

# Lengths whose varints take 1, 2, 3 bytes, at their edges, and a full 1 MiB chunk.
LENGTHS = [0, 1, 127, 128, 16383, 16384, 70_000, 1 << 20]


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("kind", [pb.UploadDatasetRequest, pb.ImportModelRequest])
def test_a_framed_chunk_is_the_protobuf_encoding_and_reads_back_without_a_copy(kind, length):
    chunk = np.random.default_rng(length).bytes(length)
    wire = chunk_message(chunk)
    assert wire == kind(chunk=chunk).SerializeToString()
    payload = chunk_payload(wire)
    assert isinstance(payload, memoryview) and payload.obj is wire and payload == chunk
    assert chunk_message(memoryview(chunk)) == wire  # in-memory data is framed from views


@pytest.mark.parametrize("message", [
    pb.UploadDatasetRequest(metadata=pb.DatasetUploadMetadata(name="d", format="npz")),
    pb.UploadDatasetRequest(sha256="ab" * 32),
    pb.UploadDatasetRequest(),
])
def test_other_messages_go_to_protobuf(message):
    wire = serialize_part(message)
    assert chunk_payload(wire) is None
    assert part_parser(pb.UploadDatasetRequest)(wire) == message


@pytest.mark.parametrize("wire", [
    b"\x12\x05abc",             # shorter than its length says
    b"\x12\x02abc",             # more after the chunk
    b"\x12\x01a\x1a\x00",       # a chunk, then another field
    b"\x12\x80",                # a varint cut off
    b"\x12" + b"\xff" * 11,     # a varint longer than protobuf allows
    b"\x0a\x00",                # a metadata field
])
def test_anything_but_exactly_one_chunk_field_is_left_to_protobuf(wire):
    assert chunk_payload(wire) is None


def test_random_bytes_read_as_protobuf_reads_them():
    rng = np.random.default_rng(7)
    parse = part_parser(pb.UploadDatasetRequest)
    for _ in range(2000):
        wire = b"\x12" + rng.bytes(int(rng.integers(0, 6)))
        try:
            expected = pb.UploadDatasetRequest.FromString(wire)
        except Exception:  # protobuf refuses it: the hand parser must not take it either
            assert chunk_payload(wire) is None
            continue
        got = parse(wire)
        if isinstance(got, memoryview):
            assert expected.WhichOneof("part") == "chunk" and bytes(got) == expected.chunk
        else:
            assert got == expected


class _Details:
    def __init__(self, method: str) -> None:
        self.method, self.invocation_metadata = method, ()


def test_the_interceptor_swaps_the_deserializer_of_the_file_streams_only():
    import grpc

    def behaviour(requests, context):
        return None

    streaming = grpc.stream_unary_rpc_method_handler(behaviour, request_deserializer=pb.UploadDatasetRequest.FromString,
                                                     response_serializer=pb.DatasetInfo.SerializeToString)
    interceptor = ChunkWireInterceptor()
    swapped = interceptor.intercept_service(lambda d: streaming, _Details("/nnservice.v1.NNService/UploadDataset"))
    assert swapped.stream_unary is behaviour and swapped.response_serializer is streaming.response_serializer
    assert isinstance(swapped.request_deserializer(chunk_message(b"abc")), memoryview)
    assert interceptor.intercept_service(lambda d: streaming, _Details("/nnservice.v1.NNService/Train")) is streaming
    assert interceptor.intercept_service(lambda d: None, _Details("/nnservice.v1.NNService/ImportModel")) is None


def test_an_upload_in_hand_framed_chunks_passes_the_token_check_and_is_refused_without_it(make_server):
    from client import NNClient, NNServiceError

    running = make_server(auth_tokens=("s3cret",))
    rng = np.random.default_rng(3)
    arrays = {"x_train": rng.integers(0, 256, size=(1500, 28, 28), dtype=np.uint8),  # two chunks
              "t_train": np.arange(1500, dtype=np.uint8) % 3}
    arrays |= {"x_test": arrays["x_train"][:30], "t_test": arrays["t_train"][:30]}
    with NNClient(running.target, token="s3cret") as nn:
        info = nn.upload_dataset(arrays, "framed", progress=False)
    assert (info.train_size, info.test_size, info.classes, info.input_shape) == (1500, 30, 3, (28, 28))
    with NNClient(running.target) as nn, pytest.raises(NNServiceError) as refused:
        nn.upload_dataset(arrays, "unframed", progress=False)
    assert refused.value.code.name == "UNAUTHENTICATED"
