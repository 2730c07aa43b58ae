"""The soak's model-lifecycle actions (#14): export a known model, import it, check, delete the copy.

For bench/soak_actions.py's ACTIONS table (name -> (weight, action)):
    from soak_lifecycle import act_move_model
    ACTIONS["ExportImportDelete"] = (1, act_move_model)
An action takes the soak's shared state (Soak: lock, models, mismatches), a client and a Random.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import numpy as np

from client import NNClient

#: The soak's fixed input (bench/soak_actions.FIXED_INPUT): 4 uint8 rows of 784 features.
FIXED_INPUT = np.random.default_rng(1234).integers(0, 256, (4, 784), dtype=np.uint8)


def act_move_model(soak, client: NNClient, rng: random.Random) -> None:
    """ExportModel a known model, ImportModel the file, check the copy answers the model's reference
    probabilities bit for bit, then DeleteModel the copy (never a model other actions predict on,
    so no Predict can race the delete). A kill midway leaves at most a copy (or a .tmp- leftover)."""
    with soak.lock:
        known = list(soak.models)
    if not known:
        return
    model_id = rng.choice(known)
    with tempfile.TemporaryDirectory(prefix="soak-export-") as folder:
        path = client.export_model(model_id, Path(folder) / "m.npz", progress=False, timeout=30)
        copy = client.import_model(path, name=f"soak copy of {model_id}", progress=False, timeout=30)
    probs = client.predict(copy.model_id, FIXED_INPUT).probabilities
    with soak.lock:
        soak.mismatches += not np.array_equal(soak.models[model_id], probs)
    client.delete_model(copy.model_id)
