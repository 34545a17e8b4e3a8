"""charts/tweetstream's settings and secrets, rendered offline (see test_helm_chart.py): the ConfigMap
holds settings of config/config.yml at config.yml's defaults unless a values file sets one on purpose,
and no secret value reaches anything but the Secret object stage's chart makes (production renders
none: its pods read an existing Secret by name)."""
from __future__ import annotations

import base64
import re

import pytest
import yaml

from tests.unit.deployment_files import ROOT
from tests.unit.test_helm_chart import CHART, RELEASE, VALUES_FILES, documents, helm, merged, of_kind, pod_specs, values_file

CONFIG_YML = ROOT / "config" / "config.yml"
# read from the release's Secret, never from the ConfigMap
SECRET_SETTINGS = {"AMQP_URI", "DB_URI", "DB_READER_URI", "X_BEARER_TOKEN", "API_TOKENS"}
# secrets read from the environment alone, not settings of config.yml: log redaction
# (services/observability/logs.py) and the read-only role's login (migrations/reader_login.py)
ENVIRONMENT_SECRETS = {"DB_PASSWORD", "DB_READER_PASSWORD"}
# set by the chart per container (the probes depend on the ports); SERVICE_NAME by the image from SERVICE
PER_CONTAINER = {"WEB_SERVER_ADDRESS", "METRICS_PORT", "SERVICE_NAME"}
# test-only values for the chart-made Secret, each distinctive enough to be found wherever it lands
PLACEHOLDERS = {"rabbitmqPassword": "RabbitPlaceholder0q7Xv", "postgresPassword": "PostgresPlaceholder0k3Dd",
                "readerPassword": "ReaderPlaceholder0v9Bb", "xBearerToken": "XBearerPlaceholder0h5Nn",
                "apiTokens": "TokenPlaceholder0z1Ww:admin:alice"}


def config_settings() -> dict[str, str]:
    """Every ${NAME:default} of config/config.yml (its comments aside): name -> the default as written."""
    lines = [line for line in CONFIG_YML.read_text().splitlines() if not line.lstrip().startswith("#")]
    return dict(re.findall(r"\$\{([A-Z][A-Z0-9_]*):([^}]*)\}", "\n".join(lines)))


def chart_values() -> dict:
    return yaml.safe_load((CHART / "values.yaml").read_text())


@pytest.fixture(scope="module")
def rendered():
    """Manifests (template path -> text): chart defaults, each values file, each with the placeholders."""
    placeholders = {"secrets": {"stage": PLACEHOLDERS}, "keda": {"enabled": True}}
    jobs = {"defaults": {}, "stage": values_file("stage"), "production": values_file("production"),
            "stage+placeholders": merged(values_file("stage"), placeholders),
            "production+placeholders": merged(values_file("production"), placeholders),
            "stage again": values_file("stage")}
    answers = dict(zip(jobs, helm([(values, False) for values in jobs.values()]), strict=True))
    for name, answer in answers.items():
        assert "error" not in answer, f"{name}: {answer['error']}"
    return {name: answer["manifests"] for name, answer in answers.items()}


def config_map(manifests: dict[str, str]) -> dict[str, str]:
    return of_kind(documents(manifests), "ConfigMap")[f"{RELEASE}-config"]["data"]


def test_the_chart_values_list_every_setting_of_config_yml_but_the_secret_and_per_container_ones():
    values = chart_values()
    assert set(values["config"]) == set(config_settings()) - SECRET_SETTINGS - PER_CONTAINER
    assert set(values["secrets"]["keys"]) == SECRET_SETTINGS | ENVIRONMENT_SECRETS


def test_the_chart_writes_config_yml_default_for_every_setting_it_lists():
    settings = config_settings()
    assert {name: settings[name] for name in chart_values()["config"]} == chart_values()["config"]


@pytest.mark.parametrize("variant", ["defaults", "stage", "production"])
def test_every_config_map_key_is_a_setting_at_its_default_unless_the_values_file_sets_it(rendered, variant):
    settings = config_settings()
    data = config_map(rendered[variant])
    assert set(data) <= set(settings), f"not settings of config/config.yml: {set(data) - set(settings)}"
    on_purpose = values_file(variant).get("config", {}) if variant in VALUES_FILES else {}
    assert set(on_purpose) <= set(chart_values()["config"])
    # a setting left empty is not set, so config.yml's default applies
    expected = {name: settings[name] for name in chart_values()["config"]} | on_purpose
    assert data == {name: value for name, value in expected.items() if value != ""}


