"""The Prometheus alerting rules (compose/prometheus/alerts.yml): valid, unit-tested by promtool
(alerts.test.yml), loaded by prometheus.yml and mounted beside it by docker-compose.yml, and
written in metric names that something really exports.

promtool comes with Debian's `prometheus` package; without it those checks are skipped.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from services.contracts.events import batch_queue
from tests.unit.deployment_files import COMPOSE_FILE, PROMETHEUS_YML, compose_services, load_yaml, run
from tests.unit.test_dashboards import PROMETHEUS_OWN_SERIES, metric_names_in, registry_series_names

PROMETHEUS_DIR = PROMETHEUS_YML.parent
ALERTS_YML = PROMETHEUS_DIR / "alerts.yml"
ALERTS_TEST_YML = PROMETHEUS_DIR / "alerts.test.yml"

# What RabbitMQ's own rabbitmq_prometheus plugin exports on /metrics/detailed?family=queue_coarse_metrics
# (seen from RabbitMQ 3.10.8; its source defines the same names in 3.13), scraped by the
# prometheus.yml job below. Only these may appear in the rules besides our own metrics.
RABBITMQ_JOB = "rabbitmq"
RABBITMQ_QUEUE_SERIES = {
    "rabbitmq_detailed_queue_messages_ready",
    "rabbitmq_detailed_queue_messages_unacked",
    "rabbitmq_detailed_queue_messages",
}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return path


def alert_rules() -> list[dict]:
    rules = [rule for group in load_yaml(ALERTS_YML)["groups"] for rule in group["rules"]]
    assert rules, "no rule in alerts.yml"
    return rules


ALERT_NAMES = [rule["alert"] for rule in alert_rules() if "alert" in rule]


def test_promtool_checks_the_rules():
    result = run([promtool(), "check", "rules", str(ALERTS_YML)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_of_the_rules_pass():
    result = run([promtool(), "test", "rules", str(ALERTS_TEST_YML)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_checks_the_config_with_its_rule_file():
    result = run([promtool(), "check", "config", str(PROMETHEUS_YML)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout


def test_prometheus_loads_the_rules_and_compose_mounts_them_beside_its_config():
    rule_files = load_yaml(PROMETHEUS_YML)["rule_files"]
    assert rule_files == ["alerts.yml"]
    volumes = compose_services()["prometheus"]["volumes"]
    mounts = dict(volume.split(":")[:2] for volume in volumes if volume.startswith("./"))
    config_in_container = Path(mounts["./compose/prometheus/prometheus.yml"])
    for name in rule_files:
        assert (PROMETHEUS_DIR / name).exists()
        # a relative rule file is read from the directory of the config file
        assert mounts[f"./compose/prometheus/{name}"] == str(config_in_container.parent / name), (
            f"{COMPOSE_FILE.name} does not mount {name} beside prometheus.yml")


def test_every_metric_in_the_rules_is_exported():
    ours = registry_series_names()
    used = {}
    for rule in alert_rules():
        for metric in metric_names_in(rule["expr"]):
            used.setdefault(metric, rule.get("alert") or rule.get("record"))
    unknown = {metric: rule for metric, rule in used.items()
               if metric not in ours | PROMETHEUS_OWN_SERIES | RABBITMQ_QUEUE_SERIES}
    assert not unknown, f"metrics used in alerts.yml but exported by nothing: {unknown}"
    assert "tweetstream_batches_processed_total" in used


def test_the_rabbitmq_series_come_from_the_brokers_scrape_job():
    jobs = {job["job_name"]: job for job in load_yaml(PROMETHEUS_YML)["scrape_configs"]}
    job = jobs[RABBITMQ_JOB]
    assert job["metrics_path"] == "/metrics/detailed"
    assert job["params"] == {"family": ["queue_coarse_metrics"]}
    [static] = job["static_configs"]
    assert static["targets"] == ["rabbitmq:15692"]
    # the compose broker is the image that enables the plugin, on the network Prometheus is on
    assert compose_services()["rabbitmq"]["image"].startswith("rabbitmq:3")


def test_the_queue_alert_watches_the_filters_queue():
    [rule] = [rule for rule in alert_rules() if rule.get("alert") == "FilterQueueGrowing"]
    name = batch_queue({}).name
    assert f'queue="{name}"' in rule["expr"]
    assert rule["expr"].count('queue="') == rule["expr"].count(f'queue="{name}"')


@pytest.mark.parametrize("alert", ALERT_NAMES)
def test_every_alert_has_a_severity_and_says_what_happened(alert):
    [rule] = [rule for rule in alert_rules() if rule.get("alert") == alert]
    assert rule["labels"]["severity"] in ("warning", "critical")
    assert rule["annotations"]["summary"].strip()
    assert rule["annotations"]["description"].strip()


@pytest.mark.parametrize("alert", ALERT_NAMES)
def test_every_alert_has_unit_tests_that_fire_it_and_that_must_not(alert):
    tests = yaml.safe_load(ALERTS_TEST_YML.read_text())
    assert tests["rule_files"] == ["alerts.yml"]
    outcomes = [bool(case["exp_alerts"]) for test in tests["tests"] for case in test.get("alert_rule_test", [])
                if case["alertname"] == alert]
    assert True in outcomes, f"no test in {ALERTS_TEST_YML.name} makes {alert} fire"
    assert False in outcomes, f"no test in {ALERTS_TEST_YML.name} checks that {alert} stays quiet"
