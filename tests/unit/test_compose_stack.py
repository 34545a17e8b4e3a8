"""The compose stack, HAProxy, Prometheus and the Dockerfile, checked without a Docker engine: parsed here,
and by their own validators (docker-compose, haproxy, promtool) when installed, skipped with the reason otherwise."""
from __future__ import annotations

import re
import shlex
import shutil

import pytest

from tests.unit.deployment_files import (
    APP_SERVICES,
    COMPOSE_FILE,
    DOCKERFILE,
    HAPROXY_CFG,
    PROMETHEUS_YML,
    ROOT,
    SCALED_SERVICES,
    compose_services,
    compose_command,
    load_yaml,
    run,
)

# --------------------------------------------------------------------------- docker compose

def test_docker_compose_accepts_the_file():
    command = compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    result = run(command + ["-f", str(COMPOSE_FILE), "config", "-q"])
    assert result.returncode == 0, result.stderr


def test_compose_has_every_service():
    expected = {"rabbitmq", "postgres", "migrate", "haproxy", "prometheus", "grafana", "loki", "promtail", *APP_SERVICES}
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
    assert migrate["command"] == ["sh", "-c", "alembic -c migrations/alembic.ini upgrade head && python migrations/reader_login.py"]
    assert (ROOT / "migrations" / "reader_login.py").exists()
    # Grafana and what only reads log in as the read-only role, never as the superuser
    grafana = services["grafana"]["environment"]
    assert grafana["GRAFANA_DB_USER"] == "tweetstream_reader"
    assert services["gateway"]["environment"]["DB_READER_URI"].startswith("postgresql://tweetstream_reader:")
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


