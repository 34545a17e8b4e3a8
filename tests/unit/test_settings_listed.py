"""Configuration is read one way: every setting the code reads is listed in config/config.yml, where a
deployment can set it and where its one default is written; service code never reads the environment
nor writes a default of its own (services/settings.py)."""
import re

import pytest
import yaml

from services import settings
from services.settings import CONFIG_FILE, config_loader, setting
from tests.system import ROOT

# a setting's name as the code asks for it: setting(config, "X"), default("X"), config["X"], config.get("X")
READS = re.compile(r"""(?:\b_?setting\([^,()]+,\s*|\bdefault\(|config\[|config\.get\()\s*["']([A-Za-z][A-Za-z0-9_]+)["']""")
# config.get("X", ...) or config.get("X") or ...: a default of the code's own, beside config.yml's
OWN_DEFAULT = re.compile(r"""config\.get\(\s*["'][A-Z][A-Z0-9_]+["']\s*(?:,|\)\s*or\b)""")
ENVIRONMENT = re.compile(r"os\.environ|os\.getenv|getenv\(")
# the log filter masks the values of secret variables, whatever else the process was configured with:
# it looks for secrets in the environment, it reads no setting there
READS_THE_ENVIRONMENT = {"services/observability/logs.py": "def secret_values(environ=os.environ)"}


def service_sources():
    for path in sorted((ROOT / "services").rglob("*.py")):
        if path.name != "settings.py":
            yield str(path.relative_to(ROOT)), path.read_text()


def settings_read_by_the_services() -> dict[str, str]:
    found = {}
    for where, text in service_sources():
        for name in READS.findall(text):
            found.setdefault(name, where)
    return found


def listed() -> dict:
    return yaml.load(CONFIG_FILE.read_text(), Loader=config_loader())


def test_the_scan_finds_the_settings_it_should():
    read = settings_read_by_the_services()
    assert {"BATCH_SIZE", "X_MAX_RULES", "METRICS_PORT", "REPLAY_DIR", "AMQP_URI", "RPC_TIMEOUT", "DB_URI", "API_TOKENS"} <= read.keys()
    assert OWN_DEFAULT.search('config.get("BATCH_SIZE", 1000)') and OWN_DEFAULT.search('config.get("X_MAX") or 5')


def test_every_setting_the_services_read_is_in_config_yml():
    missing = {name: where for name, where in settings_read_by_the_services().items() if name not in listed()}
    assert missing == {}


def test_no_service_writes_a_default_of_its_own_for_a_setting():
    own = {where: OWN_DEFAULT.findall(text) for where, text in service_sources() if OWN_DEFAULT.search(text)}
    assert own == {}


def test_no_service_reads_the_environment():
    reading = {where for where, text in service_sources() if ENVIRONMENT.search(text)}
    assert reading == set(READS_THE_ENVIRONMENT)
    for where, line in READS_THE_ENVIRONMENT.items():
        text = (ROOT / where).read_text()
        assert len(ENVIRONMENT.findall(text)) == 1 and line in text


def test_a_setting_missing_from_the_config_is_config_yml_s_as_nameko_run_reads_it(monkeypatch):
    monkeypatch.delenv("BATCH_SIZE", raising=False)
    assert setting({}, "BATCH_SIZE") == 1000
    monkeypatch.setenv("BATCH_SIZE", "250")
    assert setting({}, "BATCH_SIZE") == 250
    # the service's own config wins
    assert setting({"BATCH_SIZE": 7}, "BATCH_SIZE") == 7


def test_a_setting_set_empty_is_its_written_default(monkeypatch):
    monkeypatch.setenv("BATCH_SIZE", "250")
    assert setting({"BATCH_SIZE": ""}, "BATCH_SIZE") == 1000
    assert setting({"BATCH_SIZE": None}, "BATCH_SIZE") == 1000
    monkeypatch.setenv("BATCH_SIZE", "")
    assert setting({}, "BATCH_SIZE") == 1000
    assert settings.default("RPC_TIMEOUT") == 30


def test_a_setting_config_yml_does_not_list_is_refused_by_name():
    with pytest.raises(KeyError, match="NOT_A_SETTING is not a setting"):
        setting({"NOT_A_SETTING": 1}, "NOT_A_SETTING")


def test_secrets_are_read_as_the_text_they_are(monkeypatch):
    monkeypatch.setenv("X_BEARER_TOKEN", "0012345")
    monkeypatch.setenv("API_TOKENS", "123:admin")
    assert setting({}, "X_BEARER_TOKEN") == "0012345"
    assert setting({}, "API_TOKENS") == "123:admin"
