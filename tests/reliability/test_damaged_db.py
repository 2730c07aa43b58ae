"""A damaged job database at start-up: moved aside (never deleted), the job index rebuilt from
the models and checkpoints on disk, every model still listed and served."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import stat
from pathlib import Path

import numpy as np
import pytest

from client import NNClient
from server.records import JobRecord
from server.rebuild import UNKNOWN_CONFIG
from server.store import JobStore
from tests.reliability.reliability_testutils import ServerProcess, copy_model, pixels

IMAGES = pixels(8, seed=11)
OLD_JOB = "old-job-without-config"


def _second_model(state_dir: Path, model_id: str) -> str:
    """A copy of the model under another id (model.json names it; the weights' sha256 is the same)."""
    copy = "copy-of-the-shared-model"
    shutil.copytree(state_dir / "models" / model_id, state_dir / "models" / copy)
    meta_path = state_dir / "models" / copy / "model.json"
    meta = json.loads(meta_path.read_text())
    meta.update(model_id=copy, job_id=copy, name="the copy", created=meta["created"] + 1)
    meta_path.write_text(json.dumps(meta))
    return copy


def _state_dir(tmp_path: Path, trained_model) -> tuple[Path, list[str]]:
    """A state dir with two models, an old checkpoint that does not record its job, and a job
    database of many pages; returns it and the model ids."""
    state_dir = tmp_path / "state"
    first = copy_model(trained_model, state_dir)
    models = [first, _second_model(state_dir, first)]
    old = state_dir / "jobs" / OLD_JOB
    old.mkdir(parents=True)
    (old / "checkpoint.json").write_text(json.dumps({"format": 1, "epoch": 1, "arrays": "checkpoint-0001.npz",
                                                      "sha256": "0" * 64, "meta": {}}))
    store = JobStore(state_dir / "jobs.sqlite3")
    for i in range(60):  # enough rows for several pages, so damage in the middle hits data
        store.insert(JobRecord(job_id=f"job-{i}", name="x" * 500, config={"epochs": 1}, history=[]))
    store.close()
    return state_dir, models


def _garbage_header(path: Path) -> None:
    with open(path, "r+b") as handle:
        handle.write(np.random.default_rng(1).bytes(100))


def _garbage_pages(path: Path) -> None:
    with open(path, "r+b") as handle:
        handle.seek(4096)
        handle.write(np.random.default_rng(2).bytes(3 * 4096))


def _truncated(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2 + 123)


def _foreign(path: Path) -> None:
    path.unlink()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
        db.execute("INSERT INTO users (email) VALUES ('someone@example.com')")


def _foreign_with_a_version(path: Path) -> None:  # an application's own schema version, not ours
    _foreign(path)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=7")


def _foreign_jobs_table(path: Path) -> None:
    path.unlink()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, command TEXT)")


DAMAGE = {"garbage header": _garbage_header, "garbage pages": _garbage_pages, "truncated": _truncated,
          "foreign SQLite file": _foreign, "foreign file with a schema version": _foreign_with_a_version,
          "foreign jobs table": _foreign_jobs_table}


def _check_served(target: str, models: list[str], expected: np.ndarray) -> None:
    """Every model is listed, served (bit-identical answers) and has a SUCCEEDED job again."""
    with NNClient(target, timeout=30) as client:
        assert sorted(m.model_id for m in client.list_models()) == sorted(models)
        for model_id in models:
            np.testing.assert_array_equal(client.predict(model_id, IMAGES).probabilities, expected)
            job = client.status(model_id)
            assert job.state == "SUCCEEDED" and job.model_id == model_id and job.history
            assert job.config.hidden_size == 32
        old = client.status(OLD_JOB)
        assert old.state == "FAILED" and old.error == UNKNOWN_CONFIG
        listed = {job.job_id: job.state for job in client.list_jobs()}
        assert listed == {**dict.fromkeys(models, "SUCCEEDED"), OLD_JOB: "FAILED"}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_job_database_is_moved_aside_and_every_model_is_served(
        damage, tmp_path, trained_model, make_server, caplog):
    state_dir, models = _state_dir(tmp_path, trained_model)
    with NNClient(trained_model.server.target) as client:
        expected = client.predict(trained_model.model_id, IMAGES).probabilities
    db = state_dir / "jobs.sqlite3"
    DAMAGE[damage](db)
    damaged_bytes = db.read_bytes()

    with caplog.at_level(logging.ERROR, logger="server.rebuild"):
        server = make_server(state_dir=state_dir)
    lines = [r.getMessage() for r in caplog.records if r.name == "server.rebuild"]
    assert len(lines) == 1 and "is unusable" in lines[0] and "rebuilt the job index" in lines[0]
    aside = [p for p in state_dir.iterdir() if p.name.startswith("jobs.sqlite3.damaged-")]
    assert [p.name for p in aside] == [lines[0].split("moved it to ")[1].split(" ")[0]]
    assert aside[0].read_bytes() == damaged_bytes  # moved, never rewritten or deleted
    _check_served(server.target, models, expected)
    server.stop()

    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="server.rebuild"):
        again = make_server(state_dir=state_dir)  # the rebuilt database is used as it is
    assert not [r for r in caplog.records if r.name == "server.rebuild"]
    _check_served(again.target, models, expected)


