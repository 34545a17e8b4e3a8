"""docker-compose.prod.yml: production refuses every stage default. `config` over both files fails
naming each secret left blank, and with all of them set gives a stack with no guest account, no
anonymous Grafana, the production flavor and the read-only role for Grafana."""
import os
import subprocess

import pytest
import yaml

from tests.unit.deployment_files import COMPOSE_FILE, ROOT, compose_command, run

PRODUCTION_FILE = ROOT / "docker-compose.prod.yml"
SECRETS = {"POSTGRES_PASSWORD": "pg-secret", "RABBITMQ_USER": "tweetstream", "RABBITMQ_PASSWORD": "mq-secret",
           "DB_READER_PASSWORD": "reader-secret", "X_BEARER_TOKEN": "x-token", "API_TOKENS": "t1:admin:alice",
           "GRAFANA_ADMIN_PASSWORD": "grafana-secret"}


@pytest.fixture(scope="module")
def no_env_file(tmp_path_factory):
    """An empty --env-file: whatever .env the checkout has must not fill the secrets in."""
    empty = tmp_path_factory.mktemp("compose") / "empty.env"
    empty.write_text("")
    return str(empty)


def production_config(environment: dict, env_file: str):
    command = compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    # only these variables: no .env of the machine's, no secret of the shell's
    env = {"PATH": os.environ["PATH"], **environment}
    return subprocess.run([*command, "--env-file", env_file, "-f", str(COMPOSE_FILE), "-f", str(PRODUCTION_FILE),
                           "config"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_production_config_fails_naming_each_secret_left_blank(missing, no_env_file):
    for blank in ({}, {missing: ""}):
        result = production_config({**{k: v for k, v in SECRETS.items() if k != missing}, **blank}, no_env_file)
        assert result.returncode != 0
        assert f"set {missing}" in result.stderr, result.stderr


def test_production_config_with_every_secret_has_no_stage_default(no_env_file):
    result = production_config(SECRETS, no_env_file)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert "guest" not in result.stdout and ":-stage" not in result.stdout and "stage-reader" not in result.stdout
    services = config["services"]
    grafana = services["grafana"]["environment"]
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert (grafana["GRAFANA_DB_USER"], grafana["GRAFANA_DB_PASSWORD"]) == ("tweetstream_reader", "reader-secret")
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"] == "grafana-secret"
    for name in ("gateway", "launcher", "filter", "statistics", "query", "health", "migrate"):
        environment = services[name]["environment"]
        assert environment["FLAVOR"] == "production", name
        assert environment["AMQP_URI"] == "pyamqp://tweetstream:mq-secret@rabbitmq:5672/", name
        assert environment["DB_URI"] == "postgresql://postgres:pg-secret@postgres:5432/tweets", name
        assert environment["DB_READER_URI"].startswith("postgresql://tweetstream_reader:reader-secret@"), name
        assert environment["API_TOKENS"] == "t1:admin:alice", name
    assert services["rabbitmq"]["environment"]["RABBITMQ_DEFAULT_USER"] == "tweetstream"


def test_stage_stays_one_command_with_its_defaults(no_env_file):
    command = compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    result = run([*command, "--env-file", no_env_file, "-f", str(COMPOSE_FILE), "config", "-q"])
    assert result.returncode == 0, result.stderr
