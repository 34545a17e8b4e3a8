"""Populate: fetch recent tweets for each tag from the configured source and store them.

Each search page is committed in its own transaction through ``store_tweets``, the write
path streamed batches use, so the rollups move with the tweets: a failure half-way leaves
whole pages stored, never tweets without their counts. Tweets are stored once each
(the tweets' primary key), so populating again stores only what is new.
"""
import logging
from dataclasses import dataclass, field
from typing import Callable

from services.contracts.errors import SourceFailed, StorageFailed
from services.contracts.requests import DEFAULT_TAGS
from services.observability.metrics import POPULATE_FAILURES, POPULATE_TWEETS
from services.sources import SourceError, TweetSource
from services.storage.database import retry_transient
from services.storage.ingest import store_tweets
from services.tweets.parse import ParsedBatch, add_document

log = logging.getLogger(__name__)

# A page is retried this often when PostgreSQL goes away; then populate gives up and says so.
PAGE_ATTEMPTS = 5


@dataclass
class PopulateResult:
    stored: dict[str, int] = field(default_factory=dict)    # tweets stored for the first time, per tag
    fetched: dict[str, int] = field(default_factory=dict)   # tweets the source returned, per tag
    bad: int = 0                                            # items the parser could not read

    def as_answer(self) -> dict:
        return {"stored": self.stored, "total": sum(self.stored.values()),
                "fetched": self.fetched, "bad": self.bad}


def _metric_tag(tag: str) -> str:
    # Tags are chosen by callers: only the known ones get their own series, so that
    # the metric's label set stays bounded.
    return tag if tag in DEFAULT_TAGS else "other"


def store_page(engine, page: dict, tag: str) -> tuple[int, int, int]:
    """Store one search page atomically; (tweets fetched, newly stored, unreadable items)."""
    parsed = ParsedBatch()
    add_document(page, parsed)

    def commit() -> int:
        with engine.begin() as conn:
            cursor = conn.connection.cursor()
            return len(store_tweets(cursor, parsed.tweets, parsed.users, parsed.places,
                                    run_id=None, populate_tag=tag))

    stored = retry_transient(commit, attempts=PAGE_ATTEMPTS) if parsed.tweets else 0
    return len(parsed.tweets), stored, parsed.bad


def populate_tags(engine, source: TweetSource, tags: list[str], per_tag: int,
                  count_reads: Callable[[int], None] | None = None) -> PopulateResult:
    """Fetch ``per_tag`` recent tweets for each tag and store them with their authors and places;
    ``count_reads(n)`` hears of the n posts each page brought (the X API bills them).

    Raises SourceFailed when the source fails and StorageFailed when the database does;
    the message says which tag and how far it got. Pages stored before stay stored.
    """
    result = PopulateResult()
    for tag in tags:
        result.stored[tag] = result.fetched[tag] = 0
        pages = source.search(tag, per_tag)
        while True:
            try:
                page = next(pages, None)
            except Exception as error:  # noqa: BLE001 - any source failure ends populate with its reason
                POPULATE_FAILURES.labels(reason="source").inc()
                # a SourceError's message is meant for users; anything else only shows its kind
                reason = str(error) if isinstance(error, SourceError) else f"unexpected {type(error).__name__}"
                log.warning("populate: the %s source failed on #%s: %s", source.name, tag, reason,
                            exc_info=not isinstance(error, SourceError))
                raise SourceFailed(f"the {source.name} source failed while fetching #{tag}: {reason} "
                                   f"({_progress(result)})") from None
            if page is None:
                break
            if count_reads is not None:
                count_reads(len(page.get("data") or ()))
            try:
                fetched, stored, bad = store_page(engine, page, tag)
            except Exception as error:  # noqa: BLE001 - reported to the caller, details in the log
                POPULATE_FAILURES.labels(reason="database").inc()
                log.exception("populate could not store a page of #%s", tag)
                raise StorageFailed(f"storing the tweets of #{tag} failed: {type(error).__name__} "
                                    f"({_progress(result)})") from None
            result.fetched[tag] += fetched
            result.stored[tag] += stored
            result.bad += bad
            POPULATE_TWEETS.labels(tag=_metric_tag(tag)).inc(stored)
        log.info("populated #%s: %d fetched, %d new", tag, result.fetched[tag], result.stored[tag])
    return result


def _progress(result: PopulateResult) -> str:
    return f"{sum(result.stored.values())} tweets were stored before the failure and are kept"
