"""Fixtures for the reliability tests: servers that already hold the shared model, figures."""

from __future__ import annotations

import pytest

from tests.reliability.reliability_testutils import FIGURES, copy_model


@pytest.fixture
def server_with_model(make_server, trained_model, tmp_path):
    """server_with_model(**overrides) -> (RunningServer, model_id): a fresh server holding a copy
    of the shared model, so a test can corrupt or load it without touching the session one."""
    count = [0]

    def factory(**overrides):
        count[0] += 1
        state_dir = overrides.pop("state_dir", tmp_path / f"with-model{count[0]}")
        model_id = copy_model(trained_model, state_dir)
        return make_server(state_dir=state_dir, **overrides), model_id

    return factory


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print every figure the reliability tests recorded, whatever -s says."""
    figures = config.stash.get(FIGURES, [])
    if figures:
        terminalreporter.section("reliability figures")
        for nodeid, name, value in figures:
            terminalreporter.write_line(f"{nodeid.split('::')[-1]}: {name} = {value}")
