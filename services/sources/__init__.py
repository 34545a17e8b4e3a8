"""Where tweets come from. ``make_source`` picks one by name from the Nameko config."""
from nameko.extensions import DependencyProvider

from services.sources.base import SourceError, TweetSource

SOURCE_NAMES = ("synthetic", "replay", "x")


def default_source_name(config: dict) -> str:
    """The flavor decides the default: stage streams synthetic tweets, production the X API."""
    configured = config.get("SOURCE") or ""
    if configured:
        return configured
    return "x" if config.get("FLAVOR", "stage") == "production" else "synthetic"


def make_source(name: str, config: dict, **options) -> TweetSource:
    if name == "synthetic":
        from services.sources.synthetic import SyntheticSource
        return SyntheticSource.from_config(config, **options)
    if name == "replay":
        from services.sources.replay import ReplaySource
        return ReplaySource.from_config(config, **options)
    if name == "x":
        from services.sources.x_api import XApiSource
        return XApiSource.from_config(config, **options)
    raise ValueError(f"unknown source {name!r}; expected one of {', '.join(SOURCE_NAMES)}")


__all__ = ["SourceError", "TweetSource", "make_source", "default_source_name", "SOURCE_NAMES",
           "SourceCredentials"]


class SourceCredentials(DependencyProvider):
    """Refuses to start a service of the production flavor whose source cannot work
    (no X bearer token), instead of failing at the first launch or populate."""

    def setup(self):
        config = self.container.config
        if config.get("FLAVOR", "stage") == "production" and default_source_name(config) == "x":
            make_source("x", config).close()  # raises SourceError naming what is missing
