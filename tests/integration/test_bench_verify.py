"""The bench's checks against a real database: `verified` compares every rollup with a GROUP BY over
the stored rows, the store limit writes through the filter's own write path (and leaves the
rollups equal), and the CPU it counts for PostgreSQL is that of the bench database's backends."""
from datetime import datetime, timezone
from types import SimpleNamespace

import psycopg2
import pytest
from sqlalchemy import text

from services.sources.synthetic import WORDS, SyntheticSource
from services.storage.recount import ROLLUP_CHECKS, rollup_differences
from tests.conftest import PG_ADMIN_URI
from tools import bench

TRACK = sorted(set(WORDS))[:12]


def items(count: int, seed: int = 77) -> list[bytes]:
    source = SyntheticSource(seed=seed, rate=0)
    now = datetime.now(timezone.utc)
    return [source.item(position, now) for position in range(count)]


def differences(db_uri: str) -> dict[str, int]:
    with psycopg2.connect(db_uri) as connection, connection.cursor() as cursor:
        return rollup_differences(cursor)


def test_the_filters_write_path_leaves_every_rollup_equal_and_a_changed_one_is_caught(clean_db, db_uri):
    _figures, prepared = bench.limit_filter_prepare(items(3_000), TRACK)
    result = bench.limit_store(db_uri, prepared, TRACK)
    matched = sum(len(b.matched) for b in prepared)
    assert matched > 0
    assert result["completed"] and result["stored"] == matched and result["tweets"] == 3_000
    assert result["tweets_per_s"] > 0 and result["stored_tweets_per_s"] > 0
    with clean_db.connect() as conn:
        run = conn.execute(text("SELECT source, status, position FROM runs WHERE id = :id"),
                           {"id": result["run_id"]}).one()
        assert tuple(run) == ("bench-limit", "finished", 3_000)
        ledger = conn.execute(text("SELECT sum(received), sum(matched), sum(stored), sum(end_pos - start_pos)"
                                   "  FROM run_batches WHERE run_id = :id"), {"id": result["run_id"]}).one()
        assert tuple(ledger) == (3_000, matched, matched, 3_000)
    assert differences(db_uri) == dict.fromkeys(ROLLUP_CHECKS, 0)

    with clean_db.begin() as conn:   # one hour counted once too often
        conn.execute(text("UPDATE hour_counts SET count = count + 1 WHERE hour = (SELECT min(hour) FROM hour_counts)"))
    found = differences(db_uri)
    assert found["hour_counts"] == 2   # the wrong row, and the row the GROUP BY gives instead
    assert sum(found.values()) == 2
    ledger = {"received": 3_000, "matched": matched, "bad": 0, "stored": matched, "items": 3_000,
              "failed_batches": 0, "failed_items": 0}
    assert bench.verification(3_000, ledger, matched, found)["verified"] is False
    assert bench.verification(3_000, ledger, matched, dict.fromkeys(found, 0))["verified"] is True


def test_a_tag_rollup_short_of_a_row_and_an_authors_wrong_tweet_count_are_caught(clean_db, db_uri):
    _figures, prepared = bench.limit_filter_prepare(items(2_000, seed=78), TRACK)
    bench.limit_store(db_uri, prepared, TRACK)
    with clean_db.begin() as conn:
        conn.execute(text("DELETE FROM minute_tag_totals WHERE (minute, tag) IN"
                          " (SELECT minute, tag FROM minute_tag_totals LIMIT 1)"))
        conn.execute(text("UPDATE users SET tweet_count = tweet_count + 1 WHERE id = (SELECT min(id) FROM users)"))
    found = differences(db_uri)
    assert found["minute_tag_totals"] == 1 and found["users.tweet_count"] == 2
    assert found["hour_counts"] == 0


def test_the_cpu_counted_for_postgresql_is_the_bench_databases_backends(clean_db, db_uri):
    account = bench.CpuAccount(SimpleNamespace(processes={}), db_uri, broker_port=5672)
    other = psycopg2.connect(db_uri)           # a backend serving the bench database
    elsewhere = psycopg2.connect(PG_ADMIN_URI)  # and one serving another database
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            other_pid = cursor.fetchone()[0]
        with elsewhere.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            elsewhere_pid = cursor.fetchone()[0]
        with account.connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            own_pid = cursor.fetchone()[0]
        parts = account.processes()
        assert other_pid in parts["postgresql_backends"]
        assert own_pid not in parts["postgresql_backends"] and elsewhere_pid not in parts["postgresql_backends"]
        assert elsewhere_pid not in parts.get("postgresql_background", [])
        account.ignore(other_pid)   # the bench's own poller
        assert other_pid not in account.processes()["postgresql_backends"]
        account.unignore(other_pid)
        assert other_pid in account.processes()["postgresql_backends"]

        if bench.read_cpu(own_pid, account.ticks) is None:
            pytest.skip("PostgreSQL's processes are not visible in this machine's /proc")
        fresh = bench.CpuAccount(SimpleNamespace(processes={}), db_uri, broker_port=5672)
        try:
            before = fresh.totals()
            with other.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM generate_series(1, 3000000)")
            after = fresh.totals()
        finally:
            fresh.close()
        assert after["postgresql_backends"] - before.get("postgresql_backends", 0.0) >= 0.05
    finally:
        other.close()
        elsewhere.close()
        account.close()
