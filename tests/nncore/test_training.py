"""train(): learning, determinism, resume, cancellation, progress, uint8 input."""

import io
import json

import numpy as np
import pytest

from nncore import TwoLayerNet
from nncore.training import EpochRecord, History, TrainConfig, TrainState, train

BASE = dict(hidden_size=16, batch_size=20, epochs=3, learning_rate=0.01)
DEEP = dict(hidden_size=None, hidden_sizes=(16, 8), batch_norm=True, dropout=0.2, weight_decay=1e-3)


@pytest.fixture(scope="module")
def data():
    """Separable uint8 'images': 4 classes of 24 pixels, 200 train and 60 test rows."""
    rng = np.random.default_rng(0)
    centers = rng.integers(30, 226, (4, 24))

    def make(n):
        t = rng.integers(0, 4, n).astype(np.uint8)
        x = np.clip(centers[t] + rng.normal(0, 25, (n, 24)), 0, 255).astype(np.uint8)
        return x, t

    (x_train, t_train), (x_test, t_test) = make(200), make(60)
    for arr in (x_train, t_train, x_test, t_test):
        arr.flags.writeable = False  # train must never write to its inputs
    return x_train, t_train, x_test, t_test


def run(data, **overrides):
    return train(TrainConfig(**{**BASE, **overrides}), *data)


def assert_same_result(a: History, b: History):
    assert a.train_loss_list == b.train_loss_list
    assert a.train_acc_list == b.train_acc_list and a.test_acc_list == b.test_acc_list
    for key in a.net.params:
        np.testing.assert_array_equal(a.net.params[key], b.net.params[key])
    for key in a.net.buffers:  # batch norm's running statistics are part of the model
        np.testing.assert_array_equal(a.net.buffers[key], b.net.buffers[key])


