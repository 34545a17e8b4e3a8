"""RabbitMQ or PostgreSQL restarted in the middle of a run: the services reconnect by themselves and
the run ends exactly as a fault-free one (same figures, same stored tweets, nothing in failed_batches).

Both are the machine's shared servers: each test brings its server back in a finally block."""
import subprocess
import time

import pytest

from tests.faults.conftest import FAULT_RATE, WORKLOAD, assert_like_reference, launch, run_row, wait_committed

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

STRIKE_AT = WORKLOAD["limit"] // 5
OUTAGE_SECONDS = 3


def run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def restart_rabbitmq() -> None:
    """Stop and start the broker application: every connection is cut; durable queues and their
    persistent messages stay (as across a restart of the node)."""
    try:
        run("rabbitmqctl", "-q", "stop_app")
        time.sleep(OUTAGE_SECONDS)
    finally:
        run("rabbitmqctl", "-q", "start_app")
        run("rabbitmqctl", "-q", "await_startup")


def restart_postgresql() -> None:
    run("pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "restart")


@pytest.fixture
def servers_left_running():
    yield
    # whatever happened in the test, both servers answer afterwards
    subprocess.run(["rabbitmqctl", "-q", "start_app"], check=False, capture_output=True, timeout=120)
    if subprocess.run(["pg_ctlcluster", "15", "main", "status"], capture_output=True).returncode != 0:
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "start"], check=False,
                       capture_output=True, timeout=120)


def test_a_rabbitmq_restart_mid_run_changes_nothing(system, reference, empty, servers_left_running):
    run_id = launch(system, FAULT_RATE)
    wait_committed(empty, run_id, STRIKE_AT)
    restart_rabbitmq()
    struck = run_row(empty, run_id)
    run = assert_like_reference(empty, run_id, reference, system)
    assert struck["committed_items"] < run["committed_items"]
    # and the services answer over the broker again, without a restart of their own
    assert system.get(f"/statistics/runs/{run_id}").json()["matched"] == reference["figures"]["matched"]


def test_a_postgresql_restart_mid_run_retries_batches_without_loss_or_double(system, reference, empty,
                                                                             servers_left_running):
    run_id = launch(system, FAULT_RATE)
    wait_committed(empty, run_id, STRIKE_AT)
    assert system.get("/api/v1/tags").status_code == 200   # the query service holds a connection
    restart_postgresql()
    # its views run without a ping first: the dead connection fails once and the read is retried
    assert system.get("/api/v1/tags").status_code == 200
    struck = run_row(empty, run_id)
    run = assert_like_reference(empty, run_id, reference, system)
    assert struck["committed_items"] < run["committed_items"]
    assert system.get(f"/statistics/runs/{run_id}").json()["matched"] == reference["figures"]["matched"]
