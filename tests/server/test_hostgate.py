"""The serving gate across processes: the server's published state and a worker's HostGate."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from server import hostgate
from server.hostgate import FILE_NAME, GatePublisher, HostGate
from server.priority import ServingGate


class FakeClock:
    """A monotonic clock the test moves; sleeping advances it."""

    def __init__(self) -> None:
        self.now, self.naps = 100.0, 0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.naps += 1
        self.now += seconds


def _pair(tmp_path, clock, quiet=0.002, max_yield=0.020):
    publisher = GatePublisher(tmp_path / FILE_NAME, quiet, max_yield, clock=clock)
    gate = ServingGate(True, clock=clock, publish=publisher.publish)
    return gate, HostGate(tmp_path, clock=clock, sleep=clock.sleep)


def test_a_worker_waits_while_a_predict_is_in_flight_at_most_the_servers_pause(tmp_path):
    clock = FakeClock()
    gate, worker = _pair(tmp_path, clock, max_yield=0.020)
    assert worker.active and worker.wait_turn() == 0.0  # nothing served yet
    gate.enter()
    waited = worker.wait_turn()
    assert 0.020 <= waited < 0.021 and clock.naps > 0  # the server's max pause, not forever
    gate.leave()
    clock.now += 0.001
    assert worker.busy()  # within the quiet spell after an answer
    clock.now += 0.002
    assert worker.wait_turn() == 0.0


def test_a_file_that_says_in_flight_but_is_stale_holds_nobody_up(tmp_path):
    clock = FakeClock()
    gate, worker = _pair(tmp_path, clock)
    gate.enter()  # the server then dies mid-Predict: nothing writes the file again
    clock.now += hostgate.STALE_SECONDS + 0.1
    assert worker.wait_turn() == 0.0


def test_no_file_or_a_file_from_another_host_is_ignored(tmp_path):
    assert not HostGate(tmp_path).active
    assert HostGate(tmp_path).wait_turn() == 0.0
    GatePublisher(tmp_path / FILE_NAME, 0.002, 0.02)
    path = tmp_path / FILE_NAME
    data = bytearray(path.read_bytes())
    data[:16] = bytes(16)  # another kernel's boot id (a shared file system)
    path.write_bytes(bytes(data))
    assert not HostGate(tmp_path).active
    path.write_bytes(b"short")
    assert not HostGate(tmp_path).active


def test_a_dask_server_publishes_the_gate_in_its_state_directory(make_server):
    running = make_server(executor="dask", dask_scheduler="tcp://127.0.0.1:9")  # no scheduler needed
    state_dir = running.server.settings.state_dir
    worker = HostGate(state_dir)
    assert worker.active
    raw = (Path(state_dir) / FILE_NAME).read_bytes()
    boot, in_flight, *_, max_yield = struct.unpack("<16sqdddd", raw)
    assert boot == hostgate.boot_id() and in_flight == 0
    assert max_yield == pytest.approx(running.server.settings.serving_max_pause_ms / 1000)
