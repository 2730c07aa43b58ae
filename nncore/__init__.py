"""nncore: the NumPy neural-network core of nnservice (after "Deep Learning from Scratch")."""

from .config import TrainConfig
from .mnist import MnistNotFoundError, download_mnist, load_mnist
from .multilayer import MultiLayerNet, MultiLayerNetExtend
from .network import TwoLayerNet
from .optimizers import SGD, AdaGrad, Adam, Momentum, make_optimizer
from .persist import load_network, network_from_bytes, network_to_bytes, save_network
from .predictor import Predictor
from .records import EpochRecord, History, Progress, TrainState
from .training import build_network, train

__all__ = [
    "TwoLayerNet",
    "MultiLayerNet",
    "MultiLayerNetExtend",
    "Predictor",
    "save_network",
    "load_network",
    "network_to_bytes",
    "network_from_bytes",
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
