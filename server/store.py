"""Job records in SQLite (one WAL file in the state dir) and per-job training checkpoints."""

from __future__ import annotations

import json
import logging
import re
import shutil
import sqlite3
import threading
from pathlib import Path

from server.fsutil import load_npz_bytes, npz_bytes, sha256_hex, write_bytes_atomic
from server.ids import is_valid_id
from server.records import ACTIVE_STATES, JobRecord

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- insertion order: newest first = seq DESC
    job_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    config TEXT NOT NULL,                   -- JSON: TrainConfig fields + dataset
    created REAL NOT NULL,
    started REAL,
    ended REAL,
    progress TEXT NOT NULL,                 -- JSON: epoch/iteration counters, loss, eta
    history TEXT NOT NULL,                  -- JSON: list of epoch records
    error TEXT NOT NULL,
    model_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, seq);
"""
_PROGRESS = ("epoch", "total_epochs", "iteration", "total_iterations", "loss", "eta_seconds",
             "note")  # note: in the progress JSON, so no schema change (older rows lack it)
_COLUMNS = "job_id, name, state, config, created, started, ended, progress, history, error, model_id"


class DamagedDatabase(Exception):
    """The job database cannot be opened or used: damaged, foreign, or not writable."""


class JobStore:
    """Durable job records: one SQLite connection shared by all threads behind a lock."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise DamagedDatabase(f"{type(exc).__name__}: {exc}") from exc
        try:
            self._open()
        except sqlite3.Error as exc:  # malformed, not a database, read-only, foreign schema
            self._db.close()
            if "locked" in str(exc) or "busy" in str(exc):  # in use by another process: not damage
                raise RuntimeError(f"{self.path} is in use by another process ({exc}); is another "
                                   "server running on this state directory?") from None
            raise DamagedDatabase(f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            self._db.close()
            raise

    def _open(self) -> None:
        """Check the file is an intact job database of a known version (reading only, so a
        foreign file is left as it was), then set it up."""
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if version > SCHEMA_VERSION and ("jobs" in tables or not tables):  # ours, from a newer server
            raise RuntimeError(f"{self.path} has schema version {version}; this server reads "
                               f"<= {SCHEMA_VERSION} (written by a newer nnservice?)")
        # A page overwritten in the middle of the file is only noticed when it is read: look now,
        # at start-up, rather than fail a Train or ListJobs later.
        check = self._db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"quick_check: {check}")
        if tables - {"jobs", "sqlite_sequence"}:
            raise sqlite3.DatabaseError(f"not a job database: it has tables {', '.join(sorted(tables))}")
        if "jobs" in tables:
            columns = [row[1] for row in self._db.execute("PRAGMA table_info(jobs)")]
            if columns != ["seq", *_COLUMNS.split(", ")]:
                raise sqlite3.DatabaseError(f"not a job database: its jobs table has columns {columns}")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a process crash
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def __repr__(self) -> str:
        return f"JobStore({str(self.path)!r})"

    def _row(self, job: JobRecord) -> tuple:
        progress = {key: getattr(job, key) for key in _PROGRESS}
        return (job.job_id, job.name, job.state, json.dumps(job.config), job.created, job.started,
                job.ended, json.dumps(progress), json.dumps(job.history), job.error, job.model_id)

    @staticmethod
    def _record(row: tuple) -> JobRecord:
        (job_id, name, state, config, created, started, ended, progress, history, error,
         model_id) = row
        return JobRecord(job_id=job_id, name=name, state=state, config=json.loads(config),
                         created=created, started=started, ended=ended,
                         history=json.loads(history), error=error, model_id=model_id,
                         **json.loads(progress))

    def insert(self, job: JobRecord) -> None:
        """Add a new job record."""
        with self._lock:
            self._db.execute(f"INSERT INTO jobs ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                             self._row(job))

    def update(self, job: JobRecord) -> None:
        """Overwrite a job record (all fields but its id and position)."""
        row = self._row(job)
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET name=?, state=?, config=?, created=?, started=?, ended=?, "
                "progress=?, history=?, error=?, model_id=? WHERE job_id=?", row[1:] + row[:1])

    def get(self, job_id: str) -> JobRecord | None:
        """The record of `job_id`, or None."""
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE job_id=?", (job_id,)).fetchone()
        return None if row is None else self._record(row)

    def page(self, state: str | None, before: int | None, limit: int,
             also: tuple[str, ...] = ()) -> tuple[list[JobRecord], int | None]:
        """Up to `limit` records, newest first, older than `before`, of one state (or any) plus
        the jobs in `also`; returns them and the position to continue from (None at the end)."""
        marks = ",".join(f"?{i}" for i in range(4, 4 + len(also))) or "NULL"
        with self._lock:
            rows = self._db.execute(
                f"SELECT seq, {_COLUMNS} FROM jobs WHERE (?1 IS NULL OR state = ?1 OR job_id IN ({marks})) "
                "AND (?2 IS NULL OR seq < ?2) ORDER BY seq DESC LIMIT ?3",
                (state, before, limit + 1, *also)).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        return [self._record(row[1:]) for row in rows], (rows[-1][0] if more else None)

    def delete(self, job_id: str) -> bool:
        """Remove a job record; False if there was none."""
        with self._lock:
            return self._db.execute("DELETE FROM jobs WHERE job_id=?", (job_id,)).rowcount > 0

    def active(self) -> list[JobRecord]:
        """Jobs that were queued, running or cancelling, oldest first (for recovery)."""
        marks = ",".join("?" * len(ACTIVE_STATES))
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE state IN ({marks}) "
                                    "ORDER BY seq", tuple(ACTIVE_STATES)).fetchall()
        return [self._record(row) for row in rows]

    def count_by_state(self, exclude: tuple[str, ...] = ()) -> dict[str, int]:
        """How many records are in each stored state, leaving out the jobs in `exclude` (the
        active ones, whose live state the caller knows better). The count reads the state index
        alone; the excluded ids are looked up by their unique index."""
        with self._lock:
            counts = dict(self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
            if exclude:  # one JSON parameter, whatever the number of active jobs
                for state, n in self._db.execute(
                        "SELECT state, COUNT(*) FROM jobs WHERE job_id IN (SELECT value FROM json_each(?)) "
                        "GROUP BY state", (json.dumps(list(exclude)),)):
                    counts[state] -= n
        return {state: n for state, n in counts.items() if n}

    def close(self) -> None:
        """Close the database (later calls raise sqlite3.ProgrammingError)."""
        with self._lock:
            self._db.close()


_ARRAYS_RE = re.compile(r"checkpoint-\d{4,}\.npz")


class CheckpointError(Exception):
    """A checkpoint exists but cannot be used."""


class CheckpointStore:
    """Epoch checkpoints of running jobs: jobs/<id>/checkpoint-NNNN.npz + checkpoint.json."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"CheckpointStore({str(self.root)!r})"

    def save(self, job_id: str, epoch: int, arrays: dict, meta: dict, job: dict | None = None) -> None:
        """Persist one checkpoint; the json written last points at its arrays, so a crash
        between the two writes leaves the previous checkpoint intact. `job` (name, config,
        created) lets the job be rebuilt if the job database is lost."""
        folder = self.root / job_id
        folder.mkdir(exist_ok=True)
        name = f"checkpoint-{epoch:04d}.npz"
        data = npz_bytes(arrays)
        write_bytes_atomic(folder / name, data)
        pointer = {"format": 1, "epoch": epoch, "arrays": name, "sha256": sha256_hex(data), "meta": meta}
        if job is not None:
            pointer["job"] = job
        write_bytes_atomic(folder / "checkpoint.json", json.dumps(pointer).encode())
        for old in folder.glob("checkpoint-*.npz"):
            if old.name != name:
                old.unlink(missing_ok=True)

    def load(self, job_id: str) -> tuple[dict, dict] | None:
        """(arrays, meta) of the latest checkpoint, None if there is none; CheckpointError if unusable."""
        pointer_path = self.root / job_id / "checkpoint.json"
        if not pointer_path.exists():
            return None
        try:
            pointer = json.loads(pointer_path.read_text())
            if not _ARRAYS_RE.fullmatch(str(pointer["arrays"])):
                raise CheckpointError(f"bad arrays file name {pointer['arrays']!r}")
            data = (pointer_path.parent / pointer["arrays"]).read_bytes()
            if sha256_hex(data) != pointer["sha256"]:
                raise CheckpointError(f"{pointer['arrays']} fails its sha256 checksum")
            return load_npz_bytes(data), pointer["meta"]
        except CheckpointError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{type(exc).__name__}: {exc}") from exc

    def job_ids(self) -> list[str]:
        """Ids of the jobs that have a checkpoint folder."""
        return sorted(entry.name for entry in self.root.iterdir() if entry.is_dir() and is_valid_id(entry.name))

    def job_info(self, job_id: str) -> dict | None:
        """The job (name, config, created) its latest checkpoint records, or None if it has none."""
        try:
            pointer = json.loads((self.root / job_id / "checkpoint.json").read_text())
        except (OSError, ValueError):
            return None
        job = pointer.get("job") if isinstance(pointer, dict) else None
        return job if isinstance(job, dict) and isinstance(job.get("config"), dict) else None

    def delete(self, job_id: str) -> None:
        """Remove a job's checkpoints (after it ended)."""
        shutil.rmtree(self.root / job_id, ignore_errors=True)
