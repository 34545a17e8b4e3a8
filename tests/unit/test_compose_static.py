"""Checks of the deployment files and of services.observability that need no running system.

External validators (docker compose, haproxy, promtool) run when installed and are
skipped with the reason otherwise; everything else is parsed and checked here.
"""
from __future__ import annotations

import io
import json
import logging
import logging.config
import re
import shlex
import shutil
import socket
import subprocess
import sys
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

from services.observability import logs, metrics
from tests.system import nameko_config_loader

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


def test_the_three_dashboards_exist():
    titles = {json.loads(p.read_text())["title"] for p in DASHBOARD_FILES}
    assert titles == {"Pipeline", "HTTP", "Statistics"}


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
        if "expr" in target:
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
        for name, title, target in all_targets():
            if "rawSql" not in target:
                continue
            # Grafana expands this macro to a range test on the column.
            sql = re.sub(r"\$__timeFilter\((\w+)\)", r"\1 BETWEEN now() - interval '1 hour' AND now()", target["rawSql"])
            assert "$__" not in sql, f"{name}: {title!r} uses a macro this test does not expand"
            with connection.cursor() as cursor:
                cursor.execute(sql)
                cursor.fetchall()
            connection.rollback()
    finally:
        connection.close()


# --------------------------------------------------------------------------- docker compose

def compose_services() -> dict:
    return load_yaml(COMPOSE_FILE)["services"]


def compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and run([docker, "compose", "version"]).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_docker_compose_accepts_the_file():
    command = compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    result = run(command + ["-f", str(COMPOSE_FILE), "config", "-q"])
    assert result.returncode == 0, result.stderr


