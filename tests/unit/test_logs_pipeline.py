"""Loki and Promtail in the compose stack, and Promtail's pipeline run on real log lines.

No Promtail binary here (not in Debian or PyPI): the relabel rules and pipeline stages that
compose/promtail/promtail.yml declares are read from the file and applied by a small emulation of
the stages it uses (json, static_labels, labels, timestamp; semantics of Promtail 3.x's
clients/pkg/logentry/stages). A stage the emulation does not know fails the test, so a change to
the YAML is either checked or reported, never passed over.
"""
from __future__ import annotations

import datetime
import io
import json
import logging
import re
import traceback
from dataclasses import dataclass
from decimal import Decimal
from pathlib import PurePosixPath

import pytest

from services.observability import logs
from tests.unit.deployment_files import APP_SERVICES, COMPOSE_FILE, ROOT, compose_services, load_yaml

LOKI_YML = ROOT / "compose" / "loki" / "loki.yml"
PROMTAIL_YML = ROOT / "compose" / "promtail" / "promtail.yml"
PINNED = re.compile(r"^grafana/(loki|promtail):(\d+\.\d+\.\d+)$")
DOCKER_SOCKET = "/var/run/docker.sock"


def promtail_job() -> dict:
    [job] = load_yaml(PROMTAIL_YML)["scrape_configs"]
    return job


def stage_kinds(stages: list[dict]) -> list[str]:
    return [next(iter(stage)) for stage in stages]


def stage(kind: str) -> dict:
    [config] = [s[kind] for s in promtail_job()["pipeline_stages"] if kind in s]
    return config


# --------------------------------------------------------------------------- the emulation

def relabel(discovered: dict[str, str], rules: list[dict]) -> dict[str, str]:
    """Prometheus relabelling (replace only), then the `__` labels dropped, as Promtail does."""
    labels = dict(discovered)
    for rule in rules:
        action = rule.get("action", "replace")
        # Promtail's Docker target ignores keep/drop (grafana/loki#8620): they must not be relied on.
        assert action == "replace", f"relabel action {action!r}: not emulated, and keep/drop do nothing for Docker targets"
        value = rule.get("separator", ";").join(labels.get(name, "") for name in rule.get("source_labels", []))
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        if match:
            replacement = re.sub(r"\$\{?(\d+)\}?", r"\\\1", rule.get("replacement", "$1"))
            result = match.expand(replacement)
            if result:
                labels[rule["target_label"]] = result
            else:
                labels.pop(rule["target_label"], None)
    return {name: value for name, value in labels.items() if not name.startswith("__")}