@pytest.mark.parametrize("variant", ["stage", "production"])
def test_every_variable_a_container_of_the_app_sets_is_a_setting_or_an_environment_secret(rendered, variant):
    settings = config_settings()
    for kind, name, spec in pod_specs(documents(rendered[variant])):
        if spec["containers"][0]["image"].startswith("tweetstream:"):
            for container in spec["containers"]:
                names = {item["name"] for item in container.get("env", [])}
                assert names <= set(settings) | ENVIRONMENT_SECRETS | {"SERVICE"}, f"{kind} {name}"
                for item in container.get("env", []):
                    if item["name"] in SECRET_SETTINGS | ENVIRONMENT_SECRETS:
                        assert "value" not in item and "secretKeyRef" in item["valueFrom"], f"{kind} {name}: {item}"


def secret_data(manifests: dict[str, str]) -> dict[str, str]:
    """The data of the one Secret rendered, decoded."""
    [secret] = of_kind(documents(manifests), "Secret").values()
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def test_stage_placeholders_reach_the_secret_and_nothing_else(rendered):
    manifests = rendered["stage+placeholders"]
    data = secret_data(manifests)
    assert data["DB_URI"] == f"postgresql://postgres:{PLACEHOLDERS['postgresPassword']}@{RELEASE}-postgresql:5432/tweets"
    assert data["DB_READER_URI"] == (f"postgresql://tweetstream_reader:{PLACEHOLDERS['readerPassword']}"
                                     f"@{RELEASE}-postgresql:5432/tweets")
    assert data["AMQP_URI"] == f"pyamqp://tweetstream:{PLACEHOLDERS['rabbitmqPassword']}@{RELEASE}-rabbitmq:5672/"
    assert data["KEDA_RABBITMQ_HOST"] == data["AMQP_URI"].replace("pyamqp://", "amqp://")
    assert (data["X_BEARER_TOKEN"], data["API_TOKENS"]) == (PLACEHOLDERS["xBearerToken"], PLACEHOLDERS["apiTokens"])
    [secret_template] = [path for path, text in manifests.items() if "kind: Secret" in text]
    assert secret_template.endswith("templates/secret.yaml")
    [secret] = of_kind(documents(manifests), "Secret").values()
    encoded = [value for value in secret["data"].values() if value]
    for path, text in manifests.items():
        if path != secret_template:
            leaked = [found for found in [*PLACEHOLDERS.values(), *encoded] if found in text]
            assert leaked == [], f"{path} holds secret values"


def test_production_renders_no_secret_and_its_pods_read_the_existing_one(rendered):
    manifests = rendered["production+placeholders"]
    assert not of_kind(documents(manifests), "Secret")
    for path, text in manifests.items():
        assert [found for found in PLACEHOLDERS.values() if found in text] == [], path
    references = [item["valueFrom"]["secretKeyRef"]["name"] for _, _, spec in pod_specs(documents(manifests))
                  for container in spec["containers"] for item in container.get("env", []) if "valueFrom" in item]
    assert references and set(references) == {values_file("production")["secrets"]["existingSecret"]}


def test_stage_generates_its_passwords_instead_of_shipping_any(rendered):
    first, again = secret_data(rendered["stage"]), secret_data(rendered["stage again"])
    for key in ("RABBITMQ_PASSWORD", "DB_PASSWORD", "DB_READER_PASSWORD"):
        assert re.fullmatch(r"[A-Za-z0-9]{32}", first[key]), key
        assert first[key] != again[key], f"{key} is the same at each render: a fixed password"
    # no API tokens in stage: its gateway is open, as docker-compose's stage is
    assert (first["X_BEARER_TOKEN"], first["API_TOKENS"]) == ("", "")


def secret_looking(values, path=""):
    """(path, value) of every non-empty value whose key names a password or a token."""
    if isinstance(values, dict):
        for key, value in values.items():
            if re.search(r"password|token", key, re.IGNORECASE) and not isinstance(value, (dict, list)) and value:
                yield f"{path}.{key}", value
            if key != "keys":  # secrets.keys names the Secret's keys, no secret
                yield from secret_looking(value, f"{path}.{key}")


def test_no_values_file_of_the_chart_writes_a_secret():
    for name, values in {"values.yaml": chart_values(), **{flavor: values_file(flavor) for flavor in VALUES_FILES}}.items():
        assert list(secret_looking(values)) == [], name
