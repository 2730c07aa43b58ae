"""Job and model ids: generated as 16 lowercase hex chars, validated before any path use."""

from __future__ import annotations

import re
import secrets

from server.errors import InvalidArgument

_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def new_job_id() -> str:
    """A fresh job id: 16 lowercase hex characters (64 random bits)."""
    return secrets.token_hex(8)


def is_valid_id(value: str) -> bool:
    """Whether `value` is a well-formed id (safe to use as a file name)."""
    return isinstance(value, str) and _ID_RE.fullmatch(value) is not None


def check_id(value: str, what: str = "job_id") -> str:
    """Return `value` if it is a well-formed id, else raise InvalidArgument naming the rule."""
    if not is_valid_id(value):
        shown = value if len(value) <= 80 else value[:80] + "..."
        raise InvalidArgument(
            f"{what} must be 1 to 64 characters from [A-Za-z0-9_-], got {shown!r}")
    return value
