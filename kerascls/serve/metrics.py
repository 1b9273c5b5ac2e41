"""The server's Prometheus metrics: one registry per app, so two apps (tests) never clash.

Every kerascls_* metric carries a `variant` label: "live", "candidate" or "shadow" for
what a model did, "none" for requests that reached no model (/healthz, /metrics, a 404),
"all" for the process as a whole. The standard process_* metrics of prometheus-client
(resident memory, CPU seconds, open files) are exported too, without labels.

`METRIC_NAMES` lists every name the server exports (histograms as their _bucket, _sum and
_count series); tests check the Grafana dashboard's queries against it.

Several workers (kerascls-serve --workers N): with PROMETHEUS_MULTIPROC_DIR set (the parent
sets it to a fresh folder before the workers start), every worker writes its values there
and /metrics reads all of them (prometheus-client's multiprocess mode): counters and
histograms add up across workers; each gauge combines as its `MetricSpec.mode` says (in
flight, queue depth and memory add up over the live workers; a model is ready when it is in
every live worker). prometheus-client's own process_* metrics are per process and not
exported then; kerascls_process_resident_memory_bytes is the workers' total.
"""

from __future__ import annotations

import os
import time
from typing import NamedTuple

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
)

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's multiprocess switch

# seconds: fine steps where a small model answers (1-50 ms), coarse up to the timeout
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)

NO_VARIANT = "none"


V = ("variant",)  # the label every kerascls_* metric has
REQUEST = ("route", "status", "variant")


class MetricSpec(NamedTuple):
    """One metric: the `ServeMetrics` attribute that holds it, its type, name, help text,
    labels, (histograms) buckets and (gauges) how the values of several workers combine
    (prometheus-client's `multiprocess_mode`)."""

    attribute: str
    kind: type
    name: str
    help: str
    labels: tuple[str, ...] = V
    buckets: tuple[float, ...] | None = None
    mode: str = "livesum"


# in the order /metrics lists them
METRICS = (
    MetricSpec(
        "requests",
        Counter,
        "kerascls_requests",
        "HTTP requests by route, status code and the variant that answered",
        REQUEST,
    ),
    MetricSpec(
        "request_seconds",
        Histogram,
        "kerascls_request_seconds",
        "Whole-request latency in seconds (read, decode, queue, model, reply)",
        REQUEST,
        LATENCY_BUCKETS,
    ),
    MetricSpec(
        "model_seconds",
        Histogram,
        "kerascls_model_seconds",
        "Seconds of one model call (one micro-batch)",
        buckets=LATENCY_BUCKETS,
    ),
    MetricSpec(
        "batch_size",
        Histogram,
        "kerascls_batch_size",
        "Images per model call (micro-batches merge concurrent requests)",
        buckets=BATCH_BUCKETS,
    ),
    MetricSpec(
        "in_flight",
        Gauge,
        "kerascls_in_flight_requests",
        "Predict requests being served now",
        mode="livesum",
    ),
    MetricSpec(
        "queue_depth",
        Gauge,
        "kerascls_queue_depth",
        "Images waiting for a model call",
        mode="livesum",
    ),
    MetricSpec(
        "predictions",
        Counter,
        "kerascls_predictions",
        "Images predicted, by top-1 class",
        ("variant", "class_name"),
    ),
    MetricSpec(
        "confidence",
        Histogram,
        "kerascls_confidence",
        "Top-1 probability of each prediction",
        buckets=CONFIDENCE_BUCKETS,
    ),
    MetricSpec(
        "errors",
        Counter,
        "kerascls_errors",
        "Requests refused or failed, by kind (not_an_image, queue_full, ...)",
        ("kind", "variant"),
    ),
    MetricSpec(
        "model_load_seconds",
        Gauge,
        "kerascls_model_load_seconds",
        "Seconds it took to load the model",
        mode="livemax",  # the slowest worker's
    ),
    MetricSpec(
        "model_ready",
        Gauge,
        "kerascls_model_ready",
        "1 once the model is loaded and warmed up",
        mode="livemin",  # in every live worker
    ),
    MetricSpec(
        "model_info",
        Gauge,
        "kerascls_model_info",
        "The model each variant serves (always 1)",
        ("variant", "name", "version", "format", "precision"),
        mode="livemax",
    ),
    MetricSpec(
        "memory",
        Gauge,
        "kerascls_process_resident_memory_bytes",
        "Resident memory of the server process in bytes",
        mode="livesum",  # all workers together
    ),
    MetricSpec(
        "shadow_comparisons",
        Counter,
        "kerascls_shadow_comparisons",
        "Images the shadow model predicted next to the live model",
    ),
    MetricSpec(
        "shadow_agreements",
        Counter,
        "kerascls_shadow_agreements",
        "Images where the shadow model's top-1 class equals the live model's",
    ),
)


