"""create_server: the gRPC server with NNService, health, reflection, logging and draining."""

from __future__ import annotations

import concurrent.futures
import logging
import tempfile
import threading
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from threadpoolctl import threadpool_limits

from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc
from protos import grpc_predict_v2_pb2 as kserve_pb
from protos import grpc_predict_v2_pb2_grpc as kserve_grpc
from server import tls
from server.auth import TokenAuthInterceptor, load_tokens
from server.chunkwire import ChunkWireInterceptor
from server.dataplane import DataPlane, server_version
from server.datasets import DatasetRegistry, builtin_registry
from server.interceptors import CallCounter, RpcInterceptor
from server.jobs import JobManager
from server.kserve import KServeServicer
from server.metrics import Metrics
from server.models import ModelStore
from server.hostgate import FILE_NAME, GatePublisher
from server.priority import QUIET_SECONDS, ServingGate
from server.servicer import NNServiceServicer
from server.serving import ModelRegistry
from server.settings import Settings
from server.uploads import DatasetStore
from server.web import HttpServer, create_app

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["NNService"].full_name  # "nnservice.v1.NNService"
# "inference.GRPCInferenceService": KServe v2 / the Open Inference Protocol, on the same port
KSERVE_SERVICE_NAME = kserve_pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
HEALTH_SERVICES = ("", SERVICE_NAME, KSERVE_SERVICE_NAME)
TRAINING_HEALTH = "nnservice.v1.Training"  # whether training jobs can run now (the Dask scheduler reachable)
JOB_STOP_WAIT = 5.0  # seconds stop() waits for running jobs to reach a stopping point, at least
# One BLAS thread per call, for serving and training alike (threadpoolctl limits are
# process-wide): gRPC workers and job threads already run in parallel on the 2 cores, and a
# second OpenBLAS thread spinning against them multiplied Predict p99 (up to 30x) and made a
# 784-100-10 epoch ~10x slower on this loaded machine (docs/performance.md, "Serving").
BLAS_THREADS = 1


class NNServer:
    """A running nnservice: the gRPC server plus the job manager it drains on stop()."""

    def __init__(self, settings: Settings, grpc_server: grpc.Server, executor, jobs: JobManager,
                 health_servicer: health.HealthServicer, draining: threading.Event, port: int,
                 calls: CallCounter | None = None, plane: DataPlane | None = None,
                 http: HttpServer | None = None) -> None:
        self.settings = settings
        self.calls = calls or CallCounter()  # finished RPCs by (method, code), for metrics
        self.port = port
        self.plane = plane
        self.http = http  # the HTTP front door (#15), None with --no-http
        self._server = grpc_server
        self._executor = executor
        self._jobs = jobs
        self._health = health_servicer
        self._draining = draining
        self._stop_lock = threading.Lock()
        self._stopped = threading.Event()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped.is_set() else "draining" if self._draining.is_set() else "serving"
        return f"NNServer(port={self.port}, {state})"

    def start(self) -> NNServer:
        """Start serving, resume interrupted jobs, and report SERVING."""
        self._jobs.recover()  # before the first RPC, so no request sees a half-recovered job
        self._server.start()
        if self.http is not None:
            self.http.start()
        for name in HEALTH_SERVICES:
            self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("nnservice listening on port %d, %s%s (state dir %s)", self.port, tls.describe(self.settings),
                 ", bearer tokens required" if self.settings.auth_enabled else "", self.settings.state_dir)
        return self

    def begin_drain(self) -> None:
        """Report NOT_SERVING and refuse new NNService RPCs with UNAVAILABLE (health stays up)."""
        if not self._draining.is_set():
            self._draining.set()
            self._health.enter_graceful_shutdown()
            log.info("draining: health NOT_SERVING, new RPCs get UNAVAILABLE")

    def stop(self, grace: float | None = None) -> None:
        """Drain: stop jobs at their checkpoint (resumable), end RPCs within `grace`, close the DB."""
        grace = self.settings.shutdown_grace if grace is None else grace
        with self._stop_lock:
            if self._stopped.is_set():
                return
            deadline = time.monotonic() + grace
            self.begin_drain()
            # Jobs stop within one training step; waiting a little even with grace=0 lets them
            # record where they stopped before the database closes.
            self._jobs.shutdown(timeout=max(grace, JOB_STOP_WAIT))
            self._server.stop(max(0.0, deadline - time.monotonic())).wait()
            if self.http is not None:
                self.http.stop(max(0.5, deadline - time.monotonic()))
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._jobs.close()
            self._stopped.set()
            log.info("nnservice on port %d stopped", self.port)

    @property
    def http_port(self) -> int | None:
        """The HTTP front door's port, or None when it is off (--no-http)."""
        return None if self.http is None else self.http.port

    @property
    def active_watchers(self) -> int:
        """WatchJob streams currently following a job (0 once their clients are gone)."""
        return self._jobs.active_watchers

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        """Block until stop() has finished (or `timeout` passes); True if it has."""
        return self._stopped.wait(timeout)


