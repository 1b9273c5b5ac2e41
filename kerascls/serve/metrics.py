"""The server's Prometheus metrics: one registry per app, so two apps (tests) never clash.

Every kerascls_* metric carries a `variant` label: "live", "candidate" or "shadow" for
what a model did, "none" for requests that reached no model (/healthz, /metrics, a 404),
"all" for the process as a whole. The standard process_* metrics of prometheus-client
(resident memory, CPU seconds, open files) are exported too, without labels.

`METRIC_NAMES` lists every name the server exports (histograms as their _bucket, _sum and
_count series); tests check the Grafana dashboard's queries against it.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
)

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


class ServeMetrics:
    """The metrics of one app, in their own `CollectorRegistry`."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)  # process_resident_memory_bytes, ...
        self.requests = Counter(
            "kerascls_requests",
            "HTTP requests by route, status code and the variant that answered",
            ["route", "status", "variant"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "kerascls_request_seconds",
            "Whole-request latency in seconds (read, decode, queue, model, reply)",
            ["route", "status", "variant"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.model_seconds = Histogram(
            "kerascls_model_seconds",
            "Seconds of one model call (one micro-batch)",
            ["variant"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_size = Histogram(
            "kerascls_batch_size",
            "Images per model call (micro-batches merge concurrent requests)",
            ["variant"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "kerascls_in_flight_requests",
            "Predict requests being served now",
            ["variant"],
            registry=registry,
        )
        self.queue_depth = Gauge(
            "kerascls_queue_depth",
            "Images waiting for a model call",
            ["variant"],
            registry=registry,
        )
        self.predictions = Counter(
            "kerascls_predictions",
            "Images predicted, by top-1 class",
            ["variant", "class_name"],
            registry=registry,
        )
        self.confidence = Histogram(
            "kerascls_confidence",
            "Top-1 probability of each prediction",
            ["variant"],
            buckets=CONFIDENCE_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "kerascls_errors",
            "Requests refused or failed, by kind (not_an_image, queue_full, ...)",
            ["kind", "variant"],
            registry=registry,
        )
        self.model_load_seconds = Gauge(
            "kerascls_model_load_seconds",
            "Seconds it took to load the model",
            ["variant"],
            registry=registry,
        )
        self.model_ready = Gauge(
            "kerascls_model_ready",
            "1 once the model is loaded and warmed up",
            ["variant"],
            registry=registry,
        )
        self.model_info = Gauge(
            "kerascls_model_info",
            "The model each variant serves (always 1)",
            ["variant", "name", "version", "format", "precision"],
            registry=registry,
        )
        self.memory = Gauge(
            "kerascls_process_resident_memory_bytes",
            "Resident memory of the server process in bytes",
            ["variant"],
            registry=registry,
        )
        self.memory.labels(variant="all").set_function(resident_memory_bytes)
        self.shadow_comparisons = Counter(
            "kerascls_shadow_comparisons",
            "Images the shadow model predicted next to the live model",
            ["variant"],
            registry=registry,
        )
        self.shadow_agreements = Counter(
            "kerascls_shadow_agreements",
            "Images where the shadow model's top-1 class equals the live model's",
            ["variant"],
            registry=registry,
        )


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
