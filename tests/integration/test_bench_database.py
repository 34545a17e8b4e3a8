"""The bench recreates the database it is given, and no other."""
import psycopg2

from tests.conftest import PG_ADMIN_URI, RUN_ID, _admin
from tools import bench


def _databases() -> set[str]:
    with psycopg2.connect(PG_ADMIN_URI) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT datname FROM pg_database")
        return {name for (name,) in cursor.fetchall()}


def test_recreate_database_empties_its_own_database_and_leaves_the_others(monkeypatch):
    bystander, target = f"tweets_bystander_{RUN_ID}", f"tweets_recreated_{RUN_ID}"
    # named as the bench's own database: the one an earlier version dropped whatever the uri said
    monkeypatch.setattr(bench, "BENCH_NAME", bystander)
    uri = PG_ADMIN_URI.rsplit("/", 1)[0] + f"/{target}"
    _admin(f"CREATE DATABASE {bystander}")
    try:
        bench.recreate_database(uri)
        with psycopg2.connect(uri) as connection, connection.cursor() as cursor:
            cursor.execute("INSERT INTO hour_counts (hour, count) VALUES (now(), 1)")
        bench.recreate_database(uri)

        assert {bystander, target} <= _databases()
        with psycopg2.connect(uri) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM hour_counts")
            assert cursor.fetchone()[0] == 0   # migrated afresh, the row gone
    finally:
        _admin(f"DROP DATABASE IF EXISTS {target} WITH (FORCE)")
        _admin(f"DROP DATABASE IF EXISTS {bystander} WITH (FORCE)")
