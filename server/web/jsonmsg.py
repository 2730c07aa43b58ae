"""Protobuf messages as the HTTP API's JSON: the same messages gRPC answers, as grpcurl shows them."""

from __future__ import annotations

from google.protobuf import json_format
from google.protobuf.message import Message


def to_json(message: Message) -> dict:
    """A message as grpcurl -emit-defaults shows it: lowerCamelCase names, every field present
    (so the page needs no defaults of its own), 64-bit integers as strings."""
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
