"""Where tweets come from. ``make_source`` picks one by name from the Nameko config."""
from nameko.extensions import DependencyProvider

from services.settings import setting
from services.sources.base import SourceError, SourceUnavailable, TweetSource

SOURCE_NAMES = ("synthetic", "replay", "x")


def default_source_name(config: dict) -> str:
    """The flavor decides the default: stage streams synthetic tweets, production the X API."""
    configured = setting(config, "SOURCE")
    if configured:
        return str(configured)
    return "x" if setting(config, "FLAVOR") == "production" else "synthetic"


def unavailable_reason(name: str, config: dict) -> str | None:
    """Why this deployment does not offer the source ``name``; None when it does."""
    if name == "synthetic":
        return None
    if name == "replay":
        from services.sources.replay import replay_dir
        directory = replay_dir(config)
        return None if directory.is_dir() else f"its replay directory REPLAY_DIR ({directory}) does not exist"
    if name == "x":
        from services.sources.x_api import TOKEN_MISSING, configured_token
        return None if configured_token(config) else TOKEN_MISSING
    return f"unknown source {name!r}; expected one of {', '.join(SOURCE_NAMES)}"


def offered_sources(config: dict) -> list[str]:
    """The sources this deployment can stream from or search, by its config and environment."""
    return [name for name in SOURCE_NAMES if unavailable_reason(name, config) is None]


def make_source(name: str, config: dict, **options) -> TweetSource:
    """Raises SourceUnavailable when the deployment does not offer ``name``, BadRequest when
    ``options`` do not suit it."""
    reason = unavailable_reason(name, config)
    if reason is not None:
        raise SourceUnavailable(name, offered_sources(config), reason)
    if name == "synthetic":
        from services.sources.synthetic import SyntheticSource
        return SyntheticSource.from_config(config, **options)
    if name == "replay":
        from services.sources.replay import ReplaySource
        return ReplaySource.from_config(config, **options)
    if name == "x":
        from services.sources.x_api import XApiSource
        return XApiSource.from_config(config, **options)
    raise AssertionError(f"source {name!r} is offered but not built")  # unavailable_reason knows every name


__all__ = ["SourceError", "SourceUnavailable", "TweetSource", "make_source", "offered_sources",
           "default_source_name", "SOURCE_NAMES", "SourceCredentials"]


class SourceCredentials(DependencyProvider):
    """Refuses to start a service of the production flavor whose source cannot work
    (no X bearer token), instead of failing at the first launch or populate."""

    def setup(self):
        config = self.container.config
        if setting(config, "FLAVOR") == "production" and default_source_name(config) == "x":
            make_source("x", config).close()  # raises SourceError naming what is missing
