"""What happens to a batch of raw tweets: parse, match the run's track terms, and
commit the matches with the batch's ledger row in one transaction."""
import functools
import logging
import time

import orjson

from services.observability.metrics import (
    BATCH_SECONDS, BATCHES, DB_ERRORS, TWEETS_BAD, TWEETS_MATCHED, TWEETS_RECEIVED, TWEETS_STORED,
)
from services.storage.database import retry_transient
from services.storage.ingest import BatchCounts, claim_batch, record_stored, store_tweets
from services.tweets.parse import ParsedBatch, parse_documents
from services.tweets.track import TrackMatcher

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=32)
def matcher_for(track: tuple[str, ...]) -> TrackMatcher:
    return TrackMatcher(list(track))


def match(batch: dict) -> tuple[ParsedBatch, list]:
    parsed = parse_documents(batch["items"])
    matcher = matcher_for(tuple(batch["track"]))
    return parsed, [t for t in parsed.tweets if matcher.matches(t)]


def commit_batch(engine, batch: dict, parsed: ParsedBatch, matched: list) -> int | None:
    """Store one batch exactly once. Returns how many tweets were new, or None for a
    batch that had already been committed (a redelivery)."""
    run_id, start = batch["run_id"], batch["start"]
    counts = BatchCounts(received=parsed.received, matched=len(matched), bad=parsed.bad)
    with engine.begin() as conn:
        cursor = conn.connection.cursor()
        if not claim_batch(cursor, run_id, start, batch["end"], counts):
            return None
        stored = store_tweets(cursor, matched, parsed.users, parsed.places, run_id=run_id)
        record_stored(cursor, run_id, start, len(stored))
        return len(stored)


def record_failure(engine, batch: dict, error: BaseException) -> None:
    """Keep a batch that cannot be stored, so that it is never silently lost."""
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO failed_batches (run_id, start_pos, error, payload) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (batch["run_id"], batch["start"], f"{type(error).__name__}: {error}", orjson.dumps(batch).decode()),
        )


def process_batch(engine, batch: dict) -> int | None:
    began = time.perf_counter()
    parsed, matched = match(batch)

    def count_db_error(_error):
        DB_ERRORS.labels(service="filter").inc()

    try:
        stored = retry_transient(lambda: commit_batch(engine, batch, parsed, matched), on_retry=count_db_error)
    except Exception as error:
        BATCHES.labels(outcome="failed").inc()
        log.exception("batch %s of run %s failed; kept in failed_batches", batch["start"], batch["run_id"],
                      extra={"run_id": batch["run_id"], "batch": batch["start"]})
        retry_transient(lambda: record_failure(engine, batch, error))
        return None
    source = batch.get("source", "unknown")
    if stored is None:
        BATCHES.labels(outcome="duplicate").inc()
        log.info("batch %s of run %s was already committed; ignored", batch["start"], batch["run_id"],
                 extra={"run_id": batch["run_id"], "batch": batch["start"]})
        return None
    BATCHES.labels(outcome="stored").inc()
    TWEETS_RECEIVED.labels(source=source).inc(parsed.received)
    TWEETS_MATCHED.labels(source=source).inc(len(matched))
    TWEETS_BAD.labels(source=source).inc(parsed.bad)
    TWEETS_STORED.labels(source=source).inc(stored)
    BATCH_SECONDS.observe(time.perf_counter() - began)
    return stored
