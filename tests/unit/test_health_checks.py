"""The health checks: each dependency within its deadline, failures named with their reason, no secrets."""
import socket
import time

import eventlet
import pytest
from nameko.testing.services import worker_factory
from prometheus_client import REGISTRY

from services.health.checks import check_broker, check_database, describe, run_check, run_checks
from services.health.service import HealthService


def gauge(check: str):
    return REGISTRY.get_sample_value("tweetstream_health_check_up", {"check": check})


@pytest.fixture
def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]   # nobody listens there once the probe is closed


def passes(config, timeout):
    pass


def refuses(config, timeout):
    raise ConnectionRefusedError("connection refused\nsecond line of detail")


def hangs(config, timeout):
    eventlet.sleep(60)


def test_every_check_runs_at_once_and_a_hanging_one_fails_at_the_deadline():
    began = time.monotonic()
    answer = run_checks({}, {"database": passes, "broker": refuses, "source": hangs}, timeout=0.5)

    assert time.monotonic() - began < 1.0
    assert answer == {"status": "failed", "checks": {
        "database": "ok", "broker": "failed: connection refused", "source": "failed: no answer within 0.5 s"}}
    assert (gauge("database"), gauge("broker"), gauge("source")) == (1.0, 0.0, 0.0)


def test_all_checks_passing_is_ok():
    answer = run_checks({}, {"database": passes, "broker": passes, "source": passes}, timeout=0.5)

    assert answer == {"status": "ok", "checks": {"database": "ok", "broker": "ok", "source": "ok"}}
    assert gauge("broker") == 1.0


def test_reasons_never_show_the_passwords_of_the_uris():
    config = {"DB_URI": "postgresql://app:s3cr%21t@db/tweets", "AMQP_URI": "pyamqp://guest:hunter2@mq:5672/"}
    error = RuntimeError("login with hunter2 and s3cr%21t refused")

    assert describe(error, config) == "login with *** and *** refused"


def test_the_database_check_names_a_refused_connection(closed_port):
    config = {"DB_URI": f"postgresql://postgres:pw@127.0.0.1:{closed_port}/tweets"}

    outcome = run_check("database", check_database, config, 2.0)

    assert outcome.startswith("failed: ") and "refused" in outcome.lower() and "pw" not in outcome


def test_the_database_check_gives_up_on_a_server_that_never_answers(silent_port):
    began = time.monotonic()

    outcome = run_check("database", check_database, {"DB_URI": f"postgresql://postgres@127.0.0.1:{silent_port}/x"}, 1.0)

    assert outcome.startswith("failed: ") and time.monotonic() - began < 2.0


def test_the_broker_check_names_a_refused_connection_and_gives_up_on_a_silent_broker(closed_port, silent_port):
    refused = run_check("broker", check_broker, {"AMQP_URI": f"pyamqp://guest:guest@127.0.0.1:{closed_port}//"}, 1.0)
    began = time.monotonic()
    silent = run_check("broker", check_broker, {"AMQP_URI": f"pyamqp://guest:guest@127.0.0.1:{silent_port}//"}, 1.0)

    assert refused.startswith("failed: ") and "refused" in refused.lower()
    assert silent.startswith("failed: ") and time.monotonic() - began < 2.0


def test_the_health_entrypoint_checks_the_configured_dependencies(closed_port, monkeypatch):
    monkeypatch.delenv("X_BEARER_TOKEN", raising=False)
    service = worker_factory(HealthService, config={
        "DB_URI": f"postgresql://postgres@127.0.0.1:{closed_port}/tweets",
        "AMQP_URI": f"pyamqp://guest:guest@127.0.0.1:{closed_port}//",
        "FLAVOR": "production",   # the X API source, without a bearer token
    })

    answer = service.check()

    assert answer["status"] == "failed"
    assert "refused" in answer["checks"]["database"].lower() and "refused" in answer["checks"]["broker"].lower()
    assert answer["checks"]["source"] == "failed: X_BEARER_TOKEN is not set: the production flavor needs an X API bearer token"
