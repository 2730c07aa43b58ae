"""Protobuf messages as the HTTP API's JSON: the same messages gRPC answers, as grpcurl shows them."""

from __future__ import annotations

from fastapi.responses import JSONResponse
from google.protobuf import json_format
from google.protobuf.message import Message


def to_json(message: Message) -> dict:
    """A message as grpcurl -emit-defaults shows it: lowerCamelCase names, every field present
    (so the page needs no defaults of its own), 64-bit integers as strings."""
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def json_answer(message: Message, status_code: int = 200, **extra) -> JSONResponse:
    """`message` (plus `extra` top-level fields) as the answer, already JSON-ready: returned as a
    Response, FastAPI skips its jsonable_encoder walk, which costs as much as MessageToDict."""
    return JSONResponse({**to_json(message), **extra}, status_code=status_code)