class ServeMetrics:
    """The metrics of one app (`METRICS`, one attribute each), in their own
    `CollectorRegistry`; `exposition` is the registry /metrics exports.

    Args:
        multiprocess: the values of every worker, from PROMETHEUS_MULTIPROC_DIR (module
            docstring). None: when that variable is set (prometheus-client then keeps
            every value in files there anyway).
    """

    requests: Counter
    request_seconds: Histogram
    model_seconds: Histogram
    batch_size: Histogram
    in_flight: Gauge
    queue_depth: Gauge
    predictions: Counter
    confidence: Histogram
    errors: Counter
    model_load_seconds: Gauge
    model_ready: Gauge
    model_info: Gauge
    memory: Gauge
    shadow_comparisons: Counter
    shadow_agreements: Counter

    def __init__(self, multiprocess: bool | None = None) -> None:
        if multiprocess is None:
            multiprocess = bool(os.environ.get(MULTIPROC_DIR))
        self.multiprocess = multiprocess
        self.registry = CollectorRegistry()
        if not multiprocess:
            ProcessCollector(registry=self.registry)  # process_resident_memory_bytes, ...
        for spec in METRICS:
            extra: dict = {} if spec.buckets is None else {"buckets": spec.buckets}
            if multiprocess and spec.kind is Gauge:
                extra["multiprocess_mode"] = spec.mode
            metric = spec.kind(spec.name, spec.help, spec.labels, registry=self.registry, **extra)
            setattr(self, spec.attribute, metric)
        self._memory_at = 0.0
        if multiprocess:
            from prometheus_client.multiprocess import MultiProcessCollector

            self.exposition = CollectorRegistry()
            MultiProcessCollector(self.exposition)
            self.refresh_memory()
        else:
            self.exposition = self.registry
            self.memory.labels(variant="all").set_function(resident_memory_bytes)

    def refresh_memory(self, every_s: float = 1.0) -> None:
        """Workers: record this process's resident memory (at most every `every_s`
        seconds; other workers cannot call a function of this one when /metrics is
        read). One process: nothing to do, the gauge reads it when scraped."""
        now = time.monotonic()
        if self.multiprocess and now - self._memory_at >= every_s:
            self._memory_at = now
            self.memory.labels(variant="all").set(resident_memory_bytes())


def resident_memory_bytes() -> float:
    """The process's resident set size now (Linux /proc; 0 where that is missing)."""
    try:
        with open(f"/proc/{os.getpid()}/statm") as f:
            return float(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, IndexError):
        return 0.0


def exported_names(metrics: ServeMetrics) -> set[str]:
    """Every series name the registry can export (histogram _bucket/_sum/_count, ...)."""
    names = set()
    for family in metrics.registry.collect():
        base = family.name
        if family.type == "counter":
            names |= {base + "_total", base + "_created"}
        elif family.type == "histogram":
            names |= {base + suffix for suffix in ("_bucket", "_sum", "_count", "_created")}
        else:
            names.add(base)
        names |= {sample.name for sample in family.samples}
    return names
