"""Every dashboard query against live data: a real Prometheus scraping the running services,
and the SQL panels on the test database after a real stream.

The Prometheus here is the distribution's binary, started on a free port with a generated
config that lists the `system` fixture's processes as static targets (docker-compose uses
DNS discovery instead; `promtool check config` of that file is in tests/unit/test_compose_stack.py).
The job names are the compose ones, so `{{job}}` legends read the same. The SQL panels need
no Prometheus: they run (and must return rows) even when its binary is missing.

Conditions a healthy system never shows are made on purpose, so that the panels for them are
checked with real values: a second query replica whose source cannot be built (populate
failures and 5xx answers) and malformed requests (4xx).
"""
from __future__ import annotations

import math
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psycopg2
import pytest
import requests
import yaml
from sqlalchemy import text

from services.storage.schema import metadata
from tests.system import free_port
from tests.unit.deployment_files import (
    TIME_FROM, TIME_TO, dashboard_targets, promql_for_prometheus, sql_for_postgres,
)

pytestmark = pytest.mark.integration

SCRAPE_INTERVAL_SECONDS = 1


# --------------------------------------------------------------------------- the dashboards

PROMQL_TARGETS = dashboard_targets("expr")
SQL_TARGETS = dashboard_targets("rawSql")


def target_id(target) -> str:
    name, title, ref_id, _ = target
    return f"{name}:{title}:{ref_id}"


def test_macro_expansion():
    assert sql_for_postgres("SELECT 1 FROM t WHERE $__timeFilter(minute)") == (
        f"SELECT 1 FROM t WHERE minute BETWEEN {TIME_FROM} AND {TIME_TO}")
    assert sql_for_postgres("SELECT $__timeGroupAlias(m, 1m), 1") == (
        'SELECT to_timestamp(floor(extract(epoch FROM m) / 60) * 60) AS "time", 1')
    with pytest.raises(AssertionError):
        sql_for_postgres("SELECT $__unixEpochFilter(ts)")
    assert promql_for_prometheus("rate(x[$__rate_interval])") == "rate(x[30s])"


def test_the_dashboards_have_queries_of_both_kinds():
    assert len(PROMQL_TARGETS) >= 20 and len(SQL_TARGETS) >= 5


# Panels whose condition this module creates on purpose: the named series must be above 0.
MADE_CONDITIONS = {
    ("http.json", "5xx error ratio by route", "A"): {"route": "/api/v1/populate"},
    ("http.json", "4xx per second by route", "A"): {"route": "/launch"},
    ("http.json", "Requests per second by status", "A"): {"status": "500"},
    ("pipeline.json", "Populate failures by reason", "A"): {"reason": "source"},
    ("pipeline.json", "Populate: tweets stored by tag", "A"): {"tag": "devops"},
    ("pipeline.json", "Tweets per second by stage", "A"): {},
    ("pipeline.json", "Tweets per second by stage", "C"): {},
    ("pipeline.json", "Batches per second by outcome", "A"): {"outcome": "stored"},
    ("pipeline.json", "Dispatched per second by source", "A"): {"source": "synthetic"},
}


# --------------------------------------------------------------------------- the live system

def metrics_port_of(process: subprocess.Popen) -> int:
    """The METRICS_PORT System.start gave the process, read back from its environment."""
    environ = Path(f"/proc/{process.pid}/environ").read_bytes().split(b"\0")
    [port] = [entry.split(b"=", 1)[1] for entry in environ if entry.startswith(b"METRICS_PORT=")]
    return int(port)


def scrape_config(system, prometheus_port: int) -> dict:
    """One job per service (the compose job names), each process a static target."""
    targets: dict[str, list[str]] = {"gateway": [system.base_url.removeprefix("http://")]}
    for key, process in system.processes.items():
        service = key.split("-", 1)[0]
        if service != "gateway":
            targets.setdefault(service, []).append(f"127.0.0.1:{metrics_port_of(process)}")
    jobs = [{"job_name": job, "metrics_path": "/metrics", "static_configs": [{"targets": sorted(hosts)}]}
            for job, hosts in sorted(targets.items())]
    jobs.append({"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{prometheus_port}"]}]})
    interval = f"{SCRAPE_INTERVAL_SECONDS}s"
    return {"global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
            "scrape_configs": jobs}


