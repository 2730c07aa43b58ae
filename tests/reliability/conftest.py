"""Fixtures for the reliability tests: servers that already hold the shared model, figures."""

from __future__ import annotations

import pytest

from server import Settings
from tests.conftest import start_server
from tests.reliability.reliability_testutils import FIGURES, copy_model

# Small limits for the fuzz tests' servers, so fuzzed Trains stay cheap.
FUZZ_LIMITS = dict(max_concurrent_jobs=1, max_queued_jobs=2, max_hidden_size=64, max_epochs=3,
                   max_message_bytes=2 * 1024 * 1024, max_predict_rows=1000, grpc_workers=8,
                   shutdown_grace=2.0)


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


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory, trained_model, mnist_dir, mnist_cache):
    """One server per fuzz module (fresh state), holding a copy of the shared model; (server, model id)."""
    state_dir = tmp_path_factory.mktemp("fuzz")
    model_id = copy_model(trained_model, state_dir)
    running = start_server(Settings(state_dir=state_dir, mnist_dir=mnist_dir, http=False, **FUZZ_LIMITS),
                           mnist_cache)  # http=False: port 8080 may be taken by another test run
    yield running, model_id
    running.stop(0)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print every figure the reliability tests recorded, whatever -s says."""
    figures = config.stash.get(FIGURES, [])
    if figures:
        terminalreporter.section("reliability figures")
        for nodeid, name, value in figures:
            terminalreporter.write_line(f"{nodeid.split('::')[-1]}: {name} = {value}")
