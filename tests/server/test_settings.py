"""Settings: contract defaults, NNSVC_* parsing, and validation messages."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from server.settings import Settings


def test_defaults_match_the_contract():
    s = Settings()
    assert (s.host, s.port, s.state_dir, s.mnist_dir, s.allow_download) == (
        "0.0.0.0", 50051, Path("./state"), None, False)
    assert (s.max_concurrent_jobs, s.max_queued_jobs, s.max_message_bytes, s.max_predict_rows) == (
        2, 16, 64 * 1024 * 1024, 65536)
    assert (s.max_hidden_size, s.max_epochs, s.grpc_workers, s.shutdown_grace, s.log_level) == (
        4096, 200, 8, 10.0, "INFO")


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().port = 1


def test_from_env_reads_every_type_and_ignores_other_variables():
    env = {"NNSVC_HOST": "127.0.0.1", "NNSVC_PORT": "6000", "NNSVC_STATE_DIR": "/tmp/x",
           "NNSVC_MNIST_DIR": "/data/mnist", "NNSVC_ALLOW_DOWNLOAD": "yes",
           "NNSVC_SHUTDOWN_GRACE": "2.5", "NNSVC_LOG_LEVEL": "debug", "NNSVC_MAX_EPOCHS": "7",
           "HOME": "/root", "NNSVC_MAX_QUEUED_JOBS": ""}
    s = Settings.from_env(env)
    assert (s.host, s.port, s.state_dir, s.mnist_dir) == ("127.0.0.1", 6000, Path("/tmp/x"), Path("/data/mnist"))
    assert s.allow_download is True and s.shutdown_grace == 2.5 and s.log_level == "DEBUG"
    assert s.max_epochs == 7 and s.max_queued_jobs == 16  # empty means default


@pytest.mark.parametrize("value, expected", [("1", True), ("on", True), ("FALSE", False), ("no", False)])
def test_boolean_spellings(value, expected):
    assert Settings.from_env({"NNSVC_ALLOW_DOWNLOAD": value}).allow_download is expected


@pytest.mark.parametrize("key, value", [("NNSVC_PORT", "http"), ("NNSVC_ALLOW_DOWNLOAD", "maybe"),
                                        ("NNSVC_SHUTDOWN_GRACE", "soon")])
def test_unparsable_variable_is_named(key, value):
    with pytest.raises(ValueError, match=key):
        Settings.from_env({key: value})


@pytest.mark.parametrize("field, value, fragment", [
    ("port", 70000, r"port must be an integer in \[0, 65535\]"),
    ("max_concurrent_jobs", 0, r"max_concurrent_jobs must be an integer in \[1,"),
    ("max_queued_jobs", -1, r"max_queued_jobs must be"),
    ("max_message_bytes", 10, r"max_message_bytes must be an integer in \[1024,"),
    ("grpc_workers", True, r"grpc_workers must be an integer"),
    ("shutdown_grace", -1.0, r"shutdown_grace must be in \[0, 3600\]"),
    ("log_level", "LOUD", r"log_level must be one of DEBUG, INFO"),
    ("host", "", r"host must not be empty"),
])
def test_out_of_range_values_name_the_allowed_range(field, value, fragment):
    with pytest.raises(ValueError, match=fragment):
        Settings(**{field: value})


def test_replace_validates_again():
    s = Settings().replace(port=0, state_dir="/tmp/y")
    assert s.port == 0 and s.state_dir == Path("/tmp/y")
    with pytest.raises(ValueError, match="max_epochs"):
        s.replace(max_epochs=0)


def test_every_field_has_a_docstring_in_the_class_source():
    import inspect

    source = inspect.getsource(Settings)
    for field in dataclasses.fields(Settings):
        after = source.split(f"    {field.name}:", 1)[1].splitlines()[1].strip()
        assert after.startswith('"""'), f"{field.name} has no docstring"


def test_serving_pause_is_read_checked_and_defaults_to_the_gates_bound():
    from server.priority import MAX_YIELD_SECONDS

    assert Settings().serving_max_pause_ms == pytest.approx(MAX_YIELD_SECONDS * 1000)
    assert Settings.from_env({"NNSVC_SERVING_MAX_PAUSE_MS": "7.5"}).serving_max_pause_ms == 7.5
    with pytest.raises(ValueError, match=r"serving_max_pause_ms must be in \[0, 1000\]"):
        Settings(serving_max_pause_ms=-1.0)


def test_kernels_are_read_normalised_and_checked():
    assert Settings().kernels is None and Settings(kernels=" ").kernels is None  # nncore's own choice
    assert Settings.from_env({"NNSVC_KERNELS": " NumPy "}).kernels == "numpy"
    with pytest.raises(ValueError, match="kernels must be one of auto, numba, numpy"):
        Settings(kernels="gpu")
def test_the_executor_is_thread_or_dask_and_dask_needs_a_scheduler_address():  # (#16)
    assert Settings().executor == "thread"
    assert Settings(executor="dask", dask_scheduler="tcp://scheduler:8786").dask_scheduler == "tcp://scheduler:8786"
    with pytest.raises(ValueError, match="executor must be one of thread, dask"):
        Settings(executor="ray")
    with pytest.raises(ValueError, match="needs dask_scheduler"):
        Settings(executor="dask")
    with pytest.raises(ValueError, match="needs dask_scheduler"):
        Settings(executor="dask", dask_scheduler="scheduler:8786")  # no protocol
    env = Settings.from_env({"NNSVC_EXECUTOR": "dask", "NNSVC_DASK_SCHEDULER": "tcp://10.0.0.5:8786"})
    assert (env.executor, env.dask_scheduler) == ("dask", "tcp://10.0.0.5:8786")


def test_dask_training_runs_idle_unless_turned_off():  # (#16)
    from server.__main__ import build_parser

    assert Settings().dask_idle_training is True
    assert Settings.from_env({"NNSVC_DASK_IDLE_TRAINING": "false"}).dask_idle_training is False
    args = build_parser(Settings()).parse_args(["--no-dask-idle-training"])
    assert Settings().replace(**vars(args)).dask_idle_training is False