SLOW_JOB = dict(hidden_size=256, epochs=4, train_size=30000, eval_size=1000, seed=5, name="interrupted")


def test_an_interrupted_job_is_rebuilt_from_its_checkpoint_and_resumes(make_server):
    first = make_server(shutdown_grace=5.0)
    with NNClient(first.target, timeout=30) as client:
        done, _ = client.train(hidden_size=8, epochs=2, train_size=500, eval_size=100, seed=1, name="done")
        before_done = client.wait(done, progress=False, timeout=60)
        slow, _ = client.train(**SLOW_JOB)
        for status in client.watch(slow, timeout=60):
            if status.epoch >= 1:
                break
    first.stop(grace=5.0)
    _garbage_header(first.settings.state_dir / "jobs.sqlite3")

    second = make_server(state_dir=first.settings.state_dir)
    with NNClient(second.target, timeout=30) as client:
        rebuilt = client.status(done)
        assert rebuilt.state == "SUCCEEDED" and rebuilt.name == "done"
        assert [h.epoch for h in rebuilt.history] == [h.epoch for h in before_done.history] == [1, 2]
        assert rebuilt.config == before_done.config
        final = client.wait(slow, progress=False, timeout=120)
        assert final.state == "SUCCEEDED" and final.name == "interrupted"
        assert [h.epoch for h in final.history] == [1, 2, 3, 4]  # resumed from its checkpoint
        assert client.predict(slow, IMAGES).probabilities.shape == (8, 10)


def _unprivileged() -> list[str]:
    """A command prefix under which file modes hold: root ignores them unless it drops
    CAP_DAC_OVERRIDE (setpriv, util-linux)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("running as root: setpriv (util-linux) is needed to make a file read-only to the server")
    caps = "-dac_override,-dac_read_search,-fowner"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", "--"]


def test_a_read_only_job_database_is_moved_aside_and_rebuilt(tmp_path, trained_model, mnist_dir):
    state_dir, models = _state_dir(tmp_path, trained_model)
    with NNClient(trained_model.server.target) as client:
        expected = client.predict(trained_model.model_id, IMAGES).probabilities
    db = state_dir / "jobs.sqlite3"
    db.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    log = tmp_path / "server.log"
    server = ServerProcess(state_dir, mnist_dir, log, wrapper=_unprivileged()).wait_ready()
    try:
        _check_served(server.target, models, expected)
    finally:
        assert server.stop() == 0
    text = log.read_text()
    assert text.count("is unusable") == 1 and "readonly" in text and "Traceback" not in text
    aside = {p.name.rpartition("Z")[2] for p in state_dir.glob("jobs.sqlite3.damaged-*")}
    assert "" in aside and aside <= {"", "-wal", "-shm"}  # the database with its WAL files


def test_a_read_only_state_dir_stops_the_start_with_one_line(tmp_path, trained_model, mnist_dir):
    state_dir, _ = _state_dir(tmp_path, trained_model)
    _foreign(state_dir / "jobs.sqlite3")
    before = (state_dir / "jobs.sqlite3").read_bytes()
    state_dir.chmod(0o555)
    log = tmp_path / "server.log"
    try:
        server = ServerProcess(state_dir, mnist_dir, log, wrapper=_unprivileged())
        assert server.proc.wait(60) == 1
    finally:
        state_dir.chmod(0o755)
    lines = [line for line in log.read_text().splitlines() if " ERROR " in line]  # INFO lines may precede
    assert len(lines) == 1 and f"cannot start: cannot use the state directory {state_dir}" in lines[0]
    assert "it must be a writable directory" in lines[0]
    assert (state_dir / "jobs.sqlite3").read_bytes() == before  # untouched


def test_a_database_locked_by_another_process_is_not_mistaken_for_damage(tmp_path, trained_model):
    from server import Settings, create_server

    state_dir, _ = _state_dir(tmp_path, trained_model)
    other = sqlite3.connect(state_dir / "jobs.sqlite3", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # as a second server writing to the same state dir would
    try:
        with pytest.raises(RuntimeError, match="in use by another process"):
            create_server(Settings(state_dir=state_dir))
    finally:
        other.close()
    assert not list(state_dir.glob("jobs.sqlite3.damaged-*"))  # left where it was
    store = JobStore(state_dir / "jobs.sqlite3")
    assert len(store.page(None, None, 100)[0]) == 60  # and intact
    store.close()


def test_a_model_json_that_makes_no_sense_does_not_stop_the_rebuild(tmp_path, trained_model, make_server):
    state_dir, models = _state_dir(tmp_path, trained_model)
    odd = state_dir / "models" / "odd-model"
    shutil.copytree(state_dir / "models" / models[0], odd)
    meta = json.loads((odd / "model.json").read_text())
    (odd / "model.json").write_text(json.dumps({**meta, "model_id": "odd-model", "config": "not a dict"}))
    _garbage_header(state_dir / "jobs.sqlite3")
    server = make_server(state_dir=state_dir)
    with NNClient(server.target, timeout=30) as client:
        listed = {job.job_id: job.state for job in client.list_jobs()}
    assert listed == {**dict.fromkeys(models, "SUCCEEDED"), OLD_JOB: "FAILED"}  # the odd one left out
