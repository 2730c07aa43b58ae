"""Server settings: one frozen object, read from NNSVC_* variables and overridden by flags."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from nncore import kernels as nncore_kernels
from server.priority import MAX_YIELD_SECONDS

ENV_PREFIX = "NNSVC_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")
EXECUTORS = ("thread", "dask")


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to know at start-up; validated on construction."""

    host: str = "0.0.0.0"
    """Interface to listen on (NNSVC_HOST)."""
    port: int = 50051
    """TCP port to listen on; 0 picks a free one (NNSVC_PORT)."""
    state_dir: Path = Path("./state")
    """Directory for the job database, checkpoints and models (NNSVC_STATE_DIR)."""
    mnist_dir: Path | None = None
    """Directory holding the MNIST IDX files; None means the copy embedded in nncore (NNSVC_MNIST_DIR)."""
    allow_download: bool = False
    """Whether a missing dataset (MNIST in mnist_dir, Fashion-MNIST) may be downloaded (NNSVC_ALLOW_DOWNLOAD)."""
    max_concurrent_jobs: int = 2
    """Training jobs that run at the same time (NNSVC_MAX_CONCURRENT_JOBS)."""
    max_queued_jobs: int = 16
    """Jobs that may wait for a worker; more are refused with RESOURCE_EXHAUSTED (NNSVC_MAX_QUEUED_JOBS)."""
    max_message_bytes: int = 64 * 1024 * 1024
    """Largest gRPC message received or sent, in bytes (NNSVC_MAX_MESSAGE_BYTES)."""
    max_predict_rows: int = 65536
    """Most rows (images) in one Predict request (NNSVC_MAX_PREDICT_ROWS)."""
    max_hidden_size: int = 4096
    """Largest hidden layer a job may ask for (NNSVC_MAX_HIDDEN_SIZE)."""
    max_epochs: int = 200
    """Most epochs a job may ask for (NNSVC_MAX_EPOCHS)."""
    grpc_workers: int = 8
    """Threads that serve RPCs; training never runs on them (NNSVC_GRPC_WORKERS)."""
    shutdown_grace: float = 10.0
    """Seconds a drain may take on SIGTERM/SIGINT before RPCs are cut (NNSVC_SHUTDOWN_GRACE)."""
    log_level: str = "INFO"
    """Logging level: DEBUG, INFO, WARNING, ERROR or CRITICAL (NNSVC_LOG_LEVEL)."""
    tls_cert: Path | None = None
    """PEM certificate chain the server presents; with tls_key it turns TLS on (NNSVC_TLS_CERT)."""
    tls_key: Path | None = None
    """PEM private key of tls_cert (NNSVC_TLS_KEY)."""
    tls_client_ca: Path | None = None
    """PEM CA(s); clients must then present a certificate they signed: mutual TLS (NNSVC_TLS_CLIENT_CA)."""
    auth_tokens_file: Path | None = None
    """File of bearer tokens, one per line, # comments; any token then required (NNSVC_AUTH_TOKENS_FILE)."""
    auth_tokens: tuple[str, ...] = dataclasses.field(default=(), repr=False)
    """Bearer tokens, comma-separated; environment only, to keep them out of `ps` (NNSVC_AUTH_TOKENS)."""
    open_probes: bool = True
    """Health, reflection and KServe live/ready answer without a token, for probes and grpcurl (NNSVC_OPEN_PROBES)."""
    serving_priority: bool = True
    """Training yields to serving: steps pause while Predicts are in flight, and job threads run
    SCHED_IDLE, using only CPU nothing else wants (NNSVC_SERVING_PRIORITY)."""
    serving_max_pause_ms: float = MAX_YIELD_SECONDS * 1000
    """Longest pause of one training step for Predicts, with serving priority on; shorter keeps
    training faster under steady Predict traffic, longer keeps Predict tails flatter
    (NNSVC_SERVING_MAX_PAUSE_MS)."""
    # --- networks of any depth (#12) ---
    max_parameters: int = 20_000_000
    """Most trainable parameters of one network a job may ask for (NNSVC_MAX_PARAMETERS)."""
    # --- datasets (issue 13) ---
    data_dir: Path | None = None
    """Directory of on-disk datasets, one folder each (fashion-mnist/), where downloads go too;
    None means <state_dir>/data (NNSVC_DATA_DIR)."""
    # --- uploaded datasets (#13) ---
    max_upload_bytes: int = 512 * 1024 * 1024
    """Largest file UploadDataset or ImportModel accepts, as sent; more is RESOURCE_EXHAUSTED (NNSVC_MAX_UPLOAD_BYTES)."""
    max_dataset_bytes: int = 1024 * 1024 * 1024
    """Most bytes an uploaded file may decompress to (zip bombs stop there) (NNSVC_MAX_DATASET_BYTES)."""
    kernels: str | None = None
    """nncore's element-wise kernels: auto, numba or numpy; None keeps nncore's own choice
    (NNCORE_KERNELS, else auto) (NNSVC_KERNELS)."""

    # --- access logging (#17) ---
    slow_call_ms: float = 1000.0
    """A unary RPC taking this many milliseconds or more gets an access-log line at INFO, like a
    failed one; other calls are logged only at DEBUG (NNSVC_SLOW_CALL_MS)."""
    log_format: str = "text"
    """Log lines as `text` or `json` (one JSON object per line, for log collectors) (NNSVC_LOG_FORMAT)."""

    # --- training on a Dask cluster (#16) ---
    executor: str = "thread"
    """Where jobs train: "thread" (this server's own threads) or "dask" (NNSVC_EXECUTOR)."""
    dask_scheduler: str = ""
    """The Dask scheduler's address, e.g. tcp://scheduler:8786; needed with executor=dask (NNSVC_DASK_SCHEDULER)."""
    dask_idle_training: bool = True
    """Dask workers train at SCHED_IDLE (nice 19 where refused) with one BLAS thread: a worker on
    the server's machine takes only CPU serving does not want; on a machine of its own it changes
    nothing, beside other work it always yields (NNSVC_DASK_IDLE_TRAINING)."""

    # --- the HTTP front door: KServe v2 REST, /metrics, the dashboard (#15) ---
    http: bool = True
    """Whether the HTTP server runs beside gRPC, in the same process (NNSVC_HTTP)."""
    http_port: int = 8080
    """TCP port of the HTTP server; 0 picks a free one (NNSVC_HTTP_PORT)."""

    # --- Prometheus metrics (#15) ---
    metrics: bool = True
    """Whether predictions, training and RPCs are counted and served at GET /metrics on the HTTP
    port; off, Predict records nothing and /metrics answers 404 (NNSVC_METRICS)."""

    def __post_init__(self) -> None:
        """Normalise paths and reject values outside their range with a message naming it."""
        object.__setattr__(self, "state_dir", Path(self.state_dir))
        for name in ("mnist_dir", "data_dir"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))
        object.__setattr__(self, "log_level", str(self.log_level).upper())
        self._check_access()
        _check_range("port", self.port, 0, 65535)
        _check_range("http_port", self.http_port, 0, 65535)
        for name in ("max_concurrent_jobs", "max_queued_jobs", "max_predict_rows",
                     "max_hidden_size", "max_epochs", "grpc_workers"):
            _check_range(name, getattr(self, name), 1, 10**9)
        _check_range("max_message_bytes", self.max_message_bytes, 1024, 2**31 - 1)
        if not 0.0 <= self.shutdown_grace <= 3600.0:
            raise ValueError(f"shutdown_grace must be in [0, 3600] seconds, got {self.shutdown_grace}")
        if not 0.0 <= self.serving_max_pause_ms <= 1000.0:
            raise ValueError(f"serving_max_pause_ms must be in [0, 1000] milliseconds, got {self.serving_max_pause_ms}")
        _check_range("max_parameters", self.max_parameters, 1, 10**12)
        for name in ("max_upload_bytes", "max_dataset_bytes"):  # uploaded datasets (#13)
            _check_range(name, getattr(self, name), 1024, 2**62)
        self._check_executor()  # Dask (#16)
        if not self.host:
            raise ValueError("host must not be empty (e.g. 0.0.0.0 or 127.0.0.1)")
        if self.log_level not in _LOG_LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(_LOG_LEVELS)}, got {self.log_level!r}")
        self._check_kernels()
        self._check_logging()

    def _check_kernels(self) -> None:
        """Normalise kernels (from_env passes it as a Path, like every None-default field) and check it."""
        if self.kernels is None:
            return
        value = str(self.kernels).strip().lower() or None
        object.__setattr__(self, "kernels", value)
        if value is not None and value not in nncore_kernels.CHOICES:
            raise ValueError(f"kernels must be one of {', '.join(nncore_kernels.CHOICES)} (or unset for "
                             f"nncore's own choice), got {value!r}")

    def _check_logging(self) -> None:
        """Normalise and check the access-log settings."""
        object.__setattr__(self, "log_format", str(self.log_format).lower())
        if self.log_format not in LOG_FORMATS:
            raise ValueError(f"log_format must be one of {', '.join(LOG_FORMATS)}, got {self.log_format!r}")
        if not 0.0 <= self.slow_call_ms <= 3_600_000.0:
            raise ValueError(f"slow_call_ms must be in [0, 3600000] milliseconds, got {self.slow_call_ms}")

    def _check_access(self) -> None:
        """Normalise the TLS paths and tokens; refuse half a TLS setup."""
        for name in ("tls_cert", "tls_key", "tls_client_ca", "auth_tokens_file"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both (TLS) or neither (plaintext)")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ValueError("tls_client_ca (mutual TLS) needs tls_cert and tls_key as well")
        tokens = self.auth_tokens
        if isinstance(tokens, str):
            tokens = split_tokens(tokens)
        tokens = tuple(tokens)
        if not all(isinstance(t, str) and t and not re.search(r"[\s,]", t) for t in tokens):
            raise ValueError("auth_tokens must be non-empty strings without spaces or commas")
        object.__setattr__(self, "auth_tokens", tokens)

    def _check_executor(self) -> None:
        """executor is thread or dask; dask needs a scheduler address (#16)."""
        if self.executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {self.executor!r}")
        if self.executor == "dask" and not re.fullmatch(r"(tcp|tls|ucx|inproc)://\S+", self.dask_scheduler):
            raise ValueError("executor=dask needs dask_scheduler, the scheduler's address such as "
                             f"tcp://scheduler:8786 (--dask-scheduler / NNSVC_DASK_SCHEDULER); got "
                             f"{self.dask_scheduler!r}")

    @property
    def datasets_dir(self) -> Path:
        """Where on-disk datasets are looked for and downloaded: data_dir or <state_dir>/data."""
        return self.data_dir if self.data_dir is not None else self.state_dir / "data"

    @property
    def auth_enabled(self) -> bool:
        """Whether RPCs need a bearer token."""
        return bool(self.auth_tokens) or self.auth_tokens_file is not None

    @property
    def log_level_number(self) -> int:
        """The log level as a `logging` constant."""
        return logging.getLevelName(self.log_level)

    def replace(self, **changes: object) -> Settings:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from NNSVC_* variables of `environ` (default os.environ); others keep defaults."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in fields(cls):
            key = ENV_PREFIX + field.name.upper()
            raw = environ.get(key)
            if raw is None or raw == "":
                continue
            values[field.name] = _parse(key, field.default, raw)
        return cls(**values)


def split_tokens(raw: str) -> tuple[str, ...]:
    """Tokens from a comma- or whitespace-separated string."""
    return tuple(token for token in re.split(r"[,\s]+", raw) if token)


def _check_range(name: str, value: object, low: int, high: int) -> None:
    """Raise ValueError unless `value` is an int in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")


def _parse(key: str, default: object, raw: str) -> object:
    """Convert one environment string to the type of the field's default."""
    try:
        if isinstance(default, tuple):
            return split_tokens(raw)
        if isinstance(default, bool):
            lowered = raw.strip().lower()
            if lowered in _TRUE | _FALSE:
                return lowered in _TRUE
            raise ValueError(f"expected one of {sorted(_TRUE | _FALSE)}")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path) or default is None:
            return Path(raw).expanduser()
        return raw
    except ValueError as exc:
        raise ValueError(f"{key}={raw!r} is not valid: {exc}") from None
