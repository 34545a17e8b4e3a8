"""A run's figures say when they are final: "draining" until every dispatched item is committed or kept
as failed, and the failed batches with their first cause."""
import pytest
from sqlalchemy import text

from services.storage import runs

pytestmark = pytest.mark.integration


def a_run(conn, status: str, position: int) -> int:
    return conn.execute(text(
        "INSERT INTO runs (track, source, status, position, stopped_at) VALUES ('[\"a\"]', 'replay', :status,"
        " :position, CASE WHEN :status = 'active' THEN NULL ELSE now() END) RETURNING id"),
        {"status": status, "position": position}).scalar()


def committed(conn, run_id: int, items: int) -> None:
    conn.execute(text("INSERT INTO run_totals (run_id, items, received, matched, bad, stored)"
                      " VALUES (:run, :items, :items, 1, 0, 1)"), {"run": run_id, "items": items})


def failed(conn, run_id: int, start: int, end: int, error: str, minutes_ago: int = 0) -> None:
    conn.execute(text("INSERT INTO failed_batches (run_id, start_pos, end_pos, error, payload, failed_at)"
                      " VALUES (:run, :start, :end, :error, '{}', now() - make_interval(mins => :ago))"),
                 {"run": run_id, "start": start, "end": end, "error": error, "ago": minutes_ago})


def test_a_finished_run_reads_draining_until_every_dispatched_item_is_committed_or_failed(clean_db):
    with clean_db.begin() as conn:
        run_id = a_run(conn, "finished", 300)
        committed(conn, run_id, 100)
        assert runs.run_figures(conn, run_id)["status"] == "draining"
        failed(conn, run_id, 100, 200, "IntegrityError: x")
        assert runs.run_figures(conn, run_id)["status"] == "draining"
        conn.execute(text("UPDATE run_totals SET items = 200 WHERE run_id = :run"), {"run": run_id})
        figures = runs.run_figures(conn, run_id)
    assert figures["status"] == "finished"
    assert (figures["committed_items"], figures["failed_items"], figures["dispatched_items"]) == (200, 100, 300)


def test_a_stopped_or_active_run_keeps_its_status_while_batches_are_pending(clean_db):
    with clean_db.begin() as conn:
        stopped, active = a_run(conn, "stopped", 300), a_run(conn, "active", 300)
        assert runs.run_figures(conn, stopped)["status"] == "stopped"
        assert runs.run_figures(conn, active)["status"] == "active"


def test_failed_batches_are_counted_with_the_first_cause_unless_the_run_failed_itself(clean_db):
    with clean_db.begin() as conn:
        run_id = a_run(conn, "finished", 300)
        failed(conn, run_id, 200, 300, "second", minutes_ago=1)
        failed(conn, run_id, 0, 100, "first", minutes_ago=2)
        figures = runs.run_figures(conn, run_id)
        assert (figures["failed_batches"], figures["failed_items"], figures["error"]) == (2, 200, "first")
        conn.execute(text("UPDATE runs SET error = 'the source failed' WHERE id = :run"), {"run": run_id})
        assert runs.run_figures(conn, run_id)["error"] == "the source failed"
        listed = {r["run_id"]: r for r in runs.list_run_figures(conn)}
    assert listed[run_id]["failed_batches"] == 2


def test_recent_failures_name_only_the_runs_with_batches_failed_within_the_window(clean_db):
    with clean_db.begin() as conn:
        lately, long_ago = a_run(conn, "finished", 100), a_run(conn, "finished", 100)
        failed(conn, lately, 0, 50, "old cause", minutes_ago=10)
        failed(conn, lately, 50, 100, "new cause", minutes_ago=1)
        failed(conn, long_ago, 0, 100, "x", minutes_ago=16)
        recent = runs.recent_failures(conn, 15)
    assert recent == [{"run_id": lately, "batches": 2, "error": "new cause"}]


def test_a_run_with_no_failure_has_zero_failed_figures_and_no_error(clean_db):
    with clean_db.begin() as conn:
        run_id = a_run(conn, "finished", 0)
        figures = runs.run_figures(conn, run_id)
    assert (figures["failed_batches"], figures["failed_items"], figures["error"], figures["bad_reasons"]) == (
        0, 0, None, {})
