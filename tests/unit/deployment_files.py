"""Shared by the static checks of the deployment files: where they are, and how to read and run them."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "compose" / "Dockerfile"
HAPROXY_CFG = ROOT / "compose" / "haproxy" / "haproxy.cfg"
PROMETHEUS_YML = ROOT / "compose" / "prometheus" / "prometheus.yml"
GRAFANA = ROOT / "compose" / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))

APP_SERVICES = ("gateway", "launcher", "filter", "statistics", "query", "health")
SCALED_SERVICES = ("launcher", "filter")


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text())


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def compose_command() -> list[str] | None:
    """`docker compose`, else the older `docker-compose`; None when neither is installed."""
    docker = shutil.which("docker")
    if docker and run([docker, "compose", "version"]).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def compose_services() -> dict:
    return load_yaml(COMPOSE_FILE)["services"]


# -- the dashboards' queries, as Grafana would send them --------------------------------------------

# Grafana's variables, replaced by values that fit a 1 s scrape interval and a short test.
GRAFANA_VARIABLES = {"$__rate_interval": "30s", "$__interval": "5s", "$__range": "5m"}
# The SQL panels are run as if the dashboard's time range were the last hour.
TIME_FROM, TIME_TO = "now() - interval '1 hour'", "now()"


def all_panels(dashboard: dict):
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


# The data source each kind of query is sent to: Loki's LogQL is in `expr` too, and is not PromQL.
QUERY_DATASOURCE = {"expr": "prometheus", "rawSql": "postgres"}


def dashboard_targets(kind: str) -> list[tuple[str, str, str, str]]:
    """(dashboard file, panel title, refId, query) for every target with a `kind` query (expr: PromQL, rawSql)."""
    found = []
    for path in DASHBOARD_FILES:
        for panel in all_panels(json.loads(path.read_text())):
            for target in panel.get("targets", []):
                if target.get("datasource", {}).get("type") != QUERY_DATASOURCE[kind]:
                    continue
                if (target.get(kind) or "").strip():
                    found.append((path.name, panel["title"], target.get("refId", "A"), target[kind]))
    return found




def promql_for_prometheus(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"a Grafana variable this test does not replace: {expr}"
    return expr


def _seconds(interval: str) -> int:
    number, unit = re.fullmatch(r"\s*'?(\d+)([smhd])'?\s*", interval).groups()
    return int(number) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


def _time_bucket(column: str, interval: str) -> str:
    seconds = _seconds(interval)
    return f"to_timestamp(floor(extract(epoch FROM {column}) / {seconds}) * {seconds})"


def sql_for_postgres(sql: str) -> str:
    """Grafana's PostgreSQL macros expanded as Grafana does, for a last-hour time range."""
    sql = re.sub(r"\$__timeFilter\(\s*([\w.]+)\s*\)", rf"\1 BETWEEN {TIME_FROM} AND {TIME_TO}", sql)
    sql = re.sub(r"\$__timeFrom\(\s*\)", TIME_FROM, sql)
    sql = re.sub(r"\$__timeTo\(\s*\)", TIME_TO, sql)
    sql = re.sub(r"\$__timeGroupAlias\(\s*([\w.]+)\s*,\s*([^)]+?)\s*\)",
                 lambda m: _time_bucket(m.group(1), m.group(2)) + ' AS "time"', sql)
    sql = re.sub(r"\$__timeGroup\(\s*([\w.]+)\s*,\s*([^)]+?)\s*\)",
                 lambda m: _time_bucket(m.group(1), m.group(2)), sql)
    assert "$__" not in sql, f"a Grafana macro this test does not expand: {sql}"
    return sql
