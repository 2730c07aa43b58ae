"""Python SDK and `nnctl` command line for nnservice (imports only protos, grpc, numpy, tqdm)."""
from .datasets import DatasetInfo
from .errors import MissingExtraError, NNServiceError
from .sdk import TRAIN_PARAMETERS, NNClient
from .types import (
    JOB_STATES,
    TERMINAL_STATES,
    Architecture,
    EpochMetrics,
    Health,
    JobStatus,
    ModelInfo,
    Prediction,
    TrainingConfig,
)

__all__ = [
    "NNClient", "NNServiceError", "MissingExtraError", "TRAIN_PARAMETERS",
    "JobStatus", "EpochMetrics", "TrainingConfig", "ModelInfo", "Architecture",
    "Prediction", "Health", "JOB_STATES", "TERMINAL_STATES",
    "DatasetInfo",
]
