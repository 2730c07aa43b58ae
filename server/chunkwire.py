"""Chunk messages of client-streamed files (UploadDataset, ImportModel) read off the wire by hand.

protobuf's parser copies a chunk's bytes out of the received message; a message that is only
a chunk (the wire bytes 0x12, a varint length, the payload) is a memoryview of the received
bytes here instead. Every other message (the metadata, the trailing sha256, anything unexpected)
goes to protobuf's parser as before.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc

from protos import nn_service_pb2 as pb

# Field 2 ("chunk"), wire type 2 (length-delimited): the same tag in both request types.
CHUNK_TAG = 0x12
_VARINT_MAX_BYTES = 10
_SERVICE = pb.DESCRIPTOR.services_by_name["NNService"].full_name
CHUNKED_METHODS = {f"/{_SERVICE}/UploadDataset": pb.UploadDatasetRequest,
                   f"/{_SERVICE}/ImportModel": pb.ImportModelRequest}


def chunk_payload(data: bytes) -> memoryview | None:
    """The payload of a message made of one chunk field and nothing else, without a copy; None
    for any other message (protobuf's parser then reads it)."""
    if not data or data[0] != CHUNK_TAG:
        return None
    length = shift = 0
    for pos in range(1, min(len(data), 1 + _VARINT_MAX_BYTES)):
        byte = data[pos]
        length |= (byte & 0x7F) << shift
        if byte < 0x80:
            start = pos + 1
            return memoryview(data)[start:] if start + length == len(data) else None
        shift += 7
    return None


def part_parser(message_type) -> Callable[[bytes], object]:
    """A request_deserializer: a chunk message -> the chunk's memoryview, anything else -> the
    parsed `message_type`."""
    parse = message_type.FromString

    def deserialize(data: bytes):
        payload = chunk_payload(data)
        return parse(data) if payload is None else payload

    return deserialize


class ChunkWireInterceptor(grpc.ServerInterceptor):
    """Gives UploadDataset and ImportModel the chunk parser as their request deserializer; the
    innermost interceptor, so the outer ones (counting, auth) wrap the handler as before."""

    def __init__(self) -> None:
        self._parsers = {method: part_parser(kind) for method, kind in CHUNKED_METHODS.items()}

    def __repr__(self) -> str:
        return f"ChunkWireInterceptor({sorted(self._parsers)})"

    def intercept_service(self, continuation, handler_call_details):
        """The servicer's handler, with the chunk parser for the two file-streaming methods."""
        handler = continuation(handler_call_details)
        parser = self._parsers.get(handler_call_details.method)
        if handler is None or parser is None or handler.stream_unary is None:
            return handler
        return grpc.stream_unary_rpc_method_handler(handler.stream_unary, request_deserializer=parser,
                                                    response_serializer=handler.response_serializer)
