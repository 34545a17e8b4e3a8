"""The health checks: the database, the broker and the tweet source, each within a deadline.

Every check runs in its own green thread under ``eventlet.Timeout`` and also passes its
deadline to the client it uses (connect and statement timeouts), so a dependency that
hangs instead of refusing still gives an answer in time. The messages name what failed
and why, never a secret: passwords in the URIs are blanked out of them.
"""
import logging
from urllib.parse import urlsplit

import eventlet
from kombu import Connection

from services.observability.metrics import HEALTH
from services.sources import default_source_name, make_source
from services.storage import runs
from services.storage.database import db_uri, probe
from services.settings import setting

log = logging.getLogger(__name__)

OK = "ok"
# The checks run side by side, so the whole answer takes at most this long (plus a little):
# well inside the 5 s a caller of /api/health waits.
CHECK_SECONDS = 3.0


def check_database(config: dict, timeout: float) -> None:
    """The database answers a query on a fresh connection within the deadline."""
    probe(db_uri(config), timeout)


def check_broker(config: dict, timeout: float) -> None:
    """Open (and close) an AMQP connection to the broker the services use."""
    # read/write timeouts too: a broker that accepts but never speaks must not hold the check
    with Connection(config["AMQP_URI"], connect_timeout=timeout,
                    transport_options={"read_timeout": timeout, "write_timeout": timeout}) as broker:
        # no waiting between attempts: a refused connection is the answer
        broker.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)


def check_source(config: dict, timeout: float) -> None:
    """The configured source builds (credentials, options) and its own check() passes."""
    # the X API source's own request timeout, bounded by the check's deadline
    bounded = dict(config, X_CHECK_TIMEOUT=min(float(setting(config, "X_CHECK_TIMEOUT")), timeout))
    source = make_source(default_source_name(config), bounded)
    try:
        source.check()
    finally:
        source.close()


PIPELINE_MINUTES = 15


def check_pipeline(engine, timeout: float) -> None:
    """Batches that failed lately, by run: the components answer, but something was not stored."""
    with engine.connect() as conn:
        conn.exec_driver_sql(f"SET statement_timeout = {int(timeout * 1000)}")
        failures = runs.recent_failures(conn, PIPELINE_MINUTES)
    if failures:
        described = "; ".join(f"run {f['run_id']}: {f['batches']} batch{'es' if f['batches'] > 1 else ''}"
                              f" ({f['error']})" for f in failures)
        raise PipelineFailures(f"batches failed in the last {PIPELINE_MINUTES} minutes, kept for "
                               f"POST /statistics/runs/{{id}}/retry: {described}")


class PipelineFailures(Exception):
    pass


CHECKS = {"database": check_database, "broker": check_broker, "source": check_source}
# Checks that report on what the system did rather than on a component: shown, but they do not make
# /api/health fail (500 means a component is down).
REPORTS = ("pipeline",)


def _secrets(config: dict) -> list[str]:
    found = []
    for key in ("DB_URI", "AMQP_URI"):
        try:
            password = urlsplit(str(config.get(key) or "")).password
        except ValueError:
            password = None
        if password:
            found.append(password)
    return found


def describe(error: BaseException, config: dict) -> str:
    """One line saying why a check failed, without secrets."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    reason = lines[0] if lines else type(error).__name__
    for secret in _secrets(config):
        reason = reason.replace(secret, "***")
    return reason


def run_check(name: str, check, config: dict, timeout: float) -> str:
    try:
        with eventlet.Timeout(timeout):
            check(config, timeout)
    except eventlet.Timeout:
        outcome = f"failed: no answer within {timeout:g} s"
    except Exception as error:  # noqa: BLE001 - a failed check is an answer, not an error
        outcome = f"failed: {describe(error, config)}"
    else:
        outcome = OK
    HEALTH.labels(check=name).set(1 if outcome == OK else 0)
    if outcome != OK:
        log.warning("health check %s %s", name, outcome)
    return outcome


def run_checks(config: dict, checks: dict = CHECKS, timeout: float = CHECK_SECONDS) -> dict:
    """``{"status": "ok" | "failed", "checks": {name: "ok" | "failed: why"}}``; the checks run at once."""
    pool = eventlet.GreenPool(len(checks))
    names = list(checks)
    outcomes = dict(zip(names, pool.imap(lambda name: run_check(name, checks[name], config, timeout), names),
                        strict=True))
    components_ok = all(o == OK for name, o in outcomes.items() if name not in REPORTS)
    return {"status": OK if components_ok else "failed", "checks": outcomes}
