"""nnctl against a real server on port 0, run in-process through main(argv)."""
from __future__ import annotations

import json
import struct
import sys

import numpy as np
import pytest

from client import JobStatus
from client.plot import plot_curves
from tests.datasets_testutils import tiny_arrays

from .conftest import LONG_JOB, TINY_JOB

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _flags(params: dict) -> list[str]:
    return [str(x) for k, v in params.items() for x in (f"--{k.replace('_', '-')}", v)]


@pytest.fixture
def on(nn_server):
    """nnctl argv prefix for a fresh server."""
    return ["--target", nn_server.target]


@pytest.fixture
def shared_on(trained_model):
    """nnctl argv prefix for the server holding the shared model."""
    return ["--target", trained_model.server.target]


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_health(nnctl, on):
    assert nnctl(*on, "health") == (0, "SERVING\n", "")
    code, out, _ = nnctl(*on, "health", "--service", "nnservice.v1.NNService", "--json")
    assert code == 0 and json.loads(out) == {"status": "SERVING", "service": "nnservice.v1.NNService"}


def test_train_wait_then_status_watch_and_jobs(nnctl, on):
    code, out, err = nnctl(*on, "--json", "train", *_flags(TINY_JOB), "--name", "cli", "--wait")
    assert code == 0, err
    final = json.loads(out)
    job_id = final["job_id"]
    assert final["state"] == "SUCCEEDED" and final["model_id"] == job_id and final["name"] == "cli"
    assert f"queued job {job_id}" in err and "epoch=2/2" in err  # the progress bar, on stderr

    code, out, _ = nnctl(*on, "status", job_id)
    assert code == 0 and "SUCCEEDED" in out and "TEST ACC" in out and job_id in out
    assert " eval=all " in out  # no eval_size asked: every test image, not "eval=0"
    assert json.loads(nnctl(*on, "status", job_id, "--json")[1]) == final

    code, out, _ = nnctl(*on, "watch", job_id, "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and lines[-1]["state"] == "SUCCEEDED"

    code, out, _ = nnctl(*on, "jobs", "--state", "succeeded")
    assert code == 0 and out.startswith("JOB ID") and job_id in out and "cli" in out
    assert [j["job_id"] for j in json.loads(nnctl(*on, "jobs", "--json")[1])] == [job_id]
    assert nnctl(*on, "jobs", "--state", "RUNNING")[1] == "no jobs\n"


def test_train_without_wait_answers_at_once(nnctl, on):
    code, out, _ = nnctl(*on, "train", *_flags(TINY_JOB))
    assert code == 0 and out.startswith("queued job ")
    job_id = out.split()[2]
    code, out, err = nnctl(*on, "watch", job_id)  # human: bar on stderr, final status on stdout
    assert code == 0 and "state:    SUCCEEDED" in out and f"job {job_id}" in err


def test_cancel_and_a_job_that_did_not_succeed(nnctl, on):
    code, out, _ = nnctl(*on, "--json", "train", *_flags(LONG_JOB))
    job_id = json.loads(out)["job_id"]
    code, out, _ = nnctl(*on, "cancel", job_id, "--json")
    assert code == 0 and json.loads(out)["state"] in ("CANCELLING", "CANCELLED")
    code, out, err = nnctl(*on, "watch", job_id, "--no-progress")
    assert code == 1 and "CANCELLED" in out and f"nnctl: job {job_id} ended CANCELLED" in err
    code, _, err = nnctl(*on, "cancel", job_id)
    assert code == 1 and err.startswith("nnctl: FAILED_PRECONDITION: ")


def test_server_errors_exit_1_with_the_servers_message(nnctl, on):
    for argv, prefix, mentions in [
        (["status", "abc"], "nnctl: NOT_FOUND: ", "abc"),
        (["cancel", "abc"], "nnctl: NOT_FOUND: ", "abc"),
        (["model", "abc"], "nnctl: NOT_FOUND: ", "abc"),
        (["plot", "abc"], "nnctl: NOT_FOUND: ", "abc"),
        (["train", "--epochs", "100000"], "nnctl: INVALID_ARGUMENT: ", "epochs"),
        (["status", "../x"], "nnctl: INVALID_ARGUMENT: ", "../x"),
    ]:
        code, out, err = nnctl(*on, *argv)
        assert (code, out) == (1, ""), argv
        assert err.startswith(prefix) and mentions in err and "Traceback" not in err, err


def test_models_and_model(nnctl, shared_on, trained_model):
    model_id = trained_model.model_id
    code, out, _ = nnctl(*shared_on, "models")
    assert code == 0 and out.startswith("MODEL ID") and model_id in out
    assert model_id in [m["model_id"] for m in json.loads(nnctl(*shared_on, "models", "--json")[1])]
    code, out, _ = nnctl(*shared_on, "model", model_id)
    assert code == 0 and "784-32-10" in out and "input:          uint8 pixels 0..255" in out
    info = json.loads(nnctl(*shared_on, "model", model_id, "--json")[1])
    assert info["architecture"]["hidden_size"] == 32 and info["config"]["train_size"] == 5000
    assert info["input_dtype"] == "uint8"


def test_predict_a_png_written_from_an_mnist_test_image(nnctl, shared_on, trained_model, correct_digit, tmp_path):
    Image = pytest.importorskip("PIL.Image")
    index, image, label = correct_digit
    digit, paper = tmp_path / "digit.png", tmp_path / "paper.png"
    Image.fromarray(image).save(digit)
    Image.fromarray(255 - image).save(paper)  # dark ink on white: must be inverted back
    code, out, err = nnctl(*shared_on, "--json", "predict", trained_model.model_id, digit, paper)
    assert code == 0, err
    results = json.loads(out)
    assert [r["class"] for r in results] == [label, label]
    assert [r["input"] for r in results] == [str(digit), str(paper)]
    assert len(results[0]["probabilities"]) == 10 and results[0]["label"] is None
    code, out, _ = nnctl(*shared_on, "predict", trained_model.model_id, digit)
    assert code == 0 and out.splitlines()[1].split()[:2] == [str(digit), str(label)]


def test_predict_mnist_test_images_and_npy(nnctl, shared_on, trained_model, correct_digit, mnist_dir,
                                           tmp_path, monkeypatch):
    index, image, label = correct_digit
    code, out, _ = nnctl(*shared_on, "predict", trained_model.model_id, "--mnist-test", index,
                         "--mnist-dir", mnist_dir)
    row = out.splitlines()[1].split()
    assert code == 0 and row[0] == f"mnist-test[{index}]" and row[1] == row[-1] == str(label)
    monkeypatch.setenv("NNSVC_MNIST_DIR", str(mnist_dir))
    batch = tmp_path / "batch.npy"
    np.save(batch, np.stack([image, image]).reshape(2, 784) / 255.0)
    code, out, _ = nnctl(*shared_on, "--json", "predict", trained_model.model_id, batch, "--mnist-test", index)
    results = json.loads(out)
    assert code == 0 and [r["class"] for r in results] == [label] * 3
    assert [r["input"] for r in results] == [f"{batch}[0]", f"{batch}[1]", f"mnist-test[{index}]"]
    assert results[2]["label"] == label
    code, _, err = nnctl(*shared_on, "predict", trained_model.model_id, "--mnist-test", 10_000)
    assert code == 1 and "allowed: 0..9999" in err


def test_predict_errors(nnctl, shared_on, trained_model, tmp_path):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((2, 100), dtype=np.uint8))
    code, _, err = nnctl(*shared_on, "predict", trained_model.model_id, bad)
    assert code == 1 and err.startswith("nnctl: INVALID_ARGUMENT: ") and "784" in err
    good = tmp_path / "good.npy"
    np.save(good, np.zeros((28, 28), dtype=np.uint8))
    code, _, err = nnctl(*shared_on, "predict", "0123456789abcdef", good)
    assert code == 1 and err.startswith("nnctl: NOT_FOUND: ")


