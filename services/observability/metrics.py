"""Every Prometheus metric of the system, defined once.

Services import the objects below by name and only ever call ``inc``/``set``/``observe``
on them, so metric names and label sets stay consistent across services, dashboards and
alerts. Names follow Prometheus conventions: a ``tweetstream_`` namespace, base units
(seconds), ``_total`` on counters.
"""
from __future__ import annotations

import logging
import threading
import time

from nameko.events import EventHandler
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from nameko.timer import Timer
from nameko.web.handlers import HttpRequestHandler
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

from services.settings import setting

log = logging.getLogger(__name__)

# One RPC costs about 2.5 ms and a batch of hundreds of tweets takes tens to hundreds of
# milliseconds, so the buckets are dense from 1 ms and stop at 10 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# --- the tweet pipeline -------------------------------------------------------------
TWEETS_RECEIVED = Counter(
    "tweetstream_tweets_received_total",
    "Tweets read from a source and handed to the filter.",
    ["source"],
)
TWEETS_MATCHED = Counter(
    "tweetstream_tweets_matched_total",
    "Tweets that matched the track terms of their run.",
    ["source"],
)
TWEETS_STORED = Counter(
    "tweetstream_tweets_stored_total",
    "Matched tweets committed to PostgreSQL.",
    ["source"],
)
TWEETS_BAD = Counter(
    "tweetstream_tweets_bad_total",
    "Lines or payloads that could not be parsed and were skipped.",
    ["source"],
)
BATCHES = Counter(
    "tweetstream_batches_processed_total",
    "Batches handled by the filter, by outcome (stored, duplicate, failed).",
    ["outcome"],
)
BATCH_SECONDS = Histogram(
    "tweetstream_batch_duration_seconds",
    "Time to parse, filter and commit one batch.",
    buckets=LATENCY_BUCKETS,
)

# --- HTTP and entrypoints -----------------------------------------------------------
HTTP_REQUESTS = Counter(
    "tweetstream_http_requests_total",
    "HTTP requests answered by the gateway.",
    ["route", "method", "status"],
)
HTTP_SECONDS = Histogram(
    "tweetstream_http_request_duration_seconds",
    "Time the gateway took to answer an HTTP request.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
ENTRYPOINT_SECONDS = Histogram(
    "tweetstream_entrypoint_duration_seconds",
    "Time a Nameko worker took, by service, entrypoint method and kind (rpc, event, http, timer).",
    ["service", "entrypoint", "kind"],
    buckets=LATENCY_BUCKETS,
)

# --- runs and populate --------------------------------------------------------------
ACTIVE_RUNS = Gauge(
    "tweetstream_active_runs",
    "Runs this launcher is streaming.",
)
X_POSTS_READ = Gauge(
    "tweetstream_x_posts_read_this_month",
    "Posts read from the X API in this calendar month (UTC), across the app: each is billed.",
)
X_POST_BUDGET = Gauge(
    "tweetstream_x_monthly_post_budget",
    "X_MONTHLY_POST_BUDGET: posts the app may read from the X API in a calendar month.",
)
RUN_TWEETS_DISPATCHED = Counter(
    "tweetstream_tweets_dispatched_total",
    "Tweets the launcher dispatched to the filter in batches.",
    ["source"],
)
POPULATE_TWEETS = Counter(
    "tweetstream_populate_tweets_stored_total",
    "Tweets stored by populate, by hashtag.",
    ["tag"],
)
POPULATE_FAILURES = Counter(
    "tweetstream_populate_failures_total",
    "Populate calls that failed, by reason.",
    ["reason"],
)

# --- dependencies -------------------------------------------------------------------
DB_ERRORS = Counter(
    "tweetstream_database_errors_total",
    "Errors talking to PostgreSQL.",
    ["service"],
)
BROKER_ERRORS = Counter(
    "tweetstream_broker_errors_total",
    "Errors talking to RabbitMQ.",
    ["service"],
)
HEALTH = Gauge(
    "tweetstream_health_check_up",
    "Result of the last health check: 1 ok, 0 failed.",
    ["check"],
)


def entrypoint_kind(entrypoint) -> str:
    """The ``kind`` label for a Nameko entrypoint instance."""
    # EventHandler is checked by its own class, not its Consumer base, so plain
    # message consumers do not pass for events.
    for cls, kind in (
        (Rpc, "rpc"),
        (EventHandler, "event"),
        (HttpRequestHandler, "http"),
        (Timer, "timer"),
    ):
        if isinstance(entrypoint, cls):
            return kind
    return "other"


class EntrypointMetrics(DependencyProvider):
    """Times every worker of the service it is declared on into ENTRYPOINT_SECONDS."""

    def __init__(self):
        # Workers run concurrently, so each start time is kept under its own worker
        # context. Nameko builds a fresh instance per container, so this is per service.
        self._started_at: dict = {}

    def get_dependency(self, worker_ctx):
        return None

    def worker_setup(self, worker_ctx):
        self._started_at[worker_ctx] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        started_at = self._started_at.pop(worker_ctx, None)
        if started_at is None:
            return
        entrypoint = worker_ctx.entrypoint
        ENTRYPOINT_SECONDS.labels(
            service=worker_ctx.service_name,
            entrypoint=entrypoint.method_name,
            kind=entrypoint_kind(entrypoint),
        ).observe(time.perf_counter() - started_at)


def metrics_port(config: dict) -> int:
    """METRICS_PORT: a port number, 0 when disabled (config.yml's default)."""
    value = setting(config, "METRICS_PORT")
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"METRICS_PORT must be a port number, got {value!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"METRICS_PORT must be between 0 and 65535, got {port}")
    return port


class _ProcessMetricsServer:
    """The one /metrics HTTP listener of this process, shared by every service in it."""

    def __init__(self):
        self._lock = threading.Lock()
        self.port: int | None = None

    def ensure_started(self, port: int) -> None:
        with self._lock:
            if self.port is not None:
                if self.port != port:
                    log.warning(
                        "metrics already served on port %s; ignoring METRICS_PORT=%s",
                        self.port, port,
                    )
                return
            try:
                start_http_server(port)
            except OSError as exc:
                # Another process (or an earlier run of this one) holds the port: the
                # service matters more than its metrics, so go on without them.
                log.warning("cannot serve metrics on port %s: %s", port, exc)
                return
            self.port = port
            log.info("serving Prometheus metrics on port %s", port)


_PROCESS_SERVER = _ProcessMetricsServer()


class MetricsServer(DependencyProvider):
    """Serves this process's metrics over HTTP on config METRICS_PORT (0 or empty: off)."""

    def setup(self):
        port = metrics_port(self.container.config)
        if port:
            _PROCESS_SERVER.ensure_started(port)

    def get_dependency(self, worker_ctx):
        return None


def render_latest() -> tuple[bytes, str]:
    """Body and content type of the Prometheus text exposition, for the gateway's /metrics."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