class Prometheus:
    """A real prometheus process and its HTTP API."""

    def __init__(self, binary: str, workdir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = workdir / "prometheus.yml"
        self.log_path = workdir / "prometheus.log"
        self.command = [binary, f"--config.file={self.config_path}", f"--storage.tsdb.path={workdir / 'data'}",
                        f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"]
        self.process: subprocess.Popen | None = None

    def write_config(self, config: dict) -> None:
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        promtool = shutil.which("promtool")
        if promtool:
            checked = subprocess.run([promtool, "check", "config", str(self.config_path)],
                                     capture_output=True, text=True, timeout=60)
            assert checked.returncode == 0, checked.stdout + checked.stderr

    def start(self, timeout: float = 30) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"prometheus exited:\n{self.log()}"
            try:
                if requests.get(self.url + "/-/ready", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"prometheus not ready in {timeout} s:\n{self.log()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def targets(self) -> list[dict]:
        return requests.get(self.url + "/api/v1/targets", timeout=5).json()["data"]["activeTargets"]

    def wait_all_targets_up(self, expected: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            targets = self.targets()
            if len(targets) == expected and all(t["health"] == "up" for t in targets):
                return
            time.sleep(0.3)
        down = [(t["labels"]["job"], t["scrapeUrl"], t["health"], t["lastError"]) for t in self.targets()]
        raise TimeoutError(f"targets not all up: {down}")

    def query(self, expr: str, at: float) -> list[dict]:
        answer = requests.get(self.url + "/api/v1/query", params={"query": expr, "time": at}, timeout=10)
        body = answer.json()
        assert answer.status_code == 200 and body["status"] == "success", f"{expr}: {body}"
        return body["data"]["result"]


def truncate_store(engine) -> None:
    names = ", ".join(table.name for table in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def populate_until(system, wanted: dict[int, int], attempts: int = 20) -> dict[int, int]:
    """Populate #devops until each status in `wanted` was answered that many times.

    Two query replicas share the RPC queue and RabbitMQ hands calls round-robin, so the
    healthy and the broken replica both answer within a few calls.
    """
    seen: dict[int, int] = {}
    for attempt in range(1, attempts + 1):
        # the synthetic search is deterministic: asking for more each time stores new tweets,
        # so the stored counter rises after its first appearance too
        answer = system.post("/api/v1/populate", {"tags": ["devops"], "per_tag": 10 * attempt})
        assert answer.status_code in (201, 500), answer.text
        seen[answer.status_code] = seen.get(answer.status_code, 0) + 1
        if all(seen.get(status, 0) >= n for status, n in wanted.items()):
            return seen
        # let a scrape see the counters in between, so the next increment shows in rate()
        time.sleep(1.2 * SCRAPE_INTERVAL_SECONDS)
    raise AssertionError(f"populate answers {seen}, wanted at least {wanted}")


MISSING_PROMETHEUS = "the prometheus binary is not installed (apt-get install prometheus)"


@pytest.fixture(scope="module")
def observed(system, engine, tmp_path_factory):
    """A stream, populate calls, health and bad requests on an empty store, scraped by Prometheus.

    Yields (Prometheus or None when its binary is missing, the time to evaluate at);
    Prometheus is stopped afterwards. The SQL panels need no Prometheus and run either way.
    """
    truncate_store(engine)
    # a query replica whose populate source cannot be built: the X API without a bearer token
    # (its port is in its environment at once; the targets check below waits until it serves)
    system.start("query", replica="no-token", SOURCE="x", X_BEARER_TOKEN="")
    binary = shutil.which("prometheus")
    prometheus = Prometheus(binary, tmp_path_factory.mktemp("prometheus")) if binary else None
    try:
        if prometheus:
            config = scrape_config(system, prometheus.port)
            prometheus.write_config(config)
            prometheus.start()
            prometheus.wait_all_targets_up(
                expected=sum(len(job["static_configs"][0]["targets"]) for job in config["scrape_configs"]))
            time.sleep(1.5 * SCRAPE_INTERVAL_SECONDS)  # a first scrape of every target before anything happens

        # populate: stored by the healthy replica, 500 (source failed) from the broken one, twice,
        # so the failure counter rises after Prometheus saw it appear
        populate_until(system, {201: 2, 500: 2})

        launched = system.post("/launch", {"track": ["the"], "rate": 500, "seed": 1})
        assert launched.status_code == 200, launched.text
        for _ in range(3):  # a few scrapes while the stream runs
            assert system.post("/launch", {"track": []}).status_code == 400
            assert system.get("/statistics").status_code == 200
            assert system.get("/api/health").status_code == 200
            for view in ("/api/v1/users", "/api/v1/hour", "/api/v1/tags"):
                assert system.get(view).status_code == 200
            time.sleep(0.8)
        stopped = system.post("/stop")
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["amount"] > 0
        time.sleep(2.5 * SCRAPE_INTERVAL_SECONDS)  # the last increments scraped
        yield prometheus, time.time()
    finally:
        if prometheus:
            prometheus.stop()
        system.signal("query-no-token", signal.SIGTERM)


@pytest.fixture
def scraped(observed):
    """(Prometheus, evaluation time); skips when the prometheus binary is missing."""
    prometheus, at = observed
    if prometheus is None:
        pytest.skip(MISSING_PROMETHEUS)
    return prometheus, at


@pytest.mark.parametrize("target", PROMQL_TARGETS, ids=target_id)
def test_promql_panel_returns_data(scraped, target):
    prometheus, at = scraped
    name, title, ref_id, expr = target
    result = prometheus.query(promql_for_prometheus(expr), at)
    assert result, f"{name}: {title!r} ({ref_id}) returned nothing: {expr}"
    values = [float(sample["value"][1]) for sample in result]
    assert any(math.isfinite(v) for v in values), f"{name}: {title!r} ({ref_id}) has no finite value: {result}"
    made = MADE_CONDITIONS.get((name, title, ref_id))
    if made is not None:
        matching = [float(s["value"][1]) for s in result if all(s["metric"].get(k) == v for k, v in made.items())]
        assert matching and max(matching) > 0, f"{name}: {title!r} ({ref_id}) should show {made} above 0: {result}"


def test_every_replica_is_scraped(scraped, system):
    prometheus, at = scraped
    up = {s["metric"]["job"]: float(s["value"][1]) for s in prometheus.query("sum by (job) (up)", at)}
    expected = {service: 1 for service in system.available()} | {"query": 2, "prometheus": 1}
    assert up == expected


def test_health_checks_report_up(scraped):
    prometheus, at = scraped
    checks = {s["metric"]["check"]: float(s["value"][1])
              for s in prometheus.query("min by (check) (tweetstream_health_check_up)", at)}
    assert checks == {"database": 1, "broker": 1, "source": 1, "pipeline": 1}


@pytest.mark.parametrize("target", SQL_TARGETS, ids=target_id)
def test_sql_panel_returns_rows_after_the_stream(observed, db_uri, target):
    name, title, ref_id, sql = target
    connection = psycopg2.connect(db_uri)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql_for_postgres(sql))
            rows = cursor.fetchall()
    finally:
        connection.rollback()
        connection.close()
    assert rows, f"{name}: {title!r} ({ref_id}) returned no row"


def sql_panel_value(db_uri, title: str) -> float:
    [(_, _, _, sql)] = [t for t in SQL_TARGETS if t[0] == "statistics.json" and t[1] == title]
    connection = psycopg2.connect(db_uri)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql_for_postgres(sql))
            [(value,)] = cursor.fetchall()
            return float(value)
    finally:
        connection.close()


def test_statistics_panels_agree_with_the_api(observed, system, db_uri):
    """The Amount, Elapsed time and Speed stats say what GET /statistics says (no run is active)."""
    answer = system.get("/statistics").json()
    assert answer["amount"] > 0
    assert sql_panel_value(db_uri, "Amount") == answer["amount"]
    assert sql_panel_value(db_uri, "Elapsed time") == pytest.approx(answer["elapsed_time"], abs=1)
    assert sql_panel_value(db_uri, "Speed") == pytest.approx(answer["speed"], rel=0.2)
