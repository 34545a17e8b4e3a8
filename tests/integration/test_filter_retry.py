"""Retrying a run's failed batches (``pipeline.retry_failed``) against the real PostgreSQL, without a
container: batches the database refused are kept in failed_batches; a retry sends each through prepare
and commit again, stores what now commits exactly once (the ledger decides), keeps what fails again with
its new cause, and leaves the run's figures and every rollup as if the batches had never failed."""
import logging
from contextlib import contextmanager

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from services.filter import pipeline
from services.filter.pipeline import commit_batches, prepare, process_batch, record_failure, retry_failed
from services.sources.synthetic import SyntheticSource
from services.storage import runs
from services.storage.recount import ROLLUP_CHECKS, rollup_differences

TRACK = ["the"]
SIZE = 40
ITEMS = [item.decode() for item in map(SyntheticSource(seed=31, rate=0).item, range(3 * SIZE))]
REFUSED = 'CheckViolation: new row for relation "tweets" violates check constraint "{}"'


def new_run(engine) -> int:
    with engine.begin() as conn:
        run_id = runs.create_run(conn, TRACK, "synthetic", {"seed": 31}, "test-owner")
        runs.end_run(conn, run_id, runs.FINISHED)
    return run_id


def a_batch(run_id: int, start: int) -> dict:
    return {"run_id": run_id, "start": start, "end": start + SIZE, "source": "synthetic", "track": TRACK,
            "items": ITEMS[start:start + SIZE]}


def matched_ids(batch: dict) -> set[int]:
    return {tweet.id for tweet in prepare(batch).matched}


def kept(engine) -> list[tuple]:
    """(run_id, start, end, error) of every failed batch kept."""
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(
            "SELECT run_id, start_pos, end_pos, error FROM failed_batches ORDER BY run_id, start_pos"))]


def stored_ids(engine) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(text("SELECT id FROM tweets")).scalars())


def no_rollup_differs(engine) -> bool:
    with engine.connect() as conn:
        return rollup_differences(conn.connection.cursor()) == dict.fromkeys(ROLLUP_CHECKS, 0)


def batches_counted(outcome: str) -> float:
    return REGISTRY.get_sample_value("tweetstream_batches_processed_total", {"outcome": outcome}) or 0.0


def db_errors_counted(service: str) -> float:
    return REGISTRY.get_sample_value("tweetstream_database_errors_total", {"service": service}) or 0.0


def counters() -> dict:
    return {"failed": batches_counted("failed"), "stored": batches_counted("stored"),
            "duplicate": batches_counted("duplicate"), "db filter": db_errors_counted("filter"),
            "db launcher": db_errors_counted("launcher")}


def counted_since(before: dict) -> dict:
    return {name: value - before[name] for name, value in counters().items()}


@pytest.fixture
def refuse(clean_db):
    """``refuse(name, check)``: tweets refuses new rows failing ``check`` (a constraint named ``name``),
    ``allow(name)`` drops it again: a valid batch refused, not by its own fault."""
    added = []

    def refuse(name: str, check: str = "false"):
        with clean_db.begin() as conn:
            conn.execute(text(f"ALTER TABLE tweets ADD CONSTRAINT {name} CHECK ({check}) NOT VALID"))
        added.append(name)

    def allow(name: str):
        with clean_db.begin() as conn:
            conn.execute(text(f"ALTER TABLE tweets DROP CONSTRAINT IF EXISTS {name}"))

    refuse.allow = allow
    yield refuse
    for name in added:
        allow(name)


