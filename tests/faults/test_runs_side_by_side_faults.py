"""Runs of different owners side by side, as real processes behind a gateway with named API tokens:
three synthetic runs with fixed seeds streaming at once end exactly as the same runs one after the
other (run by run: figures and stored tweets), and still do when the launcher holding two of them is
killed with SIGKILL and another replica takes both over."""
import signal
import time

import pytest
from sqlalchemy import text

from tests.faults.conftest import empty_store, figures, wait_committed, wait_done
from tests.system import System, running_system, system_env

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

TOKENS = {"t-ann": "ann", "t-ben": "ben", "t-cat": "cat"}
# different seeds, so the three runs' tweets are distinct: each stores what it matched
WORKLOADS = {
    "t-ann": {"track": ["the", "love"], "seed": 101, "limit": 8_000, "batch_size": 200},
    "t-ben": {"track": ["music"], "seed": 202, "limit": 8_000, "batch_size": 200},
    "t-cat": {"track": ["the", "game", "win"], "seed": 303, "limit": 8_000, "batch_size": 200},
}
SIDE_BY_SIDE_RATE = 1_500   # about 5 s each: long enough to kill a launcher in the middle


class NamedUsersSystem(System):
    def ready_headers(self) -> dict:
        return {"Authorization": "Bearer t-ann"}


@pytest.fixture(scope="module")
def system(db_uri, amqp_uri, tmp_path_factory):
    tokens = ",".join([*(f"{token}:operator:{name}" for token, name in TOKENS.items()), "t-root:admin:root",
                       "t-vic:viewer:vic"])
    with running_system(system_env(db_uri, amqp_uri, API_TOKENS=tokens), tmp_path_factory.mktemp("side-by-side-logs"),
                        NamedUsersSystem) as running:
        yield running


def launch(system, token: str, rate: float) -> int:
    answer = system.post("/launch", dict(WORKLOADS[token], rate=rate), headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return answer.json()["run_id"]


def stored_ids_by_run(engine) -> dict[int, set[int]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT first_run_id, id FROM tweets")).all()
    found: dict[int, set[int]] = {}
    for run_id, tweet_id in rows:
        found.setdefault(run_id, set()).add(tweet_id)
    return found


def outcome(engine, run_ids: dict[str, int], system) -> dict[str, tuple]:
    """Per owner: the run's figures, its owner as the API says, and the tweets it stored."""
    done = {token: wait_done(engine, run_id, system=system) for token, run_id in run_ids.items()}
    stored = stored_ids_by_run(engine)
    return {TOKENS[token]: (figures(row), row["owner"], frozenset(stored.get(row["run_id"], ())))
            for token, row in done.items()}


@pytest.fixture(scope="module")
def one_after_another(system, engine):
    empty_store(engine)
    result = {}
    for token in WORKLOADS:
        result.update(outcome(engine, {token: launch(system, token, rate=0)}, system))
    for name, (run_figures, owner, stored) in result.items():
        assert run_figures["status"] == "finished" and owner == name
        assert run_figures["matched"] == run_figures["stored"] == len(stored) > 0
    empty_store(engine)
    return result


def test_three_runs_of_different_owners_at_once_equal_the_same_runs_one_after_the_other(system, engine,
                                                                                       one_after_another):
    empty_store(engine)
    run_ids = {token: launch(system, token, SIDE_BY_SIDE_RATE) for token in WORKLOADS}
    time.sleep(1)
    with engine.connect() as conn:
        active = conn.execute(text("SELECT count(*) FROM runs WHERE status = 'active'")).scalar()
    assert active == 3   # they really streamed side by side
    assert outcome(engine, run_ids, system) == one_after_another


def replica_of(system, engine, run_id: int) -> str | None:
    with engine.connect() as conn:
        owner = conn.execute(text("SELECT owner FROM runs WHERE id = :id"), {"id": run_id}).scalar()
    pid = int(owner.split(":")[1]) if owner else None
    return next((key for key, process in system.processes.items() if process.pid == pid), None)


def test_kill_9_of_the_launcher_holding_two_runs_has_both_taken_over_and_changes_no_figure(system, engine,
                                                                                          one_after_another):
    empty_store(engine)
    # only the first launcher runs while the first two launch: it holds both
    first_two = {token: launch(system, token, SIDE_BY_SIDE_RATE) for token in ("t-ann", "t-ben")}
    system.start("launcher", replica="b")
    try:
        time.sleep(3)   # its consumers and timer running
        run_ids = dict(first_two, **{"t-cat": launch(system, "t-cat", SIDE_BY_SIDE_RATE)})
        for run_id in first_two.values():
            wait_committed(engine, run_id, 1_000)
            assert replica_of(system, engine, run_id) == "launcher"
        system.kill("launcher")
        killed_at = time.monotonic()
        while any(replica_of(system, engine, run_id) != "launcher-b" for run_id in first_two.values()):
            assert time.monotonic() - killed_at <= 15, "both runs were not taken over within 15 s"
            time.sleep(0.2)
        assert outcome(engine, run_ids, system) == one_after_another
    finally:
        for key in ("launcher", "launcher-b"):
            if key in system.processes:
                system.signal(key, signal.SIGTERM)
        system.start("launcher")
        system.wait_ready()


def test_over_http_an_operator_stops_their_own_run_not_anothers_an_admin_any_and_a_viewer_launches_none(system, engine):
    def as_(token):
        return {"Authorization": f"Bearer {token}"}

    empty_store(engine)
    anns, bens = launch(system, "t-ann", rate=5), launch(system, "t-ben", rate=5)
    refused = system.post("/stop", {"run_id": bens}, headers=as_("t-ann"))
    assert refused.status_code == 403 and f"run {bens} belongs to ben" in refused.json()["error"]
    assert system.post("/stop", headers=as_("t-ann")).json()["run_id"] == anns      # ann's only run
    assert system.post("/launch", {"track": ["x"]}, headers=as_("t-vic")).status_code == 403
    assert system.get("/api/me", headers=as_("t-vic")).json() == {"role": "viewer", "name": "vic"}
    listed = system.get("/statistics/runs?owner=ben", headers=as_("t-vic")).json()
    assert [(run["run_id"], run["owner"], run["status"]) for run in listed] == [(bens, "ben", "active")]
    assert system.post("/stop", {"run_id": bens}, headers=as_("t-root")).json()["status"] == "stopped"
