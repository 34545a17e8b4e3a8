"""Run rows against the real PostgreSQL: the speed a run's figures give, the statistics across runs
side by side, and which runs a replica may take over."""
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from services.storage import runs
from services.storage.schema import metadata
from tests.unit.deployment_files import dashboard_targets, sql_for_postgres


EPOCH = datetime(2024, 1, 1, 10, tzinfo=timezone.utc)


def ended_run(engine, seconds: float, matched: int, *, starts_after: float = 0.0, launched_by: str | None = None) -> int:
    """A stopped run whose row says it started ``starts_after`` s after EPOCH and lasted exactly
    ``seconds``, with ``matched`` tweets in its ledger."""
    with engine.begin() as conn:
        run_id = runs.create_run(conn, ["x"], "synthetic", {"seed": 1}, "owner-a", launched_by=launched_by)
        runs.end_run(conn, run_id, runs.STOPPED)
        started = EPOCH + timedelta(seconds=starts_after)
        conn.execute(text("UPDATE runs SET started_at = :started, stopped_at = :stopped, position = :n WHERE id = :id"),
                     {"started": started, "stopped": started + timedelta(seconds=seconds), "n": matched, "id": run_id})
        conn.execute(text("INSERT INTO run_batches (run_id, start_pos, end_pos, received, matched, bad, stored)"
                          " VALUES (:id, 0, :n, :n, :n, 0, :n)"), {"id": run_id, "n": matched})
        conn.execute(text("INSERT INTO run_totals (run_id, items, received, matched, bad, stored)"
                          " VALUES (:id, :n, :n, :n, 0, :n)"), {"id": run_id, "n": matched})
    return run_id


def test_a_runs_speed_divides_its_amount_by_the_exact_elapsed_time_not_by_whole_seconds(clean_db):
    run_id = ended_run(clean_db, 2.5, 5)
    with clean_db.connect() as conn:
        figures = runs.run_figures(conn, run_id)
        listed = runs.list_run_figures(conn)
    assert (figures["amount"], figures["elapsed_time"]) == (5, 2)   # elapsed_time: whole seconds
    assert figures["speed"] == 2.0, figures                          # 5 / 2.5, not 5 / 2
    assert [run["speed"] for run in listed] == [2.0]


def test_the_overall_speed_divides_the_amount_by_the_exact_elapsed_time_of_every_run(clean_db):
    ended_run(clean_db, 2.5, 5)
    ended_run(clean_db, 1.25, 10, starts_after=60)
    with clean_db.connect() as conn:
        overall = runs.overall_figures(conn)
    # 15 tweets over 3.75 s (4.0); whole seconds of each (2 + 1) or of the sum (3) would give 5.0
    assert overall == {"amount": 15, "speed": 4.0, "elapsed_time": 3}


def test_runs_side_by_side_count_the_time_they_share_once(clean_db):
    ended_run(clean_db, 10, 30, launched_by="alice")                    # [0, 10)
    ended_run(clean_db, 10, 30, starts_after=5, launched_by="bob")      # [5, 15): 5 s shared
    ended_run(clean_db, 2, 4, starts_after=6, launched_by="alice")      # inside both
    ended_run(clean_db, 4, 8, starts_after=20, launched_by="bob")       # [20, 24): apart
    with clean_db.connect() as conn:
        overall = runs.overall_figures(conn)
        alice, bob, nobody = (runs.overall_figures(conn, owner=name) for name in ("alice", "bob", None))
    assert overall == {"amount": 72, "speed": round(72 / 19, 3), "elapsed_time": 19}
    assert alice == {"amount": 34, "speed": 3.4, "elapsed_time": 10}
    assert bob == {"amount": 38, "speed": round(38 / 14, 3), "elapsed_time": 14}
    assert nobody == {"amount": 0, "speed": 0.0, "elapsed_time": 0}
    # Grafana's Statistics dashboard says the same
    panels = {title: sql for name, title, _, sql in dashboard_targets("rawSql") if name == "statistics.json"}
    with clean_db.connect() as conn:
        assert conn.exec_driver_sql(sql_for_postgres(panels["Elapsed time"])).scalar_one() == 19
        assert round(conn.exec_driver_sql(sql_for_postgres(panels["Speed"])).scalar_one(), 3) == overall["speed"]


def union_seconds(intervals) -> float:
    total, reach = 0.0, None
    for start, end in sorted(intervals):
        if reach is None or start > reach:
            total, reach = total + (end - start), end
        elif end > reach:
            total, reach = total + (end - reach), end
    return total


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 600), st.integers(0, 300)), min_size=1, max_size=12))
def test_elapsed_time_is_the_length_of_the_union_of_the_runs_intervals(clean_db, intervals):
    with clean_db.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(table.name for table in metadata.sorted_tables)} CASCADE"))
    for start, length in intervals:
        ended_run(clean_db, length, 1, starts_after=start)
    with clean_db.connect() as conn:
        overall = runs.overall_figures(conn)
    assert overall["elapsed_time"] == int(union_seconds((s, s + n) for s, n in intervals))
    assert overall["amount"] == len(intervals)


def test_a_run_shorter_than_a_second_has_its_real_speed(clean_db):
    run_id = ended_run(clean_db, 0.4, 6)
    with clean_db.connect() as conn:
        figures = runs.run_figures(conn, run_id)
    assert (figures["elapsed_time"], figures["speed"]) == (0, 15.0)


