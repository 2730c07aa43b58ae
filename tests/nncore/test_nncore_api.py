"""Smoke test: the whole public API imports and a tiny training run learns."""

import numpy as np


def test_public_api_imports_and_tiny_training_learns():
    import nncore
    from nncore.mnist import MnistNotFoundError, default_mnist_dir, download_mnist, load_mnist, parse_idx  # noqa: F401
    from nncore.training import TrainConfig, train

    rng = np.random.default_rng(0)
    centers = rng.standard_normal((3, 8)) * 3
    t = rng.integers(0, 3, 300)
    x = (centers[t] + rng.standard_normal((300, 8))).astype(np.float32)
    history = train(TrainConfig(hidden_size=16, epochs=5, batch_size=30, learning_rate=0.01), x, t, x, t)
    assert isinstance(history.net, nncore.TwoLayerNet)
    assert history.epochs[-1].test_accuracy > 0.9
    assert history.train_loss_list[-1] < history.train_loss_list[0]
