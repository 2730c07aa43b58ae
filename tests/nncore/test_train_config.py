"""TrainConfig: defaults, validation messages, resolution of defaults, JSON round trip."""

import json

import pytest

from nncore.training import TrainConfig


def test_defaults_validate_and_resolve():
    config = TrainConfig()
    config.validate()
    resolved = config.resolved()
    assert (resolved.learning_rate, resolved.weight_init) == (0.001, "he")
    assert config.learning_rate is None and config.weight_init == "auto"  # frozen original untouched
    assert TrainConfig(activation="sigmoid").resolved().weight_init == "xavier"
    assert TrainConfig(weight_init="std", learning_rate=0.5).resolved().learning_rate == 0.5


@pytest.mark.parametrize(
    ("optimizer", "lr"), [("sgd", 0.1), ("momentum", 0.05), ("adagrad", 0.01), ("adam", 0.001)]
)
def test_default_learning_rate_per_optimizer(optimizer, lr):
    assert TrainConfig(optimizer=optimizer).resolved().learning_rate == lr


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("hidden_size", 0, r"hidden_size must be an integer in \[1, "),
        ("hidden_size", 2.5, "hidden_size must be an integer"),
        ("hidden_size", True, "hidden_size must be an integer"),
        ("activation", "tanh", "activation must be one of relu, sigmoid"),
        ("weight_init", "glorot", "weight_init must be one of auto, he, xavier, std"),
        ("weight_init_std", 0.0, r"weight_init_std must be a number in \(0.0, 10.0\]"),
        ("optimizer", "rmsprop", "optimizer must be one of sgd, momentum, adagrad, adam"),
        ("learning_rate", -0.1, "learning_rate must be a number in .* or None"),
        ("batch_size", 0, "batch_size must be an integer"),
        ("epochs", 0, "epochs must be an integer"),
        ("iterations", 0, "iterations must be an integer .* or None"),
        ("seed", -1, "seed must be an integer"),
        ("sampling", "bootstrap", "sampling must be one of shuffle, replacement"),
        ("train_size", 0, "train_size must be an integer"),
        ("eval_size", 0, "eval_size must be an integer"),
        ("lr_schedule", "step", "lr_schedule must be one of constant, cosine"),
        ("dtype", "float16", "dtype must be one of float32, float64"),
    ],
)
def test_validate_names_the_field_and_the_allowed_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value}).validate()


def test_json_round_trip():
    config = TrainConfig(hidden_size=32, optimizer="sgd", learning_rate=0.2, iterations=50, eval_size=100)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_from_dict_rejects_unknown_keys_and_bad_values():
    with pytest.raises(ValueError, match="unknown TrainConfig field.*hiden_size.*allowed: hidden_size"):
        TrainConfig.from_dict({"hiden_size": 10})
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig.from_dict({"batch_size": -5})


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        TrainConfig().epochs = 3


def test_hidden_sizes_and_the_one_layer_shorthand():
    assert TrainConfig().hidden_sizes == (100,) and TrainConfig().hidden_size == 100
    assert TrainConfig(hidden_size=32).hidden_sizes == (32,)
    deep = TrainConfig(hidden_sizes=[512, 256])
    assert deep.hidden_sizes == (512, 256) and deep.hidden_size is None
    assert TrainConfig.from_dict(json.loads(json.dumps(deep.to_dict()))) == deep
    assert TrainConfig(hidden_size=64, hidden_sizes=(64,)).hidden_sizes == (64,)  # agreeing: fine
    with pytest.raises(ValueError, match="hidden_size .* and hidden_sizes .* disagree"):
        TrainConfig(hidden_size=64, hidden_sizes=(32, 16))
    with pytest.raises(ValueError, match=r"hidden_sizes\[1\] must be an integer"):
        TrainConfig(hidden_sizes=(32, 0))


@pytest.mark.parametrize(("field", "value", "message"), [
    ("dropout", 1.0, r"dropout must be a number in \[0, 1\)"),
    ("dropout", -0.1, r"dropout must be a number in \[0, 1\)"),
    ("weight_decay", -1e-4, r"weight_decay must be a number in \[0, 10.0\]"),
    ("batch_norm", "yes", "batch_norm must be true or false"),
])
def test_regularisation_options_are_checked_when_built(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})
