"""Job ids: generated format and validation before any path use."""

from __future__ import annotations

import re

import pytest

from server.errors import InvalidArgument
from server.ids import check_id, is_valid_id, new_job_id


def test_new_ids_are_16_lowercase_hex_and_distinct():
    ids = {new_job_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids)


@pytest.mark.parametrize("value", ["a", "0123456789abcdef", "A_b-9", "x" * 64])
def test_valid_ids(value):
    assert is_valid_id(value)
    assert check_id(value) == value


@pytest.mark.parametrize("value", ["", "x" * 65, "../etc", "a/b", "a.b", "a\x00b", "é", " a", "a\n"])
def test_invalid_ids_are_rejected_with_the_rule(value):
    assert not is_valid_id(value)
    with pytest.raises(InvalidArgument, match=r"model_id must be 1 to 64 characters from \[A-Za-z0-9_-\]"):
        check_id(value, "model_id")


def test_a_huge_id_is_shown_truncated():
    with pytest.raises(InvalidArgument) as info:
        check_id("/" * 10_000)
    assert len(info.value.message) < 300
