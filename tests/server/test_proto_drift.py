"""The committed stubs must be exactly what `python -m protos.generate` makes from the .proto."""

from __future__ import annotations

from pathlib import Path

import pytest

from protos.generate import GENERATED, generate

PROTOS = Path(__file__).resolve().parents[2] / "protos"


def test_committed_stubs_match_the_proto(tmp_path):
    pytest.importorskip("grpc_tools")
    written = generate(tmp_path)
    assert sorted(p.name for p in written) == sorted(GENERATED)
    for path in written:
        committed = PROTOS / path.name
        assert path.read_bytes() == committed.read_bytes(), (
            f"protos/{path.name} is out of date with its .proto: "
            "run `python -m protos.generate` and commit the result")
