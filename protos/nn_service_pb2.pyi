import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLING: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]

class DType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DTYPE_UNSPECIFIED: _ClassVar[DType]
    DTYPE_FLOAT32: _ClassVar[DType]
    DTYPE_UINT8: _ClassVar[DType]

class DatasetSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATASET_SOURCE_UNSPECIFIED: _ClassVar[DatasetSource]
    DATASET_SOURCE_BUILTIN: _ClassVar[DatasetSource]
    DATASET_SOURCE_UPLOADED: _ClassVar[DatasetSource]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLING: JobState
JOB_STATE_CANCELLED: JobState
DTYPE_UNSPECIFIED: DType
DTYPE_FLOAT32: DType
DTYPE_UINT8: DType
DATASET_SOURCE_UNSPECIFIED: DatasetSource
DATASET_SOURCE_BUILTIN: DatasetSource
DATASET_SOURCE_UPLOADED: DatasetSource

class Tensor(_message.Message):
    __slots__ = ("shape", "dtype", "float_data", "raw_data")
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    FLOAT_DATA_FIELD_NUMBER: _ClassVar[int]
    RAW_DATA_FIELD_NUMBER: _ClassVar[int]
    shape: _containers.RepeatedScalarFieldContainer[int]
    dtype: DType
    float_data: _containers.RepeatedScalarFieldContainer[float]
    raw_data: bytes
    def __init__(self, shape: _Optional[_Iterable[int]] = ..., dtype: _Optional[_Union[DType, str]] = ..., float_data: _Optional[_Iterable[float]] = ..., raw_data: _Optional[bytes] = ...) -> None: ...

class TrainRequest(_message.Message):
    __slots__ = ("hidden_size", "activation", "weight_init", "optimizer", "learning_rate", "batch_size", "epochs", "seed", "dataset", "name", "train_size", "eval_size", "lr_schedule", "sampling", "hidden_sizes", "batch_norm", "dropout", "weight_decay")
    HIDDEN_SIZE_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_INIT_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZER_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TRAIN_SIZE_FIELD_NUMBER: _ClassVar[int]
    EVAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    LR_SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_SIZES_FIELD_NUMBER: _ClassVar[int]
    BATCH_NORM_FIELD_NUMBER: _ClassVar[int]
    DROPOUT_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
    hidden_size: int
    activation: str
    weight_init: str
    optimizer: str
    learning_rate: float
    batch_size: int
    epochs: int
    seed: int
    dataset: str
    name: str
    train_size: int
    eval_size: int
    lr_schedule: str
    sampling: str
    hidden_sizes: _containers.RepeatedScalarFieldContainer[int]
    batch_norm: bool
    dropout: float
    weight_decay: float
    def __init__(self, hidden_size: _Optional[int] = ..., activation: _Optional[str] = ..., weight_init: _Optional[str] = ..., optimizer: _Optional[str] = ..., learning_rate: _Optional[float] = ..., batch_size: _Optional[int] = ..., epochs: _Optional[int] = ..., seed: _Optional[int] = ..., dataset: _Optional[str] = ..., name: _Optional[str] = ..., train_size: _Optional[int] = ..., eval_size: _Optional[int] = ..., lr_schedule: _Optional[str] = ..., sampling: _Optional[str] = ..., hidden_sizes: _Optional[_Iterable[int]] = ..., batch_norm: _Optional[bool] = ..., dropout: _Optional[float] = ..., weight_decay: _Optional[float] = ...) -> None: ...

class TrainResponse(_message.Message):
    __slots__ = ("job_id", "status")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    status: JobStatus
    def __init__(self, job_id: _Optional[str] = ..., status: _Optional[_Union[JobStatus, _Mapping]] = ...) -> None: ...

class TrainingConfig(_message.Message):
    __slots__ = ("hidden_size", "activation", "weight_init", "optimizer", "learning_rate", "batch_size", "epochs", "seed", "dataset", "train_size", "eval_size", "lr_schedule", "sampling", "hidden_sizes", "batch_norm", "dropout", "weight_decay")
    HIDDEN_SIZE_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_INIT_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZER_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    TRAIN_SIZE_FIELD_NUMBER: _ClassVar[int]
    EVAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    LR_SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_SIZES_FIELD_NUMBER: _ClassVar[int]
    BATCH_NORM_FIELD_NUMBER: _ClassVar[int]
    DROPOUT_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
    hidden_size: int
    activation: str
    weight_init: str
    optimizer: str
    learning_rate: float
    batch_size: int
    epochs: int
    seed: int
    dataset: str
    train_size: int
    eval_size: int
    lr_schedule: str
    sampling: str
    hidden_sizes: _containers.RepeatedScalarFieldContainer[int]
    batch_norm: bool
    dropout: float
    weight_decay: float
    def __init__(self, hidden_size: _Optional[int] = ..., activation: _Optional[str] = ..., weight_init: _Optional[str] = ..., optimizer: _Optional[str] = ..., learning_rate: _Optional[float] = ..., batch_size: _Optional[int] = ..., epochs: _Optional[int] = ..., seed: _Optional[int] = ..., dataset: _Optional[str] = ..., train_size: _Optional[int] = ..., eval_size: _Optional[int] = ..., lr_schedule: _Optional[str] = ..., sampling: _Optional[str] = ..., hidden_sizes: _Optional[_Iterable[int]] = ..., batch_norm: _Optional[bool] = ..., dropout: _Optional[float] = ..., weight_decay: _Optional[float] = ...) -> None: ...

