"""Metrics: one server's Prometheus metrics, in a registry of its own (never the global default one:
several servers run in one test process, and each must count only its own work).

Names follow Prometheus' naming guide (one `nnservice_` prefix, base units, `_total` counters,
`_seconds` histograms) and, for gRPC calls, go-grpc-prometheus' `grpc_server_handled_total`.
docs/metrics.md lists every metric. What is cheap to keep current is counted where it happens
(predictions, training steps); what already exists elsewhere (job states, gRPC call counts) is
read at scrape time by a collector, so serving pays nothing for it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Iterator

from google.protobuf import descriptor_pool
from prometheus_client import (CollectorRegistry, Counter, GCCollector, Histogram, Info,
                               PlatformCollector, ProcessCollector)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from server.interceptors import CallCounter
from server.records import STATES, JobRecord

PREFIX = "nnservice"
# The model label of a Predict whose model id names no servable model: one value for all of them,
# so a client sending made-up ids cannot mint a time series per id. Not a valid id (parentheses).
UNKNOWN_MODEL = "(unknown)"
# The code of an error that is not a ServiceError: what gRPC answers for an uncaught exception.
UNEXPECTED = "UNKNOWN"
# Predict latency: batch-1 answers take 0.1-1 ms, bulk ones up to seconds.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                   1.0, 2.5, 5.0, 10.0)
# Epoch wall time: the tiny test set takes milliseconds, MNIST on 784-1024-10 minutes.
EPOCH_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
                 1800.0)


class PredictMeter:
    """Predict requests by (model, protocol, code), rows and latency; label children pre-bound."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._requests = Counter(f"{PREFIX}_predict_requests", "Predict requests (nnservice Predict, "
                                 "KServe ModelInfer) by model, protocol and gRPC status code name",
                                 ("model", "protocol", "code"), registry=registry)
        self._rows = Counter(f"{PREFIX}_predict_rows", "Rows (images) predicted by answered requests",
                             ("model", "protocol"), registry=registry)
        self._latency = Histogram(f"{PREFIX}_predict_duration_seconds", "Time the data plane took to "
                                  "answer a Predict, errors included", ("model", "protocol"),
                                  buckets=LATENCY_BUCKETS, registry=registry)
        # protocol -> model id -> (OK counter, rows counter, latency histogram): the hot path is two
        # dict lookups and three updates, no label resolution.
        self._bound: defaultdict[str, dict[str, tuple]] = defaultdict(dict)

    def __repr__(self) -> str:
        return f"PredictMeter({sum(map(len, self._bound.values()))} bound series)"

    def answered(self, model_id: str, protocol: str, rows: int, start: float) -> None:
        """Count one answered request of `rows` rows that began at perf_counter() `start`."""
        bound = self._bound[protocol].get(model_id)
        if bound is None:
            bound = self._bind(model_id, protocol)
        ok, rows_counter, latency = bound
        ok.inc()
        rows_counter.inc(rows)
        latency.observe(time.perf_counter() - start)

    def failed(self, model_id: str | None, protocol: str, code: str, start: float) -> None:
        """Count one failed request; model_id None when it named no servable model."""
        model = UNKNOWN_MODEL if model_id is None else model_id
        self._requests.labels(model, protocol, code).inc()
        self._latency.labels(model, protocol).observe(time.perf_counter() - start)

    def _bind(self, model_id: str, protocol: str) -> tuple:
        """Resolve and keep the label children of a (model, protocol) pair (first answer only)."""
        bound = (self._requests.labels(model_id, protocol, "OK"), self._rows.labels(model_id, protocol),
                 self._latency.labels(model_id, protocol))
        self._bound[protocol][model_id] = bound
        return bound


