"""A damaged job database at start-up: move it aside and rebuild the job index from the disk.

Models (models/<id>/model.json) come back as SUCCEEDED jobs; checkpoints (jobs/<id>/) as
interrupted jobs, which JobManager.recover() then resumes, or as FAILED jobs when the checkpoint
does not say how the job was configured. Jobs that had neither (queued, or in their first
epoch, or ended without a model) are gone with the database.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from server.models import ModelStore
from server.records import FAILED, RUNNING, SUCCEEDED, JobRecord
from server.store import CheckpointStore, DamagedDatabase, JobStore

log = logging.getLogger(__name__)

_SIDE_FILES = ("", "-wal", "-shm")  # SQLite's database, write-ahead log and shared-memory index
UNKNOWN_CONFIG = ("interrupted, and the job database was damaged; its checkpoint does not record "
                  "the job's configuration, so it cannot resume: submit the job again")


def open_job_store(path: Path, models: ModelStore, checkpoints: CheckpointStore) -> JobStore:
    """The job database at `path`; a damaged one is moved aside and rebuilt from the disk."""
    try:
        return JobStore(path)
    except DamagedDatabase as exc:
        reason = str(exc)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    try:
        moved = move_aside(path, stamp)
        store = JobStore(path)
    except (OSError, DamagedDatabase) as exc:
        raise OSError(f"the job database {path} is unusable ({reason}) and cannot be replaced "
                      f"({exc}); make the state directory writable, or move the file away") from None
    jobs = rebuild(store, models, checkpoints)
    log.error("job database %s is unusable (%s): moved it to %s and rebuilt the job index from "
              "the state directory (%d jobs from %d models and %d checkpoints); nothing to do unless "
              "you want the old records: keep %s to investigate, delete it when done",
              path, reason, moved.name, sum(jobs.values()), jobs[SUCCEEDED], jobs[RUNNING] + jobs[FAILED],
              moved.name)
    return store


def move_aside(path: Path, stamp: str) -> Path:
    """Rename the database and its -wal/-shm files to <name>.damaged-<stamp>*; the new path."""
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    suffix = 0
    while any(Path(f"{target}{side}").exists() for side in _SIDE_FILES):
        suffix += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{suffix}")
    for side in _SIDE_FILES:
        source = Path(f"{path}{side}")
        if source.exists():
            os.rename(source, f"{target}{side}")
    return target


def rebuild(store: JobStore, models: ModelStore, checkpoints: CheckpointStore) -> dict[str, int]:
    """Insert a record per model and per checkpoint, oldest first; counts by state."""
    records, known = [], set()
    for meta in models.page(2**31, "")[0]:
        try:
            record = _from_model(meta)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:  # model.json that makes no sense
            log.warning("model %s: no job rebuilt from its model.json (%s: %s)", meta.get("model_id"),
                        type(exc).__name__, exc)
            continue
        if record.job_id not in known:  # a model id is its job's id; a copied model.json may repeat one
            known.add(record.job_id)
            records.append(record)
    for job_id in checkpoints.job_ids():
        if job_id in known:  # the model was saved, the checkpoint not yet removed
            checkpoints.delete(job_id)
            continue
        try:
            records.append(_from_checkpoint(job_id, checkpoints))
        except (OSError, TypeError, ValueError) as exc:
            log.warning("job %s: not rebuilt from its checkpoint (%s: %s)", job_id, type(exc).__name__, exc)
    counts = {SUCCEEDED: 0, RUNNING: 0, FAILED: 0}
    for record in sorted(records, key=lambda r: (r.created, r.job_id)):
        store.insert(record)
        counts[record.state] += 1
    return counts


def _from_model(meta: dict) -> JobRecord:
    """The SUCCEEDED job that produced a model, from its model.json."""
    final = meta.get("final_metrics")
    history = meta.get("history") or ([final] if final else [])
    epochs = int(meta["config"].get("epochs", len(history)))
    created = float(meta["created"])
    return JobRecord(job_id=str(meta["model_id"]), name=str(meta.get("name") or ""), config=dict(meta["config"]),
                     state=SUCCEEDED, created=created, started=created, ended=created, epoch=epochs,
                     total_epochs=epochs, history=list(history),
                     loss=float(history[-1]["loss"]) if history else 0.0, model_id=str(meta["model_id"]))


def _from_checkpoint(job_id: str, checkpoints: CheckpointStore) -> JobRecord:
    """An interrupted job (RUNNING, for recover() to resume), or FAILED if its config is unknown."""
    job = checkpoints.job_info(job_id)
    folder = checkpoints.root / job_id
    created = folder.stat().st_mtime
    if job is None:
        return JobRecord(job_id=job_id, name="", config={}, state=FAILED, created=created,
                         ended=time.time(), error=UNKNOWN_CONFIG)
    config = job["config"]
    return JobRecord(job_id=job_id, name=str(job.get("name", "")), config=config, state=RUNNING,
                     created=float(job.get("created", created)), started=float(job.get("created", created)),
                     total_epochs=int(config.get("epochs", 0)))
