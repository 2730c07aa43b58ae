"""A real server drained (SIGTERM) while wait(), watch() and `nnctl watch` follow a running job:
each reconnects, and after a restart on the same state dir and port sees the job finish."""

from __future__ import annotations

import io
import json
import queue
import subprocess
import sys
import threading
from pathlib import Path

import grpc
import pytest

from client import NNClient, NNServiceError
from tests.reliability.reliability_testutils import ServerProcess

REPO = Path(__file__).resolve().parents[2]
LONG = dict(hidden_size=64, epochs=4, train_size=30000, eval_size=500, batch_size=100, seed=7)
DEADLINE = 180.0


def _lines(stream, into: queue.Queue) -> None:
    """Copy a subprocess' output lines into a queue, so reading them can have a deadline."""
    for line in stream:
        into.put(line)
    into.put(None)


class _BarSignal(io.StringIO):
    """The progress bar's file: sets `event` once the bar shows the job RUNNING."""

    def __init__(self, event: threading.Event) -> None:
        super().__init__()
        self.event = event

    def __repr__(self) -> str:
        return f"_BarSignal(set={self.event.is_set()})"

    def write(self, text: str) -> int:
        """Write, and set the event once the text shows RUNNING."""
        if "RUNNING" in text:
            self.event.set()
        return super().write(text)


def _running(client: NNClient, job_id: str):
    """Follow the job until it is RUNNING; its status then."""
    for status in client.watch(job_id, timeout=DEADLINE):
        if status.state == "RUNNING" and status.iteration > 0:
            return status
    raise AssertionError(f"job {job_id} ended before it was seen running")


def test_wait_watch_and_nnctl_follow_a_job_across_a_drain_and_restart(tmp_path, mnist_dir):
    state_dir, log = tmp_path / "state", tmp_path / "server.log"
    first = ServerProcess(state_dir, mnist_dir, log).wait_ready()
    client = NNClient(first.target, timeout=30)
    job_id, _ = client.train(**LONG)
    _running(client, job_id)

    results: dict[str, object] = {}
    watched: list = []
    following = {"wait": threading.Event(), "watch": threading.Event()}  # each saw the job running

    def run(name, call):
        try:
            results[name] = call()
        except Exception as exc:  # reported by the assertions below
            results[name] = exc

    def watch_all():
        for status in client.watch(job_id, timeout=DEADLINE):
            watched.append(status)
            following["watch"].set()
        return watched[-1]

    bar = _BarSignal(following["wait"])
    threads = [threading.Thread(target=run, args=("wait", lambda: client.wait(job_id, file=bar, timeout=DEADLINE))),
               threading.Thread(target=run, args=("watch", watch_all))]
    for thread in threads:
        thread.start()
    nnctl = subprocess.Popen([sys.executable, "-m", "client.cli", "--target", first.target, "watch", job_id,
                              "--json", "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd=REPO)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(nnctl.stdout, lines), daemon=True).start()
    assert json.loads(lines.get(timeout=60))["state"] == "RUNNING"  # nnctl follows the job
    assert all(event.wait(DEADLINE) for event in following.values())
    seen = len(watched)

    assert first.stop() == 0  # SIGTERM: the drain ends every stream with UNAVAILABLE
    assert f"job {job_id}: stopped for shutdown" in log.read_text()
    assert all(thread.is_alive() for thread in threads) and nnctl.poll() is None  # reconnecting
    second = ServerProcess(state_dir, mnist_dir, log, port=first.port).wait_ready()
    try:
        for thread in threads:
            thread.join(DEADLINE)
        assert nnctl.wait(DEADLINE) == 0, nnctl.stderr.read()
        final = results["wait"]
        assert not isinstance(final, Exception), final
        assert final.state == "SUCCEEDED" and [h.epoch for h in final.history] == [1, 2, 3, 4]
        assert results["watch"].state == "SUCCEEDED" and len(watched) > seen
        out = []
        while (line := lines.get(timeout=DEADLINE)) is not None:
            out.append(json.loads(line))
        assert out[-1]["state"] == "SUCCEEDED" and out[-1]["job_id"] == job_id
        assert "interrupted by restart -> QUEUED, resuming" in log.read_text()
    finally:
        client.close()
        second.stop()


def test_a_watcher_gives_up_after_its_reconnect_bound(tmp_path, mnist_dir):
    server = ServerProcess(tmp_path / "state", mnist_dir, tmp_path / "server.log").wait_ready()
    with NNClient(server.target, timeout=30) as client:
        job_id, _ = client.train(**LONG)
        _running(client, job_id)
        at_once = client.watch(job_id, timeout=DEADLINE, reconnect=0)
        bounded = client.watch(job_id, timeout=DEADLINE, reconnect=1.0)
        assert next(at_once).state == next(bounded).state == "RUNNING"
        assert server.stop() == 0  # and it stays down
        with pytest.raises(NNServiceError) as drained:
            for _ in at_once:
                pass
        assert drained.value.code == grpc.StatusCode.UNAVAILABLE
        assert "watch it again" in drained.value.message  # the drain's own answer, not a lost connection
        with pytest.raises(NNServiceError) as gone:  # retried for a second, then gave up: no hang
            for _ in bounded:
                pass
        assert gone.value.code == grpc.StatusCode.UNAVAILABLE
