"""The health service in a Nameko container, asked over real RPC the way the gateway asks it."""
import time

from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import text

from services.gateway.routes.ops import HEALTH_ANSWER_SECONDS, ask_health
from services.health import HealthService


def ask(config, timeout=HEALTH_ANSWER_SECONDS):
    with ServiceRpcProxy("health", config) as health:
        began = time.monotonic()
        status, body = ask_health(health, timeout)
        return status, body, time.monotonic() - began


def test_health_is_ok_when_database_broker_and_source_answer(container_factory, nameko_config, clean_db):
    container_factory(HealthService, nameko_config).start()

    status, body, _ = ask(nameko_config)

    assert (status, body) == (200, {"status": "ok", "checks": {"database": "ok", "broker": "ok", "source": "ok",
                                                               "pipeline": "ok"}})


def test_a_batch_that_failed_lately_is_named_by_the_pipeline_check_and_health_stays_200(
        container_factory, nameko_config, clean_db):
    with clean_db.begin() as conn:
        run_id = conn.execute(text("INSERT INTO runs (track, source, status) VALUES ('[\"a\"]', 'replay',"
                                   " 'finished') RETURNING id")).scalar()
        conn.execute(text("INSERT INTO failed_batches (run_id, start_pos, end_pos, error, payload, failed_at)"
                          " VALUES (:run, 0, 100, 'IntegrityError: no', '{}', now()),"
                          "        (:run, 100, 200, 'IntegrityError: no', '{}', now() - interval '1 hour')"),
                     {"run": run_id})
    container_factory(HealthService, nameko_config).start()

    status, body, _ = ask(nameko_config)

    assert status == 200 and body["status"] == "ok"
    pipeline = body["checks"]["pipeline"]
    # only the batch of the last 15 minutes counts
    assert pipeline.startswith("failed: ") and f"run {run_id}: 1 batch (IntegrityError: no)" in pipeline


def test_a_hanging_database_fails_its_check_and_the_answer_still_comes_within_5_s(
        container_factory, nameko_config, silent_port):
    container_factory(HealthService, dict(nameko_config, DB_URI=f"postgresql://postgres@127.0.0.1:{silent_port}/x")).start()

    status, body, took = ask(nameko_config)

    assert took < 5.0
    assert status == 500 and body["status"] == "failed"
    assert body["checks"] == {"database": "failed: no answer within 3 s", "broker": "ok", "source": "ok",
                              "pipeline": "failed: no answer within 3 s"}


def test_a_health_service_that_does_not_answer_is_a_500_in_time(container_factory, nameko_config):
    container = container_factory(HealthService, nameko_config)
    container.start()
    container.stop()   # its queue stays, nobody consumes it: a hung service, as far as callers can tell

    status, body, took = ask(nameko_config, timeout=0.5)

    assert took < 1.5
    assert status == 500 and body["error"] == "the health service did not answer within 0.5 s"
