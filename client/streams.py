"""Client-streamed files (UploadDataset, ImportModel) on the wire: chunk messages framed by hand.

Building a fresh protobuf message per 1 MiB chunk and serializing it cost 0.16-0.17 CPU seconds
per 100 MiB on the test machine, framing the same bytes by hand 0.01: a chunk message is the
tag 0x12 (field 2, length-delimited, in both request types), a varint length and the payload.
"""

from __future__ import annotations

from typing import Union

import grpc

from protos import nn_service_pb2 as pb

_CHUNK_TAG = b"\x12"
_SERVICE = pb.DESCRIPTOR.services_by_name["NNService"].full_name


def chunk_message(chunk: Union[bytes, memoryview]) -> bytes:
    """The wire bytes of an UploadDatasetRequest or ImportModelRequest that carries `chunk`."""
    return _CHUNK_TAG + _varint(len(chunk)) + chunk


def _varint(value: int) -> bytes:
    """`value` (>= 0) as a protobuf varint."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def serialize_part(part: Union[bytes, pb.UploadDatasetRequest, pb.ImportModelRequest]) -> bytes:
    """The request_serializer: bytes are a chunk_message already, a protobuf message is serialized."""
    return part if type(part) is bytes else part.SerializeToString()


def file_upload_call(channel: grpc.Channel, method: str, response_type) -> grpc.StreamUnaryMultiCallable:
    """NNService's client-streaming `method` (UploadDataset, ImportModel) taking serialize_part's parts."""
    return channel.stream_unary(f"/{_SERVICE}/{method}", request_serializer=serialize_part,
                                response_deserializer=response_type.FromString)
