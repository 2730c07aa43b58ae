"""JobStore (SQLite) and CheckpointStore: round trips, paging, recovery queries, crash safety."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from server import fsutil
from server.records import CANCELLING, FAILED, QUEUED, RUNNING, SUCCEEDED, JobRecord
from server.store import SCHEMA_VERSION, CheckpointError, CheckpointStore, JobStore


def job(job_id: str, state: str = QUEUED, created: float = 1.0) -> JobRecord:
    return JobRecord(job_id=job_id, name=f"job {job_id}", config={"epochs": 2, "seed": 2**63 - 1},
                     state=state, created=created, total_epochs=2)


@pytest.fixture
def store(tmp_path):
    s = JobStore(tmp_path / "jobs.sqlite3")
    yield s
    try:
        s.close()
    except sqlite3.ProgrammingError:
        pass


def test_insert_update_get_round_trip(store, tmp_path):
    store.insert(job("a"))
    record = store.get("a")
    assert record.state == QUEUED and record.config["seed"] == 2**63 - 1
    record.state, record.epoch, record.loss, record.model_id = SUCCEEDED, 2, 0.25, "a"
    record.history = [{"epoch": 1, "loss": 0.5, "train_accuracy": 0.9, "test_accuracy": 0.8, "seconds": 1.0}]
    store.update(record)
    store.close()
    again = JobStore(tmp_path / "jobs.sqlite3")  # survives a reopen (a restart)
    loaded = again.get("a")
    assert (loaded.state, loaded.epoch, loaded.loss, loaded.model_id) == (SUCCEEDED, 2, 0.25, "a")
    assert loaded.history == record.history
    assert again.get("nope") is None
    again.close()


def test_database_uses_wal_and_records_its_schema_version(store):
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(RuntimeError, match="newer"):
        JobStore(path)


def test_duplicate_ids_are_refused(store):
    store.insert(job("a"))
    with pytest.raises(sqlite3.IntegrityError):
        store.insert(job("a"))


def test_pages_are_newest_first_and_filter_by_state(store):
    for i in range(7):
        store.insert(job(f"j{i}", state=SUCCEEDED if i % 2 else FAILED))
    seen, before = [], None
    while True:
        records, before = store.page(None, before, 3)
        seen += [r.job_id for r in records]
        if before is None:
            break
    assert seen == [f"j{i}" for i in reversed(range(7))]
    failed, more = store.page(FAILED, None, 10)
    assert [r.job_id for r in failed] == ["j6", "j4", "j2", "j0"] and more is None


def test_active_lists_unfinished_jobs_oldest_first(store):
    for job_id, state in [("a", SUCCEEDED), ("b", RUNNING), ("c", QUEUED), ("d", CANCELLING), ("e", FAILED)]:
        store.insert(job(job_id, state))
    assert [r.job_id for r in store.active()] == ["b", "c", "d"]


def test_closed_store_raises(store):
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        store.get("a")


# --- checkpoints ------------------------------------------------------------------------

def arrays(epoch: int) -> dict:
    return {"params/W1": np.full((3, 2), epoch, np.float32), "optimizer/m": np.arange(4.0)}


def test_checkpoint_round_trip_keeps_only_the_latest(tmp_path):
    store = CheckpointStore(tmp_path)
    assert store.load("j") is None
    store.save("j", 1, arrays(1), {"epoch": 1})
    store.save("j", 2, arrays(2), {"epoch": 2})
    loaded, meta = store.load("j")
    assert meta == {"epoch": 2}
    np.testing.assert_array_equal(loaded["params/W1"], arrays(2)["params/W1"])
    assert sorted(p.name for p in (tmp_path / "j").iterdir()) == ["checkpoint-0002.npz", "checkpoint.json"]
    store.delete("j")
    assert not (tmp_path / "j").exists() and store.load("j") is None


def test_a_crash_between_the_two_writes_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    store = CheckpointStore(tmp_path)
    store.save("j", 1, arrays(1), {"epoch": 1})
    real = fsutil.write_bytes_atomic

    def die_on_pointer(path, data):
        if path.name == "checkpoint.json":
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr("server.store.write_bytes_atomic", die_on_pointer)
    with pytest.raises(OSError):
        store.save("j", 2, arrays(2), {"epoch": 2})
    monkeypatch.undo()
    loaded, meta = store.load("j")
    assert meta == {"epoch": 1}
    np.testing.assert_array_equal(loaded["params/W1"], arrays(1)["params/W1"])


@pytest.mark.parametrize("damage", ["flip", "truncate_json", "evil_name"])
def test_damaged_checkpoints_are_reported_not_loaded(tmp_path, damage):
    store = CheckpointStore(tmp_path)
    store.save("j", 1, arrays(1), {"epoch": 1})
    folder = tmp_path / "j"
    if damage == "flip":
        data = bytearray((folder / "checkpoint-0001.npz").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (folder / "checkpoint-0001.npz").write_bytes(bytes(data))
    elif damage == "truncate_json":
        (folder / "checkpoint.json").write_text('{"epoch": 1, "arr')
    else:
        pointer = json.loads((folder / "checkpoint.json").read_text())
        pointer["arrays"] = "../../etc/passwd"
        (folder / "checkpoint.json").write_text(json.dumps(pointer))
    with pytest.raises(CheckpointError):
        store.load("j")


def test_atomic_write_leaves_no_temporary_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def fail(*args):
        raise OSError("rename failed")

    monkeypatch.setattr("server.fsutil.os.replace", fail)
    with pytest.raises(OSError):
        fsutil.write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_a_filtered_page_can_include_named_jobs_whatever_their_stored_state(store):
    for job_id, state in [("a", SUCCEEDED), ("b", QUEUED), ("c", SUCCEEDED)]:
        store.insert(job(job_id, state))
    records, more = store.page(RUNNING, None, 10, also=("b", "zzz"))
    assert [r.job_id for r in records] == ["b"] and more is None
    records, _ = store.page(SUCCEEDED, None, 10, also=("b",))
    assert [r.job_id for r in records] == ["c", "b", "a"]