class TrainingMeter:
    """Training steps and epoch durations, from the job feed (thread pool and Dask jobs alike)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._steps = Counter(f"{PREFIX}_training_steps", "Training iterations (mini-batch steps) "
                              "done by this server's jobs", registry=registry)
        self._epochs = Histogram(f"{PREFIX}_training_epoch_duration_seconds", "Training wall time of "
                                 "one epoch (evaluation excluded)", buckets=EPOCH_BUCKETS, registry=registry)
        # job id -> (iteration, epochs in its history) last seen. The first sight of a job is its
        # baseline: a job resumed after a restart does not count again the steps done before it.
        self._seen: dict[str, tuple[int, int]] = {}

    def __repr__(self) -> str:
        return f"TrainingMeter({len(self._seen)} jobs followed)"

    def on_change(self, record: JobRecord | None, job_id: str) -> None:
        """JobFeed listener: count new iterations and closed epochs (called with the job's lock held)."""
        if record is None:  # deleted
            self._seen.pop(job_id, None)
            return
        history = record.history
        iteration, epochs = self._seen.get(job_id, (record.iteration, len(history)))
        if record.iteration > iteration:  # lower: resumed from an older checkpoint, a new baseline
            self._steps.inc(record.iteration - iteration)
        for entry in history[epochs:]:
            self._epochs.observe(entry.get("seconds", 0.0))
        if record.finished:
            self._seen.pop(job_id, None)
        else:
            self._seen[job_id] = (record.iteration, len(history))


class JobsCollector(Collector):
    """`nnservice_jobs{state}` at scrape time: the job store's counts, with active jobs' live state."""

    def __init__(self, jobs) -> None:
        self._jobs = jobs  # server.jobs.JobManager (count_by_state)

    def __repr__(self) -> str:
        return f"JobsCollector({self._jobs!r})"

    def collect(self) -> Iterator[Metric]:
        """One gauge sample per job state (zeros included, so a state's series never vanishes)."""
        family = GaugeMetricFamily(f"{PREFIX}_jobs", "Jobs known to the server, by state",
                                   labels=("state",))
        counts = self._jobs.count_by_state()
        for state in STATES:
            family.add_metric((state,), counts.get(state, 0))
        yield family


class GrpcCallsCollector(Collector):
    """`grpc_server_handled_total` at scrape time, from the interceptor's CallCounter (which the
    access log already keeps: RPCs pay nothing more for the metric)."""

    def __init__(self, calls: CallCounter) -> None:
        self._calls = calls
        self._types: dict[str, str] = {}  # full method -> grpc_type, looked up once

    def __repr__(self) -> str:
        return f"GrpcCallsCollector({self._calls!r})"

    def collect(self) -> Iterator[Metric]:
        """One sample per (method, code) seen so far."""
        family = CounterMetricFamily("grpc_server_handled", "Total number of RPCs completed on the "
                                     "server, regardless of success or failure",
                                     labels=("grpc_type", "grpc_service", "grpc_method", "grpc_code"))
        for (method, code), calls in sorted(self._calls.snapshot().items()):
            service, _, name = method.lstrip("/").partition("/")
            family.add_metric((self._type(method, service, name), service, name, code), calls)
        yield family

    def _type(self, method: str, service: str, name: str) -> str:
        """unary, client_stream, server_stream or bidi_stream, from the method's descriptor."""
        kind = self._types.get(method)
        if kind is None:
            try:
                found = descriptor_pool.Default().FindServiceByName(service).FindMethodByName(name)
            except KeyError:
                kind = "unknown"
            else:
                kind = {(False, False): "unary", (True, False): "client_stream",
                        (False, True): "server_stream", (True, True): "bidi_stream"}[
                    bool(found.client_streaming), bool(found.server_streaming)]
            self._types[method] = kind
        return kind


class Metrics:
    """Every metric of one server: the predict and training meters and the scrape-time collectors."""

    def __init__(self, jobs, calls: CallCounter, version: str) -> None:
        self.registry = CollectorRegistry()
        self.predict = PredictMeter(self.registry)
        self.training = TrainingMeter(self.registry)
        jobs.feed.subscribe(self.training.on_change)
        self.registry.register(JobsCollector(jobs))
        self.registry.register(GrpcCallsCollector(calls))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        Info(f"{PREFIX}_build", "The running nnservice", registry=self.registry).info({"version": version})

    def __repr__(self) -> str:
        return f"Metrics({self.predict!r}, {self.training!r})"

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The scrape's body and content type: Prometheus text, or OpenMetrics if `accept` asks."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type
