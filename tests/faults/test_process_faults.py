"""Service processes killed, terminated, replaced or all restarted in the middle of a run: the outcome
is exactly the fault-free one (same figures, same stored tweets, nothing in failed_batches)."""
import signal
import time

import pytest
from sqlalchemy import text

from tests.faults.conftest import FAULT_RATE, WORKLOAD, assert_like_reference, launch, run_row, wait_committed

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

STRIKE_AT = WORKLOAD["limit"] // 5
TAKEOVER_BOUND_SECONDS = 15


def log_text(system, key: str) -> str:
    return (system.log_dir / f"{key}.log").read_text(errors="replace")


def test_filter_killed_with_batches_in_flight_loses_and_doubles_nothing(system, reference, empty):
    run_id = launch(system, FAULT_RATE)
    wait_committed(empty, run_id, STRIKE_AT)
    system.kill("filter")  # SIGKILL: the batches it held unacknowledged go back to the queue
    struck = run_row(empty, run_id)
    time.sleep(1)  # batches keep arriving meanwhile, and wait in the queue
    system.start("filter")
    run = assert_like_reference(empty, run_id, reference, system)
    assert struck["committed_items"] < run["committed_items"]  # the fault struck mid-run


def test_sigterm_lets_the_filter_finish_and_acknowledge_its_batches(system, reference, empty):
    run_id = launch(system, FAULT_RATE)
    wait_committed(empty, run_id, STRIKE_AT)
    exit_code = system.signal("filter", signal.SIGTERM)
    assert exit_code == 0, log_text(system, "filter")[-3000:]
    struck = run_row(empty, run_id)
    before_restart = len(log_text(system, "filter"))
    system.start("filter")
    run = assert_like_reference(empty, run_id, reference, system)
    assert struck["committed_items"] < run["committed_items"]
    # a batch committed but not acknowledged before the exit would come back and be logged as a
    # redelivery; none is: every batch the stopping filter committed was acknowledged
    after_restart = log_text(system, "filter")[before_restart:]
    assert "was already committed" not in after_restart


def owner_key(system, engine, run_id: int) -> str:
    with engine.connect() as conn:
        owner = conn.execute(text("SELECT owner FROM runs WHERE id = :id"), {"id": run_id}).scalar()
    pid = int(owner.split(":")[1])
    return next(key for key, process in system.processes.items() if process.pid == pid)


def test_a_second_launcher_takes_over_a_run_whose_launcher_died(system, reference, empty):
    system.start("launcher", replica="b")
    try:
        time.sleep(3)  # its consumers and timer running
        run_id = launch(system, FAULT_RATE)
        wait_committed(empty, run_id, STRIKE_AT)
        dead = owner_key(system, empty, run_id)
        survivor = "launcher-b" if dead == "launcher" else "launcher"
        system.kill(dead)
        killed_at = time.monotonic()
        while owner_key_or_none(system, empty, run_id) != survivor:
            assert time.monotonic() - killed_at <= TAKEOVER_BOUND_SECONDS, "no takeover within 15 s"
            time.sleep(0.2)
        assert_like_reference(empty, run_id, reference, system)
    finally:
        for key in ("launcher", "launcher-b"):
            if key in system.processes:
                system.signal(key, signal.SIGTERM)
        system.start("launcher")
        system.wait_ready()


def owner_key_or_none(system, engine, run_id: int) -> str | None:
    try:
        return owner_key(system, engine, run_id)
    except StopIteration:  # still the dead one's name
        return None


VIEWS = ["/statistics", "/statistics/runs", "/api/v1/users", "/api/v1/hour", "/api/v1/hour?by=hour_of_day",
         "/api/v1/tags", "/api/v1/tags?limit=5"]


def windowed_views(run: dict) -> list[str]:
    # fixed windows around the run, so that the minute the restart takes does not move them
    start, end = run["started_at"][:16] + ":00Z", run["stopped_at"][:16] + ":00Z"
    window = f"from={start}&to={end}".replace("+00:00", "")
    return [f"/api/v1/hashtags/top?{window}", f"/api/v1/aggregates?{window}", f"/api/v1/aggregates?{window}&lang=en",
            f"/statistics/runs/{run['run_id']}"]


def test_every_view_answers_the_same_after_all_services_restart(system, reference, empty):
    run = assert_like_reference(empty, launch(system, 0), reference, system)
    answer = system.get(f"/statistics/runs/{run['run_id']}").json()
    paths = VIEWS + windowed_views(answer)
    top_user = system.get("/api/v1/users").json()[0]["username"]
    paths.append(f"/api/v1/users/{top_user}/tweets")
    before = {path: system.get(path) for path in paths}
    assert all(response.status_code == 200 for response in before.values()), {
        path: response.text for path, response in before.items() if response.status_code != 200}
    system.stop_all()
    system.start_all()
    after = {path: system.get(path) for path in paths}
    assert {path: response.json() for path, response in after.items()} == {
        path: response.json() for path, response in before.items()}
