"""The Logs dashboard: it reads the provisioned Loki data source, and its LogQL only selects on
the labels Promtail's pipeline gives a line (read from compose/promtail/promtail.yml)."""
from __future__ import annotations

import json
import logging
import re

from services.observability import logs
from tests.unit.deployment_files import GRAFANA, all_panels, compose_services, load_yaml
from tests.unit.test_logs_pipeline import LOKI_YML, promtail_job

LOGS_JSON = GRAFANA / "dashboards" / "logs.json"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "datasources.yml"
LOKI_UID = "tweetstream-loki"

# "{a="x", b=~"y"}": the stream selector; matchers inside it
SELECTOR = re.compile(r'\{((?:[^{}"]|"(?:[^"\\]|\\.)*")*)\}')
MATCHER = re.compile(r'\s*(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def dashboard() -> dict:
    return json.loads(LOGS_JSON.read_text())


def loki_targets() -> list[tuple[str, dict]]:
    return [(panel["title"], target) for panel in all_panels(dashboard()) for target in panel.get("targets", [])]


def pipeline_labels() -> set[str]:
    """Every label a line can reach Loki with: relabel targets, static labels, the labels stage."""
    job = promtail_job()
    names = {rule["target_label"] for rule in job["relabel_configs"]}
    for stage in job["pipeline_stages"]:
        for kind in ("static_labels", "labels"):
            names |= set(stage.get(kind) or {})
    return names


def level_values() -> set[str]:
    """The level label's values: Python's level names (JsonFormatter writes levelname) and the default."""
    [static] = [s["static_labels"] for s in promtail_job()["pipeline_stages"] if "static_labels" in s]
    names = {logging.getLevelName(n) for n in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)}
    return names | {static["level"]}


def selectors(expr: str) -> list[list[tuple[str, str, str]]]:
    found = []
    for match in SELECTOR.finditer(expr):
        body = match.group(1)
        matchers = MATCHER.findall(body)
        assert matchers and "".join(f'{n}{op}"{v}"' for n, op, v in matchers) == re.sub(r'\s|,', "", body), body
        found.append(matchers)
    return found


def test_the_selector_reader():
    assert selectors('sum by (service) (count_over_time({level="ERROR", service=~"a|b"}[5m]))') == [
        [("level", "=", "ERROR"), ("service", "=~", "a|b")]]
    assert selectors('{service=~".+"} | json | run_id="$run_id"') == [[("service", "=~", ".+")]]


def test_the_logs_dashboard_is_titled_logs_and_reads_the_provisioned_loki_data_source():
    board = dashboard()
    assert board["title"] == "Logs" and board["uid"] == "tweetstream-logs"
    [source] = [s for s in load_yaml(DATASOURCES)["datasources"] if s["uid"] == LOKI_UID]
    assert source["type"] == "loki"
    port = load_yaml(LOKI_YML)["server"]["http_listen_port"]
    assert source["url"] == f"http://loki:{port}" and "loki" in compose_services()
    assert loki_targets()
    for title, target in loki_targets():
        assert target["datasource"] == {"type": "loki", "uid": LOKI_UID}, title
    for panel in all_panels(board):
        assert panel["datasource"] == {"type": "loki", "uid": LOKI_UID}, panel["title"]


def test_the_pipeline_gives_exactly_service_and_level():
    assert pipeline_labels() == {"service", "level"}


def test_every_query_selects_and_groups_only_on_labels_the_pipeline_produces():
    labels, levels = pipeline_labels(), level_values()
    for title, target in loki_targets():
        expr = target["expr"]
        found = selectors(expr)
        assert found, f"{title}: no stream selector in {expr}"
        for name, op, value in (m for matchers in found for m in matchers):
            assert name in labels, f"{title}: selects on {name!r}, which no line carries as a label"
            if name == "level" and op == "=":
                assert value in levels, f"{title}: level={value!r} is never a value of the level label"
        for group in GROUPING.findall(expr):
            assert {g.strip() for g in group.split(",")} <= labels, f"{title}: groups by {group}"


def test_errors_by_service_counts_error_lines_over_time():
    [(_, target)] = [(t, x) for t, x in loki_targets() if t == "Errors by service"]
    assert re.fullmatch(r'sum by \(service\) \(count_over_time\(\{level="ERROR"\}\[\$__interval\]\)\)', target["expr"])
    [(_, recent)] = [(t, x) for t, x in loki_targets() if t == "Recent error lines"]
    assert recent["expr"] == '{level="ERROR"}'


def test_a_runs_lines_are_found_by_the_run_id_textbox_through_the_json_fields():
    [variable] = dashboard()["templating"]["list"]
    assert (variable["type"], variable["name"]) == ("textbox", "run_id")
    [(title, target)] = [(t, x) for t, x in loki_targets() if "$run_id" in x["expr"]]
    assert '| json | run_id="$run_id"' in target["expr"]
    assert "run_id" in logs.CONTEXT_FIELDS             # a field JsonFormatter writes
    assert "run_id" not in pipeline_labels()           # found in the line, not a label
    [panel] = [p for p in all_panels(dashboard()) if p["title"] == title]
    assert panel["type"] == "logs"
