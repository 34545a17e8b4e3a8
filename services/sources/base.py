"""The one interface every tweet source implements (synthetic, replay, X API).

A source hands out *raw* v2 documents; parsing lives in ``services.tweets.parse``
so that synthetic, replayed and live payloads go through the same code.
"""
import abc
from typing import Iterator

from nameko.exceptions import deserialize_to_instance


class SourceError(Exception):
    """The source cannot deliver (network, credentials, rate limit exhausted).

    The message is shown to users, so it must never contain a secret.
    """


@deserialize_to_instance  # the gateway gets it whole from an RPC reply: it answers with ``offered``
class SourceUnavailable(SourceError):
    """A source this deployment does not offer: an unknown name, the X API without a bearer
    token, replay without a replay directory. The caller's choice, not a failure of the source
    (the gateway answers 422 naming ``offered``). The message is ``reason``, so that a check of
    the configured source reads as before."""

    def __init__(self, source: str, offered, reason: str):
        super().__init__(source, list(offered), reason)
        self.source, self.offered, self.reason = source, list(offered), reason

    def __str__(self) -> str:
        return self.reason

    def describe(self) -> str:
        """The whole sentence for the caller who chose the source."""
        offered = ", ".join(self.offered) or "none"
        return f"source {self.source!r} is not offered by this deployment ({self.reason}); it offers: {offered}"


class TweetSource(abc.ABC):
    #: short name used in configuration and in the ``runs.source`` column
    name: str = ""
    #: True when ``stream(track, start=n)`` reproduces exactly the items a
    #: previous call yielded from position n on (lets another launcher take a run over)
    deterministic: bool = False

    @abc.abstractmethod
    def stream(self, track: list[str], start: int = 0) -> Iterator[bytes]:
        """Yield raw JSON documents, one per item, without end unless the source ends.

        Each item is one of the twarc2 JSONL shapes: a filtered-stream message
        (``{"data": {...}, "includes": {...}, "matching_rules": [...]}``), a search page
        (``{"data": [...], "includes": {...}, "meta": {...}}``) or a flattened tweet.
        The i-th item yielded has position ``start + i``.
        """

    @abc.abstractmethod
    def search(self, tag: str, limit: int) -> Iterator[dict]:
        """Yield v2 search pages (``{"data": [...], "includes": {...}, "meta": {...}}``)
        of recent tweets carrying ``#tag``, ``limit`` tweets in all at most."""

    def prepare(self) -> None:
        """Build, before a run starts, what the stream would otherwise build during its first items."""

    def check(self) -> None:
        """Raise SourceError when the source is not usable; used by the health service."""

    def close(self) -> None:
        """Release connections; the stream generator may be abandoned after this."""


def paced(items: Iterator, rate: float, clock=None, sleep=None) -> Iterator:
    """Yield items no faster than ``rate`` per second (0: as fast as they come)."""
    import time
    clock, sleep = clock or time.monotonic, sleep or time.sleep
    if rate <= 0:
        yield from items
        return
    interval, began = 1.0 / rate, clock()
    for count, item in enumerate(items):
        wait = began + count * interval - clock()
        if wait > 0:
            sleep(wait)
        yield item