def active_run(engine, owner, silent_for: float | None) -> int:
    """The active run, owned by ``owner`` (None: given up), whose last heartbeat was ``silent_for`` s ago."""
    with engine.begin() as conn:
        run_id = runs.create_run(conn, ["x"], "synthetic", {"seed": 1}, "placeholder")
        conn.execute(text("UPDATE runs SET owner = :owner,"
                          " heartbeat_at = now() - make_interval(secs => :silent) WHERE id = :id"),
                     {"owner": owner, "silent": silent_for or 0, "id": run_id})
    return run_id


def owner_of(engine, run_id):
    with engine.connect() as conn:
        return conn.execute(text("SELECT owner FROM runs WHERE id = :id"), {"id": run_id}).scalar_one()


def test_a_run_whose_owner_sent_a_heartbeat_within_the_limit_is_not_taken_over(clean_db):
    run_id = active_run(clean_db, "owner-a", silent_for=1)
    with clean_db.begin() as conn:
        taken = runs.take_over_orphans(conn, "owner-b", stale_after=10)
    assert taken == []
    assert owner_of(clean_db, run_id) == "owner-a"


def test_a_run_whose_owner_is_silent_for_longer_than_the_limit_is_taken_over(clean_db):
    run_id = active_run(clean_db, "owner-a", silent_for=30)
    with clean_db.begin() as conn:
        [taken] = runs.take_over_orphans(conn, "owner-b", stale_after=10)
    assert (taken["id"], taken["owner"]) == (run_id, "owner-b")
    assert owner_of(clean_db, run_id) == "owner-b"
    # the new owner's heartbeat is fresh: a third replica does not take it in turn
    with clean_db.begin() as conn:
        assert runs.take_over_orphans(conn, "owner-c", stale_after=10) == []


def test_a_run_given_up_by_its_owner_is_taken_over_at_once(clean_db):
    run_id = active_run(clean_db, None, silent_for=0)
    with clean_db.begin() as conn:
        [taken] = runs.take_over_orphans(conn, "owner-b", stale_after=10)
    assert (taken["id"], taken["owner"]) == (run_id, "owner-b")


def test_a_run_that_ended_is_never_taken_over(clean_db):
    run_id = active_run(clean_db, "owner-a", silent_for=30)
    with clean_db.begin() as conn:
        runs.end_run(conn, run_id, runs.STOPPED)
        assert runs.take_over_orphans(conn, "owner-b", stale_after=10) == []


def test_every_run_of_a_silent_replica_is_taken_over_in_one_claim_and_live_ones_stay(clean_db):
    silent = [active_run(clean_db, "owner-a", silent_for=30) for _ in range(3)]
    live = active_run(clean_db, "owner-c", silent_for=1)
    with clean_db.begin() as conn:
        taken = runs.take_over_orphans(conn, "owner-b", stale_after=10)
    assert sorted(run["id"] for run in taken) == silent
    assert [owner_of(clean_db, run_id) for run_id in silent] == ["owner-b"] * 3
    assert owner_of(clean_db, live) == "owner-c"


def x_run(engine, owner, silent_for: float = 0) -> int:
    with engine.begin() as conn:
        run_id = runs.create_run(conn, ["x"], "x", {}, "placeholder")
        conn.execute(text("UPDATE runs SET owner = :owner, heartbeat_at = now() - make_interval(secs => :silent)"
                          " WHERE id = :id"), {"owner": owner, "silent": silent_for, "id": run_id})
    return run_id


def test_every_x_run_goes_to_the_replica_that_streams_x_runs_already_the_others_to_anyone(clean_db):
    streamed = x_run(clean_db, "owner-a")                 # owner-a holds the app's one X connection
    handed_on = x_run(clean_db, None)                     # launched by another replica, left unclaimed
    synthetic = active_run(clean_db, None, silent_for=0)
    with clean_db.begin() as conn:
        assert runs.x_stream_holder(conn, "owner-b", stale_after=10) == "owner-a"
        assert runs.x_stream_holder(conn, "owner-a", stale_after=10) is None   # itself: no other holder
        taken_by_b = runs.take_over_orphans(conn, "owner-b", stale_after=10)
    assert [run["id"] for run in taken_by_b] == [synthetic]   # not the X run
    with clean_db.begin() as conn:
        taken_by_a = runs.take_over_orphans(conn, "owner-a", stale_after=10)
    assert [run["id"] for run in taken_by_a] == [handed_on]
    assert owner_of(clean_db, streamed) == owner_of(clean_db, handed_on) == "owner-a"


def test_when_the_x_replica_falls_silent_another_takes_every_x_run_over(clean_db):
    first, second = x_run(clean_db, "owner-a", silent_for=30), x_run(clean_db, "owner-a", silent_for=30)
    with clean_db.begin() as conn:
        assert runs.x_stream_holder(conn, "owner-b", stale_after=10) is None
        taken = runs.take_over_orphans(conn, "owner-b", stale_after=10)
    assert sorted(run["id"] for run in taken) == [first, second]


def test_an_x_launch_on_a_replica_without_the_x_stream_is_left_for_the_one_with_it(clean_db):
    from unittest import mock

    from services.launcher import service as launcher_module
    x_run(clean_db, "owner-a")
    streamer = mock.Mock(owner="owner-b")
    with mock.patch.object(launcher_module, "source_for_run"):
        answer = launcher_module.launch_run(clean_db, streamer, {"FLAVOR": "stage"}, {"track": ["y"], "source": "x"})
    streamer.stream_run.assert_not_called()
    assert owner_of(clean_db, answer["run_id"]) is None
    streamer.owner = "owner-a"
    with mock.patch.object(launcher_module, "source_for_run"):
        answer = launcher_module.launch_run(clean_db, streamer, {"FLAVOR": "stage"}, {"track": ["z"], "source": "x"})
    streamer.stream_run.assert_called_once()
    assert owner_of(clean_db, answer["run_id"]) == "owner-a"
