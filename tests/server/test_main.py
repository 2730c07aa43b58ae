"""nn-server: --help, flag validation, and a real process that drains on SIGTERM."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.__main__ import main


def test_help_lists_every_flag_with_its_default(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--host", "--port", "--state-dir", "--mnist-dir", "--allow-download", "--no-download",
                 "--max-concurrent-jobs", "--max-queued-jobs", "--max-message-bytes", "--shutdown-grace",
                 "--serving-priority", "--serving-max-pause-ms", "--kernels"):
        assert flag in out
    assert "(default: 50051)" in out and "NNSVC_" in out


def test_bad_flags_and_variables_exit_with_a_message(capsys, monkeypatch):
    with pytest.raises(SystemExit) as info:
        main(["--max-epochs", "0"])
    assert info.value.code == 2 and "max_epochs must be an integer in [1," in capsys.readouterr().err
    monkeypatch.setenv("NNSVC_PORT", "eighty")
    assert main([]) == 2 and "NNSVC_PORT='eighty' is not valid" in capsys.readouterr().err


def _start(argv: list[str], env: dict) -> tuple[subprocess.Popen, int, queue.Queue]:
    """Start nn-server; (process, the port it logged, its stderr lines). stderr is read by a
    thread, so waiting for a line has a deadline (a bare readline() could block for ever)."""
    proc = subprocess.Popen([sys.executable, "-m", "server", *argv], env=env, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [*map(lines.put, proc.stderr), lines.put(None)], daemon=True).start()
    seen = []
    deadline = time.monotonic() + 30
    while not (match := re.search(r"listening on port (\d+)", "".join(seen))):
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:  # 30 s passed, or the server exited
            proc.kill()
            raise AssertionError("server did not start within 30 s: " + "".join(seen))
        seen.append(line)
    return proc, int(match.group(1)), lines


def _serving(target: str) -> bool:
    with grpc.insecure_channel(target) as channel:
        check = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    return check.status == health_pb2.HealthCheckResponse.SERVING


def test_sigterm_drains_and_exits_cleanly(tmp_path, mnist_dir):
    env = {**os.environ, "NNSVC_STATE_DIR": str(tmp_path / "state"), "NNSVC_LOG_LEVEL": "INFO",
           "NNSVC_HTTP_PORT": "0"}
    proc, port, lines = _start(["--host", "127.0.0.1", "--port", "0", "--mnist-dir", str(mnist_dir),
                                "--shutdown-grace", "3"], env)
    try:
        assert _serving(f"127.0.0.1:{port}")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        rest = "".join(iter(lambda: lines.get(timeout=10), None))  # to the end of stderr
        assert "SIGTERM received: draining" in rest and "stopped" in rest
        assert (tmp_path / "state" / "jobs.sqlite3").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _has_ipv6_loopback() -> bool:
    """Whether the kernel has ::1 (its interface list names lo with address ...0001)."""
    try:
        return any(line.split()[0] == "0" * 31 + "1" for line in Path("/proc/net/if_inet6").read_text().splitlines())
    except OSError:
        return False


def test_an_ipv6_listen_address_serves(tmp_path, mnist_dir):
    if not _has_ipv6_loopback():
        if os.environ.get("CI"):
            pytest.fail("CI must have an IPv6 loopback (::1) for this test; /proc/net/if_inet6 lists none")
        pytest.skip("this kernel has no IPv6 loopback (::1)")
    env = {**os.environ, "NNSVC_STATE_DIR": str(tmp_path / "state"), "NNSVC_HTTP_PORT": "0"}
    proc, port, _ = _start(["--host", "::1", "--port", "0", "--mnist-dir", str(mnist_dir)], env)
    try:
        assert _serving(f"[::1]:{port}")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_no_open_probes_and_no_serving_priority_flags_turn_them_off():
    from server.__main__ import build_parser
    from server.settings import Settings

    defaults = Settings.from_env({})
    assert defaults.open_probes and defaults.serving_priority
    args = build_parser(defaults).parse_args(["--no-open-probes", "--no-serving-priority"])
    settings = defaults.replace(**vars(args))
    assert settings.open_probes is False and settings.serving_priority is False
    args = build_parser(settings).parse_args(["--open-probes", "--serving-priority"])
    assert defaults.replace(**vars(args)) == defaults


def test_a_taken_port_is_a_clear_error(nn_server, tmp_path):
    from server import Settings, create_server

    with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{nn_server.port}"):
        create_server(Settings(state_dir=tmp_path / "other"), f"127.0.0.1:{nn_server.port}")


def test_the_kernels_setting_switches_nncore_and_unset_keeps_its_choice(monkeypatch, caplog):
    from nncore import kernels
    from server.__main__ import use_kernels
    from server.settings import Settings

    monkeypatch.setattr(kernels, "fast", kernels.fast)  # restored after the test
    caplog.set_level("INFO", logger="server")
    assert use_kernels(Settings(kernels="numpy")) == "numpy" and kernels.fast is None
    assert use_kernels(Settings()) == "numpy"  # unset: whatever nncore uses now
    assert use_kernels(Settings(kernels="numba")) == "numba" and kernels.fast is not None
    assert "nncore kernels: numba" in caplog.text
    with pytest.raises(SystemExit) as info:
        main(["--kernels", "gpu"])
    assert info.value.code == 2
