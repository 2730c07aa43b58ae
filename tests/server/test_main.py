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
                 "--serving-priority", "--serving-max-pause-ms"):
        assert flag in out
    assert "(default: 50051)" in out and "NNSVC_" in out


def test_bad_flags_and_variables_exit_with_a_message(capsys, monkeypatch):
    with pytest.raises(SystemExit) as info:
        main(["--max-epochs", "0"])
    assert info.value.code == 2 and "max_epochs must be an integer in [1," in capsys.readouterr().err
    monkeypatch.setenv("NNSVC_PORT", "eighty")
    assert main([]) == 2 and "NNSVC_PORT='eighty' is not valid" in capsys.readouterr().err


def test_sigterm_drains_and_exits_cleanly(tmp_path, mnist_dir):
    env = {**os.environ, "NNSVC_STATE_DIR": str(tmp_path / "state"), "NNSVC_LOG_LEVEL": "INFO"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", "0", "--mnist-dir", str(mnist_dir),
         "--shutdown-grace", "3"], env=env, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()  # read by a thread, so every wait below has a deadline
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True)
    reader.start()
    try:
        seen = []
        deadline = time.monotonic() + 30
        while not (match := re.search(r"listening on port (\d+)", "".join(seen))):
            try:
                seen.append(lines.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError("server did not start within 30 s: " + "".join(seen)) from None
        with grpc.insecure_channel(f"127.0.0.1:{match.group(1)}") as channel:
            check = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert check.status == health_pb2.HealthCheckResponse.SERVING
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        reader.join(10)
        rest = "".join(lines.queue)
        assert "SIGTERM received: draining" in rest and "stopped" in rest
        assert (tmp_path / "state" / "jobs.sqlite3").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_taken_port_is_a_clear_error(nn_server, tmp_path):
    from server import Settings, create_server

    with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{nn_server.port}"):
        create_server(Settings(state_dir=tmp_path / "other"), f"127.0.0.1:{nn_server.port}")
