"""Read examples/grpcurl.sh and the README's copy of it, and run the script's steps one by one."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "grpcurl.sh"
README = ROOT / "README.md"
DEFAULT_ADDRESS = "127.0.0.1:50051"
_STEP = re.compile(r"^# (\d+)\. ")
_JOB_MARK = "@@JOB="


def script_body(script: Path = SCRIPT) -> list[str]:
    """The script's lines after its `set -euo pipefail` line: what the README shows."""
    lines = script.read_text().splitlines()
    start = lines.index("set -euo pipefail") + 1
    return _trim(lines[start:])


def readme_block(name: str = "grpcurl.sh") -> list[str]:
    """The lines of the fenced block between the README's markers for examples/<name>."""
    lines = README.read_text().splitlines()
    begin = next(i for i, line in enumerate(lines) if line.startswith(f"<!-- BEGIN examples/{name}"))
    end = next(i for i, line in enumerate(lines) if line.startswith(f"<!-- END examples/{name}"))
    block = lines[begin + 1:end]
    if not block or not block[0].startswith("```") or block[-1] != "```":
        raise ValueError("the README's grpcurl markers must enclose exactly one fenced block")
    return _trim(block[1:-1])


def steps(script: Path = SCRIPT) -> dict[int, str]:
    """The script's numbered steps: step number -> its lines (comment included)."""
    result: dict[int, list[str]] = {}
    current = None
    for line in script_body(script):
        match = _STEP.match(line)
        if match:
            current = int(match.group(1))
            result[current] = []
        if current is not None:
            result[current].append(line)
    return {n: "\n".join(_trim(lines)) for n, lines in result.items()}


def _trim(lines: list[str]) -> list[str]:
    """Drop blank lines at both ends."""
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


@dataclass
class StepResult:
    """What one step printed, and the JOB variable after it."""

    stdout: str
    stderr: str
    job: str


def run_step(text: str, address: str, job: str = "", timeout: float = 120.0) -> StepResult:
    """Run one step with bash from the repo root, `address` in place of the README's."""
    preamble = f"set -euo pipefail\nJOB={job}\n" if job else "set -euo pipefail\n"
    script = preamble + text.replace(DEFAULT_ADDRESS, address) + f'\nprintf "\\n{_JOB_MARK}%s\\n" "${{JOB:-}}"\n'
    # The venv's bin first: grpcurl, and a python3 for the JSON parsing in the steps.
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"step failed ({proc.returncode}):\n{text}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    out, _, tail = proc.stdout.rpartition(_JOB_MARK)
    return StepResult(stdout=out, stderr=proc.stderr, job=tail.strip())


def json_messages(text: str) -> list[dict]:
    """Every JSON object grpcurl printed, in order (a stream prints several)."""
    decoder = json.JSONDecoder()
    messages, pos = [], 0
    while True:
        start = text.find("{", pos)
        if start < 0:
            return messages
        message, pos = decoder.raw_decode(text, start)
        messages.append(message)
