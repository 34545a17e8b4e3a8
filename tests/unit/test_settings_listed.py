"""Every setting the code reads is listed in config/config.yml, where a deployment can set it."""
import re

import yaml

from tests.system import ROOT, nameko_config_loader

# a setting's name as the code asks for it: config.get("X"), config["X"], _setting(config, "X", ...), setting("X")
READS = re.compile(r"""(?:config\.get\(|config\[|_setting\(config,\s*|\bsetting\()\s*["']([A-Z][A-Z0-9_]+)["']""")
# read from the process environment by design, not from config.yml
ENVIRONMENT_ONLY = {"X_BEARER_TOKEN", "SERVICE_NAME", "NAMEKO_CONFIG", "LOG_DIR"}


def settings_read_by_the_services() -> dict[str, str]:
    found = {}
    for path in (ROOT / "services").rglob("*.py"):
        for name in READS.findall(path.read_text()):
            found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def test_the_scan_finds_the_settings_it_should():
    read = settings_read_by_the_services()
    assert {"BATCH_SIZE", "X_MAX_RULES", "METRICS_PORT", "REPLAY_DIR"} <= read.keys()


def test_every_setting_the_services_read_is_in_config_yml():
    listed = yaml.load((ROOT / "config" / "config.yml").read_text(), Loader=nameko_config_loader())
    missing = {name: where for name, where in settings_read_by_the_services().items()
               if name not in listed and name not in ENVIRONMENT_ONLY}
    assert missing == {}
