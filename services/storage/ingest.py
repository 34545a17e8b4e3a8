"""The one write path for tweets: streamed batches and populated samples both come here.

Everything a batch changes is written in the caller's transaction: tweets, authors,
places, tags and the rollups the views read. Rows that many transactions touch
(authors, rollups) are written last and in key order, so that concurrent batches
hold those locks briefly and can never wait on each other in a cycle.
"""
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import orjson
from psycopg2.extras import execute_values

from services.storage.schema import POPULATE_RUN_ID, UNKNOWN_COUNTRY
from services.tweets.parse import Place, Tweet, User


@dataclass(slots=True)
class BatchCounts:
    received: int
    matched: int
    bad: int


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def claim_batch(cursor, run_id: int, start_pos: int, end_pos: int, counts: BatchCounts) -> bool:
    """Record the batch in the ledger; False when it was already committed once."""
    cursor.execute(
        "INSERT INTO run_batches (run_id, start_pos, end_pos, received, matched, bad, stored)"
        " VALUES (%s, %s, %s, %s, %s, %s, 0) ON CONFLICT DO NOTHING RETURNING 1",
        (run_id, start_pos, end_pos, counts.received, counts.matched, counts.bad),
    )
    return cursor.fetchone() is not None


def record_stored(cursor, run_id: int, start_pos: int, stored: int) -> None:
    cursor.execute(
        "UPDATE run_batches SET stored = %s WHERE run_id = %s AND start_pos = %s",
        (stored, run_id, start_pos),
    )


def store_tweets(cursor, tweets: list[Tweet], users: dict[int, User], places: dict[str, Place],
                 *, run_id: int | None, populate_tag: str | None = None) -> set[int]:
    """Store tweets once each, with their authors, places, tags and rollups.

    Returns the ids of the tweets this call stored for the first time.
    """
    if not tweets:
        return set()
    unique = {t.id: t for t in tweets}
    ordered = [unique[i] for i in sorted(unique)]

    place_ids = sorted({t.place_id for t in ordered if t.place_id and t.place_id in places})
    if place_ids:
        execute_values(
            cursor,
            "INSERT INTO places (id, country_code, full_name) VALUES %s ON CONFLICT DO NOTHING",
            [(p, places[p].country_code, places[p].full_name) for p in place_ids],
        )

    def country_of(tweet: Tweet) -> str:
        place = places.get(tweet.place_id) if tweet.place_id else None
        return (place.country_code if place and place.country_code else UNKNOWN_COUNTRY)

    inserted = execute_values(
        cursor,
        "INSERT INTO tweets (id, author_id, text, created_at, lang, place_id, country_code, hashtags, first_run_id)"
        " VALUES %s ON CONFLICT (id) DO NOTHING RETURNING id",
        [
            (t.id, t.author_id, t.text, t.created_at, t.lang, t.place_id,
             None if country_of(t) == UNKNOWN_COUNTRY else country_of(t),
             orjson.dumps(list(t.hashtags)).decode(), run_id)
            for t in ordered
        ],
        fetch=True,
    )
    new_ids = {row[0] for row in inserted}

    # Tags: hashtags of new tweets; the populate tag for every fetched tweet (a tweet
    # stored by a stream can still be populated for a tag later).
    tag_rows = set()
    for t in ordered:
        if t.id in new_ids:
            tag_rows.update((t.id, tag.casefold(), False) for tag in t.hashtags)
        if populate_tag:
            tag_rows.add((t.id, populate_tag.casefold(), True))
    new_tags: list[tuple[int, str]] = []
    if tag_rows:
        new_tags = execute_values(
            cursor,
            "INSERT INTO tweet_tags (tweet_id, tag, populated) VALUES %s"
            " ON CONFLICT DO NOTHING RETURNING tweet_id, tag",
            sorted(tag_rows),
            fetch=True,
        )

    _upsert_authors(cursor, ordered, users)
    _update_rollups(cursor, [unique[i] for i in sorted(new_ids)], new_tags, unique, country_of,
                    POPULATE_RUN_ID if run_id is None else run_id)
    return new_ids


def _upsert_authors(cursor, tweets: list[Tweet], users: dict[int, User]) -> None:
    newest: dict[int, datetime] = {}
    for t in tweets:
        if t.author_id in users and (t.author_id not in newest or t.created_at > newest[t.author_id]):
            newest[t.author_id] = t.created_at
    if not newest:
        return
    execute_values(
        cursor,
        "INSERT INTO users (id, username, name, followers, seen_at) VALUES %s"
        " ON CONFLICT (id) DO UPDATE SET username = EXCLUDED.username, name = EXCLUDED.name,"
        " followers = EXCLUDED.followers, seen_at = EXCLUDED.seen_at"
        " WHERE users.seen_at <= EXCLUDED.seen_at",
        [(uid, users[uid].username, users[uid].name, users[uid].followers, newest[uid]) for uid in sorted(newest)],
    )


def _increment(cursor, table: str, key_columns: tuple[str, ...], counts: Counter) -> None:
    if not counts:
        return
    columns = ", ".join(key_columns)
    execute_values(
        cursor,
        f"INSERT INTO {table} ({columns}, count) VALUES %s"
        f" ON CONFLICT ({columns}) DO UPDATE SET count = {table}.count + EXCLUDED.count",
        [(*key, n) for key, n in sorted(counts.items())],
    )


def _update_rollups(cursor, new_tweets, new_tags, by_id, country_of, run_key: int) -> None:
    hours = Counter(_hour(t.created_at) for t in new_tweets)
    minutes = Counter((_minute(t.created_at), run_key, t.lang, country_of(t)) for t in new_tweets)
    tags = Counter()
    minute_tags = Counter()
    for tweet_id, tag in new_tags:
        t = by_id[tweet_id]
        country = country_of(t)
        tags[(tag, country, t.lang)] += 1
        minute_tags[(_minute(t.created_at), tag, run_key, t.lang, country)] += 1
    # fixed table order, sorted keys: no lock cycles between concurrent batches
    _increment(cursor, "hour_counts", ("hour",), Counter({(h,): n for h, n in hours.items()}))
    _increment(cursor, "minute_counts", ("minute", "run_id", "lang", "country"), minutes)
    _increment(cursor, "minute_tag_counts", ("minute", "tag", "run_id", "lang", "country"), minute_tags)
    _increment(cursor, "tag_counts", ("tag", "country", "lang"), tags)