def create_server(settings: Settings, address: str = "127.0.0.1:0", *,
                  datasets: DatasetRegistry | None = None) -> tuple[NNServer, int]:
    """Build (not start) a server bound to `address`; returns it and the bound port.

    A TLS or token setting that cannot work (unreadable PEM, key not matching the certificate,
    an empty token file) raises ValueError before anything is created."""
    credentials = tls.server_credentials(settings)
    draining = threading.Event()
    calls = CallCounter()
    interceptors = _interceptors(settings, draining, calls)
    limit_blas_threads()
    state_dir = Path(settings.state_dir)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=state_dir).close()  # a read-only folder passes mkdir, not this
    except OSError as exc:
        reason = "it is a file" if state_dir.is_file() else exc.strerror or exc
        raise OSError(f"cannot use the state directory {state_dir}: {reason}; it must be "
                      "a writable directory (--state-dir / NNSVC_STATE_DIR)") from None
    if datasets is None:
        datasets = builtin_registry(settings.mnist_dir, settings.datasets_dir, state_dir / "cache",
                                    settings.allow_download)
    else:
        datasets = datasets.fork()  # this server's uploads stay its own
    models = ModelStore(state_dir / "models")
    max_pause = settings.serving_max_pause_ms / 1000
    # Dask workers on this host read the gate from the state directory (server.hostgate); job
    # threads read it in process, so the thread executor's Predicts do not write it.
    gate_file = (GatePublisher(state_dir / FILE_NAME, QUIET_SECONDS, max_pause)
                 if settings.serving_priority and settings.executor == "dask" else None)
    serving = ServingGate(settings.serving_priority, max_yield=max_pause,
                          publish=None if gate_file is None else gate_file.publish)
    # Uploaded datasets join the registry: at start-up, and each one as its upload completes.
    uploads = DatasetStore(state_dir / "datasets", settings.max_upload_bytes, settings.max_dataset_bytes,
                           reserved=datasets.names(), max_concurrent=max(1, settings.grpc_workers // 4))
    uploads.attach(datasets)
    jobs = JobManager(settings, models, datasets, serving)
    executor = concurrent.futures.ThreadPoolExecutor(settings.grpc_workers, thread_name_prefix="nnsvc-rpc")
    server = grpc.server(executor, interceptors=interceptors, options=[
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.so_reuseport", 0),
    ])
    metrics = Metrics(jobs, calls, server_version()) if settings.metrics else None  # #15
    plane = DataPlane(settings, jobs, ModelRegistry(models, jobs), serving, uploads, draining, metrics)
    pb_grpc.add_NNServiceServicer_to_server(NNServiceServicer(plane), server)
    kserve_grpc.add_GRPCInferenceServiceServicer_to_server(KServeServicer(plane), server)
    health_servicer = _add_probes(server)
    _report_training(jobs.executor, health_servicer)  # Dask (#16)
    try:
        port = (server.add_secure_port(address, credentials) if credentials is not None
                else server.add_insecure_port(address))
    except RuntimeError as exc:  # grpc's way of saying the address is taken or invalid
        port, reason = 0, exc
    else:
        reason = "no port bound"
    http = None
    if port != 0 and settings.http:
        try:
            http = _http_server(plane, settings, _host_of(address))
        except OSError as exc:
            port, reason = 0, exc
    if port == 0:
        server.stop(0)
        jobs.shutdown(0)
        jobs.close()
        executor.shutdown(wait=False)
        raise OSError(reason if isinstance(reason, OSError) else f"cannot listen on {address}: {reason}")
    return NNServer(settings, server, executor, jobs, health_servicer, draining, port, calls, plane, http), port


def _http_server(plane: DataPlane, settings: Settings, host: str) -> HttpServer:
    """The HTTP front door on the gRPC server's host, with the same tokens (bound, not started)."""
    tokens = load_tokens(settings) if settings.auth_enabled else ()
    return HttpServer(create_app(plane, settings, tokens), settings, host=host)


def _host_of(address: str) -> str:
    """The host part of host:port (IPv6 literals without their brackets)."""
    return address.rsplit(":", 1)[0].strip("[]") or "0.0.0.0"


def limit_blas_threads(threads: int = BLAS_THREADS) -> None:
    """Cap BLAS threads for the whole process, so in-process servers behave like nn-server."""
    threadpool_limits(limits=threads, user_api="blas")


def _add_probes(server: grpc.Server) -> health.HealthServicer:
    """Health (NOT_SERVING until start()) and reflection; returns the health servicer."""
    health_servicer = health.HealthServicer()
    for name in HEALTH_SERVICES:
        health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, KSERVE_SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    return health_servicer


def _report_training(executor, health_servicer: health.HealthServicer) -> None:
    """Health service TRAINING_HEALTH: SERVING while jobs can be dispatched; NOT_SERVING while
    the executor cannot (the Dask scheduler unreachable): Predict and the rest still serve."""
    def on_status(status: str) -> None:
        health_servicer.set(TRAINING_HEALTH, health_pb2.HealthCheckResponse.NOT_SERVING if status
                            else health_pb2.HealthCheckResponse.SERVING)
    executor.on_status = on_status
    on_status(executor.status())


def _interceptors(settings: Settings, draining: threading.Event,
                  calls: CallCounter) -> list[grpc.ServerInterceptor]:
    """The RPC log / drain gate, then (if tokens are configured) the bearer-token check, then the
    upload chunk parser."""
    interceptors: list[grpc.ServerInterceptor] = [RpcInterceptor(draining, calls, settings.slow_call_ms)]
    if settings.auth_enabled:
        interceptors.append(TokenAuthInterceptor(load_tokens(settings), settings.open_probes))
    interceptors.append(ChunkWireInterceptor())  # innermost: upload chunks parsed without a copy
    return interceptors
