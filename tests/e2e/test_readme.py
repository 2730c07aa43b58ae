"""The README stays true: its configuration table matches Settings, its SDK example runs."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

from server.__main__ import build_parser
from server.settings import ENV_PREFIX, Settings
from walkthrough import README

_FIRST_CODE = re.compile(r"`([^`]*)`")


def _table() -> dict[str, tuple[str, str]]:
    """The configuration table: variable -> (flag cell, default cell)."""
    text = README.read_text()
    start = text.index("| flag | variable | default | meaning |")
    rows = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        flag, variable, default, _ = (cell.strip() for cell in line.strip("|").split("|"))
        rows[variable.strip("`")] = (flag, default)
    return rows


def _flags_by_field() -> dict[str, list[str]]:
    """Settings field -> the nn-server flags that set it."""
    result: dict[str, list[str]] = {}
    for action in build_parser(Settings())._actions:
        result.setdefault(action.dest, []).extend(action.option_strings)
    return result


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(Settings)])
def test_every_setting_has_a_row_with_its_flags_and_default(field):
    """Variable, flags and default of `field` as the server defines them."""
    variable = ENV_PREFIX + field.upper()
    rows = _table()
    assert variable in rows, f"README configuration table lacks {variable}"
    flag_cell, default_cell = rows[variable]
    for flag in _flags_by_field().get(field, []):
        assert f"`{flag}`" in flag_cell, f"{variable}: README does not name {flag}"
    default = getattr(Settings(), field)
    shown = _FIRST_CODE.search(default_cell)
    if default is None or default in ((), ""):  # unset: the cell says what that means
        assert "per-user cache" in default_cell or default_cell.startswith("none")
    elif isinstance(default, bool):
        assert default_cell == ("on" if default else "off")
    elif isinstance(default, Path):
        assert shown and Path(shown.group(1)) == default
    elif isinstance(default, (int, float)):
        assert shown and type(default)(shown.group(1)) == default
    else:
        assert shown and shown.group(1) == default


def _python_block(heading: str) -> str:
    """The first ```python block after `heading` in the README."""
    text = README.read_text()
    start = text.index("```python\n", text.index(heading)) + len("```python\n")
    return text[start:text.index("```", start)]


@pytest.mark.slow
def test_sdk_example_runs(make_server, tmp_path):
    """The SDK example, verbatim but for the address, trains and predicts (on the shipped MNIST)."""
    server = make_server()
    code = _python_block("## Python SDK").replace("127.0.0.1:50051", server.target)
    proc = subprocess.run([sys.executable, "-c", code], cwd=README.parent, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    state_line, predict_line = proc.stdout.splitlines()[-2:]
    assert state_line.startswith("SUCCEEDED ")
    assert 0.5 < float(state_line.split()[1]) <= 1.0
    assert re.fullmatch(r"\[\d\] \(1, 10\) label 7", predict_line), predict_line


def _choices_table() -> dict[str, tuple[list[str], str]]:
    """The README's table of training choices: option -> (allowed values, default)."""
    text = README.read_text()
    block = text[text.index("<!-- BEGIN choices"):text.index("<!-- END choices -->")]
    rows = {}
    for line in block.splitlines()[3:]:
        option, allowed, default = (cell.strip() for cell in line.strip("|").split("|"))
        rows[option.strip("`")] = ([v.strip("` ") for v in allowed.split(",")], default.strip("`"))
    return rows


def test_the_choices_table_is_nncores():
    """Allowed values and defaults exactly as nncore.choices defines them (the one source)."""
    from nncore import choices

    expected = {"activation": choices.ACTIVATIONS, "weight_init": choices.WEIGHT_INITS,
                "optimizer": choices.OPTIMIZERS, "lr_schedule": choices.LR_SCHEDULES,
                "sampling": choices.SAMPLINGS}
    rows = _choices_table()
    assert set(rows) == set(expected)
    for option, allowed in expected.items():
        assert rows[option] == (list(allowed), choices.DEFAULTS[option]), option
