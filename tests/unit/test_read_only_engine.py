"""The views' reads: a transient database error is tried again a few times, never forever."""
from contextlib import contextmanager

import psycopg2
import pytest

from services.storage.database import ReadOnlyEngine


class FlakyEngine:
    def __init__(self, failures: int):
        self.failures, self.connects = failures, 0

    @contextmanager
    def connect(self):
        self.connects += 1
        if self.connects <= self.failures:
            raise psycopg2.OperationalError("server closed the connection unexpectedly")
        yield f"connection {self.connects}"


def test_a_read_after_a_dead_connection_is_answered_on_a_fresh_one():
    engine = FlakyEngine(failures=1)
    reader = ReadOnlyEngine(engine, sleep=lambda _: None)
    assert reader.read(lambda conn, n, *, unit: f"{conn}: {n} {unit}", 3, unit="rows") == "connection 2: 3 rows"


def test_a_database_that_stays_away_fails_the_read_after_a_few_tries():
    engine = FlakyEngine(failures=100)
    with pytest.raises(psycopg2.OperationalError):
        ReadOnlyEngine(engine, sleep=lambda _: None).read(lambda conn: conn)
    assert engine.connects == ReadOnlyEngine.ATTEMPTS


def test_a_mistake_in_the_query_is_not_tried_again():
    engine = FlakyEngine(failures=0)

    def broken(conn):
        raise psycopg2.errors.UndefinedColumn("column nope does not exist")
    with pytest.raises(psycopg2.errors.UndefinedColumn):
        ReadOnlyEngine(engine, sleep=lambda _: None).read(broken)
    assert engine.connects == 1
