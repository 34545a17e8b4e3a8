"""The gateway's view, health and metrics routes through worker_factory, the services behind them mocked."""
import time

import eventlet
import orjson
import pytest
from nameko.exceptions import RemoteError, UnknownService
from nameko.testing.services import worker_factory
from prometheus_client import REGISTRY
from werkzeug.test import EnvironBuilder

from services.contracts.requests import DEFAULT_TAGS
from services.gateway.routes import ops
from services.gateway.service import GatewayService


def request(method, path, **kwargs):
    return EnvironBuilder(method=method, path=path, **kwargs).get_request()


def answer(response):
    return response.status_code, orjson.loads(response.get_data())


@pytest.fixture
def gateway():
    return worker_factory(GatewayService)


POPULATE_DEFAULT_TAGS = ["openbanking", "remediation", "devops", "sre", "microservices",
                         "observability", "oauth", "metrics", "logmonitoring", "opentracing"]


def test_populate_without_a_body_asks_for_the_default_tags_and_answers_201(gateway):
    gateway.query.populate.return_value = {"stored": {"devops": 100}, "total": 100}

    response = gateway.populate_tags(request("POST", "/api/v1/populate"))

    assert (response.status_code, response.mimetype) == (201, "application/json")
    gateway.query.populate.assert_called_once_with({"tags": POPULATE_DEFAULT_TAGS, "per_tag": 100})
    assert list(DEFAULT_TAGS) == POPULATE_DEFAULT_TAGS


def test_populate_passes_the_normalised_request_on(gateway):
    gateway.query.populate.return_value = {"stored": {}, "total": 0}

    gateway.populate_tags(request("POST", "/api/v1/populate", json={"tags": ["#SRE", "sre"], "per_tag": 10}))

    gateway.query.populate.assert_called_once_with({"tags": ["sre"], "per_tag": 10})


@pytest.mark.parametrize("body, reason", [
    ({"tags": "devops"}, "tags: Input should be a valid list"),
    ({"tags": []}, "tags: List should have at least 1 item"),
    ({"per_tag": 5000}, "per_tag: Input should be less than or equal to 1000"),
])
def test_bad_populate_input_is_a_400_with_the_reason_and_reaches_no_service(gateway, body, reason):
    status, answered = answer(gateway.populate_tags(request("POST", "/api/v1/populate", json=body)))

    assert status == 400 and reason in answered["error"]
    gateway.query.populate.assert_not_called()


def test_a_source_failure_in_the_query_service_is_a_500_naming_the_cause(gateway):
    gateway.query.populate.side_effect = RemoteError(
        "SourceFailed", "the x source failed while fetching #devops: HTTP 429 Too Many Requests")

    status, body = answer(gateway.populate_tags(request("POST", "/api/v1/populate")))

    assert status == 500
    assert body == {"error": "the x source failed while fetching #devops: HTTP 429 Too Many Requests"}


def test_the_views_hand_their_validated_query_to_the_query_service(gateway):
    gateway.query.top_users.return_value = [{"username": "ann", "followers": 3}]
    gateway.query.tweets_per_hour.return_value = [{"hour": 0, "count": 1}]
    gateway.query.tag_counts.return_value = []

    responses = [gateway.view_top_users(request("GET", "/api/v1/users")),
                 gateway.view_tweets_per_hour(request("GET", "/api/v1/hour?by=hour_of_day")),
                 gateway.view_tweets_per_hour(request("GET", "/api/v1/hour")),
                 gateway.view_tag_counts(request("GET", "/api/v1/tags?limit=50")),
                 gateway.view_tag_counts(request("GET", "/api/v1/tags"))]

    assert [(r.status_code, r.mimetype) for r in responses] == [(200, "application/json")] * 5
    gateway.query.top_users.assert_called_once_with()
    # the query string, validated, with its defaults filled in and its numbers made numbers
    assert [c.args for c in gateway.query.tweets_per_hour.call_args_list] == [({"by": "hour_of_day"},), ({"by": "hour"},)]
    assert [c.args for c in gateway.query.tag_counts.call_args_list] == [({"limit": 50},), ({"limit": 100},)]


@pytest.mark.parametrize("route, path, reason", [
    ("view_tweets_per_hour", "/api/v1/hour?by=week", "by: Input should be 'hour' or 'hour_of_day'"),
    ("view_tag_counts", "/api/v1/tags?limit=0", "limit: Input should be greater than or equal to 1"),
    ("view_tag_counts", "/api/v1/tags?limit=20000", "limit: Input should be less than or equal to 10000"),
])
def test_bad_view_queries_are_a_400_with_the_reason(gateway, route, path, reason):
    status, body = answer(getattr(gateway, route)(request("GET", path)))

    assert status == 400 and reason in body["error"]
    assert not gateway.query.method_calls


OK_ANSWER = {"status": "ok", "checks": {"database": "ok", "broker": "ok", "source": "ok"}}


def health_gauges() -> dict:
    return {check: REGISTRY.get_sample_value("tweetstream_health_check_up", {"check": check})
            for check in ("database", "broker", "source")}


def health_requests(status: str) -> float:
    return REGISTRY.get_sample_value("tweetstream_http_requests_total",
                                     {"route": "/api/health", "method": "GET", "status": status}) or 0.0


def test_health_answers_200_when_every_check_passes_and_sets_every_check_gauge_to_1(gateway):
    gateway.health.check.call_async.return_value.result.return_value = OK_ANSWER
    before = health_requests("200")

    response = gateway.health_check(request("GET", "/api/health"))

    assert (response.status_code, response.mimetype) == (200, "application/json")
    assert health_gauges() == {"database": 1.0, "broker": 1.0, "source": 1.0}
    assert health_requests("200") == before + 1


def test_health_answers_500_when_a_check_failed_and_sets_its_gauge_to_0(gateway):
    failed = {"status": "failed", "checks": {"database": "failed: Connection refused", "broker": "ok", "source": "ok"}}
    gateway.health.check.call_async.return_value.result.return_value = failed
    before = health_requests("500")

    response = gateway.health_check(request("GET", "/api/health"))

    assert (response.status_code, response.mimetype) == (500, "application/json")
    assert health_gauges() == {"database": 0.0, "broker": 1.0, "source": 1.0}
    assert health_requests("500") == before + 1


def test_health_answers_500_in_time_when_the_health_service_does_not_answer(gateway, monkeypatch):
    monkeypatch.setattr(ops, "HEALTH_ANSWER_SECONDS", 0.3)
    gateway.health.check.call_async.return_value.result.side_effect = lambda: eventlet.sleep(30)

    began = time.monotonic()
    status, body = answer(gateway.health_check(request("GET", "/api/health")))

    assert time.monotonic() - began < 1.5
    assert status == 500 and body["status"] == "failed"
    assert body["error"] == "the health service did not answer within 0.3 s"
    assert set(body["checks"]) == {"database", "broker", "source", "pipeline"}
    assert all(outcome.startswith("unknown: ") for outcome in body["checks"].values())


def test_health_answers_500_when_the_health_service_is_not_running(gateway):
    gateway.health.check.call_async.side_effect = UnknownService("health")

    status, body = answer(gateway.health_check(request("GET", "/api/health")))

    assert status == 500 and body["error"] == "the health service is not running"


def test_metrics_are_the_prometheus_text_format(gateway):
    response = gateway.prometheus_metrics(request("GET", "/metrics"))

    assert response.status_code == 200 and response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert "# TYPE tweetstream_http_requests_total counter" in text
    assert "tweetstream_populate_tweets_stored_total" in text
