"""ServingGate: training steps wait while Predicts are in flight, bounded; never otherwise."""

from __future__ import annotations

import pytest

from server.priority import ServingGate


class FakeClock:
    """A clock that only moves when the gate sleeps; records every sleep."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _gate(enabled: bool = True, quiet: float = 0.002, max_yield: float = 0.005):
    clock = FakeClock()
    return ServingGate(enabled, clock=clock, sleep=clock.sleep, quiet=quiet, max_yield=max_yield), clock


def test_no_predict_means_no_wait():
    gate, clock = _gate()
    assert gate.wait_turn() == 0.0 and clock.sleeps == [] and not gate.busy()


def test_a_predict_in_flight_makes_training_wait_up_to_the_bound():
    gate, clock = _gate(max_yield=0.005)
    gate.enter()
    assert gate.busy()
    waited = gate.wait_turn()
    assert waited == pytest.approx(0.005, abs=1e-3) and len(clock.sleeps) > 1  # bounded: training goes on
    assert gate.yielded == waited
    gate.leave()


def test_training_waits_for_the_quiet_spell_after_the_last_answer_and_no_longer():
    gate, clock = _gate(quiet=0.002, max_yield=0.050)
    gate.enter()
    gate.leave()
    waited = gate.wait_turn()
    assert 0.002 <= waited < 0.003  # until the quiet spell has passed, not up to the 50 ms bound
    assert not gate.busy() and gate.wait_turn() == 0.0


def test_overlapping_predicts_are_counted():
    gate, clock = _gate(quiet=0.0)
    gate.enter()
    gate.enter()
    gate.leave()
    assert gate.busy()  # one is still in flight
    gate.leave()
    clock.now += 1.0
    assert not gate.busy() and gate.wait_turn() == 0.0


def test_a_disabled_gate_never_waits():
    gate, clock = _gate(enabled=False)
    gate.enter()
    assert gate.wait_turn() == 0.0 and clock.sleeps == []
    gate.leave()
    assert "enabled=False" in repr(gate)


class _Context:
    """Just enough of a ServicerContext: abort raises, as gRPC's does."""

    def abort(self, code, details):
        raise RuntimeError(f"{code}: {details}")


def test_predict_holds_the_gate_while_it_runs_and_releases_it_when_it_fails():
    import numpy as np

    from protos import nn_service_pb2 as pb
    from server.errors import NotFound
    from server.dataplane import DataPlane
    from server.servicer import NNServiceServicer
    from server.settings import Settings
    from server.tensors import InputSpec

    gate, clock = _gate(quiet=0.0)
    during = []

    class Models:
        def serving(self, model_id):
            during.append(gate.busy())
            if model_id == "missing":
                raise NotFound("no such model")
            return type("Model", (), {"predict_one": lambda self, x: (0, [0.1] * 10)})(), InputSpec((28, 28))

    servicer = NNServiceServicer(DataPlane(Settings(), jobs=None, models=Models(), serving=gate))
    tensor = pb.Tensor(shape=[1, 784], dtype=pb.DTYPE_UINT8, raw_data=bytes(784))
    answer = servicer.Predict(pb.PredictRequest(model_id="m", input=tensor), _Context())
    assert list(answer.classes) == [0]
    with pytest.raises(RuntimeError, match="no such model"):
        servicer.Predict(pb.PredictRequest(model_id="missing", input=tensor), _Context())
    clock.now += 1.0
    assert during == [True, True] and not gate.busy()


def test_the_server_builds_its_gate_from_the_settings(tmp_path, monkeypatch):
    import server.app as app
    from server.settings import Settings

    made = []

    class RecordingGate(ServingGate):
        def __init__(self, enabled=True, **kwargs):
            made.append((enabled, kwargs))
            super().__init__(enabled, **kwargs)

    monkeypatch.setattr(app, "ServingGate", RecordingGate)
    server, _ = app.create_server(Settings(state_dir=tmp_path, serving_max_pause_ms=7.0, http=False), "127.0.0.1:0")
    server.stop(0)
    (enabled, kwargs), = made
    assert enabled is True and kwargs["max_yield"] == pytest.approx(0.007)
    assert kwargs["publish"] is None  # job threads read the gate in process
    # ... and with Dask, publishes it for the workers on this host (server.hostgate)
    made.clear()
    dask = Settings(state_dir=tmp_path / "dask", serving_max_pause_ms=7.0, http=False, executor="dask",
                    dask_scheduler="tcp://127.0.0.1:9")
    server, _ = app.create_server(dask, "127.0.0.1:0")
    server.stop(0)
    (enabled, kwargs), = made
    assert enabled is True and kwargs["max_yield"] == pytest.approx(0.007)
    assert kwargs["publish"].__self__.path == tmp_path / "dask" / "serving-gate"


def test_without_serving_priority_or_without_dask_the_server_publishes_no_gate_for_workers(tmp_path):
    import server.app as app
    from server.settings import Settings

    for settings in (Settings(state_dir=tmp_path / "off", serving_priority=False, http=False, executor="dask",
                              dask_scheduler="tcp://127.0.0.1:9"),
                     Settings(state_dir=tmp_path / "thread", http=False)):
        server, _ = app.create_server(settings, "127.0.0.1:0")
        server.stop(0)
        assert not (settings.state_dir / "serving-gate").exists()