def test_training_learns_and_fills_the_history(data):
    history = run(data)
    assert history.test_acc_list[-1] > 0.9
    assert len(history.train_loss_list) == 3 * (200 // 20)
    assert [r.epoch for r in history.epochs] == [1, 2, 3]
    assert history.epochs[-1].loss < history.epochs[0].loss
    assert history.train_acc_list == [r.train_accuracy for r in history.epochs]
    assert all(r.seconds >= 0 for r in history.epochs) and not history.stopped
    assert isinstance(history.net, TwoLayerNet) and history.net.params["W1"].dtype == np.float32
    json.dumps(history.to_dict())
    assert "stopped=False" in repr(history)


@pytest.mark.parametrize(
    "overrides",
    [{}, {"sampling": "replacement", "optimizer": "sgd", "learning_rate": 0.1},
     {"activation": "sigmoid", "optimizer": "momentum", "lr_schedule": "cosine", "dtype": "float64"}],
)
def test_same_seed_gives_identical_history_and_weights(data, overrides):
    assert_same_result(run(data, **overrides), run(data, **overrides))
    other = run(data, seed=1, **overrides)
    assert other.train_loss_list != run(data, **overrides).train_loss_list


def test_uint8_input_equals_float_input_divided_by_255(data):
    x_train, t_train, x_test, t_test = data
    as_float = (x_train.astype(np.float32) / 255, t_train, x_test.astype(np.float32) / 255, t_test)
    assert_same_result(run(data), run(as_float))
    as_float64 = (x_train / 255.0, t_train, x_test / 255.0, t_test)
    assert_same_result(run(data), run(as_float64))


def test_one_hot_labels_train_like_integer_labels(data):
    x_train, t_train, x_test, t_test = data
    one_hot = (x_train, np.eye(4, dtype=np.float32)[t_train], x_test, np.eye(4, dtype=np.float32)[t_test])
    a, b = run(data), run(one_hot)
    np.testing.assert_allclose(a.train_loss_list, b.train_loss_list, rtol=1e-4)
    assert a.test_acc_list == b.test_acc_list


def roundtrip(state: TrainState) -> TrainState:
    """Persist a state as .npz + .json (no pickle) and read it back."""
    buf = io.BytesIO()
    np.savez(buf, **state.arrays())
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return TrainState.from_parts(arrays, json.loads(json.dumps(state.meta())))


@pytest.mark.parametrize(
    "overrides",
    [{}, {"sampling": "replacement", "lr_schedule": "cosine"}, {"iterations": 25, "optimizer": "adagrad"},
     DEEP],
)
def test_resume_from_a_state_equals_an_uninterrupted_run(data, overrides):
    states = []
    full = train(TrainConfig(**{**BASE, **overrides}), *data, on_epoch_end=states.append)
    assert [s.epoch for s in states] == [1, 2, 3]
    assert states[-1].iteration == len(full.train_loss_list)
    resumed = train(TrainConfig(**{**BASE, **overrides}), *data, resume=roundtrip(states[0]))
    assert_same_result(full, resumed)
    assert [r.epoch for r in resumed.epochs] == [1, 2, 3]


def test_epoch_states_are_snapshots(data):
    states = []
    history = train(TrainConfig(**BASE), *data, on_epoch_end=states.append)
    assert not np.array_equal(states[0].params["W1"], history.net.params["W1"])
    np.testing.assert_array_equal(states[-1].params["W1"], history.net.params["W1"])
    assert "epoch=1" in repr(states[0])


def test_resume_rejects_a_state_from_other_data(data):
    states = []
    train(TrainConfig(**BASE), *data, on_epoch_end=states.append)
    with pytest.raises(ValueError, match="resume state"):
        train(TrainConfig(**{**BASE, "batch_size": 30}), *data, resume=states[0])


def test_should_stop_stops_promptly(data):
    calls = []
    progress = []

    def should_stop():
        calls.append(1)
        return len(calls) > 7

    history = train(TrainConfig(**BASE), *data, should_stop=should_stop, on_progress=progress.append)
    assert history.stopped
    assert len(history.train_loss_list) == 7 and len(calls) == 8
    assert progress[-1].iteration == 7 and history.epochs == []


def test_on_progress_reports_every_iteration_and_each_epoch_close(data):
    progress = []
    history = train(TrainConfig(**{**BASE, "iterations": 25}), *data, on_progress=progress.append)
    assert [p.iteration for p in progress] == list(range(1, 26))
    assert all(p.total_iterations == 25 and p.total_epochs == 3 for p in progress)
    assert [p.loss for p in progress] == history.train_loss_list
    closing = [p for p in progress if p.epoch_record is not None]
    assert [p.iteration for p in closing] == [10, 20, 25]
    assert [p.epoch for p in closing] == [1, 2, 3]
    assert all(isinstance(p.epoch_record, EpochRecord) for p in closing)
    assert [p.epoch_record for p in closing] == history.epochs
    assert all(p.epoch == (p.iteration - 1) // 10 for p in progress if p.epoch_record is None)


def test_train_size_and_eval_size(data):
    history = run(data, train_size=100, eval_size=50, epochs=2)
    assert len(history.train_loss_list) == 2 * (100 // 20)
    # Accuracy on 50 images moves in steps of 1/50.
    assert all(abs(a * 50 - round(a * 50)) < 1e-9 for a in history.train_acc_list + history.test_acc_list)


def test_training_a_given_network(data):
    net = TwoLayerNet(24, 8, 4, activation="relu", weight_init="he", dtype=np.float64, seed=5)
    history = train(TrainConfig(**BASE), *data, net=net)
    assert history.net is net and net.params["W1"].dtype == np.float64
    with pytest.raises(ValueError, match="net expects 10 input features"):
        train(TrainConfig(**BASE), *data, net=TwoLayerNet(10, 4, 4))


def test_bad_inputs_raise_value_errors(data):
    x_train, t_train, x_test, t_test = data
    with pytest.raises(ValueError, match="batch_size"):
        train(TrainConfig(batch_size=0), *data)
    with pytest.raises(ValueError, match="train: need N >= 1 rows"):
        train(TrainConfig(**BASE), x_train, t_train[:-1], x_test, t_test)
    with pytest.raises(ValueError, match=r"t_test: labels must be integers in \[0, 3\]"):
        train(TrainConfig(**BASE), x_train, t_train, x_test, t_test + 4, net=TwoLayerNet(24, 4, 4))
    with pytest.raises(ValueError, match="t_train: one-hot targets must have 4 columns"):
        train(TrainConfig(**BASE), x_train, np.eye(5)[t_train], x_test, t_test, net=TwoLayerNet(24, 4, 4))
    with pytest.raises(ValueError, match="x_train must be a uint8 or float array"):
        train(TrainConfig(**BASE), x_train.astype(np.int64), t_train, x_test, t_test)


def test_a_deep_net_with_batch_norm_and_dropout_learns(data):
    history = run(data, **DEEP, epochs=5)
    assert history.net.hidden_sizes == (16, 8) and history.net.use_batchnorm and history.net.use_dropout
    assert history.net.buffers["running_var1"].any()  # the statistics were gathered
    assert history.epochs[-1].test_accuracy > 0.9


def test_a_version_1_state_still_resumes(data):
    states = []
    full = train(TrainConfig(**BASE), *data, on_epoch_end=states.append)
    meta = {k: v for k, v in states[0].meta().items() if k != "net_rng_state"}
    old = TrainState.from_parts(states[0].arrays(), {**meta, "version": 1})
    assert old.buffers == {} and old.net_rng_state is None
    assert_same_result(full, train(TrainConfig(**BASE), *data, resume=old))