def test_predict_and_plot_without_the_images_extra(nnctl, shared_on, trained_model, tmp_path, monkeypatch):
    Image = pytest.importorskip("PIL.Image")
    digit = tmp_path / "digit.png"
    Image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save(digit)
    for name in ("PIL", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    for argv in (["predict", trained_model.model_id, digit], ["plot", trained_model.model_id, "-o", tmp_path / "c.png"]):
        code, _, err = nnctl(*shared_on, *argv)
        assert code == 1 and "install the images extra: pip install 'nnservice[images]'" in err
    assert not (tmp_path / "c.png").exists()


def test_plot_writes_a_png(nnctl, shared_on, trained_model, tmp_path):
    pytest.importorskip("matplotlib")
    output = tmp_path / "plots" / "curves.png"
    code, out, _ = nnctl(*shared_on, "plot", trained_model.model_id, "-o", output)
    assert code == 0 and str(output) in out
    data = output.read_bytes()
    width, height = _png_size(data)
    assert (width, height) == (900, 360) and len(data) > 5_000
    assert [p.name for p in output.parent.iterdir()] == ["curves.png"]  # no temporary left behind
    code, out, _ = nnctl(*shared_on, "--json", "plot", trained_model.model_id, "-o", output)
    assert code == 0 and json.loads(out) == {"output": str(output), "epochs": 2}


def test_plot_needs_at_least_one_epoch(tmp_path):
    queued = JobStatus("j", "", "QUEUED", 0.0, 0, 2, 0, 0, 0.0, (), None, None, None, 0.0, "", "", None)
    with pytest.raises(ValueError, match="no completed epochs"):
        plot_curves(queued, tmp_path / "c.png")
    assert not list(tmp_path.iterdir())


def test_train_a_deep_network_and_show_its_layers(nnctl, on):
    code, out, err = nnctl(*on, "--json", "train", "--hidden-sizes", "24,12", "--batch-norm", "--dropout", "0.1",
                           "--weight-decay", "1e-4", *_flags(dict(epochs=1, train_size=1000, eval_size=200)),
                           "--wait", "--no-progress")
    assert code == 0, err
    job_id = json.loads(out)["job_id"]
    code, out, _ = nnctl(*on, "model", job_id)
    assert code == 0 and "784-24-12-10 relu, batch norm, dropout 0.1 float32" in out
    assert f"{784 * 24 + 24 + 24 * 12 + 12 + 12 * 10 + 10 + 2 * (24 + 12):,}" in out
    code, out, _ = nnctl(*on, "status", job_id)
    assert "hidden=24,12 batch-norm dropout=0.1 weight-decay=0.0001" in out
    with pytest.raises(SystemExit) as info:
        nnctl(*on, "train", "--hidden-sizes", "24,x")
    assert info.value.code == 2


def test_train_help_lists_nncores_choices(nnctl, capsys):
    from nncore import choices

    with pytest.raises(SystemExit):
        nnctl("train", "--help")
    text = capsys.readouterr().out
    assert " | ".join(f"{v} (default)" if v == "adam" else v for v in choices.OPTIMIZERS) in " ".join(text.split())
    assert "--hidden-sizes" in text and "--batch-norm" in text and "--weight-decay" in text


def test_predict_prints_the_class_name_when_the_model_has_names(nnctl, tiny_model, tmp_path):
    _, _, x_test, _ = tiny_arrays()
    one = tmp_path / "one.npy"
    np.save(one, x_test[0])
    on = ["--target", tiny_model.server.target]
    code, out, _ = nnctl(*on, "predict", tiny_model.model_id, one)
    header, row = out.splitlines()[0].split(), out.splitlines()[1].split()
    assert code == 0 and header[:3] == ["INPUT", "CLASS", "NAME"] and row[2] == f"c{row[1]}"
    code, out, _ = nnctl(*on, "--json", "predict", tiny_model.model_id, one)
    (record,) = json.loads(out)
    assert code == 0 and record["class_name"] == f"c{record['class']}"
    code, out, _ = nnctl(*on, "model", tiny_model.model_id)
    assert code == 0 and "dataset:" in out and "tiny" in out and "c0, c1" in out and "28x28" in out


def test_health_exits_1_when_the_server_is_not_serving(nnctl, nn_server):
    nn_server.server.begin_drain()  # health NOT_SERVING, as during a drain
    code, out, _ = nnctl("--target", nn_server.target, "health")
    assert code == 1 and out.strip() == "NOT_SERVING"
    code, out, _ = nnctl("--target", nn_server.target, "--json", "health")
    assert code == 1 and json.loads(out)["status"] == "NOT_SERVING"


def test_a_deadline_exceeded_says_to_raise_the_timeout(nnctl):
    import socket

    with socket.socket() as silent:  # accepts connections, never says a word: every call times out
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        code, _, err = nnctl("--target", f"127.0.0.1:{silent.getsockname()[1]}", "--timeout", "0.5", "jobs")
    assert code == 1
    assert err.startswith("nnctl: DEADLINE_EXCEEDED") and err.rstrip().endswith("(raise --timeout?)")


def test_ctrl_c_exits_130(nn_server):
    import queue
    import signal
    import subprocess
    import threading
    from pathlib import Path

    from client import NNClient

    with NNClient(nn_server.target) as client:
        job_id, _ = client.train(**LONG_JOB)
    proc = subprocess.Popen([sys.executable, "-m", "client.cli", "--target", nn_server.target, "watch", job_id,
                             "--json", "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=Path(__file__).resolve().parents[2])
    lines: queue.Queue = queue.Queue()  # read on a thread, so the wait for a line has a deadline
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        assert json.loads(lines.get(timeout=60))["job_id"] == job_id  # it is watching
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 130
        assert proc.stderr.read().strip().endswith("nnctl: interrupted")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
