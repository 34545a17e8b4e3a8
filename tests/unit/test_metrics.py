"""The Prometheus metrics (services.observability.metrics): names, types, labels, and the entrypoint timer."""
from __future__ import annotations

import logging
import logging.config
import socket
import urllib.request

import pytest
from prometheus_client import REGISTRY

from services.observability import metrics

# --------------------------------------------------------------------------- metrics

EXPECTED_METRICS = {
    # attribute: (series name, type, labels)
    "TWEETS_RECEIVED": ("tweetstream_tweets_received_total", "counter", ("source",)),
    "TWEETS_MATCHED": ("tweetstream_tweets_matched_total", "counter", ("source",)),
    "TWEETS_STORED": ("tweetstream_tweets_stored_total", "counter", ("source",)),
    "TWEETS_BAD": ("tweetstream_tweets_bad_total", "counter", ("source",)),
    "BATCHES": ("tweetstream_batches_processed_total", "counter", ("outcome",)),
    "BATCH_SECONDS": ("tweetstream_batch_duration_seconds", "histogram", ()),
    "HTTP_REQUESTS": ("tweetstream_http_requests_total", "counter", ("route", "method", "status")),
    "HTTP_SECONDS": ("tweetstream_http_request_duration_seconds", "histogram", ("route", "method")),
    "ENTRYPOINT_SECONDS": ("tweetstream_entrypoint_duration_seconds", "histogram", ("service", "entrypoint", "kind")),
    "ACTIVE_RUNS": ("tweetstream_active_runs", "gauge", ()),
    "RUN_TWEETS_DISPATCHED": ("tweetstream_tweets_dispatched_total", "counter", ("source",)),
    "POPULATE_TWEETS": ("tweetstream_populate_tweets_stored_total", "counter", ("tag",)),
    "POPULATE_FAILURES": ("tweetstream_populate_failures_total", "counter", ("reason",)),
    "DB_ERRORS": ("tweetstream_database_errors_total", "counter", ("service",)),
    "BROKER_ERRORS": ("tweetstream_broker_errors_total", "counter", ("service",)),
    "HEALTH": ("tweetstream_health_check_up", "gauge", ("check",)),
}


@pytest.mark.parametrize("attribute", EXPECTED_METRICS)
def test_metric_has_its_agreed_name_type_and_labels(attribute):
    series, kind, labels = EXPECTED_METRICS[attribute]
    metric = getattr(metrics, attribute)
    [family] = metric.describe()
    assert family.type == kind
    # prometheus-client names a counter's family without the _total its samples carry
    assert family.name + ("_total" if kind == "counter" else "") == series
    if labels:
        # labels() accepts exactly the declared label names and nothing else
        values = [f"probe-{name}" for name in labels]
        metric.labels(**dict(zip(labels, values, strict=True)))
        metric.remove(*values)
    else:
        with pytest.raises(ValueError):
            metric.labels("unexpected")


def test_latency_buckets_span_a_millisecond_to_ten_seconds():
    assert metrics.LATENCY_BUCKETS[0] == 0.001
    assert metrics.LATENCY_BUCKETS[-1] == 10.0
    assert list(metrics.LATENCY_BUCKETS) == sorted(metrics.LATENCY_BUCKETS)


def test_render_latest_gives_the_text_format():
    body, content_type = metrics.render_latest()
    assert content_type.startswith("text/plain")
    assert b"# TYPE tweetstream_batch_duration_seconds histogram" in body


def entrypoint_count(service: str, entrypoint: str, kind: str) -> float:
    value = REGISTRY.get_sample_value(
        "tweetstream_entrypoint_duration_seconds_count",
        {"service": service, "entrypoint": entrypoint, "kind": kind},
    )
    return value or 0.0


def test_entrypoint_metrics_times_each_kind_of_worker(container_factory):
    import eventlet.queue
    from nameko.events import event_handler
    from nameko.extensions import DependencyProvider
    from nameko.rpc import rpc
    from nameko.timer import timer
    from nameko.web.handlers import http

    finished = eventlet.queue.Queue()

    class WorkerFinished(DependencyProvider):
        """Reports each worker after its worker_result hooks ran (teardown comes last)."""

        def worker_teardown(self, worker_ctx):
            finished.put(worker_ctx.entrypoint.method_name)

    class TimedService:
        name = "timed_probe"
        entrypoint_metrics = metrics.EntrypointMetrics()
        worker_finished = WorkerFinished()

        @rpc
        def ping(self):
            assert self.entrypoint_metrics is None  # it injects nothing
            return "pong"

        @event_handler("somewhere", "something")
        def on_something(self, payload):
            return payload

        @http("GET", "/probe")
        def probe(self, request):
            return "ok"

        @timer(interval=3600)
        def tick(self):
            return None

    # The container is never started: spawn_worker runs the full worker lifecycle
    # (every dependency hook) without a broker, and eventlet's own queue waits for it
    # whether or not the process is monkey-patched.
    container = container_factory(TimedService, {"AMQP_URI": "memory://"})
    calls = [("ping", "rpc", ()), ("on_something", "event", ({"x": 1},)),
             ("probe", "http", (None,)), ("tick", "timer", ())]
    for name, kind, args in calls:
        before = entrypoint_count("timed_probe", name, kind)
        [entrypoint] = [e for e in container.entrypoints if e.method_name == name]
        container.spawn_worker(entrypoint, args, {})
        assert finished.get(timeout=10) == name
        assert entrypoint_count("timed_probe", name, kind) == before + 1, (name, kind)


def test_entrypoint_metrics_ignores_a_result_without_a_setup():
    provider = metrics.EntrypointMetrics()
    provider.worker_result(object())  # must not raise nor record


@pytest.mark.parametrize("value, port", [(9100, 9100), ("9200", 9200), (0, 0), ("0", 0), ("", 0), (None, 0)])
def test_metrics_port_from_config(value, port):
    assert metrics.metrics_port({"METRICS_PORT": value}) == port


def test_metrics_port_is_off_by_default_and_rejects_garbage():
    assert metrics.metrics_port({}) == 0
    with pytest.raises(ValueError):
        metrics.metrics_port({"METRICS_PORT": "nine"})
    with pytest.raises(ValueError):
        metrics.metrics_port({"METRICS_PORT": 70000})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


def test_metrics_listener_survives_a_port_in_use(caplog):
    with socket.socket() as squatter:
        squatter.bind(("", 0))
        squatter.listen()
        server = metrics._ProcessMetricsServer()
        with caplog.at_level(logging.WARNING, logger=metrics.__name__):
            server.ensure_started(squatter.getsockname()[1])
    assert server.port is None
    assert "cannot serve metrics" in caplog.text


def test_metrics_listener_starts_once_per_process():
    server = metrics._ProcessMetricsServer()
    port = free_port()
    server.ensure_started(port)
    server.ensure_started(port)  # a second service in the same process: no "address in use"
    assert server.port == port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert b"tweetstream_tweets_received_total" in response.read()


def test_metrics_server_disabled_by_port_zero(monkeypatch):
    started = []
    monkeypatch.setattr(metrics._PROCESS_SERVER, "ensure_started", started.append)

    class FakeContainer:
        config = {"METRICS_PORT": 0}

    provider = metrics.MetricsServer()
    provider.container = FakeContainer()
    provider.setup()
    assert started == []
    FakeContainer.config = {"METRICS_PORT": "9111"}
    provider.setup()
    assert started == [9111]
    assert provider.get_dependency(None) is None
