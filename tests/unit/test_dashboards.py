"""The Grafana dashboards: valid, provisioned, and every query names metrics and tables that exist."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

import services.observability.metrics  # noqa: F401 - defines every metric in REGISTRY, whatever ran before
from tests.unit.deployment_files import (
    DASHBOARD_FILES,
    GRAFANA,
    compose_services,
    dashboard_targets,
    load_yaml,
    sql_for_postgres,
)

# --------------------------------------------------------------------------- dashboards

def all_panels(dashboard: dict):
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def all_targets():
    for path in DASHBOARD_FILES:
        for panel in all_panels(json.loads(path.read_text())):
            for target in panel.get("targets", []):
                yield path.name, panel["title"], target


def test_the_four_dashboards_exist():
    titles = {json.loads(p.read_text())["title"] for p in DASHBOARD_FILES}
    assert titles == {"Pipeline", "HTTP", "Statistics", "Logs"}


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_dashboard_is_json_with_unique_panel_ids_and_queries(path):
    dashboard = json.loads(path.read_text())
    ids = [panel["id"] for panel in all_panels(dashboard)]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {path.name}"
    for panel in all_panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel.get("targets"), f"{path.name}: panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            assert (target.get("expr") or "").strip() or (target.get("rawSql") or "").strip(), (
                f"{path.name}: a target of {panel['title']!r} has neither expr nor rawSql"
            )


def test_dashboard_uids_are_unique():
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARD_FILES]
    assert len(uids) == len(set(uids))


def test_dashboards_use_the_provisioned_datasource_uids():
    provisioned = load_yaml(GRAFANA / "provisioning" / "datasources" / "datasources.yml")
    uids = {source["uid"] for source in provisioned["datasources"]}
    for name, title, target in all_targets():
        assert target["datasource"]["uid"] in uids, f"{name}: {title!r} uses an unknown data source"
        if "rawSql" in target:
            assert target["datasource"]["type"] == "postgres", f"{name}: {title!r}"


def test_grafana_dashboard_provider_reads_the_mounted_folder():
    provider = load_yaml(GRAFANA / "provisioning" / "dashboards" / "dashboards.yml")["providers"][0]
    assert provider["type"] == "file"
    grafana = compose_services()["grafana"]
    mounts = dict(volume.split(":")[:2] for volume in grafana["volumes"] if volume.startswith("./"))
    assert mounts["./compose/grafana/dashboards"] == provider["options"]["path"]
    home = Path(grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert str(home.parent) == provider["options"]["path"]
    assert (GRAFANA / "dashboards" / home.name).exists()


# --------------------------------------------------------------------------- PromQL names

# Series Prometheus itself adds to every scrape; they are in no client registry.
PROMETHEUS_OWN_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "offset", "bool", "inf", "nan",
}
SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
    "gauge": ("",),
    "info": ("_info",),
    "stateset": ("",),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "unknown": ("",),
}


def registry_series_names() -> set[str]:
    """Every series name the default registry can expose, whether or not a sample exists yet."""
    names = set()
    for family in REGISTRY.collect():
        names.update(family.name + suffix for suffix in SAMPLE_SUFFIXES[family.type])
    return names


def metric_names_in(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions or keywords."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)       # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)                  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)                 # range selectors
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    # the lookbehind keeps the unit of a duration such as `5m` from reading as a name
    for match in re.finditer(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        rest = expr[match.end():].lstrip()
        if rest.startswith("("):  # a function call
            continue
        if match.group().lower() in PROMQL_WORDS:
            continue
        names.add(match.group())
    return names


def test_metric_name_extraction():
    expr = ('histogram_quantile(0.95, sum by (le, route) (rate(a_bucket{kind="rpc"}[$__rate_interval])))'
            ' / on (route) group_left sum without (x) (b_total offset 5m)')
    assert metric_names_in(expr) == {"a_bucket", "b_total"}


def test_every_promql_metric_is_defined_in_the_metrics_module():
    known = registry_series_names() | PROMETHEUS_OWN_SERIES
    used = {}
    for name, title, target in all_targets():
        if "expr" in target and target["datasource"]["type"] == "prometheus":   # not Loki's LogQL
            for metric in metric_names_in(target["expr"]):
                used.setdefault(metric, f"{name}: {title}")
    assert used, "no PromQL found in the dashboards"
    unknown = {metric: where for metric, where in used.items() if metric not in known}
    assert not unknown, f"metrics used in dashboards but defined nowhere: {unknown}"


def test_every_tweetstream_metric_is_on_a_dashboard():
    used = set()
    for _, _, target in all_targets():
        used |= metric_names_in(target.get("expr", ""))
    families = {family.name for family in REGISTRY.collect() if family.name.startswith("tweetstream_")}
    missing = {f for f in families if not any(u.startswith(f) for u in used)}
    assert not missing, f"metrics on no dashboard: {sorted(missing)}"


# --------------------------------------------------------------------------- SQL panels

@pytest.mark.integration
def test_sql_panels_run_against_the_migrated_schema(db_uri):
    """Runs every rawSql on the test session's database, migrated to the newest schema."""
    psycopg2 = pytest.importorskip("psycopg2")
    connection = psycopg2.connect(db_uri, connect_timeout=3)
    try:
        for _name, _title, _ref_id, sql in dashboard_targets("rawSql"):
            with connection.cursor() as cursor:
                cursor.execute(sql_for_postgres(sql))
                cursor.fetchall()
            connection.rollback()
    finally:
        connection.close()