def go_string(value) -> str | None:
    """Promtail's getString: what a label or a timestamp can be made of; None where it gives up."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))   # Go holds every JSON number as a float64 and prints 7.0 as "7"
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return None   # null, and what Go cannot convert


RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def parse_rfc3339(text: str) -> datetime.datetime | None:
    if not RFC3339.fullmatch(text):
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Entry:
    labels: dict[str, str]
    line: str
    time: datetime.datetime


def run_pipeline(stages: list[dict], labels: dict[str, str], line: str, read_time: datetime.datetime) -> Entry | None:
    """One line through the stages; None when a stage drops it."""
    extracted: dict = dict(labels)   # Promtail starts the extracted map with the target's labels
    labels, time = dict(labels), read_time
    for kind, config in (next(iter(s.items())) for s in stages):
        if kind == "json":
            assert "source" not in config, "the emulation parses the line itself only"
            try:
                data = json.loads(line)
            except ValueError:
                data = None
            if not isinstance(data, dict):   # Go unmarshals into a map: anything else is malformed
                if config.get("drop_malformed", False):
                    return None
                continue
            for name, expression in config["expressions"].items():
                expression = expression or name
                assert re.fullmatch(r"[A-Za-z_]\w*", expression), f"JMESPath {expression!r}: the emulation reads plain fields"
                value = data.get(expression)
                if value is not None and not isinstance(value, (str, int, float, bool)):
                    value = json.dumps(value, separators=(",", ":"))
                extracted[name] = value
        elif kind == "static_labels":
            labels.update({name: str(value) for name, value in config.items() if value})
        elif kind == "labels":
            for name, source in config.items():
                if (source or name) in extracted:
                    text = go_string(extracted[source or name])
                    if text is not None:
                        labels[name] = text
        elif kind == "timestamp":
            assert config["format"] in ("RFC3339", "RFC3339Nano"), f"timestamp format {config['format']!r} not emulated"
            assert config.get("action_on_failure") == "skip", "the emulation keeps the read time on failure (skip)"
            value = go_string(extracted.get(config["source"]))
            parsed = parse_rfc3339(value) if value is not None else None
            if parsed is not None:
                time = parsed
        else:
            pytest.fail(f"pipeline stage {kind!r} is not emulated here: extend run_pipeline before relying on it")
    return Entry({name: value for name, value in labels.items() if value}, line, time)


def test_the_emulation_refuses_stages_it_does_not_know():
    with pytest.raises(pytest.fail.Exception, match="multiline"):
        run_pipeline([{"multiline": {"firstline": "^{"}}], {}, "x", datetime.datetime.now(datetime.timezone.utc))


def test_the_emulation_drops_malformed_lines_only_when_told_to():
    now = datetime.datetime.now(datetime.timezone.utc)
    json_stage = {"json": {"expressions": {"level": ""}, "drop_malformed": True}}
    assert run_pipeline([json_stage], {"service": "x"}, "not json", now) is None
    assert run_pipeline([json_stage], {"service": "x"}, '{"level": "INFO"}', now).line == '{"level": "INFO"}'


# --------------------------------------------------------------------------- compose

def test_loki_and_promtail_run_the_same_pinned_grafana_release():
    services = compose_services()
    tags = {}
    for name in ("loki", "promtail"):
        match = PINNED.match(services[name]["image"])
        assert match and match.group(1) == name, f"{name}: {services[name]['image']!r} is not a pinned grafana/{name}:X.Y.Z"
        tags[name] = match.group(2)
        assert services[name]["restart"] == "unless-stopped"
    assert tags["loki"] == tags["promtail"]
    assert "loki" in services["promtail"]["depends_on"]


@pytest.mark.parametrize("name, config", [("loki", LOKI_YML), ("promtail", PROMTAIL_YML)])
def test_each_runs_its_config_from_the_repository_mounted_read_only(name, config):
    service = compose_services()[name]
    mounts = {source: target for source, target, *_ in (v.split(":") for v in service["volumes"])}
    relative = "./" + str(config.relative_to(ROOT))
    assert f"{relative}:{mounts[relative]}:ro" in service["volumes"]
    assert service["command"] == [f"-config.file={mounts[relative]}"]
    assert config.exists()


def test_promtail_mounts_the_docker_socket_read_only_and_discovers_through_it():
    volumes = compose_services()["promtail"]["volumes"]
    assert f"{DOCKER_SOCKET}:{DOCKER_SOCKET}:ro" in volumes
    assert not any(v.startswith("/") and v != f"{DOCKER_SOCKET}:{DOCKER_SOCKET}:ro" for v in volumes), "only the socket from the host"
    for discovery in promtail_job()["docker_sd_configs"]:
        assert discovery["host"] == f"unix://{DOCKER_SOCKET}"


def test_loki_data_and_promtail_positions_live_in_named_volumes():
    declared = load_yaml(COMPOSE_FILE)["volumes"]
    services = compose_services()
    loki_path = load_yaml(LOKI_YML)["common"]["path_prefix"]
    positions_dir = str(PurePosixPath(load_yaml(PROMTAIL_YML)["positions"]["filename"]).parent)
    assert f"loki-data:{loki_path}" in services["loki"]["volumes"]
    assert f"promtail-positions:{positions_dir}" in services["promtail"]["volumes"]
    assert {"loki-data", "promtail-positions"} <= set(declared)


def test_promtail_lists_only_the_app_service_containers_by_their_compose_label():
    listed = []
    for discovery in promtail_job()["docker_sd_configs"]:
        [label_filter] = discovery["filters"]
        assert label_filter["name"] == "label"
        [value] = label_filter["values"]
        key, _, service = value.partition("=")
        assert key == "com.docker.compose.service"
        listed.append(service)
    assert sorted(listed) == sorted(APP_SERVICES)
    assert set(listed) <= set(compose_services())


def test_promtail_pushes_to_the_loki_service_on_its_port():
    [client] = load_yaml(PROMTAIL_YML)["clients"]
    match = re.fullmatch(r"http://([\w-]+):(\d+)(/.*)", client["url"])
    assert match, client["url"]
    host, port, path = match.groups()
    assert host == "loki" and host in compose_services()
    assert int(port) == load_yaml(LOKI_YML)["server"]["http_listen_port"]
    assert path == "/loki/api/v1/push"


def test_loki_is_one_process_on_the_filesystem_with_a_seven_day_retention():
    config = load_yaml(LOKI_YML)
    assert config["auth_enabled"] is False
    assert config["common"]["replication_factor"] == 1
    assert config["common"]["ring"]["kvstore"]["store"] == "inmemory"
    assert set(config["common"]["storage"]) == {"filesystem"}
    [schema] = config["schema_config"]["configs"]
    assert (schema["store"], schema["object_store"], schema["index"]["period"]) == ("tsdb", "filesystem", "24h")
    assert config["limits_config"]["retention_period"] == "168h"
    assert config["compactor"]["retention_enabled"] is True
    assert config["compactor"]["delete_request_store"] == "filesystem"
    # no label added by Loki itself (service_name) besides what Promtail sends
    assert config["limits_config"]["discover_service_name"] == []


# --------------------------------------------------------------------------- the pipeline as declared

def test_the_pipeline_parses_json_sets_two_labels_and_the_time_from_ts():
    job = promtail_job()
    assert stage_kinds(job["pipeline_stages"]) == ["json", "static_labels", "labels", "timestamp"]
    assert stage("json")["drop_malformed"] is False
    assert set(stage("json")["expressions"]) == {"level", "ts"}
    assert stage("static_labels") == {"level": "unknown"}
    assert set(stage("labels")) == {"level"}
    assert (stage("timestamp")["source"], stage("timestamp")["format"]) == ("ts", "RFC3339Nano")
    assert [rule["target_label"] for rule in job["relabel_configs"]] == ["service"]
    assert not any(kind in ("drop", "match", "limit", "sampling") for kind in stage_kinds(job["pipeline_stages"]))


# --------------------------------------------------------------------------- the pipeline on real lines

SECRET = "bearer-secret-in-a-line"
READ_TIME = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)   # Docker's time, unlike any ts


@pytest.fixture
def real_lines(monkeypatch) -> list[str]:
    """What a filter container writes: JsonFormatter + RedactSecrets lines, then a crash on stderr."""
    monkeypatch.setenv("X_BEARER_TOKEN", SECRET)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logs.JsonFormatter(service="filter"))
    handler.addFilter(logs.RedactSecrets())
    logger = logging.getLogger("tests.logs_pipeline")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        logger.debug("consumer ready")
        logger.info("stored %d tweets", 50, extra={"run_id": 41, "batch": 3})
        logger.warning("token %s refused", SECRET, extra={"run_id": 41})
        try:
            raise ConnectionError("lost postgresql://postgres:hunter2@postgres:5432/tweets")
        except ConnectionError:
            logger.exception("batch failed", extra={"run_id": 41, "batch": 4})
        logger.critical("giving up")
    finally:
        logger.removeHandler(handler)
    try:
        raise RuntimeError("import failed before logging was configured")
    except RuntimeError as error:
        crash = "".join(traceback.format_exception(error)).splitlines()
    return buffer.getvalue().splitlines() + crash


def through_promtail(lines: list[str]) -> list[Entry | None]:
    job = promtail_job()
    discovered = {
        "__meta_docker_container_id": "3f2a9c",
        "__meta_docker_container_name": "/tweetstream-filter-2",
        "__meta_docker_container_label_com_docker_compose_service": "filter",
        "__meta_docker_container_label_com_docker_compose_project": "tweetstream",
        "__meta_docker_container_log_stream": "stdout",
    }
    labels = relabel(discovered, job["relabel_configs"])
    return [run_pipeline(job["pipeline_stages"], labels, line, READ_TIME) for line in lines]


def test_every_real_line_reaches_loki_unchanged_with_only_service_and_level_as_labels(real_lines):
    entries = through_promtail(real_lines)
    assert None not in entries, "a line was dropped"
    assert [entry.line for entry in entries] == real_lines
    for entry in entries:
        assert set(entry.labels) == {"service", "level"}, entry
        assert entry.labels["service"] == "filter"


def test_json_lines_get_their_level_as_a_label_and_their_ts_as_the_time(real_lines):
    pairs = zip(real_lines, through_promtail(real_lines), strict=True)
    parsed = [(json.loads(line), entry) for line, entry in pairs if line.startswith("{")]
    assert [record["level"] for record, _ in parsed] == ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
    for record, entry in parsed:
        assert entry.labels["level"] == record["level"]
        assert entry.time == datetime.datetime.fromisoformat(record["ts"].replace("Z", "+00:00"))
        assert entry.time != READ_TIME


def test_run_id_and_the_traceback_stay_in_the_line_and_secrets_never_reach_it(real_lines):
    entries = through_promtail(real_lines)
    records = [json.loads(entry.line) for entry in entries if entry.line.startswith("{")]
    assert [r.get("run_id") for r in records] == [None, 41, 41, 41, None]
    assert all("run_id" not in entry.labels and "batch" not in entry.labels for entry in entries)
    [failed] = [r for r in records if r["message"] == "batch failed"]
    assert "ConnectionError" in failed["exc"] and "postgres:***@postgres" in failed["exc"]
    assert all(SECRET not in entry.line and "hunter2" not in entry.line for entry in entries)


def test_lines_that_are_not_json_are_kept_as_level_unknown_at_dockers_time(real_lines):
    entries = [entry for entry in through_promtail(real_lines) if not entry.line.startswith("{")]
    assert entries[0].line == "Traceback (most recent call last):"
    assert entries[-1].line == "RuntimeError: import failed before logging was configured"
    for entry in entries:
        assert entry.labels == {"service": "filter", "level": "unknown"}
        assert entry.time == READ_TIME


def test_a_json_line_that_is_not_a_log_record_is_kept_as_level_unknown():
    [entry] = through_promtail(['{"event": "no level here"}'])
    assert entry.labels == {"service": "filter", "level": "unknown"}
    [entry] = through_promtail(['["a", "list"]'])
    assert entry.labels["level"] == "unknown"
