"""Run rows against the real PostgreSQL: the speed a run's figures give, and which runs a
replica may take over."""
from sqlalchemy import text

from services.storage import runs


def ended_run(engine, seconds: float, matched: int) -> int:
    """A stopped run whose row says it lasted exactly ``seconds``, with ``matched`` tweets in its ledger."""
    with engine.begin() as conn:
        run_id = runs.create_run(conn, ["x"], "synthetic", {"seed": 1}, "owner-a")
        runs.end_run(conn, run_id, runs.STOPPED)
        conn.execute(text("UPDATE runs SET started_at = timestamptz '2024-01-01 10:00:00+00',"
                          " stopped_at = timestamptz '2024-01-01 10:00:00+00' + make_interval(secs => :s),"
                          " position = :n WHERE id = :id"), {"s": seconds, "n": matched, "id": run_id})
        conn.execute(text("INSERT INTO run_batches (run_id, start_pos, end_pos, received, matched, bad, stored)"
                          " VALUES (:id, 0, :n, :n, :n, 0, :n)"), {"id": run_id, "n": matched})
        conn.execute(text("INSERT INTO run_totals (run_id, items, received, matched, bad, stored)"
                          " VALUES (:id, :n, :n, :n, 0, :n)"), {"id": run_id, "n": matched})
    return run_id


def test_a_runs_speed_divides_its_amount_by_the_exact_elapsed_time_not_by_whole_seconds(clean_db):
    run_id = ended_run(clean_db, 2.5, 5)
    with clean_db.connect() as conn:
        figures = runs.run_figures(conn, run_id)
        listed = runs.all_run_figures(conn)
    assert (figures["amount"], figures["elapsed_time"]) == (5, 2)   # elapsed_time: whole seconds
    assert figures["speed"] == 2.0, figures                          # 5 / 2.5, not 5 / 2
    assert [run["speed"] for run in listed] == [2.0]


def test_the_overall_speed_divides_the_amount_by_the_exact_elapsed_time_of_every_run(clean_db):
    ended_run(clean_db, 2.5, 5)
    ended_run(clean_db, 1.25, 10)
    with clean_db.connect() as conn:
        overall = runs.overall_figures(conn)
    # 15 tweets over 3.75 s (4.0); whole seconds of each (2 + 1) or of the sum (3) would give 5.0
    assert overall == {"amount": 15, "speed": 4.0, "elapsed_time": 3}


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
        taken = runs.take_over_orphan(conn, "owner-b", stale_after=10)
    assert taken is None
    assert owner_of(clean_db, run_id) == "owner-a"


def test_a_run_whose_owner_is_silent_for_longer_than_the_limit_is_taken_over(clean_db):
    run_id = active_run(clean_db, "owner-a", silent_for=30)
    with clean_db.begin() as conn:
        taken = runs.take_over_orphan(conn, "owner-b", stale_after=10)
    assert taken is not None and (taken["id"], taken["owner"]) == (run_id, "owner-b")
    assert owner_of(clean_db, run_id) == "owner-b"
    # the new owner's heartbeat is fresh: a third replica does not take it in turn
    with clean_db.begin() as conn:
        assert runs.take_over_orphan(conn, "owner-c", stale_after=10) is None


def test_a_run_given_up_by_its_owner_is_taken_over_at_once(clean_db):
    run_id = active_run(clean_db, None, silent_for=0)
    with clean_db.begin() as conn:
        taken = runs.take_over_orphan(conn, "owner-b", stale_after=10)
    assert taken is not None and (taken["id"], taken["owner"]) == (run_id, "owner-b")


def test_a_run_that_ended_is_never_taken_over(clean_db):
    run_id = active_run(clean_db, "owner-a", silent_for=30)
    with clean_db.begin() as conn:
        runs.end_run(conn, run_id, runs.STOPPED)
        assert runs.take_over_orphan(conn, "owner-b", stale_after=10) is None