def test_compose_has_every_service():
    expected = {"rabbitmq", "postgres", "migrate", "haproxy", "prometheus", "grafana", *APP_SERVICES}
    assert set(compose_services()) == expected


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_waits_for_its_dependencies_and_restarts(name):
    service = compose_services()[name]
    assert service["build"]["dockerfile"] == "compose/Dockerfile"
    assert service["restart"] == "unless-stopped"
    assert service["environment"]["SERVICE"] == name
    assert service["depends_on"] == {
        "rabbitmq": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    assert service["healthcheck"]["test"]


@pytest.mark.parametrize("name", SCALED_SERVICES)
def test_scaled_services_have_no_fixed_name_or_host_port(name):
    service = compose_services()[name]
    assert "container_name" not in service
    assert "ports" not in service


def test_infrastructure_services():
    services = compose_services()
    assert services["rabbitmq"]["image"] == "rabbitmq:3-management"
    assert services["rabbitmq"]["healthcheck"]["test"][1:] == ["rabbitmq-diagnostics", "-q", "ping"]
    assert services["postgres"]["image"] == "postgres:15"
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert any(v.startswith("pgdata:") for v in services["postgres"]["volumes"])
    assert "pgdata" in load_yaml(COMPOSE_FILE)["volumes"]
    migrate = services["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["command"] == ["alembic", "-c", "migrations/alembic.ini", "upgrade", "head"]
    assert any(p.split(":")[0] == "8080" for p in services["haproxy"]["ports"])
    assert any(p.split(":")[0].split("-")[0] == "8004" for p in services["gateway"]["ports"])
    assert services["prometheus"]["image"].startswith("prom/prometheus")
    grafana = services["grafana"]
    assert grafana["image"].startswith("grafana/grafana")
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == "${GRAFANA_ADMIN_PASSWORD:-admin}"


SECRET_KEY = re.compile(r"PASSWORD|PASS$|TOKEN|SECRET")
SUBSTITUTION = re.compile(r"\$\{\w+(?::-[^}]*)?\}")


def test_secrets_only_come_from_variable_substitution():
    for name, service in compose_services().items():
        for key, value in (service.get("environment") or {}).items():
            # Substitutions become a marker; any literal left where a secret goes is a leak.
            value = SUBSTITUTION.sub("<from-env>", str(value))
            if SECRET_KEY.search(key):
                assert value == "<from-env>", f"{name}.{key} is not a ${{VAR:-default}} substitution"
            for password in re.findall(r"://[^:/@\s]*:([^@\s]+)@", value):
                assert password == "<from-env>", f"{name}.{key} embeds a literal password"


def test_env_example_lists_what_production_sets():
    example = (ROOT / ".env.example").read_text()
    assert re.search(r"^FLAVOR=production$", example, re.M)
    for variable in ("POSTGRES_PASSWORD", "X_BEARER_TOKEN", "API_TOKENS", "GRAFANA_ADMIN_PASSWORD"):
        assert re.search(rf"^{variable}=", example, re.M), variable
    # Every variable the compose file substitutes is explained there.
    settings = "\n".join(line for line in COMPOSE_FILE.read_text().splitlines() if not line.lstrip().startswith("#"))
    for variable in set(re.findall(r"\$\{(\w+)", settings)):
        assert variable in example, f"{variable} is used in docker-compose.yml but not in .env.example"


# --------------------------------------------------------------------------- haproxy, prometheus

def test_haproxy_config_is_valid():
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    result = run([haproxy, "-c", "-f", str(HAPROXY_CFG)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_haproxy_finds_scaled_gateways_through_docker_dns():
    config = HAPROXY_CFG.read_text()
    assert re.search(r"^\s*nameserver\s+\S+\s+127\.0\.0\.11:53\s*$", config, re.M)
    assert re.search(r"^\s*server-template\s+\S+\s+\S+\s+gateway:8004\b", config, re.M)
    assert re.search(r"^\s*bind\s+\S*:8080\s*$", config, re.M)


def test_prometheus_config_is_valid():
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    result = run([promtool, "check", "config", str(PROMETHEUS_YML)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", APP_SERVICES)
def test_prometheus_scrapes_every_replica_of(name):
    jobs = {job["job_name"]: job for job in load_yaml(PROMETHEUS_YML)["scrape_configs"]}
    job = jobs[name]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    [discovery] = job["dns_sd_configs"]
    assert discovery["names"] == [name]
    assert discovery["type"] == "A"
    assert discovery["port"] == (8004 if name == "gateway" else 9100)


# --------------------------------------------------------------------------- Dockerfile

def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, arguments = line.partition(" ")
            pairs.append((instruction.upper(), " ".join(arguments.split())))
    return pairs


def shell_commands(script: str) -> list[str]:
    """A shell line split on `&&` and `;`, each command's whitespace normalised."""
    return [" ".join(part.split()) for part in re.split(r"&&|;", script) if part.strip()]


def makefile_commands(target: str) -> list[str] | None:
    """What `make TARGET` runs on a fresh checkout: its recipe and those of the prerequisites
    it has rules for, with simple `VAR = value` variables expanded."""
    makefile = ROOT / "Makefile"
    if not makefile.exists():
        return None
    text = re.sub(r"\\\n", " ", makefile.read_text())
    variables = dict(re.findall(r"^([A-Za-z_]\w*)\s*[:?]?=\s*(.*?)\s*$", text, re.M))

    def expand(value: str) -> str:
        for _ in range(10):  # variables may refer to variables
            value = re.sub(r"\$[({](\w+)[)}]", lambda m: variables.get(m.group(1), ""), value)
        return value.replace("$$", "$")

    rules: dict[str, tuple[list[str], list[str]]] = {}
    current = None
    for line in text.splitlines():
        rule = re.match(r"^([^\s#][^:=]*?)\s*:(?!=)\s*([^=]*)$", line)
        if rule:
            current = rules.setdefault(expand(rule.group(1)), (expand(rule.group(2)).split(), []))
        elif line.startswith("\t") and current is not None:
            current[1].extend(shell_commands(expand(line.strip().lstrip("@-+"))))
        elif line.strip() and not line.startswith("#"):
            current = None

    def commands_of(name: str, seen: set) -> list[str]:
        if name in seen or name not in rules:
            return []
        seen.add(name)
        prerequisites, recipe = rules[name]
        return [c for p in prerequisites for c in commands_of(p, seen)] + recipe

    return commands_of(target, set()) or None


def install_step(command: str) -> str | None:
    """An install command reduced to what it installs where, or None for make bookkeeping.

    Allowed to differ between a developer's checkout and the image: output flags, the
    `test -x ... ||` guard that skips an existing venv, python3 vs python (both 3.11),
    and editable installs with the test extras: the image has no source tree or tests.
    """
    if command.startswith("touch "):
        return None
    command = command.split("||")[-1].strip()
    words = [w for w in shlex.split(command) if w not in ("--quiet", "-q", "-e", "--editable")]
    words = [re.sub(r"\[[\w,]+\]$", "", w) for w in words]
    if words and re.fullmatch(r"python3(\.\d+)?", words[0]):
        words[0] = "python"
    return " ".join(words)


def test_install_step_normalisation():
    assert install_step("test -x .venv/bin/python || python3 -m venv .venv") == "python -m venv .venv"
    assert install_step(".venv/bin/pip install --quiet -e '.[test]'") == ".venv/bin/pip install ."
    assert install_step(".venv/bin/pip install -r requirements.txt") == ".venv/bin/pip install -r requirements.txt"
    assert install_step("touch .venv/bin/nameko") is None


def test_dockerfile_installs_like_make_install():
    commands = makefile_commands("install")
    if commands is None:
        pytest.skip("no Makefile with an `install` target yet")
    make_steps = [s for s in map(install_step, commands) if s]
    image_steps = [install_step(c) for i, args in dockerfile_instructions() if i == "RUN" for c in shell_commands(args)]
    missing = [step for step in make_steps if step not in image_steps]
    assert not missing, f"`make install` runs {missing} ({commands}); the Dockerfile does not"


def test_dockerfile_is_multi_stage_slim_non_root():
    instructions = dockerfile_instructions()
    bases = [args for i, args in instructions if i == "FROM"]
    assert len(bases) >= 2 and all(b.startswith("python:3.11-slim") for b in bases)
    runtime_start = max(n for n, (i, _) in enumerate(instructions) if i == "FROM")
    runtime = instructions[runtime_start:]
    assert ("COPY", "--from=builder /app/.venv /app/.venv") in runtime
    copied = " ".join(args for i, args in runtime if i == "COPY")
    assert "config/" in copied and "migrations/" in copied
    users = [args for i, args in runtime if i == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(i == "RUN" and args.startswith("python -m venv .venv &&") for i, args in instructions)
    [cmd] = [args for i, args in runtime if i == "CMD"]
    assert "nameko run --config config/config.yml" in cmd and "services.$SERVICE" in cmd


# --------------------------------------------------------------------------- logs

@pytest.fixture
def log_to_buffer():
    """A logger whose handler is wired like the LOGGING snippet, writing to a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.RedactSecrets())
    logger = logging.getLogger("tests.observability")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, buffer
    logger.removeHandler(handler)


def lines_of(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_json_formatter_writes_one_object_per_line_with_the_fields(log_to_buffer, monkeypatch):
    monkeypatch.setenv("SERVICE_NAME", "filter")
    logger, buffer = log_to_buffer
    logger.info("stored %d tweets", 42, extra={"run_id": 7, "batch": 3})
    logger.warning("from elsewhere", extra={"service": "launcher"})
    first, second = lines_of(buffer)
    assert first["message"] == "stored 42 tweets"
    assert first["level"] == "INFO"
    assert first["service"] == "filter"
    assert first["logger"] == "tests.observability"
    assert (first["run_id"], first["batch"]) == (7, 3)
    assert datetime.fromisoformat(first["ts"].replace("Z", "+00:00")).utcoffset().total_seconds() == 0
    assert second["service"] == "launcher"
    assert "run_id" not in second and "batch" not in second


def test_json_formatter_keeps_a_line_orjson_refuses(log_to_buffer):
    logger, buffer = log_to_buffer
    logger.info("huge batch", extra={"batch": 2**70})   # over 64 bits: orjson refuses it
    [entry] = lines_of(buffer)
    assert entry["batch"] == 2**70 and entry["message"] == "huge batch"


def test_the_soak_finds_the_formatters_error_lines(log_to_buffer):
    from tools.soak import ERROR_LINE
    logger, buffer = log_to_buffer
    logger.error("lost the broker")
    logger.info("level ERROR mentioned in a message")
    error, info = buffer.getvalue().splitlines()
    assert ERROR_LINE.search(error) and not ERROR_LINE.search(info)


def test_json_formatter_keeps_the_traceback(log_to_buffer):
    logger, buffer = log_to_buffer
    try:
        raise ValueError("bad payload")
    except ValueError:
        logger.exception("batch failed")
    [entry] = lines_of(buffer)
    assert "ValueError: bad payload" in entry["exc"]


def test_redaction_masks_environment_secrets_in_message_and_args(log_to_buffer, monkeypatch):
    monkeypatch.setenv("X_BEARER_TOKEN", "AAAA-bearer-secret")
    monkeypatch.setenv("DB_PASSWORD", "db-pass-123")
    monkeypatch.setenv("API_TOKENS", "tok-admin-1:admin,tok-viewer-2:viewer")
    logger, buffer = log_to_buffer
    logger.info("token AAAA-bearer-secret in the message")
    logger.info("token %s and %s in args", "AAAA-bearer-secret", "tok-viewer-2")
    logger.info("api %(token)s", {"token": "tok-admin-1"})
    logger.error("not a string arg: %s", RuntimeError("login failed with db-pass-123"))
    output = buffer.getvalue()
    for secret in ("AAAA-bearer-secret", "tok-admin-1", "tok-viewer-2", "db-pass-123"):
        assert secret not in output
    messages = [entry["message"] for entry in lines_of(buffer)]
    assert messages[0] == "token *** in the message"
    assert messages[1] == "token *** and *** in args"
    assert messages[2] == "api ***"


def test_redaction_keeps_api_token_roles(monkeypatch):
    monkeypatch.setenv("API_TOKENS", "t-one:admin, t-two:viewer")
    assert logs.redact("admin t-one viewer t-two", logs.secret_values()) == "admin *** viewer ***"


def test_redaction_masks_uri_passwords_and_tracebacks(log_to_buffer, monkeypatch):
    monkeypatch.delenv("POSTGRES_PASSWORD", raising=False)
    logger, buffer = log_to_buffer
    logger.info("connecting to %s", "postgresql://postgres:hunter2@db:5432/tweets")
    try:
        raise ConnectionError("amqp://guest:s3cret@rabbitmq:5672/ refused")
    except ConnectionError:
        logger.exception("broker down")
    output = buffer.getvalue()
    assert "hunter2" not in output and "s3cret" not in output
    first, second = lines_of(buffer)
    assert first["message"] == "connecting to postgresql://postgres:***@db:5432/tweets"
    assert "amqp://guest:***@rabbitmq:5672/" in second["exc"]


def test_redaction_ignores_unset_and_empty_variables(monkeypatch):
    for name in ("X_BEARER_TOKEN", "DB_PASSWORD", "POSTGRES_PASSWORD"):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("API_TOKENS", "")
    assert logs.secret_values() == []
    assert logs.redact("nothing to hide", []) == "nothing to hide"


def test_logging_snippet_configures_json_lines_on_stdout(monkeypatch, capsys):
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    monkeypatch.setenv("X_BEARER_TOKEN", "snippet-secret")
    config = yaml.load(logs.LOGGING_YAML, Loader=nameko_config_loader())["LOGGING"]
    assert config["root"]["level"] == "WARNING"
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logging.config.dictConfig(config)
        logging.getLogger("some.library").info("below the level")
        logging.getLogger("some.library").warning("token snippet-secret")
        [line] = capsys.readouterr().out.splitlines()
    finally:
        for handler in root.handlers:
            if handler not in saved[0]:
                root.removeHandler(handler)
        for handler in saved[0]:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(saved[1])
    assert json.loads(line)["message"] == "token ***"


def test_log_reader_prints_lines_for_people():
    line = json.dumps({"ts": "2024-05-01T10:00:00.000Z", "level": "INFO", "service": "filter",
                       "logger": "x", "message": "stored", "run_id": 4, "batch": 9})
    assert logs.readable(line) == "2024-05-01T10:00:00.000Z INFO    filter [run=4 batch=9] stored"
    assert logs.readable("plain text, not JSON") == "plain text, not JSON"
    assert logs.readable('["a", "json", "list"]') == '["a", "json", "list"]'
    assert logs.readable("filter_1  | " + line).startswith("filter_1  | 2024-05-01T10:00:00.000Z INFO")


def test_log_reader_runs_as_a_module_on_stdin():
    line = json.dumps({"ts": "t", "level": "ERROR", "service": "gateway", "message": "boom"})
    result = subprocess.run(
        [sys.executable, "-m", "services.observability.logs"],
        input=f"{line}\nraw line\n", capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["t ERROR   gateway boom", "raw line"]


# --------------------------------------------------------------------------- metrics

EXPECTED_METRICS = {
    # attribute: (series name, type, labels)
    "TWEETS_RECEIVED": ("tweetstream_tweets_received_total", "counter", ("source",)),
    "TWEETS_MATCHED": ("tweetstream_tweets_matched_total", "counter", ("source",)),
    "TWEETS_STORED": ("tweetstream_tweets_stored_total", "counter", ("source",)),
    "TWEETS_BAD": ("tweetstream_tweets_bad_total", "counter", ("source",)),
    "BATCHES": ("tweetstream_batches_processed_total", "counter", ("outcome",)),
    "BATCH_SECONDS": ("tweetstream_batch_duration_seconds", "histogram", ()),
    "HTTP_REQUESTS": ("tweetstream_http_requests_total", "counter", ("route", "method", "status")),
    "HTTP_SECONDS": ("tweetstream_http_request_duration_seconds", "histogram", ("route", "method")),
    "ENTRYPOINT_SECONDS": ("tweetstream_entrypoint_duration_seconds", "histogram", ("service", "entrypoint", "kind")),
    "ACTIVE_RUN": ("tweetstream_active_run_id", "gauge", ()),
    "RUN_TWEETS_DISPATCHED": ("tweetstream_tweets_dispatched_total", "counter", ("source",)),
    "POPULATE_TWEETS": ("tweetstream_populate_tweets_stored_total", "counter", ("tag",)),
    "POPULATE_FAILURES": ("tweetstream_populate_failures_total", "counter", ("reason",)),
    "DB_ERRORS": ("tweetstream_database_errors_total", "counter", ("service",)),
    "BROKER_ERRORS": ("tweetstream_broker_errors_total", "counter", ("service",)),
    "HEALTH": ("tweetstream_health_check_up", "gauge", ("check",)),
}


@pytest.mark.parametrize("attribute", EXPECTED_METRICS)
def test_metric_has_its_agreed_name_type_and_labels(attribute):
    series, kind, labels = EXPECTED_METRICS[attribute]
    metric = getattr(metrics, attribute)
    [family] = metric.describe()
    assert family.type == kind
    # prometheus-client names a counter's family without the _total its samples carry
    assert family.name + ("_total" if kind == "counter" else "") == series
    if labels:
        # labels() accepts exactly the declared label names and nothing else
        values = [f"probe-{name}" for name in labels]
        metric.labels(**dict(zip(labels, values, strict=True)))
        metric.remove(*values)
    else:
        with pytest.raises(ValueError):
            metric.labels("unexpected")


def test_latency_buckets_span_a_millisecond_to_ten_seconds():
    assert metrics.LATENCY_BUCKETS[0] == 0.001
    assert metrics.LATENCY_BUCKETS[-1] == 10.0
    assert list(metrics.LATENCY_BUCKETS) == sorted(metrics.LATENCY_BUCKETS)


def test_render_latest_gives_the_text_format():
    body, content_type = metrics.render_latest()
    assert content_type.startswith("text/plain")
    assert b"# TYPE tweetstream_batch_duration_seconds histogram" in body


def entrypoint_count(service: str, entrypoint: str, kind: str) -> float:
    value = REGISTRY.get_sample_value(
        "tweetstream_entrypoint_duration_seconds_count",
        {"service": service, "entrypoint": entrypoint, "kind": kind},
    )
    return value or 0.0


def test_entrypoint_metrics_times_each_kind_of_worker(container_factory):
    import eventlet.queue
    from nameko.events import event_handler
    from nameko.extensions import DependencyProvider
    from nameko.rpc import rpc
    from nameko.timer import timer
    from nameko.web.handlers import http

    finished = eventlet.queue.Queue()

    class WorkerFinished(DependencyProvider):
        """Reports each worker after its worker_result hooks ran (teardown comes last)."""

        def worker_teardown(self, worker_ctx):
            finished.put(worker_ctx.entrypoint.method_name)

    class TimedService:
        name = "timed_probe"
        entrypoint_metrics = metrics.EntrypointMetrics()
        worker_finished = WorkerFinished()

        @rpc
        def ping(self):
            assert self.entrypoint_metrics is None  # it injects nothing
            return "pong"

        @event_handler("somewhere", "something")
        def on_something(self, payload):
            return payload

        @http("GET", "/probe")
        def probe(self, request):
            return "ok"

        @timer(interval=3600)
        def tick(self):
            return None

    # The container is never started: spawn_worker runs the full worker lifecycle
    # (every dependency hook) without a broker, and eventlet's own queue waits for it
    # whether or not the process is monkey-patched.
    container = container_factory(TimedService, {"AMQP_URI": "memory://"})
    calls = [("ping", "rpc", ()), ("on_something", "event", ({"x": 1},)),
             ("probe", "http", (None,)), ("tick", "timer", ())]
    for name, kind, args in calls:
        before = entrypoint_count("timed_probe", name, kind)
        [entrypoint] = [e for e in container.entrypoints if e.method_name == name]
        container.spawn_worker(entrypoint, args, {})
        assert finished.get(timeout=10) == name
        assert entrypoint_count("timed_probe", name, kind) == before + 1, (name, kind)


def test_entrypoint_metrics_ignores_a_result_without_a_setup():
    provider = metrics.EntrypointMetrics()
    provider.worker_result(object())  # must not raise nor record


@pytest.mark.parametrize("value, port", [(9100, 9100), ("9200", 9200), (0, 0), ("0", 0), ("", 0), (None, 0)])
def test_metrics_port_from_config(value, port):
    assert metrics.metrics_port({"METRICS_PORT": value}) == port


def test_metrics_port_defaults_to_9100_and_rejects_garbage():
    assert metrics.metrics_port({}) == 9100
    with pytest.raises(ValueError):
        metrics.metrics_port({"METRICS_PORT": "nine"})
    with pytest.raises(ValueError):
        metrics.metrics_port({"METRICS_PORT": 70000})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


def test_metrics_listener_survives_a_port_in_use(caplog):
    with socket.socket() as squatter:
        squatter.bind(("", 0))
        squatter.listen()
        server = metrics._ProcessMetricsServer()
        with caplog.at_level(logging.WARNING, logger=metrics.__name__):
            server.ensure_started(squatter.getsockname()[1])
    assert server.port is None
    assert "cannot serve metrics" in caplog.text


def test_metrics_listener_starts_once_per_process():
    server = metrics._ProcessMetricsServer()
    port = free_port()
    server.ensure_started(port)
    server.ensure_started(port)  # a second service in the same process: no "address in use"
    assert server.port == port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert b"tweetstream_tweets_received_total" in response.read()


def test_metrics_server_disabled_by_port_zero(monkeypatch):
    started = []
    monkeypatch.setattr(metrics._PROCESS_SERVER, "ensure_started", started.append)

    class FakeContainer:
        config = {"METRICS_PORT": 0}

    provider = metrics.MetricsServer()
    provider.container = FakeContainer()
    provider.setup()
    assert started == []
    FakeContainer.config = {"METRICS_PORT": "9111"}
    provider.setup()
    assert started == [9111]
    assert provider.get_dependency(None) is None