class EpochMetrics(_message.Message):
    __slots__ = ("epoch", "loss", "train_accuracy", "test_accuracy", "seconds")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    TRAIN_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    TEST_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    loss: float
    train_accuracy: float
    test_accuracy: float
    seconds: float
    def __init__(self, epoch: _Optional[int] = ..., loss: _Optional[float] = ..., train_accuracy: _Optional[float] = ..., test_accuracy: _Optional[float] = ..., seconds: _Optional[float] = ...) -> None: ...

class JobStatus(_message.Message):
    __slots__ = ("job_id", "name", "state", "progress", "epoch", "total_epochs", "iteration", "total_iterations", "loss", "history", "create_time", "start_time", "end_time", "eta_seconds", "error", "model_id", "config", "note")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    TOTAL_EPOCHS_FIELD_NUMBER: _ClassVar[int]
    ITERATION_FIELD_NUMBER: _ClassVar[int]
    TOTAL_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    ETA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    name: str
    state: JobState
    progress: float
    epoch: int
    total_epochs: int
    iteration: int
    total_iterations: int
    loss: float
    history: _containers.RepeatedCompositeFieldContainer[EpochMetrics]
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    eta_seconds: float
    error: str
    model_id: str
    config: TrainingConfig
    note: str
    def __init__(self, job_id: _Optional[str] = ..., name: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., progress: _Optional[float] = ..., epoch: _Optional[int] = ..., total_epochs: _Optional[int] = ..., iteration: _Optional[int] = ..., total_iterations: _Optional[int] = ..., loss: _Optional[float] = ..., history: _Optional[_Iterable[_Union[EpochMetrics, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., eta_seconds: _Optional[float] = ..., error: _Optional[str] = ..., model_id: _Optional[str] = ..., config: _Optional[_Union[TrainingConfig, _Mapping]] = ..., note: _Optional[str] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("state", "page_size", "page_token")
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    state: JobState
    page_size: int
    page_token: str
    def __init__(self, state: _Optional[_Union[JobState, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[JobStatus]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[JobStatus, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PredictRequest(_message.Message):
    __slots__ = ("model_id", "input", "include_class_names")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_CLASS_NAMES_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    input: Tensor
    include_class_names: bool
    def __init__(self, model_id: _Optional[str] = ..., input: _Optional[_Union[Tensor, _Mapping]] = ..., include_class_names: _Optional[bool] = ...) -> None: ...

class PredictResponse(_message.Message):
    __slots__ = ("model_id", "classes", "probabilities", "class_names")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    CLASS_NAMES_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    classes: _containers.RepeatedScalarFieldContainer[int]
    probabilities: Tensor
    class_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, model_id: _Optional[str] = ..., classes: _Optional[_Iterable[int]] = ..., probabilities: _Optional[_Union[Tensor, _Mapping]] = ..., class_names: _Optional[_Iterable[str]] = ...) -> None: ...

class Architecture(_message.Message):
    __slots__ = ("input_size", "hidden_size", "output_size", "activation", "dtype", "hidden_sizes", "batch_norm", "dropout", "parameter_count", "input_shape")
    INPUT_SIZE_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_SIZE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SIZE_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_SIZES_FIELD_NUMBER: _ClassVar[int]
    BATCH_NORM_FIELD_NUMBER: _ClassVar[int]
    DROPOUT_FIELD_NUMBER: _ClassVar[int]
    PARAMETER_COUNT_FIELD_NUMBER: _ClassVar[int]
    INPUT_SHAPE_FIELD_NUMBER: _ClassVar[int]
    input_size: int
    hidden_size: int
    output_size: int
    activation: str
    dtype: str
    hidden_sizes: _containers.RepeatedScalarFieldContainer[int]
    batch_norm: bool
    dropout: float
    parameter_count: int
    input_shape: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, input_size: _Optional[int] = ..., hidden_size: _Optional[int] = ..., output_size: _Optional[int] = ..., activation: _Optional[str] = ..., dtype: _Optional[str] = ..., hidden_sizes: _Optional[_Iterable[int]] = ..., batch_norm: _Optional[bool] = ..., dropout: _Optional[float] = ..., parameter_count: _Optional[int] = ..., input_shape: _Optional[_Iterable[int]] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("model_id", "job_id", "name", "architecture", "config", "final_metrics", "create_time", "sha256", "size_bytes", "dataset", "class_names", "input_dtype")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    FINAL_METRICS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    CLASS_NAMES_FIELD_NUMBER: _ClassVar[int]
    INPUT_DTYPE_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    job_id: str
    name: str
    architecture: Architecture
    config: TrainingConfig
    final_metrics: EpochMetrics
    create_time: _timestamp_pb2.Timestamp
    sha256: str
    size_bytes: int
    dataset: str
    class_names: _containers.RepeatedScalarFieldContainer[str]
    input_dtype: str
    def __init__(self, model_id: _Optional[str] = ..., job_id: _Optional[str] = ..., name: _Optional[str] = ..., architecture: _Optional[_Union[Architecture, _Mapping]] = ..., config: _Optional[_Union[TrainingConfig, _Mapping]] = ..., final_metrics: _Optional[_Union[EpochMetrics, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., dataset: _Optional[str] = ..., class_names: _Optional[_Iterable[str]] = ..., input_dtype: _Optional[str] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "next_page_token")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    next_page_token: str
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetModelRequest(_message.Message):
    __slots__ = ("model_id",)
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    def __init__(self, model_id: _Optional[str] = ...) -> None: ...

class DatasetUploadMetadata(_message.Message):
    __slots__ = ("name", "format", "size_bytes", "sha256", "test_fraction", "seed", "class_names")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    TEST_FRACTION_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    CLASS_NAMES_FIELD_NUMBER: _ClassVar[int]
    name: str
    format: str
    size_bytes: int
    sha256: str
    test_fraction: float
    seed: int
    class_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., format: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., test_fraction: _Optional[float] = ..., seed: _Optional[int] = ..., class_names: _Optional[_Iterable[str]] = ...) -> None: ...

class UploadDatasetRequest(_message.Message):
    __slots__ = ("metadata", "chunk", "sha256")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    metadata: DatasetUploadMetadata
    chunk: bytes
    sha256: str
    def __init__(self, metadata: _Optional[_Union[DatasetUploadMetadata, _Mapping]] = ..., chunk: _Optional[bytes] = ..., sha256: _Optional[str] = ...) -> None: ...

class DatasetInfo(_message.Message):
    __slots__ = ("name", "source", "input_shape", "classes", "class_names", "train_size", "test_size", "sha256", "size_bytes", "create_time", "format", "dtype")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    INPUT_SHAPE_FIELD_NUMBER: _ClassVar[int]
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    CLASS_NAMES_FIELD_NUMBER: _ClassVar[int]
    TRAIN_SIZE_FIELD_NUMBER: _ClassVar[int]
    TEST_SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    source: DatasetSource
    input_shape: _containers.RepeatedScalarFieldContainer[int]
    classes: int
    class_names: _containers.RepeatedScalarFieldContainer[str]
    train_size: int
    test_size: int
    sha256: str
    size_bytes: int
    create_time: _timestamp_pb2.Timestamp
    format: str
    dtype: str
    def __init__(self, name: _Optional[str] = ..., source: _Optional[_Union[DatasetSource, str]] = ..., input_shape: _Optional[_Iterable[int]] = ..., classes: _Optional[int] = ..., class_names: _Optional[_Iterable[str]] = ..., train_size: _Optional[int] = ..., test_size: _Optional[int] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., format: _Optional[str] = ..., dtype: _Optional[str] = ...) -> None: ...

class ListDatasetsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListDatasetsResponse(_message.Message):
    __slots__ = ("datasets",)
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    datasets: _containers.RepeatedCompositeFieldContainer[DatasetInfo]
    def __init__(self, datasets: _Optional[_Iterable[_Union[DatasetInfo, _Mapping]]] = ...) -> None: ...

class GetDatasetRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteDatasetRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteModelRequest(_message.Message):
    __slots__ = ("model_id",)
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    def __init__(self, model_id: _Optional[str] = ...) -> None: ...

class DeleteJobRequest(_message.Message):
    __slots__ = ("job_id", "delete_model")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    DELETE_MODEL_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    delete_model: bool
    def __init__(self, job_id: _Optional[str] = ..., delete_model: _Optional[bool] = ...) -> None: ...

class ExportModelRequest(_message.Message):
    __slots__ = ("model_id", "format")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    format: str
    def __init__(self, model_id: _Optional[str] = ..., format: _Optional[str] = ...) -> None: ...

class ExportModelResponse(_message.Message):
    __slots__ = ("chunk", "size_bytes", "sha256", "format")
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    chunk: bytes
    size_bytes: int
    sha256: str
    format: str
    def __init__(self, chunk: _Optional[bytes] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., format: _Optional[str] = ...) -> None: ...

class ModelImportMetadata(_message.Message):
    __slots__ = ("name", "size_bytes", "sha256")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    name: str
    size_bytes: int
    sha256: str
    def __init__(self, name: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class ImportModelRequest(_message.Message):
    __slots__ = ("metadata", "chunk", "sha256")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    metadata: ModelImportMetadata
    chunk: bytes
    sha256: str
    def __init__(self, metadata: _Optional[_Union[ModelImportMetadata, _Mapping]] = ..., chunk: _Optional[bytes] = ..., sha256: _Optional[str] = ...) -> None: ...
