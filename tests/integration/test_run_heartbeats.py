"""A launcher replica's hold on its runs, against the real PostgreSQL: a heartbeat keeps only the
active runs it names of that replica alive, and giving runs up releases only that replica's listed
runs (so another replica may take them over at once)."""
from datetime import datetime, timezone

from sqlalchemy import text

from services.storage import runs

LONG_AGO = datetime(2001, 2, 3, 4, 5, 6, tzinfo=timezone.utc)


def a_run(engine, owner: str | None, *, ended: bool = False) -> int:
    """A run owned by ``owner`` whose last heartbeat was LONG_AGO (stopped when ``ended``)."""
    with engine.begin() as conn:
        run_id = runs.create_run(conn, ["the"], "synthetic", {"seed": 1}, owner or "nobody")
        if ended:
            runs.end_run(conn, run_id, runs.STOPPED)
        conn.execute(text("UPDATE runs SET heartbeat_at = :at, owner = :owner WHERE id = :id"),
                     {"at": LONG_AGO, "owner": owner, "id": run_id})
    return run_id


def rows(engine) -> dict[int, tuple]:
    """{run id: (owner, heartbeat_at, status)} of every run."""
    with engine.connect() as conn:
        found = conn.execute(text("SELECT id, owner, heartbeat_at, status FROM runs ORDER BY id")).all()
    return {row.id: (row.owner, row.heartbeat_at, row.status) for row in found}


def database_now(engine) -> datetime:
    with engine.connect() as conn:
        return conn.execute(text("SELECT now()")).scalar_one()


def test_a_heartbeat_touches_only_the_named_active_runs_of_its_owner(clean_db):
    mine = a_run(clean_db, "replica-a")
    mine_too = a_run(clean_db, "replica-a")          # the replica's, but not named
    mine_ended = a_run(clean_db, "replica-a", ended=True)
    theirs = a_run(clean_db, "replica-b")
    given_up = a_run(clean_db, None)
    before = database_now(clean_db)

    with clean_db.begin() as conn:
        runs.heartbeat(conn, "replica-a", [mine, mine_ended, theirs, given_up])

    after = rows(clean_db)
    owner, beat, status = after[mine]
    assert (owner, status) == ("replica-a", runs.ACTIVE)
    assert before <= beat <= database_now(clean_db)
    assert after[mine_too] == ("replica-a", LONG_AGO, runs.ACTIVE)
    assert after[mine_ended] == ("replica-a", LONG_AGO, runs.STOPPED)
    assert after[theirs] == ("replica-b", LONG_AGO, runs.ACTIVE)
    assert after[given_up] == (None, LONG_AGO, runs.ACTIVE)


def test_a_heartbeat_of_several_runs_touches_each_and_of_none_touches_nothing(clean_db):
    first, second = a_run(clean_db, "replica-a"), a_run(clean_db, "replica-a")

    with clean_db.begin() as conn:
        runs.heartbeat(conn, "replica-a", [])
    assert {run_id: beat for run_id, (_, beat, _) in rows(clean_db).items()} == {first: LONG_AGO, second: LONG_AGO}

    with clean_db.begin() as conn:
        runs.heartbeat(conn, "replica-a", (run_id for run_id in (first, second)))   # any iterable
    assert all(beat > LONG_AGO for _, beat, _ in rows(clean_db).values())


def test_a_heartbeat_keeps_a_run_from_being_taken_over_and_its_absence_lets_it_go(clean_db):
    kept, silent = a_run(clean_db, "replica-a"), a_run(clean_db, "replica-a")

    with clean_db.begin() as conn:
        runs.heartbeat(conn, "replica-a", [kept])
    with clean_db.begin() as conn:
        taken = runs.take_over_orphans(conn, "replica-b", 60)

    assert [run["id"] for run in taken] == [silent]
    assert {run_id: owner for run_id, (owner, _, _) in rows(clean_db).items()} == \
        {kept: "replica-a", silent: "replica-b"}


def test_giving_up_releases_only_the_listed_runs_of_that_owner(clean_db):
    mine = a_run(clean_db, "replica-a")
    mine_too = a_run(clean_db, "replica-a")          # the replica's, but not listed
    theirs = a_run(clean_db, "replica-b")

    with clean_db.begin() as conn:
        runs.give_up(conn, "replica-a", [mine, theirs])

    after = rows(clean_db)
    assert after[mine] == (None, LONG_AGO, runs.ACTIVE)   # only the owner goes: status and heartbeat stay
    assert after[mine_too] == ("replica-a", LONG_AGO, runs.ACTIVE)
    assert after[theirs] == ("replica-b", LONG_AGO, runs.ACTIVE)


def test_a_run_given_up_is_taken_over_at_once_though_its_heartbeat_is_fresh(clean_db):
    released, held = a_run(clean_db, "replica-a"), a_run(clean_db, "replica-a")
    with clean_db.begin() as conn:
        runs.heartbeat(conn, "replica-a", [released, held])
        runs.give_up(conn, "replica-a", iter([released]))   # any iterable
    with clean_db.begin() as conn:
        taken = runs.take_over_orphans(conn, "replica-b", 3600)

    assert [run["id"] for run in taken] == [released]
    after = rows(clean_db)
    assert (after[released][0], after[held][0]) == ("replica-b", "replica-a")


def test_giving_up_nothing_changes_nothing(clean_db):
    mine = a_run(clean_db, "replica-a")
    before = rows(clean_db)

    with clean_db.begin() as conn:
        runs.give_up(conn, "replica-a", [])

    assert rows(clean_db) == before == {mine: ("replica-a", LONG_AGO, runs.ACTIVE)}
