"""What happens to a batch of raw tweets: parse, match the run's track terms, and
commit the matches with the batch's ledger row in one transaction.

``prepare`` is the CPU part (one worker, one batch); ``commit_batches`` writes one or
more prepared batches in a single transaction, each exactly once (see
``services.filter.committer`` for why the filter commits several at a time).
"""
import functools
import logging
import time
from dataclasses import dataclass

import orjson

from services.contracts.events import check_batch_version
from services.observability.metrics import (
    BATCH_SECONDS,
    BATCHES,
    DB_ERRORS,
    TWEETS_BAD,
    TWEETS_MATCHED,
    TWEETS_RECEIVED,
    TWEETS_STORED,
)
from services.storage.database import retry_transient
from services.storage.ingest import (
    BatchCounts,
    claim_batches,
    failed_batches_of,
    forget_failed_batch,
    record_bad_reasons,
    record_committed,
    record_failed_batch,
    store_tweets,
)
from services.tweets.parse import ParsedBatch, Place, Tweet, User, parse_documents
from services.tweets.track import TrackMatcher

log = logging.getLogger(__name__)

PARSE_SLICE = 50   # items parsed between two pauses


@functools.lru_cache(maxsize=32)
def matcher_for(track: tuple[str, ...]) -> TrackMatcher:
    return TrackMatcher(list(track))


@dataclass(slots=True)
class PreparedBatch:
    """A batch read and matched, ready to be stored: only what the database needs of it."""
    run_id: int
    start: int
    end: int
    counts: BatchCounts
    matched: list[Tweet]
    authors: dict[int, User]
    places: dict[str, Place]
    bad_reasons: dict[str, int]


def prepare(batch: dict, pause=None) -> PreparedBatch:
    """Parse and match one batch. ``pause()`` is called between slices of it: a green thread
    parsing 500 tweets in one go would keep the group committer's round trips waiting."""
    check_batch_version(batch)   # a newer launcher's batch: refused by name, kept as failed
    parsed = ParsedBatch()
    items = batch["items"]
    # matched while read: a tweet that does not match is counted, and neither it nor its
    # users and places are made into records (half the tweets; about a sixth of prepare's time)
    wanted = matcher_for(tuple(batch["track"])).matches_parts
    for at in range(0, len(items), PARSE_SLICE):
        parse_documents(items[at:at + PARSE_SLICE], into=parsed, wanted=wanted)
        if pause is not None:
            pause()
    matched = parsed.tweets
    authors: dict[int, User] = {}
    users = parsed.users
    for tweet in matched:
        # one lookup: a Mapping's `in` goes through __getitem__, so `in` and then [] was two
        if tweet.author_id not in authors and (author := users.get(tweet.author_id)) is not None:
            authors[tweet.author_id] = author
    places = {t.place_id: parsed.places[t.place_id] for t in matched if t.place_id in parsed.places}
    counts = BatchCounts(received=parsed.received, matched=len(matched), bad=parsed.bad)
    return PreparedBatch(batch["run_id"], batch["start"], batch["end"], counts, matched, authors, places,
                         dict(parsed.bad_reasons))


def commit_batches(engine, batches: list[PreparedBatch]) -> list[int | None]:
    """Store batches in one transaction, each exactly once. For each batch: how many of its
    tweets were new, or None for a batch committed before (a redelivery).

    A constant number of statements whatever the number of batches: under eventlet each
    round trip waits for the worker that is parsing to give the hub back."""
    with engine.begin() as conn:
        cursor = conn.connection.cursor()
        # the same batch twice in one group (a redelivery while the first is still waiting here)
        # is claimed once: its second copy is a duplicate like any other
        distinct = list({(b.run_id, b.start): b for b in reversed(batches)}.values())[::-1]
        fresh = claim_batches(cursor, [(b.run_id, b.start, b.end, b.counts) for b in distinct])
        claimed = [b for b in distinct if (b.run_id, b.start) in fresh]
        new_ids: set[int] = set()
        for run_id in dict.fromkeys(b.run_id for b in claimed):   # runs in order of arrival
            of_run = [b for b in claimed if b.run_id == run_id]
            new_ids |= store_tweets(cursor, [t for b in of_run for t in b.matched],
                                    {k: v for b in of_run for k, v in b.authors.items()},
                                    {k: v for b in of_run for k, v in b.places.items()}, run_id=run_id)
        stored: dict[int, int] = {}   # by id() of the claimed copy
        for b in claimed:
            # a tweet in two batches of the group is counted for the first one only
            mine = {t.id for t in b.matched} & new_ids
            new_ids -= mine
            stored[id(b)] = len(mine)
        record_committed(cursor, [(b.run_id, b.start, b.end, b.counts, stored[id(b)]) for b in claimed])
        record_bad_reasons(cursor, [(b.run_id, b.bad_reasons) for b in claimed if b.bad_reasons])
        return [stored.get(id(b)) for b in batches]


