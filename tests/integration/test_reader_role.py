"""tweetstream_reader, the read-only role (migration 0010), logged in for real: every SQL panel of the
dashboards and every read of the statistics and the views answers as it, and it can change nothing,
run no program, read no server file and not see runs.options."""
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import psycopg2
import pytest
from psycopg2 import errors
from sqlalchemy.engine import make_url

from services.filter.pipeline import process_batch
from services.sources.synthetic import SyntheticSource
from services.storage import analytics, budget, runs, views
from services.storage.database import make_engine
from tests.system import ROOT, SAMPLES
from tests.unit.deployment_files import dashboard_targets, sql_for_postgres

READER = "tweetstream_reader"
PASSWORD = "reader-under-test"


@pytest.fixture(scope="module")
def reader_uri(db_uri):
    """The role made able to log in the way a deployment does it (migrations/reader_login.py), then
    NOLOGIN again: roles are the whole cluster's."""
    login = subprocess.run([sys.executable, str(ROOT / "migrations" / "reader_login.py")], capture_output=True,
                           text=True, env=dict(os.environ, DB_URI=db_uri, DB_READER_PASSWORD=PASSWORD), check=True)
    assert login.stdout.strip() == f"{READER} may log in" and PASSWORD not in login.stdout + login.stderr
    try:
        yield make_url(db_uri).set(username=READER, password=PASSWORD).render_as_string(hide_password=False)
    finally:
        with psycopg2.connect(db_uri) as connection, connection.cursor() as cursor:
            cursor.execute(f"ALTER ROLE {READER} NOLOGIN PASSWORD NULL")


@pytest.fixture(scope="module")
def stored(db_uri, reader_uri):
    """A run with tweets, a failed batch and a month's X posts, written as the services write them."""
    engine = make_engine(db_uri, pool_size=1)
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE runs, tweets, users, x_post_reads RESTART IDENTITY CASCADE")
        run_id = runs.create_run(conn, ["the", "brexit"], "replay", {"files": ["private.jsonl"]}, "replica",
                                 launched_by="alice")
    # recent tweets (the time-ranged panels look at the last hour) and recorded ones
    source, now = SyntheticSource(seed=5, rate=0), datetime.now(timezone.utc)
    items = [source.item(position, now) for position in range(2_000)] + (SAMPLES / "brexit.jsonl").read_text().splitlines()
    process_batch(engine, {"run_id": run_id, "start": 0, "end": len(items), "source": "replay",
                           "track": ["the", "brexit"], "items": items})
    with engine.begin() as conn:
        runs.end_run(conn, run_id, runs.STOPPED)
        conn.exec_driver_sql(
            "INSERT INTO failed_batches (run_id, start_pos, end_pos, payload, error) VALUES (%(id)s, 100, 101,"
            " '{}'::jsonb, 'a cause')", {"id": run_id})
        budget.record_reads(conn, 12, run_id)
    engine.dispose()
    return run_id


def reader_connection(reader_uri):
    connection = psycopg2.connect(reader_uri)
    connection.autocommit = True
    return connection


def test_the_role_cannot_log_in_until_a_deployment_gives_it_a_password(db_uri):
    login = subprocess.run([sys.executable, str(ROOT / "migrations" / "reader_login.py")], capture_output=True,
                           text=True, env=dict(os.environ, DB_URI=db_uri, DB_READER_PASSWORD=""), check=True)
    assert login.stdout.strip() == f"DB_READER_PASSWORD is not set: {READER} stays NOLOGIN"


@pytest.mark.parametrize("target", dashboard_targets("rawSql"), ids=lambda target: f"{target[0]}:{target[1]}")
def test_every_sql_panel_answers_rows_as_the_reader(stored, reader_uri, target):
    name, title, _, sql = target
    connection = reader_connection(reader_uri)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql_for_postgres(sql))
            assert cursor.fetchall(), f"{name}: {title!r} returned no row"
    finally:
        connection.close()


def test_the_statistics_and_every_view_read_as_the_reader(stored, reader_uri):
    engine = make_engine(reader_uri, pool_size=1)
    now = datetime.now(timezone.utc)
    try:
        with engine.connect() as conn:
            assert runs.run_figures(conn, stored)["owner"] == "alice"
            assert runs.list_run_figures(conn, owner="alice")[0]["failed_batches"] == 1
            assert runs.overall_figures(conn)["amount"] > 0
            assert budget.budget_figures(conn, 100, 0.005)["used"] == 12
            assert views.top_users(conn) and views.tweets_per_hour(conn) and views.tag_counts(conn, 10)
            first = (now - timedelta(days=3)).replace(second=0, microsecond=0)
            assert analytics.top_hashtags(conn, first, now, 5) is not None
            assert len(analytics.minute_aggregates(conn, first, now)) > 0
            author = views.top_users(conn)[0]["username"]
            assert analytics.user_tweets(conn, author, 5)["tweets"]
    finally:
        engine.dispose()


@pytest.mark.parametrize("statement, refused", [
    ("INSERT INTO tweets (id) VALUES (1)", errors.InsufficientPrivilege),
    ("DELETE FROM run_totals", errors.InsufficientPrivilege),
    ("UPDATE runs SET status = 'stopped'", errors.InsufficientPrivilege),
    ("DROP TABLE tweets", errors.InsufficientPrivilege),
    ("TRUNCATE minute_counts", errors.InsufficientPrivilege),
    ("CREATE TABLE mine (x int)", errors.InsufficientPrivilege),
    ("COPY (SELECT 1) TO PROGRAM 'id'", errors.InsufficientPrivilege),
    ("SELECT pg_read_file('/etc/passwd')", errors.InsufficientPrivilege),
    ("SELECT options FROM runs", errors.InsufficientPrivilege),
    ("SELECT * FROM runs", errors.InsufficientPrivilege),
    ("SELECT payload FROM failed_batches", errors.InsufficientPrivilege),
    ("SELECT * FROM places", errors.InsufficientPrivilege),
    ("SELECT * FROM alembic_version", errors.InsufficientPrivilege),
])
def test_the_reader_may_change_nothing_run_nothing_and_read_nothing_private(stored, reader_uri, statement, refused):
    connection = reader_connection(reader_uri)
    try:
        with pytest.raises(refused), connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()
