"""Make sure RabbitMQ and PostgreSQL answer at AMQP_URI / DB_URI, create the database
and run the migrations. ``python -m tools.infra`` is what ``make db`` runs.

A local server that is installed but stopped is started; on a Debian-like machine
with root, a missing one is installed from the distribution (saying so first);
anywhere else it stops with a message naming what to install.
"""
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import psycopg2
from psycopg2 import sql

from services.storage.database import db_uri

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_AMQP_URI = "pyamqp://guest:guest@localhost:5672/"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", ""}


def say(message: str) -> None:
    print(f"[infra] {message}", flush=True)


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host or "localhost", port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for(host: str, port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if reachable(host, port):
            return True
        time.sleep(0.5)
    return False


def debian_root() -> bool:
    return shutil.which("apt-get") is not None and os.geteuid() == 0


def run(command: list[str] | str) -> None:
    subprocess.run(command, shell=isinstance(command, str), check=True)


def start_rabbitmq() -> None:
    if shutil.which("rabbitmq-server") is None:
        if not debian_root():
            sys.exit("RabbitMQ is not reachable and not installed: install rabbitmq-server "
                     "(or run the whole stack with `docker compose up`)")
        say("RabbitMQ is not installed; installing rabbitmq-server from the distribution")
        run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server")
    say("starting RabbitMQ")
    subprocess.run(["rabbitmq-server", "-detached"], check=False)


def postgres_clusters() -> list[str]:
    root = Path("/etc/postgresql")
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def start_postgres() -> None:
    if not postgres_clusters():
        if not debian_root():
            sys.exit("PostgreSQL is not reachable and not installed: install postgresql "
                     "(or run the whole stack with `docker compose up`)")
        say("PostgreSQL is not installed; installing postgresql from the distribution")
        run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql")
        # local development: trust local TCP connections, as the defaults expect
        for hba in Path("/etc/postgresql").glob("*/main/pg_hba.conf"):
            hba.write_text(hba.read_text().replace("scram-sha-256", "trust").replace("md5", "trust"))
    for version in postgres_clusters():
        say(f"starting PostgreSQL {version}")
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=False)


def ensure_server(what: str, uri: str, default_port: int, start) -> None:
    """Make the server at ``uri`` answer: start (or install) it when it is local and silent."""
    parts = urlparse(uri)
    host, port = parts.hostname or "localhost", parts.port or default_port
    if reachable(host, port):
        return
    if host not in LOCAL_HOSTS:
        sys.exit(f"{what} at {host}:{port} is not reachable")
    start()
    if not wait_for(host, port, 60):
        sys.exit(f"{what} did not come up on {host}:{port}")


def create_database(uri: str) -> None:
    parts = urlparse(uri)
    name = parts.path.lstrip("/")
    maintenance = parts._replace(path="/postgres").geturl()
    connection = psycopg2.connect(maintenance)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cursor.fetchone() is None:
                say(f"creating database {name}")
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        connection.close()


def migrate(uri: str) -> None:
    env = dict(os.environ, DB_URI=uri)
    subprocess.run([sys.executable, "-m", "alembic", "-c", str(ROOT / "migrations" / "alembic.ini"),
                    "upgrade", "head"], check=True, env=env, cwd=ROOT)


def main() -> None:
    amqp = os.environ.get("AMQP_URI") or DEFAULT_AMQP_URI
    database = db_uri()
    ensure_server("RabbitMQ", amqp, 5672, start_rabbitmq)
    ensure_server("PostgreSQL", database, 5432, start_postgres)
    create_database(database)
    migrate(database)
    say("RabbitMQ and PostgreSQL are ready; schema is current")


if __name__ == "__main__":
    main()
