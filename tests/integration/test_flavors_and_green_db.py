"""The production flavor refuses to start without X credentials; psycopg2 does not block eventlet;
the sessions' settings."""
import time

import eventlet
import pytest
from nameko.testing.services import entrypoint_hook

from services.launcher.service import LauncherService
from services.query.service import QueryService
from services.sources import SourceError


@pytest.mark.parametrize("service", [LauncherService, QueryService])
def test_production_without_a_bearer_token_refuses_to_start(container_factory, nameko_config, monkeypatch, service):
    monkeypatch.delenv("X_BEARER_TOKEN", raising=False)
    container = container_factory(service, dict(nameko_config, FLAVOR="production"))
    with pytest.raises(SourceError, match="X_BEARER_TOKEN is not set"):
        container.start()


def test_production_with_a_token_starts(container_factory, nameko_config, monkeypatch):
    monkeypatch.setenv("X_BEARER_TOKEN", "a-token-for-the-test")
    container = container_factory(QueryService, dict(nameko_config, FLAVOR="production"))
    container.start()
    with entrypoint_hook(container, "top_users") as top_users:
        assert isinstance(top_users(), list)


def test_a_slow_query_leaves_the_other_green_threads_running(engine):
    """psycogreen: while PostgreSQL sleeps for a second, another green thread keeps ticking."""
    ticks = []

    def tick():
        for _ in range(20):
            ticks.append(time.monotonic())
            eventlet.sleep(0.05)

    ticker = eventlet.spawn(tick)
    began = time.monotonic()
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT pg_sleep(1)")
    finished = time.monotonic()
    ticker.wait()
    during = [t for t in ticks if began < t < finished]
    assert finished - began >= 1.0
    assert len(during) >= 10  # a blocking driver would have allowed none


def test_the_services_sessions_run_in_utc_without_jit(engine):
    """Rollups bucket by UTC minute; and no statement of ours pays for JIT compilation, which the
    group commit's guesses over its temporary tables used to trigger on every commit."""
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW timezone").scalar() == "UTC"
        assert conn.exec_driver_sql("SHOW jit").scalar() == "off"