@pytest.fixture
def pipeline_log():
    """The pipeline's log records (its own handler: whatever logging set up elsewhere)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append
    logger = logging.getLogger(pipeline.__name__)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(level)


def said(records, level: int, since: int = 0) -> list[tuple]:
    """(message, run_id, batch) of the records at ``level`` from index ``since``."""
    return [(r.getMessage(), getattr(r, "run_id", "no run_id"), getattr(r, "batch", "no batch"))
            for r in records[since:] if r.levelno == level]


def test_refused_batches_are_retried_each_once_kept_while_refused_and_stored_once_the_cause_is_gone(
        clean_db, refuse, pipeline_log):
    run_id = new_run(clean_db)
    batches = [a_batch(run_id, start) for start in (0, SIZE, 2 * SIZE)]
    matched = [matched_ids(batch) for batch in batches]
    assert all(matched) and not set.intersection(*matched)   # each batch brings tweets of its own

    refuse("refuse_all")
    assert [process_batch(clean_db, batch) for batch in batches] == [None, None, None]
    assert kept(clean_db) == [(run_id, s, s + SIZE, REFUSED.format("refuse_all")) for s in (0, SIZE, 2 * SIZE)]

    # retried while the cause is still there: each fails again, and stays
    before, at = counters(), len(pipeline_log)
    assert retry_failed(clean_db, run_id) == {"run_id": run_id, "retried": 3, "stored": 0, "still_failing": 3,
                                              "tweets_stored": 0}
    assert counted_since(before) == {"failed": 3, "stored": 0, "duplicate": 0, "db filter": 0, "db launcher": 0}
    assert len(kept(clean_db)) == 3 and stored_ids(clean_db) == set()
    assert said(pipeline_log, logging.INFO, at) == [
        (f"run {run_id}: 3 failed batches retried, 0 stored, 3 still failing", run_id, "no batch")]

    # the cause changes: only the middle batch is refused now; the batch after it is retried all the same
    refuse.allow("refuse_all")
    refuse("refuse_one", f"id <> {min(matched[1])}")
    with clean_db.connect() as conn:
        failed_at = dict(conn.execute(text("SELECT start_pos, failed_at FROM failed_batches")).all())
    before, at = counters(), len(pipeline_log)
    assert retry_failed(clean_db, run_id) == {"run_id": run_id, "retried": 3, "stored": 2, "still_failing": 1,
                                              "tweets_stored": len(matched[0]) + len(matched[2])}
    assert counted_since(before) == {"failed": 1, "stored": 2, "duplicate": 0, "db filter": 0, "db launcher": 0}
    assert kept(clean_db) == [(run_id, SIZE, 2 * SIZE, REFUSED.format("refuse_one"))]   # with its new cause
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT failed_at FROM failed_batches")).scalar_one() > failed_at[SIZE]
    assert stored_ids(clean_db) == matched[0] | matched[2]
    assert said(pipeline_log, logging.WARNING, at) == [
        (f"retried batch {SIZE} of run {run_id} failed again: {REFUSED.format('refuse_one')}", run_id, SIZE)]
    assert said(pipeline_log, logging.INFO, at) == [
        (f"run {run_id}: 3 failed batches retried, 2 stored, 1 still failing", run_id, "no batch")]

    refuse.allow("refuse_one")   # the cause is gone
    before = counters()
    assert retry_failed(clean_db, run_id) == {"run_id": run_id, "retried": 1, "stored": 1, "still_failing": 0,
                                              "tweets_stored": len(matched[1])}
    assert counted_since(before) == {"failed": 0, "stored": 1, "duplicate": 0, "db filter": 0, "db launcher": 0}
    assert kept(clean_db) == []
    assert stored_ids(clean_db) == matched[0] | matched[1] | matched[2]

    # the run's figures and every rollup as if nothing had failed
    with clean_db.connect() as conn:
        figures = runs.run_figures(conn, run_id)
    total = sum(map(len, matched))
    assert {k: figures[k] for k in ("status", "received", "matched", "stored", "bad", "committed_items",
                                    "failed_batches", "failed_items", "error")} == {
        "status": runs.FINISHED, "received": 3 * SIZE, "matched": total, "stored": total, "bad": 0,
        "committed_items": 3 * SIZE, "failed_batches": 0, "failed_items": 0, "error": None}
    assert no_rollup_differs(clean_db)

    # nothing left to retry: nothing done, nothing said
    before, at = counters(), len(pipeline_log)
    assert retry_failed(clean_db, run_id) == {"run_id": run_id, "retried": 0, "stored": 0, "still_failing": 0,
                                              "tweets_stored": 0}
    assert counted_since(before) == dict.fromkeys(before, 0)
    assert pipeline_log[at:] == []
    assert stored_ids(clean_db) == matched[0] | matched[1] | matched[2]


def test_a_kept_batch_committed_meanwhile_is_not_stored_twice_and_only_its_kept_copy_goes(
        clean_db, refuse, pipeline_log):
    run_id, other_run = new_run(clean_db), new_run(clean_db)
    first, second = a_batch(run_id, 0), a_batch(run_id, SIZE)
    assert process_batch(clean_db, first) == len(matched_ids(first))
    # a redelivery of the committed batch failed before reaching the ledger (a takeover's resend)
    record_failure(clean_db, first, RuntimeError("connection lost\nwhile sending"))
    refuse("refuse_all")
    assert process_batch(clean_db, second) is None
    assert process_batch(clean_db, a_batch(other_run, 0)) is None    # another run's batch at the same start
    assert kept(clean_db) == [(run_id, 0, SIZE, "RuntimeError: connection lost"),
                              (run_id, SIZE, 2 * SIZE, REFUSED.format("refuse_all")),
                              (other_run, 0, SIZE, REFUSED.format("refuse_all"))]
    with clean_db.connect() as conn:
        ledger_before = conn.execute(text("SELECT * FROM run_batches ORDER BY 1, 2")).all()
        totals_before = conn.execute(text("SELECT * FROM run_totals ORDER BY 1")).all()

    before, at = counters(), len(pipeline_log)
    assert retry_failed(clean_db, run_id) == {"run_id": run_id, "retried": 2, "stored": 1, "still_failing": 1,
                                              "tweets_stored": 0}

    # the committed batch's kept copy went; the batch refused again and the other run's stay
    assert kept(clean_db) == [(run_id, SIZE, 2 * SIZE, REFUSED.format("refuse_all")),
                              (other_run, 0, SIZE, REFUSED.format("refuse_all"))]
    assert counted_since(before) == {"failed": 1, "stored": 0, "duplicate": 0, "db filter": 0, "db launcher": 0}
    assert said(pipeline_log, logging.WARNING, at) == [
        (f"retried batch {SIZE} of run {run_id} failed again: {REFUSED.format('refuse_all')}", run_id, SIZE)]
    assert said(pipeline_log, logging.INFO, at) == [
        (f"run {run_id}: 2 failed batches retried, 1 stored, 1 still failing", run_id, "no batch")]
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT * FROM run_batches ORDER BY 1, 2")).all() == ledger_before
        assert conn.execute(text("SELECT * FROM run_totals ORDER BY 1")).all() == totals_before
    assert stored_ids(clean_db) == matched_ids(first)
    assert no_rollup_differs(clean_db)


def test_a_retry_commits_through_the_commit_it_is_given_in_the_order_the_batches_begin(clean_db):
    run_id = new_run(clean_db)
    batches = {start: a_batch(run_id, start) for start in (2 * SIZE, 0, SIZE)}
    for batch in batches.values():   # kept out of order, as the pipeline keeps a failed batch
        record_failure(clean_db, dict(batch, items=[item.encode() for item in batch["items"]]),
                       RuntimeError("broker went away"))
    committed = []

    def group_commit(prepared):
        committed.append((prepared.run_id, prepared.start, prepared.end, len(prepared.matched)))
        return commit_batches(clean_db, [prepared])[0]

    answer = retry_failed(clean_db, run_id, commit=group_commit)

    sizes = {start: len(matched_ids(batch)) for start, batch in batches.items()}
    assert committed == [(run_id, start, start + SIZE, sizes[start]) for start in (0, SIZE, 2 * SIZE)]
    assert answer == {"run_id": run_id, "retried": 3, "stored": 3, "still_failing": 0,
                      "tweets_stored": sum(sizes.values())}
    assert kept(clean_db) == []
    assert len(stored_ids(clean_db)) == sum(sizes.values())
    assert no_rollup_differs(clean_db)


def test_a_retry_whose_commit_fails_keeps_the_batch_with_that_cause(clean_db, pipeline_log):
    run_id = new_run(clean_db)
    record_failure(clean_db, a_batch(run_id, 0), RuntimeError("first cause"))

    def broken_commit(prepared):
        raise ValueError(f"no room for batch {prepared.start}\nsecond line")

    before = counters()
    assert retry_failed(clean_db, run_id, commit=broken_commit) == {
        "run_id": run_id, "retried": 1, "stored": 0, "still_failing": 1, "tweets_stored": 0}
    assert kept(clean_db) == [(run_id, 0, SIZE, "ValueError: no room for batch 0")]
    assert counted_since(before)["failed"] == 1
    assert stored_ids(clean_db) == set()


@contextmanager
def serialization_failure_once(engine):
    """The next statement that writes the ledger fails once as PostgreSQL fails a transaction it had
    to abort (SQLSTATE 40001, a transient error); a sequence counts, as a rollback does not undo it."""
    with engine.begin() as conn:
        conn.execute(text(
            "CREATE SEQUENCE flaky_ledger_calls;"
            "CREATE FUNCTION flaky_ledger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            "  IF nextval('flaky_ledger_calls') = 1 THEN"
            "    RAISE EXCEPTION 'could not serialize access' USING ERRCODE = 'serialization_failure';"
            "  END IF; RETURN NULL; END $$;"
            "CREATE TRIGGER flaky_ledger BEFORE INSERT ON run_batches FOR EACH STATEMENT EXECUTE FUNCTION flaky_ledger()"))
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER IF EXISTS flaky_ledger ON run_batches;"
                              "DROP FUNCTION IF EXISTS flaky_ledger(); DROP SEQUENCE IF EXISTS flaky_ledger_calls"))


def test_a_transient_database_error_during_a_retry_is_counted_for_the_filter_and_the_batch_still_stored(clean_db):
    run_id = new_run(clean_db)
    batch = a_batch(run_id, 0)
    record_failure(clean_db, batch, RuntimeError("database restarting"))

    before = counters()
    with serialization_failure_once(clean_db):
        answer = retry_failed(clean_db, run_id)

    assert answer == {"run_id": run_id, "retried": 1, "stored": 1, "still_failing": 0,
                      "tweets_stored": len(matched_ids(batch))}
    assert counted_since(before) == {"failed": 0, "stored": 1, "duplicate": 0, "db filter": 1, "db launcher": 0}
    assert kept(clean_db) == []
    assert stored_ids(clean_db) == matched_ids(batch)
    assert no_rollup_differs(clean_db)
