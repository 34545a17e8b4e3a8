"""The bench's checks against a real database: `verified` compares every rollup with a GROUP BY over
the stored rows, the store limit writes through the filter's own write path (and leaves the
rollups equal), and the CPU it counts for PostgreSQL is that of the bench database's backends; runs
side by side are read and verified run by run, the runs the bench launched are stopped when waiting for
them fails, and the finished runs it adds for /statistics (10, then 1,000) leave every rollup equal."""
from datetime import datetime, timezone
from types import SimpleNamespace

import psycopg2
import pytest
from sqlalchemy import text

from services.sources.synthetic import WORDS, SyntheticSource
from services.storage import runs
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


# -- many runs: four at once, and /statistics with 1,000 runs in the table -----------------------------

def test_runs_stored_side_by_side_are_read_and_verified_run_by_run(clean_db, db_uri, monkeypatch):
    first = bench.limit_store(db_uri, bench.limit_filter_prepare(items(1_000, seed=81), TRACK)[1], TRACK)
    monkeypatch.setattr(bench, "STORE_ID_BASE", bench.STORE_ID_BASE + 10_000)   # ids of its own, as a seed's
    second = bench.limit_store(db_uri, bench.limit_filter_prepare(items(1_500, seed=82), TRACK)[1], TRACK)
    run_ids = [first["run_id"], second["run_id"]]
    ledgers, differing = bench.read_ledgers(db_uri, run_ids)
    assert [ledgers[run_id]["ledger"]["received"] for run_id in run_ids] == [1_000, 1_500]
    assert [ledgers[run_id]["tweets_in_table"] for run_id in run_ids] == [first["stored"], second["stored"]]
    checked = bench.runs_verification(dict(zip(run_ids, (1_000, 1_500), strict=True)),
                                      {run_id: ledgers[run_id]["ledger"] for run_id in run_ids},
                                      {run_id: ledgers[run_id]["tweets_in_table"] for run_id in run_ids}, differing)
    assert checked == {"verified": True, "problems": []}
    checked = bench.runs_verification(dict(zip(run_ids, (1_000, 2_000), strict=True)),
                                      {run_id: ledgers[run_id]["ledger"] for run_id in run_ids},
                                      {run_id: ledgers[run_id]["tweets_in_table"] for run_id in run_ids}, differing)
    assert checked["problems"][0] == f"run {run_ids[1]}: received 1,500 of 2,000 tweets"


def active_runs(clean_db, count: int) -> list[int]:
    with clean_db.begin() as conn:
        return list(conn.execute(text(
            "INSERT INTO runs (track, source, status, position) SELECT '[\"a\"]'::jsonb, 'synthetic', 'active', 10"
            "  FROM generate_series(1, :count) RETURNING id"), {"count": count}).scalars())


def test_the_runs_launched_are_stopped_when_the_wait_for_them_fails(clean_db, db_uri, monkeypatch):
    run_ids = active_runs(clean_db, 2)
    stopped = []
    monkeypatch.setattr(bench, "launch_runs", lambda url, bodies, label: ([1.0, 1.1], run_ids))
    monkeypatch.setattr(bench, "stop_runs", lambda url, ids, label: stopped.append(list(ids)))

    def exited():
        raise RuntimeError("service process(es) exited: launcher")

    services = SimpleNamespace(base_url="http://gateway", check_alive=exited)
    cpu = SimpleNamespace(ignore=lambda pid: None, unignore=lambda pid: None, totals=dict)
    bodies = [{"limit": 10, "seed": 1, "batch_size": 10}, {"limit": 10, "seed": 2, "batch_size": 10}]
    with pytest.raises(RuntimeError, match="launcher"):
        bench.stream_runs(services, cpu, db_uri, bodies, "test")
    assert stopped == [run_ids]

    # over once every run is finished with each item it dispatched committed
    with clean_db.begin() as conn:
        conn.execute(text("UPDATE runs SET status = 'finished'"))
        conn.execute(text("INSERT INTO run_totals (run_id, items, received, matched, bad, stored)"
                          " SELECT id, 10, 10, 5, 0, 5 FROM runs"))
    streamed = bench.stream_runs(SimpleNamespace(base_url="http://gateway", check_alive=lambda: None), cpu, db_uri,
                                 bodies, "test")
    assert streamed["run_ids"] == run_ids and stopped == [run_ids]
    assert streamed["window"]["seconds"] > 0


def streamed_seconds(first: int, last: int) -> float:
    """The union of the intervals of the runs ADD_FINISHED_RUNS_SQL numbers first..last."""
    intervals = sorted((120 * n, 120 * n + 30 + n % 7 * 30) for n in range(first, last + 1))
    total, reach = 0, None
    for start, end in intervals:
        if reach is None or start > reach[1]:
            total += reach[1] - reach[0] if reach else 0
            reach = [start, end]
        else:
            reach[1] = max(reach[1], end)
    return total + reach[1] - reach[0]


def test_finished_runs_are_added_up_to_10_then_1000_and_back_and_leave_the_rollups_equal(clean_db, db_uri):
    active_runs(clean_db, 3)   # three runs the bench streamed
    with clean_db.begin() as conn:
        conn.execute(text("UPDATE runs SET status = 'finished', stopped_at = started_at"))
    assert bench.set_runs(db_uri, 10) == 10
    with clean_db.connect() as conn:
        figures = runs.overall_figures(conn)
    assert figures["amount"] == 0 and figures["elapsed_time"] == int(streamed_seconds(1, 7))
    assert streamed_seconds(1, 7) < 7 * 210   # some of them overlap: the union merges them
    assert bench.set_runs(db_uri, 1_000) == 1_000 and bench.set_runs(db_uri, 1_000) == 1_000
    with clean_db.connect() as conn:
        assert runs.overall_figures(conn)["elapsed_time"] == int(streamed_seconds(1, 997))
        statuses = dict(conn.execute(text("SELECT source, count(*) FROM runs WHERE status = 'finished'"
                                          " GROUP BY source")).all())
    assert statuses == {"synthetic": 3, bench.ADDED_RUNS_SOURCE: 997}
    assert differences(db_uri) == dict.fromkeys(ROLLUP_CHECKS, 0)
    # back to 10: the runs added last go, with their ledger and run_totals rows; the bench's own stay
    assert bench.set_runs(db_uri, 10) == 10 and bench.set_runs(db_uri, 2) == 3
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM run_totals")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM run_batches")).scalar_one() == 0
    assert bench.set_runs(db_uri, 10) == 10
    with clean_db.connect() as conn:
        assert runs.overall_figures(conn)["elapsed_time"] == int(streamed_seconds(1, 7))   # the same runs again
    assert differences(db_uri) == dict.fromkeys(ROLLUP_CHECKS, 0)


def test_statistics_are_measured_with_10_runs_and_1000_alternately(clean_db, db_uri, monkeypatch):
    measured = []

    def timed_get(session, url):
        with clean_db.connect() as conn:
            measured.append(conn.execute(text("SELECT count(*) FROM runs")).scalar_one())
        return 1.0 + len(measured) % 3, True, 10

    monkeypatch.setattr(bench, "timed_get", timed_get)
    results = bench.statistics_with_runs(db_uri, "http://gateway/statistics", 50, rounds=2)
    # each round: ten to warm up and 25 requests with 10 runs, then the same with 1,000
    assert measured == ([10] * 35 + [1_000] * 35) * 2
    assert {wanted: (figures["runs_in_table"], figures["successful"], figures["rounds"])
            for wanted, figures in results.items()} == {"10": (10, 50, 2), "1000": (1_000, 50, 2)}
