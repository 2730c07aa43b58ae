"""SDK and nnctl behaviour that needs no server: argument checks, help, server down, extras."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import numpy as np
import pytest

from client import TRAIN_PARAMETERS, NNClient, NNServiceError
from client.cli import EXIT_UNREACHABLE, build_parser
from client.sdk import train_request

COMMANDS = ("train", "status", "watch", "cancel", "jobs", "models", "model", "predict", "health", "plot")
REPO = Path(__file__).resolve().parents[2]


def test_train_rejects_unknown_hyperparameters_naming_the_allowed_ones(closed_target):
    with NNClient(closed_target) as client:
        with pytest.raises(TypeError, match="hidden_sise") as info:
            client.train(hidden_sise=10)
    assert all(name in str(info.value) for name in TRAIN_PARAMETERS)


def test_train_request_skips_none_and_checks_types():
    request = train_request({"epochs": 3, "learning_rate": None, "name": "x"})
    assert request.HasField("epochs") and not request.HasField("learning_rate")
    with pytest.raises(TypeError, match="epochs must be a non-negative number"):
        train_request({"epochs": -1})
    with pytest.raises(TypeError, match="optimizer must be a string"):
        train_request({"optimizer": 3})


def test_every_sdk_call_against_a_dead_server_raises_unavailable(closed_target):
    calls = {
        "GetStatus": lambda c: c.status("abc"), "CancelJob": lambda c: c.cancel("abc"),
        "ListJobs": lambda c: c.list_jobs(), "ListModels": lambda c: c.list_models(),
        "GetModel": lambda c: c.get_model("abc"), "Health/Check": lambda c: c.health(),
        "Predict": lambda c: c.predict("abc", np.zeros((1, 784), np.uint8)),
        "WatchJob": lambda c: list(c.watch("abc")), "Train": lambda c: c.train(),
    }
    with NNClient(closed_target, timeout=5, retry_attempts=1) as client:
        for method, call in calls.items():
            with pytest.raises(NNServiceError) as info:
                call(client)
            assert info.value.code == grpc.StatusCode.UNAVAILABLE, method
            assert info.value.method == method


def test_predict_checks_pixel_values_before_calling(closed_target):
    with NNClient(closed_target) as client:
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            client.predict("m", np.full((2, 784), 255.0))


def test_help_lists_every_command(nnctl):
    with pytest.raises(SystemExit) as info:
        nnctl("--help")
    assert info.value.code == 0
    for name in COMMANDS:
        with pytest.raises(SystemExit) as info:
            nnctl(name, "--help")
        assert info.value.code == 0


def test_usage_errors_exit_2(nnctl, capsys):
    for argv in ([], ["jobs", "--state", "SLEEPING"], ["status"], ["fly"]):
        with pytest.raises(SystemExit) as info:
            nnctl(*argv)
        assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_global_flags_work_before_and_after_the_command_and_from_the_environment(monkeypatch):
    parser = build_parser()
    assert parser.parse_args(["--target", "a:1", "jobs"]).target == "a:1"
    assert parser.parse_args(["jobs", "--target", "b:2", "--json"]).target == "b:2"
    assert parser.parse_args(["--json", "jobs"]).json
    monkeypatch.setenv("NNSVC_TARGET", "c:3")
    monkeypatch.setenv("NNSVC_TOKEN", "tok")
    args = build_parser().parse_args(["jobs"])
    assert (args.target, args.token) == ("c:3", "tok")


@pytest.mark.parametrize("argv", [["health"], ["status", "abc"], ["jobs", "--json"], ["train", "--epochs", "1"]])
def test_server_down_is_a_clear_message_and_exit_3(nnctl, closed_target, argv):
    code, out, err = nnctl("--target", closed_target, "--timeout", "5", *argv)
    assert code == EXIT_UNREACHABLE
    assert f"nnctl: cannot reach the server at {closed_target}" in err
    assert "Traceback" not in err and out == ""


def test_server_down_through_nnsvc_target(nnctl, closed_target, monkeypatch):
    monkeypatch.setenv("NNSVC_TARGET", closed_target)
    code, _, err = nnctl("models")
    assert code == EXIT_UNREACHABLE and closed_target in err


def test_local_errors_exit_1_with_a_message(nnctl, closed_target, tmp_path, monkeypatch):
    monkeypatch.delenv("NNSVC_MNIST_DIR", raising=False)
    cases = [
        (["predict", "m"], "at least one FILE or --mnist-test"),
        (["predict", "m", "--mnist-test", "0", "--mnist-dir", str(tmp_path)], "t10k-images-idx3-ubyte"),
        (["predict", "m", str(tmp_path / "missing.npy")], "missing.npy"),
        (["--tls-ca", str(tmp_path / "ca.pem"), "health"], "ca.pem"),
        (["--tls-cert", __file__, "health"], "give both or neither"),
    ]
    for argv, words in cases:
        code, _, err = nnctl("--target", closed_target, *argv)
        assert code == 1, argv
        assert err.startswith("nnctl: ") and words in err and "Traceback" not in err


def test_nnctl_runs_as_a_real_process():
    installed = Path(sys.executable).parent / "nnctl"  # the console script `make venv` installs
    assert installed.is_file(), f"{installed} is missing: run make venv (pip install -e .)"
    for argv in ([sys.executable, "-m", "client.cli", "--help"], [str(installed), "--help"]):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=REPO)
        assert done.returncode == 0, done.stderr
        assert "usage: nnctl" in done.stdout and "predict" in done.stdout


def test_the_sdk_imports_no_optional_or_server_packages():
    # The SDK needs no nncore; nnctl reads nncore.choices for its help (the allowed values).
    code = ("import sys, client; "
            "bad = sorted({m.split('.')[0] for m in sys.modules} & {'PIL', 'matplotlib', 'server', 'nncore'}); "
            "import client.cli; "
            "bad += sorted({m.split('.')[0] for m in sys.modules} & {'PIL', 'matplotlib', 'server'}); "
            "print(','.join(bad))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
