"""The services' settings, read one way.

Every setting is a line of ``config/config.yml``, ``NAME: ${NAME:default}``, and that line holds its
only default. ``nameko run --config config/config.yml`` hands a service the whole file with the
environment substituted; service code reads it with ``setting(config, NAME)`` and never from
``os.environ``. Where a config lacks a setting (a test's or an embedder's partial config, a tool
that has no Nameko config), the answer is config.yml's line as ``nameko run`` would read it in this
environment; where a setting is set but empty (``BATCH_SIZE=`` in a compose file), it is the
default written in that line. ``tests/unit/test_settings_listed.py`` fails when code reads a setting
that config.yml does not list, or writes a default of its own.
"""
import functools
from pathlib import Path
from typing import Any, Mapping

import yaml

__all__ = ["CONFIG_FILE", "config_loader", "default", "setting"]

#: config.yml: beside the package in a checkout; in the image, in the working directory (compose/Dockerfile).
CONFIG_FILE = next((path for path in (Path(__file__).resolve().parents[1] / "config" / "config.yml",
                                      Path("config") / "config.yml") if path.exists()),
                   Path("config") / "config.yml")


def config_loader(*, environment: bool = True) -> type[yaml.SafeLoader]:
    """A YAML loader that reads ``${VAR:default}`` as ``nameko run`` does, or (``environment=False``)
    as the default written there, without registering anything on ``yaml.SafeLoader`` itself."""
    from nameko.cli.main import ENV_VAR_MATCHER, IMPLICIT_ENV_VAR_MATCHER, env_var_constructor

    def as_written(loader, node, raw=False):
        value = ENV_VAR_MATCHER.sub(lambda found: found.group(2) or "", loader.construct_scalar(node))
        return value if raw else yaml.safe_load(value)

    class Loader(yaml.SafeLoader):
        pass

    constructor = env_var_constructor if environment else as_written
    Loader.add_constructor("!env_var", constructor)
    # a secret is taken as the text it is (a token of digits stays text)
    Loader.add_constructor("!raw_env_var", functools.partial(constructor, raw=True))
    Loader.add_implicit_resolver("!env_var", IMPLICIT_ENV_VAR_MATCHER, None)
    return Loader


@functools.cache
def _config_text() -> str:
    return CONFIG_FILE.read_text()


@functools.cache
def _as_written() -> dict[str, Any]:
    return yaml.load(_config_text(), Loader=config_loader(environment=False))


def _as_run() -> dict[str, Any]:
    # not cached: the environment is read at each call, as a new `nameko run` would read it
    return yaml.load(_config_text(), Loader=config_loader())


def default(name: str) -> Any:
    """The default written in config.yml for this setting."""
    try:
        return _as_written()[name]
    except KeyError:
        raise KeyError(f"{name} is not a setting: config/config.yml does not list it") from None


def setting(config: Mapping, name: str) -> Any:
    """The setting from the service's Nameko config, else from config.yml (see the module's text)."""
    written = default(name)  # a name config.yml does not list is a bug, whatever the config says
    value = config[name] if name in config else _as_run()[name]
    return written if value is None or value == "" else value