def count_db_error(_error) -> None:
    DB_ERRORS.labels(service="filter").inc()


def commit_alone(engine):
    """Commits one batch per transaction: the path without a group committer (tests, tools)."""
    return lambda prepared: retry_transient(lambda: commit_batches(engine, [prepared])[0], on_retry=count_db_error)


def record_failure(engine, batch: dict, error: BaseException) -> None:
    """Keep a batch that cannot be stored, so that it is never silently lost."""
    # raw lines (bytes, or views of the broker message) are kept as text, as the launcher read them
    kept = dict(batch, items=[bytes(item).decode("utf-8", "replace") if isinstance(item, (bytes, memoryview))
                              else item for item in batch["items"]])
    with engine.begin() as conn:
        record_failed_batch(conn.connection.cursor(), batch["run_id"], batch["start"], batch["end"],
                            cause(error), orjson.dumps(kept).decode())


def cause(error: BaseException) -> str:
    """What a failed batch shows as its cause: the error's first line (a database error's detail
    lines follow it), bounded."""
    first = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {first}"[:500]


def process_batch(engine, batch: dict, commit=None, pause=None) -> int | None:
    """Prepare a batch and have ``commit`` store it (default: a transaction of its own)."""
    began = time.perf_counter()
    try:
        # prepare too: a batch the parser chokes on is acknowledged all the same, so it is kept
        prepared = prepare(batch, pause)
        stored = (commit or commit_alone(engine))(prepared)
    except Exception as error:
        BATCHES.labels(outcome="failed").inc()
        log.exception("batch %s of run %s failed; kept in failed_batches", batch["start"], batch["run_id"],
                      extra={"run_id": batch["run_id"], "batch": batch["start"]})
        retry_transient(functools.partial(record_failure, engine, batch, error))
        return None
    source = batch.get("source", "unknown")
    if stored is None:
        BATCHES.labels(outcome="duplicate").inc()
        log.info("batch %s of run %s was already committed; ignored", batch["start"], batch["run_id"],
                 extra={"run_id": batch["run_id"], "batch": batch["start"]})
        return None
    BATCHES.labels(outcome="stored").inc()
    if prepared.counts.bad:
        log.warning("batch %s of run %s: %d bad items skipped (%s)", batch["start"], batch["run_id"],
                    prepared.counts.bad,
                    ", ".join(f"{reason}: {n}" for reason, n in sorted(prepared.bad_reasons.items())),
                    extra={"run_id": batch["run_id"], "batch": batch["start"]})
    TWEETS_RECEIVED.labels(source=source).inc(prepared.counts.received)
    TWEETS_MATCHED.labels(source=source).inc(prepared.counts.matched)
    TWEETS_BAD.labels(source=source).inc(prepared.counts.bad)
    TWEETS_STORED.labels(source=source).inc(stored)
    BATCH_SECONDS.observe(time.perf_counter() - began)
    return stored


def _forget_failed(engine, run_id: int, start: int) -> None:
    with engine.begin() as conn:
        forget_failed_batch(conn.connection.cursor(), run_id, start)


def retry_failed(engine, run_id: int, commit=None) -> dict:
    """Send a run's failed batches through prepare and commit again, each once. The ledger decides
    what is new: a batch committed since it failed (a takeover's resend) stores nothing twice. A
    batch that fails again stays kept, with its new cause."""
    commit = commit or commit_alone(engine)
    with engine.connect() as conn:
        kept = failed_batches_of(conn.connection.cursor(), run_id)
    retried = stored = still_failing = tweets = 0
    for start, payload in kept:
        batch = orjson.loads(payload)
        retried += 1
        try:
            prepared = prepare(batch)
            new = commit(prepared)
        except Exception as error:  # noqa: BLE001 - kept with its cause, like any failed batch
            still_failing += 1
            BATCHES.labels(outcome="failed").inc()
            log.warning("retried batch %s of run %s failed again: %s", start, run_id, cause(error),
                        extra={"run_id": run_id, "batch": start})
            retry_transient(functools.partial(record_failure, engine, batch, error))
            continue
        stored += 1
        if new is None:   # committed before: only the kept copy goes
            retry_transient(functools.partial(_forget_failed, engine, run_id, start))
        else:
            tweets += new
            BATCHES.labels(outcome="stored").inc()
    if retried:
        log.info("run %s: %d failed batches retried, %d stored, %d still failing", run_id, retried, stored,
                 still_failing, extra={"run_id": run_id})
    return {"run_id": run_id, "retried": retried, "stored": stored, "still_failing": still_failing,
            "tweets_stored": tweets}
