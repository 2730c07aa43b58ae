"""schemathesis fuzzes every operation of the live server's OpenAPI document: no answer is a 5xx.

The server holds a copy of the shared MNIST model, and most generated cases name it, so the
generated bodies reach the infer rules rather than stopping at "no such model"."""

from __future__ import annotations

import collections
import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode

from server import Settings
from tests.conftest import TEST_SETTINGS, start_server

EXAMPLES = 40  # per operation: the whole surface in well under a minute here


@pytest.fixture(scope="module")
def live_server(trained_model, mnist_cache, tmp_path_factory):
    """(base URL, model id) of a server with HTTP on and a copy of the shared model."""
    state = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(trained_model.server.settings.state_dir / "models" / trained_model.model_id,
                    state / "models" / trained_model.model_id)
    running = start_server(Settings(**{**TEST_SETTINGS, "state_dir": state, "http": True, "http_port": 0}),
                           mnist_cache)
    try:
        yield f"http://127.0.0.1:{running.server.http_port}", trained_model.model_id
    finally:
        running.stop(0)


def test_no_operation_answers_a_server_error(live_server):
    # The live document, every operation in turn (schemathesis' pytest loader needs pytest < 9).
    base, model_id = live_server
    api = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 10  # the KServe v2 routes at least

    answers: collections.Counter = collections.Counter()
    for operation in operations:
        # Cases that fit the schema and cases that do not (wrong types, missing fields, junk).
        cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

        @given(case=cases)
        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def no_server_error(case):
            if "name" in (case.path_parameters or {}) and len(str(case.path_parameters["name"])) % 4:
                case.path_parameters["name"] = model_id  # three cases in four name the model that exists
            if "version" in (case.path_parameters or {}) and len(str(case.path_parameters["version"])) % 2:
                case.path_parameters["version"] = "1"  # and half of them its one version
            response = case.call_and_validate(base_url=base, checks=[not_a_server_error], timeout=30)
            answers[operation.label, response.status_code] += 1
        no_server_error()
    print(sorted(answers.items()))
    assert sum(answers.values()) >= 5 * len(operations)
    assert {status for _, status in answers} >= {200, 400, 404}  # the cases reached past validation
