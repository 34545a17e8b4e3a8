"""Shared fixtures: an isolated database and RabbitMQ vhost per test session, cleaned up after."""
# The services run under eventlet's monkey patching (nameko run applies it); tests
# apply it too, as nameko's testing docs ask, before anything imports socket or threading.
# Playwright's sync API hangs under it, so the browser tests run in a pytest process of
# their own without it (make test: TESTS_WITHOUT_EVENTLET=1 pytest -m browser).
import os

import eventlet

WITHOUT_EVENTLET = bool(os.environ.get("TESTS_WITHOUT_EVENTLET"))
# make mutation: mutmut runs the tests in its own process, whose threads and locks eventlet must not
# patch; the tests it runs (tools/mutation.py) need no green threads
UNDER_MUTATION = bool(os.environ.get("TESTS_UNDER_MUTATION"))
if not WITHOUT_EVENTLET and not UNDER_MUTATION:
    eventlet.monkey_patch()

import os
import socket
import subprocess
import sys
import uuid
from urllib.parse import quote

import psycopg2
import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text

from services.storage.database import make_engine
from services.storage.schema import metadata
from tests.system import ROOT, SAMPLES, running_system, system_env


def pytest_collection_modifyitems(config, items):
    """Keep each kind of test in the process that can run it (see the top of this file)."""
    wrong_process = pytest.mark.skip(reason="runs in the other pytest process of make test "
                                            "(browser tests without eventlet, the rest with it)")
    for item in items:
        if UNDER_MUTATION:
            continue
        if ("browser" in item.keywords) != WITHOUT_EVENTLET:
            item.add_marker(wrong_process)


# CI runs the same examples every time (a property that fails there fails again on a rerun, and a
# submission does not pass or fail by the draw); a developer's runs draw new examples each time.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


PG_ADMIN_URI = os.environ.get("TEST_PG_ADMIN_URI", "postgresql://postgres@localhost:5432/postgres")
RUN_ID = uuid.uuid4().hex[:8]


def _admin(statement: str) -> None:
    connection = psycopg2.connect(PG_ADMIN_URI)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


@pytest.fixture(scope="session")
def db_uri():
    name = f"tweets_test_{RUN_ID}"
    _admin(f"CREATE DATABASE {name}")
    uri = PG_ADMIN_URI.rsplit("/", 1)[0] + f"/{name}"
    subprocess.run([sys.executable, "-m", "alembic", "-c", str(ROOT / "migrations" / "alembic.ini"),
                    "upgrade", "head"], check=True, cwd=ROOT, env=dict(os.environ, DB_URI=uri),
                   capture_output=True)
    yield uri
    _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def amqp_uri():
    vhost = f"tweets_test_{RUN_ID}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                   check=True, capture_output=True)
    yield f"pyamqp://guest:guest@localhost:5672/{quote(vhost, safe='')}"
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=False, capture_output=True)


@pytest.fixture(scope="session")
def engine(db_uri):
    engine = make_engine(db_uri, pool_size=4)
    yield engine
    engine.dispose()


@pytest.fixture
def clean_db(engine):
    """An empty store for the test (tables truncated before it runs)."""
    names = ", ".join(table.name for table in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    return engine


@pytest.fixture
def silent_port():
    """A port that accepts TCP connections and then never says a word (a hung server)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


@pytest.fixture
def nameko_config(db_uri, amqp_uri):
    """Config for container_factory / worker tests, pointing at the isolated db and vhost."""
    return {
        "AMQP_URI": amqp_uri, "DB_URI": db_uri, "WEB_SERVER_ADDRESS": "127.0.0.1:0",
        "REPLAY_DIR": str(SAMPLES), "FLAVOR": "stage", "SYNTHETIC_RATE": 0, "BATCH_SIZE": 100,
        "BATCH_MAX_WAIT": 0.2, "METRICS_PORT": 0, "max_workers": 4,
    }


@pytest.fixture(scope="module")
def system(db_uri, amqp_uri, tmp_path_factory):
    """Every service as a real process; stopped at the end of the module."""
    with running_system(system_env(db_uri, amqp_uri), tmp_path_factory.mktemp("system-logs")) as running:
        yield running


@pytest.fixture
def fresh_system(system, clean_db):
    """The running system over an empty store (no active run left by an earlier test)."""
    return system
