"""Connections to PostgreSQL for Nameko services.

psycopg2 blocks in C; under eventlet that would freeze every green thread of the
service. psycogreen makes psycopg2 wait through the eventlet hub instead.
"""
import logging
import time

import psycopg2
from nameko.extensions import DependencyProvider
from psycogreen.eventlet import patch_psycopg
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from services.settings import setting

log = logging.getLogger(__name__)


_patched = False


def make_green() -> None:
    """Let psycopg2 cooperate with eventlet (idempotent; harmless without monkey patching)."""
    global _patched
    if not _patched:
        patch_psycopg()
        _patched = True


def db_uri(config: dict | None = None) -> str:
    return str(setting(config or {}, "DB_URI"))


def reader_uri(config: dict | None = None) -> str:
    """Where what only reads connects: DB_READER_URI (as tweetstream_reader), else DB_URI."""
    return str(setting(config or {}, "DB_READER_URI") or db_uri(config))


def probe(uri: str, timeout: float) -> None:
    """SELECT 1 on a fresh connection (a pooled one could be a dead one), under a statement timeout."""
    make_green()
    url = make_url(uri).set(drivername="postgresql")
    connection = psycopg2.connect(
        url.render_as_string(hide_password=False),
        connect_timeout=max(1, int(timeout)),
        options=f"-c statement_timeout={int(timeout * 1000)}",
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()


def make_engine(uri: str, pool_size: int = 10, *, pre_ping: bool = True, autocommit: bool = False) -> Engine:
    """``pre_ping=False`` for a caller that retries every use through ``retry_transient``: the
    failed use marks the pool's connections stale and the retry gets a fresh one.
    ``autocommit`` for single statements: no transaction to begin and commit around them."""
    make_green()
    options = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    return create_engine(
        uri,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=pre_ping,   # a restarted PostgreSQL leaves dead connections in the pool
        pool_recycle=1800,
        # rollups bucket by UTC hour and minute; date_trunc follows the session time zone.
        # No JIT: the group commit's statements read temporary tables without statistics, so the
        # planner's guesses (16,575 tag rows) passed jit_above_cost and every commit compiled
        # code it ran once
        connect_args={"options": "-c timezone=UTC -c jit=off"},
        **options,
    )


def is_transient(error: BaseException) -> bool:
    """A failure worth retrying: the server went away or a lock cycle was broken."""
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig
    if isinstance(error, (psycopg2.OperationalError, psycopg2.InterfaceError)):
        return True
    return isinstance(error, psycopg2.Error) and getattr(error, "pgcode", None) in {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "57P01", "57P02", "57P03",  # admin shutdown, crash shutdown, cannot connect now
    }


def retry_transient(operation, *, attempts: int | None = None, first_delay=0.2, max_delay=5.0,
                    sleep=time.sleep, on_retry=None):
    """Run ``operation()`` again after transient database errors, with capped backoff.

    ``attempts=None`` retries until it succeeds: a batch must not be lost because
    PostgreSQL restarted.
    """
    delay = first_delay
    tried = 0
    while True:
        try:
            return operation()
        except Exception as error:  # noqa: BLE001 - re-raised unless transient
            tried += 1
            if not is_transient(error) or (attempts is not None and tried >= attempts):
                raise
            if on_retry:
                on_retry(error)
            log.warning("database unavailable (%s); retrying in %.1fs", type(error).__name__, delay)
            sleep(delay)
            delay = min(delay * 2, max_delay)


class Database(DependencyProvider):
    """Gives each worker the service's SQLAlchemy engine (a pool shared by the container)."""

    engine_options: dict = {}   # make_engine's keywords

    def __init__(self, pool_size: int | None = None, *, reads_only: bool = False):
        """``reads_only``: the service only reads, so it connects as the read-only role (DB_READER_URI)."""
        self.pool_size = pool_size
        self.reads_only = reads_only
        self.engine: Engine | None = None

    def setup(self):
        config = self.container.config
        size = self.pool_size or int(setting(config, "max_workers"))
        uri = reader_uri(config) if self.reads_only else db_uri(config)
        self.engine = make_engine(uri, pool_size=size, **self.engine_options)

    def stop(self):
        if self.engine is not None:
            self.engine.dispose()

    kill = stop

    def get_dependency(self, worker_ctx):
        return self.engine


class ReadOnlyEngine:
    """Runs a read (``read(view, *args)`` calls ``view(conn, *args)``) on an autocommit
    connection: one round trip per statement, where a pinged transaction took four (the ping,
    BEGIN, the statement and ROLLBACK). Without the ping a restarted PostgreSQL shows as a
    transient error on first use, which invalidates the pool; the read is then tried again."""

    ATTEMPTS = 3   # a view answers or fails within a few seconds; it never hangs on the database

    def __init__(self, engine: Engine, sleep=time.sleep):
        self.engine = engine
        self._sleep = sleep

    def read(self, view, *args, **kwargs):
        def once():
            with self.engine.connect() as conn:
                return view(conn, *args, **kwargs)
        return retry_transient(once, attempts=self.ATTEMPTS, first_delay=0.1, sleep=self._sleep)


class ReadOnlyDatabase(Database):
    """Gives each worker a ReadOnlyEngine over the container's autocommit pool: for services
    that answer with reads (each a single statement, or statements that need no common snapshot)."""

    engine_options = {"pre_ping": False, "autocommit": True}

    def __init__(self, pool_size: int | None = None):
        super().__init__(pool_size, reads_only=True)

    def setup(self):
        super().setup()
        self.reader = ReadOnlyEngine(self.engine)

    def get_dependency(self, worker_ctx):
        return self.reader
