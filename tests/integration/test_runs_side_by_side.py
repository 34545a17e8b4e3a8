"""Runs side by side, owned by named users, against the real PostgreSQL: the launcher's launch, stop
and retry with the callers the gateway passes, MAX_ACTIVE_RUNS under concurrent launches, and the
statistics service's run listing and per-owner figures."""
import threading
from unittest import mock

import pytest
from nameko.testing.services import worker_factory

from services.contracts.errors import Conflict, Forbidden, NotFound
from services.launcher import service as launcher_module
from services.launcher.service import LauncherService
from services.statistics.service import StatisticsService
from services.storage import runs
from services.storage.database import make_engine

ALICE = {"role": "operator", "name": "alice"}
BOB = {"role": "operator", "name": "bob"}
CAROL = {"role": "operator", "name": "carol"}
ROOT = {"role": "admin", "name": "root"}
VIEWER = {"role": "viewer", "name": "vera"}


@pytest.fixture
def launcher(clean_db):
    streamer = mock.Mock(owner="replica-a")
    config = {"FLAVOR": "stage", "MAX_ACTIVE_RUNS": 4, "STOP_DRAIN_SECONDS": 0}
    with mock.patch.object(launcher_module, "source_for_run"):
        yield worker_factory(LauncherService, db=clean_db, streamer=streamer, config=config)


def launch(launcher, caller, track=("bieber",)) -> int:
    return launcher.launch({"track": list(track), "rate": 0}, caller)["run_id"]


def status_of(engine, run_id) -> str:
    with engine.connect() as conn:
        return runs.get_run(conn, run_id)["status"]


def test_each_run_is_owned_by_the_user_who_launched_it_and_several_stream_at_once(launcher, clean_db):
    first, second, third = launch(launcher, ALICE), launch(launcher, BOB), launch(launcher, None)
    with clean_db.connect() as conn:
        assert runs.active_run_ids(conn) == [first, second, third]
        assert [runs.run_figures(conn, run)["owner"] for run in (first, second, third)] == ["alice", "bob", None]
    assert launcher.streamer.stream_run.call_count == 3


def test_a_launch_beyond_max_active_runs_is_refused_naming_the_limit_and_a_stop_makes_room(launcher, clean_db):
    ids = [launch(launcher, ALICE) for _ in range(4)]
    with pytest.raises(Conflict, match=r"4 runs are active, as many as MAX_ACTIVE_RUNS \(4\) allows"):
        launch(launcher, BOB)
    launcher.stop({"run_id": ids[0]}, ALICE)
    assert launch(launcher, BOB) > ids[-1]


def test_concurrent_launches_never_pass_max_active_runs(clean_db, db_uri):
    engine = make_engine(db_uri, pool_size=8)
    outcomes = []

    def one_launch():
        with engine.begin() as conn:
            try:
                outcomes.append(runs.create_run(conn, ["x"], "synthetic", {}, "replica", max_active=3))
            except runs.TooManyActiveRuns:
                outcomes.append("refused")

    threads = [threading.Thread(target=one_launch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()
    assert outcomes.count("refused") == 5
    with clean_db.connect() as conn:
        assert len(runs.active_run_ids(conn)) == 3


def test_stop_without_a_body_stops_the_callers_only_active_run_and_leaves_the_others(launcher, clean_db):
    mine, theirs = launch(launcher, ALICE), launch(launcher, BOB)
    figures = launcher.stop(None, ALICE)
    assert (figures["run_id"], figures["owner"], figures["status"]) == (mine, "alice", "stopped")
    assert status_of(clean_db, theirs) == "active"
    launcher.streamer.halt.assert_called_once_with(mine)
    with pytest.raises(Conflict, match="^no run of yours is active$"):
        launcher.stop(None, ALICE)


def test_stop_without_a_body_when_the_caller_has_several_active_runs_lists_them(launcher, clean_db):
    first, second = launch(launcher, BOB), launch(launcher, BOB)
    with pytest.raises(Conflict, match=rf"runs {first}, {second} are active; name the one to stop"):
        launcher.stop({}, BOB)
    assert [status_of(clean_db, run) for run in (first, second)] == ["active", "active"]


def test_an_open_gateways_one_run_walk_through_still_stops_without_a_body(launcher, clean_db):
    run_id = launch(launcher, None)
    assert launcher.stop()["run_id"] == run_id
    with pytest.raises(Conflict, match="^no run is active$"):
        launcher.stop()


def test_an_operator_stops_their_own_run_by_id_another_operator_may_not_an_admin_may(launcher, clean_db):
    bobs, others = launch(launcher, BOB), launch(launcher, BOB)
    with pytest.raises(Forbidden, match=f"run {bobs} belongs to bob; only its owner or an admin"):
        launcher.stop({"run_id": bobs}, CAROL)
    assert status_of(clean_db, bobs) == "active"
    assert launcher.stop({"run_id": bobs}, BOB)["status"] == "stopped"
    assert launcher.stop({"run_id": others}, ROOT)["status"] == "stopped"


def test_stopping_a_run_that_is_not_there_or_not_active_says_so(launcher, clean_db):
    run_id = launch(launcher, ALICE)
    with pytest.raises(NotFound, match="^run 999 does not exist$"):
        launcher.stop({"run_id": 999}, ROOT)
    launcher.stop({"run_id": run_id}, ALICE)
    with pytest.raises(Conflict, match=f"^run {run_id} is not active \\(it is stopped\\)$"):
        launcher.stop({"run_id": run_id}, ALICE)


def test_retry_of_another_users_run_is_forbidden_to_an_operator(launcher, clean_db):
    run_id = launch(launcher, BOB)
    with pytest.raises(Forbidden):
        launcher.retry_failed(run_id, ALICE)
    launcher.retry_failed(run_id, BOB)
    launcher.retry_failed(run_id, ROOT)
    assert launcher.filter.retry_failed.call_count == 2


def test_runs_are_listed_newest_first_by_status_and_owner_a_page_at_a_time(launcher, clean_db):
    ids = [launch(launcher, caller) for caller in (ALICE, BOB, ALICE, None)]
    launcher.stop({"run_id": ids[0]}, ALICE)
    statistics = worker_factory(StatisticsService, db=clean_db)

    def listed(**query):
        return [run["run_id"] for run in statistics.list_runs({k: str(v) for k, v in query.items()})]

    assert listed() == ids[::-1]
    assert listed(owner="alice") == [ids[2], ids[0]]
    assert listed(status="active") == [ids[3], ids[2], ids[1]]
    assert listed(status="stopped", owner="alice") == [ids[0]]
    assert listed(limit=2) == [ids[3], ids[2]]
    assert listed(limit=2, cursor=ids[2]) == [ids[1], ids[0]]
    assert listed(cursor=ids[0]) == []
    assert listed(owner="nobody") == []
