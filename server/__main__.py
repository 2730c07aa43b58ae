"""nn-server / python -m server: run nnservice until SIGTERM or SIGINT, then drain."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from nncore import kernels as nncore_kernels
from server.app import create_server
from server.logfmt import configure_logging
from server.process import tune_process
from server.settings import Settings

log = logging.getLogger("server")

# flag -> (settings field, type, help); defaults come from NNSVC_* variables, then Settings.
_FLAGS = {
    "--host": ("host", str, "interface to listen on"),
    "--port": ("port", int, "TCP port (0 picks a free one)"),
    "--state-dir": ("state_dir", Path, "directory for the job database, checkpoints and models"),
    "--mnist-dir": ("mnist_dir", Path, "directory with the MNIST IDX files; None means the copy embedded in nncore"),
    "--max-concurrent-jobs": ("max_concurrent_jobs", int, "training jobs run at the same time"),
    "--max-queued-jobs": ("max_queued_jobs", int, "jobs that may wait for a worker before Train gets "
                                                  "RESOURCE_EXHAUSTED"),
    "--max-message-bytes": ("max_message_bytes", int, "largest gRPC message received or sent"),
    "--max-predict-rows": ("max_predict_rows", int, "most images in one Predict"),
    "--max-hidden-size": ("max_hidden_size", int, "largest hidden layer a job may ask for (every layer)"),
    "--max-epochs": ("max_epochs", int, "most epochs a job may ask for"),
    "--grpc-workers": ("grpc_workers", int, "threads serving RPCs"),
    "--shutdown-grace": ("shutdown_grace", float, "seconds a drain may take on SIGTERM/SIGINT"),
    "--serving-max-pause-ms": ("serving_max_pause_ms", float, "with --serving-priority, the longest a "
                               "training step pauses for Predicts (shorter: faster training under "
                               "steady Predicts; longer: flatter Predict tails)"),
    "--log-level": ("log_level", str, "DEBUG, INFO, WARNING, ERROR or CRITICAL"),
    "--tls-cert": ("tls_cert", Path, "PEM certificate chain; with --tls-key serves TLS only"),
    "--tls-key": ("tls_key", Path, "PEM private key of --tls-cert"),
    "--tls-client-ca": ("tls_client_ca", Path, "PEM CA bundle: clients must present a certificate it "
                                               "signed (mutual TLS)"),
    "--auth-tokens-file": ("auth_tokens_file", Path, "bearer tokens, one per line (# comments); "
                                                     "more in NNSVC_AUTH_TOKENS"),
    # networks of any depth (#12)
    "--max-parameters": ("max_parameters", int, "most trainable parameters of one network a job may ask for"),
    "--data-dir": ("data_dir", Path, "directory of on-disk datasets, one folder each (fashion-mnist/), "
                                     "downloads included; None means <state-dir>/data"),
    # uploaded datasets (#13)
    "--max-upload-bytes": ("max_upload_bytes", int, "largest file UploadDataset (a dataset) or ImportModel (a model) accepts"),
    "--max-dataset-bytes": ("max_dataset_bytes", int, "most bytes an uploaded dataset may decompress "
                                                      "to (zip bombs stop there)"),
    "--kernels": ("kernels", str, "nncore's element-wise kernels: auto (numba if installed), numba or "
                                  "numpy; unset keeps NNCORE_KERNELS, else auto"),
    # access logging (#17)
    "--slow-call-ms": ("slow_call_ms", float, "a unary RPC this slow (milliseconds) is logged at INFO "
                                              "like a failed one; every other call only at DEBUG"),
    "--log-format": ("log_format", str, "text, or json: one JSON object per line (time, level, "
                                        "logger, message, and fields such as method, code, ms)"),
    # training on a Dask cluster (#16)
    "--executor": ("executor", str, "where jobs train: thread (this server) or dask (a Dask cluster: "
                                    "pip install 'nnservice[dask]')"),
    "--dask-scheduler": ("dask_scheduler", str, "with --executor dask, the scheduler's address, e.g. "
                                                "tcp://scheduler:8786; workers share --state-dir"),
    # the HTTP front door (#15)
    "--http-port": ("http_port", int, "HTTP port of the KServe v2 REST API, /metrics and the dashboard "
                                      "(0 picks a free one); same host, TLS and tokens as gRPC"),
}


def build_parser(defaults: Settings) -> argparse.ArgumentParser:
    """The command line; every default shown is the effective one (environment included)."""
    parser = argparse.ArgumentParser(
        prog="nn-server", description="Train and serve NumPy neural networks over gRPC (nnservice.v1). "
        "Every flag can also be set with an NNSVC_* environment variable, e.g. NNSVC_STATE_DIR.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for flag, (field, kind, text) in _FLAGS.items():
        parser.add_argument(flag, dest=field, type=kind, default=getattr(defaults, field), help=text)
    download = parser.add_mutually_exclusive_group()
    download.add_argument("--allow-download", dest="allow_download", action="store_true",
                          default=defaults.allow_download,
                          help="download a missing dataset (MNIST in --mnist-dir, Fashion-MNIST), verified by sha256")
    download.add_argument("--no-download", dest="allow_download", action="store_false",
                          default=argparse.SUPPRESS, help="never download; a missing dataset fails the job with what to do")
    parser.add_argument("--open-probes", action=argparse.BooleanOptionalAction, dest="open_probes",
                        default=defaults.open_probes,
                        help="health, reflection and KServe ServerLive/ServerReady answer without a bearer token")
    parser.add_argument("--serving-priority", action=argparse.BooleanOptionalAction, dest="serving_priority",
                        default=defaults.serving_priority,
                        help="training yields to serving: steps pause (at most "
                             "--serving-max-pause-ms each) while Predicts are in flight, and job "
                             "threads run SCHED_IDLE (Linux)")
    parser.add_argument("--http", action=argparse.BooleanOptionalAction, dest="http", default=defaults.http,
                        help="serve HTTP (KServe v2 REST, /metrics, the dashboard at /) on --http-port")
    parser.add_argument("--dask-idle-training", action=argparse.BooleanOptionalAction, dest="dask_idle_training",
                        default=defaults.dask_idle_training,
                        help="with --executor dask, workers train SCHED_IDLE with one BLAS thread (Linux): "
                             "on the server's machine they take only CPU serving does not want")
    # Prometheus metrics (#15)
    parser.add_argument("--metrics", action=argparse.BooleanOptionalAction, dest="metrics",
                        default=defaults.metrics,
                        help="count predictions, training and RPCs and serve them for Prometheus at "
                             "GET /metrics on --http-port (docs/metrics.md); off, /metrics answers 404")
    return parser


def _address(host: str, port: int) -> str:
    """host:port, with IPv6 literals in brackets."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def main(argv: list[str] | None = None) -> int:
    """Parse flags over NNSVC_* settings, serve, and drain on SIGTERM/SIGINT."""
    try:
        defaults = Settings.from_env()
    except ValueError as exc:
        print(f"nn-server: {exc}", file=sys.stderr)
        return 2
    parser = build_parser(defaults)
    args = parser.parse_args(argv)
    try:
        settings = defaults.replace(**vars(args))
    except ValueError as exc:
        parser.error(str(exc))
    configure_logging(settings.log_level_number, settings.log_format)
    try:
        use_kernels(settings)
        server, port = create_server(settings, _address(settings.host, settings.port))
    except (ImportError, OSError, RuntimeError, ValueError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    stop = threading.Event()

    def on_signal(signum, frame):
        log.info("%s received: draining (up to %.1fs)", signal.Signals(signum).name, settings.shutdown_grace)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    tuned = tune_process()
    log.info("process tuned: %d startup objects frozen out of the garbage collector; malloc %s",
             tuned["gc_frozen"], ", ".join(f"{k} {v >> 20} MiB" for k, v in tuned["malloc"].items())
             or "left to its defaults")
    server.start()
    while not stop.wait(1.0):
        pass
    server.stop(settings.shutdown_grace)
    return 0


def use_kernels(settings: Settings) -> str:
    """Apply settings.kernels to nncore (process-wide; None keeps its choice); log and return it."""
    chosen = nncore_kernels.use(settings.kernels) if settings.kernels else nncore_kernels.backend()
    log.info("nncore kernels: %s", chosen)
    return chosen


if __name__ == "__main__":
    sys.exit(main())
