"""nncore: the NumPy neural-network core of nnservice (after "Deep Learning from Scratch")."""

from .config import TrainConfig
from .mnist import MnistNotFoundError, download_mnist, load_mnist
from .network import TwoLayerNet
from .optimizers import SGD, AdaGrad, Adam, Momentum, make_optimizer
from .records import EpochRecord, History, Progress, TrainState
from .training import build_network, train

__all__ = [
    "TwoLayerNet",
    "SGD",
    "Momentum",
    "AdaGrad",
    "Adam",
    "make_optimizer",
    "TrainConfig",
    "TrainState",
    "History",
    "EpochRecord",
    "Progress",
    "train",
    "build_network",
    "load_mnist",
    "download_mnist",
    "MnistNotFoundError",
]
