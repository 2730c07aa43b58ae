"""ModelStore: round trip, checksum, crash mid-write, no pickle, and the serving copies."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile

import numpy as np
import pytest
from nncore import MultiLayerNet, TwoLayerNet

from server.errors import DataLoss
from server.fsutil import npz_bytes
from server.models import MAX_CACHED_MODELS, ModelStore


def make_net(seed: int = 0, hidden: int = 16) -> TwoLayerNet:
    return TwoLayerNet(784, hidden, 10, activation="relu", weight_init="he", seed=seed)


def meta_of(net: MultiLayerNet, job_id: str) -> dict:
    return {"job_id": job_id, "name": "test", "architecture": net.architecture,
            "config": {"hidden_sizes": list(net.hidden_sizes)}, "final_metrics": None}


def save(store: ModelStore, model_id: str, seed: int = 0) -> TwoLayerNet:
    net = make_net(seed)
    store.save(model_id, net, meta_of(net, model_id))
    return net


@pytest.fixture
def x() -> np.ndarray:
    return np.random.default_rng(5).random((4, 784), dtype=np.float32)


def test_round_trip_through_a_fresh_store_predicts_like_the_original(tmp_path, x):
    net = save(ModelStore(tmp_path), "m1")
    store = ModelStore(tmp_path)  # as after a restart
    meta = store.meta("m1")
    assert meta["model_id"] == "m1" and meta["architecture"]["hidden_size"] == 16
    assert meta["size_bytes"] == (tmp_path / "m1" / "weights.npz").stat().st_size
    model = store.load("m1")
    np.testing.assert_allclose(model.predict_proba(x), net.predict_proba(x), rtol=1e-6)
    assert all(not a.flags.writeable for a in model.arrays())
    assert store.load("m1") is model and store.cached("m1") is model
    assert store.load("unknown") is None and store.cached("unknown") is None


def test_uint8_pixels_give_the_same_answer_as_scaled_floats(tmp_path):
    save(store := ModelStore(tmp_path), "m1")
    pixels = np.random.default_rng(2).integers(0, 256, (5, 784), dtype=np.uint8)
    model = store.load("m1")
    np.testing.assert_allclose(model.predict_proba(pixels), model.predict_proba(pixels / np.float32(255)),
                               rtol=1e-5, atol=1e-7)


def test_a_flipped_byte_is_caught_by_the_checksum(tmp_path, x):
    save(ModelStore(tmp_path), "m1")
    path = tmp_path / "m1" / "weights.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(DataLoss, match=r"model m1: weights.npz is corrupt .*retrain"):
        ModelStore(tmp_path).load("m1")


def test_a_rename_that_fails_leaves_no_model_and_no_leftovers(tmp_path, monkeypatch):
    store = ModelStore(tmp_path)

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("server.models.os.rename", crash)
    with pytest.raises(OSError, match="No space"):
        save(store, "m1")
    assert list(tmp_path.iterdir()) == [] and store.meta("m1") is None


def test_a_kill_between_writes_leaves_only_a_temporary_dir_that_is_swept(tmp_path, monkeypatch):
    store = ModelStore(tmp_path)
    calls = []
    real = os.fsync

    class Killed(BaseException):
        """Stands in for SIGKILL: nothing after this line runs."""

    def killed_after_weights(fd):
        calls.append(fd)
        real(fd)
        if len(calls) == 1:  # weights.npz written and synced, model.json not yet
            raise Killed

    monkeypatch.setattr("server.fsutil.os.fsync", killed_after_weights)
    monkeypatch.setattr("server.models.shutil.rmtree", lambda *a, **k: None)  # a kill cleans nothing
    with pytest.raises(Killed):
        save(store, "m1")
    monkeypatch.undo()
    assert [p.name.startswith(".tmp-m1") for p in tmp_path.iterdir()] == [True]
    restarted = ModelStore(tmp_path)
    assert list(tmp_path.iterdir()) == [] and restarted.meta("m1") is None and restarted.load("m1") is None


def test_saving_over_an_existing_model_fails_and_keeps_it(tmp_path, x):
    store = ModelStore(tmp_path)
    net = save(store, "m1", seed=0)
    with pytest.raises(OSError):
        save(store, "m1", seed=1)
    np.testing.assert_allclose(ModelStore(tmp_path).load("m1").predict_proba(x), net.predict_proba(x), rtol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == ["m1"]


def test_no_pickle_weights_load_with_allow_pickle_false_and_hold_only_numbers(tmp_path):
    save(ModelStore(tmp_path), "m1")
    path = tmp_path / "m1" / "weights.npz"
    with np.load(path, allow_pickle=False) as npz:
        assert sorted(npz.files) == ["W1", "W2", "architecture", "b1", "b2"]  # the architecture rides along
        assert all(npz[name].dtype == np.float32 for name in npz.files if name != "architecture")
        assert npz["architecture"].dtype == np.uint8  # JSON bytes, not a pickled object
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            header = archive.read(name)[:128]
            assert (b"'descr': '<f4'" in header or b"'descr': '|u1'" in header) and b"|O" not in header
    json.loads((tmp_path / "m1" / "model.json").read_text())  # plain JSON metadata


def test_object_arrays_are_refused():
    with pytest.raises(ValueError, match="dtype object"):
        npz_bytes({"W1": np.array([{"evil": 1}], dtype=object)})


def test_shapes_that_contradict_the_architecture_are_data_loss(tmp_path):
    net = make_net()
    meta = meta_of(net, "m1")
    meta["architecture"] = dict(meta["architecture"], hidden_size=17, hidden_sizes=[17])
    ModelStore(tmp_path).save("m1", net, meta)
    path = tmp_path / "m1" / "weights.npz"  # rewritten in the old format, which trusts model.json
    path.write_bytes(npz_bytes(net.params))
    stored = json.loads((tmp_path / "m1" / "model.json").read_text())
    stored["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "m1" / "model.json").write_text(json.dumps(stored))
    with pytest.raises(DataLoss, match="do not match the architecture"):
        ModelStore(tmp_path).load("m1")


def test_pages_are_newest_first_and_the_cache_is_bounded(tmp_path):
    store = ModelStore(tmp_path)
    net = make_net(hidden=2)
    for i in range(MAX_CACHED_MODELS + 2):
        store.save(f"m{i:02d}", net, dict(meta_of(net, f"m{i:02d}"), created=1000.0 + i))
    first, token = store.page(5, "")
    assert [m["model_id"] for m in first] == [f"m{i:02d}" for i in range(33, 28, -1)] and token == "m29"
    rest, end = store.page(100, token)
    assert len(rest) == MAX_CACHED_MODELS + 2 - 5 and end == ""
    for i in range(MAX_CACHED_MODELS + 2):
        store.load(f"m{i:02d}")
    assert sum(store.cached(f"m{i:02d}") is not None for i in range(MAX_CACHED_MODELS + 2)) == MAX_CACHED_MODELS


def write_old_format(root, model_id: str, net: TwoLayerNet) -> None:
    """A model as the store wrote it before nncore.persist: W1 b1 W2 b2 + model.json (format 1)."""
    folder = root / model_id
    folder.mkdir()
    data = npz_bytes(net.params)
    (folder / "weights.npz").write_bytes(data)
    meta = {"model_id": model_id, "job_id": model_id, "name": "old", "format": 1, "created": 1000.0,
            "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data), "final_metrics": None,
            "config": {"hidden_size": 16, "activation": "relu"},
            "architecture": {"input_size": 784, "hidden_size": 16, "output_size": 10, "activation": "relu",
                             "weight_init": "he", "weight_init_std": 0.01, "dtype": "float32"}}
    (folder / "model.json").write_text(json.dumps(meta))


def test_a_model_saved_in_the_old_format_still_loads_and_predicts(tmp_path, x):
    net = make_net(seed=4)
    write_old_format(tmp_path, "old", net)
    model = ModelStore(tmp_path).load("old")
    np.testing.assert_allclose(model.predict_proba(x), net.predict_proba(x), rtol=1e-6)


def test_a_deep_model_round_trips_with_its_running_statistics(tmp_path, x):
    net = MultiLayerNet(784, [12, 8], 10, use_batchnorm=True, use_dropout=True, dropout_ratio=0.2, seed=1)
    rng = np.random.default_rng(0)
    for _ in range(3):
        net.gradient(rng.random((20, 784), dtype=np.float32), rng.integers(0, 10, 20))
    meta = meta_of(net, "deep")
    assert meta["architecture"]["hidden_sizes"] == [12, 8] and meta["architecture"]["batch_norm"]
    ModelStore(tmp_path).save("deep", net, meta)
    model = ModelStore(tmp_path).load("deep")
    np.testing.assert_allclose(model.predict_proba(x), net.predict_proba(x), rtol=1e-5, atol=1e-7)


def store_of_many(root, extra: int) -> tuple[ModelStore, list[str]]:
    """A store of MAX_CACHED_MODELS + extra small models, and their ids."""
    store, net = ModelStore(root), make_net(hidden=2)
    ids = [f"m{i:02d}" for i in range(MAX_CACHED_MODELS + extra)]
    for model_id in ids:
        store.save(model_id, net, meta_of(net, model_id))
    return store, ids


def test_serving_many_models_keeps_only_the_cached_ones_in_memory(tmp_path):
    import gc
    import weakref

    from server.serving import ModelRegistry

    store, ids = store_of_many(tmp_path, 8)
    registry = ModelRegistry(store, jobs=None)
    served = [weakref.ref(registry.serving(model_id)[0]) for model_id in ids]
    gc.collect()
    assert sum(ref() is not None for ref in served) == MAX_CACHED_MODELS  # the evicted ones are gone
    model, spec = registry.serving(ids[-1])
    assert registry.serving(ids[-1]) == (model, spec) and spec.input_shape == (28, 28)


def test_verifying_every_model_leaves_the_cache_as_it_was(tmp_path):
    store, ids = store_of_many(tmp_path, 4)
    hot = store.load(ids[0])
    assert all(store.verify(model_id) for model_id in ids) and not store.verify("nope")
    assert store.cached(ids[0]) is hot and sum(store.cached(m) is not None for m in ids) == 1
    (tmp_path / ids[1] / "weights.npz").write_bytes(b"not a zip")
    with pytest.raises(DataLoss):
        store.verify(ids[1])
