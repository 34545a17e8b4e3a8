"""The one write path for tweets: streamed batches and populated samples both come here.

Everything a batch changes is written in the caller's transaction: tweets, authors,
places, tags and the rollups the views read. The rows travel as one JSON document per
table (orjson on our side, json_to_recordset on PostgreSQL's): per-row parameter
formatting in Python was the filter's main cost. The rollups are counted by PostgreSQL
from the rows that were really inserted, so a tweet seen twice is counted once.
Rows that many transactions touch (authors, rollups) are written last and in key
order, so that concurrent batches hold those locks briefly and never wait in a cycle.
"""
from dataclasses import dataclass

import orjson

from services.storage.schema import POPULATE_RUN_ID, UNKNOWN_COUNTRY
from services.tweets.parse import Place, Tweet, User


@dataclass(slots=True)
class BatchCounts:
    received: int
    matched: int
    bad: int


def claim_batches(cursor, batches: list[tuple[int, int, int, BatchCounts]]) -> set[tuple[int, int]]:
    """Record (run_id, start, end, counts) batches in the ledger, in one statement; returns the
    (run_id, start) of those recorded now: the others were committed once already."""
    if not batches:
        return set()
    cursor.execute(
        "INSERT INTO run_batches (run_id, start_pos, end_pos, received, matched, bad, stored)"
        " SELECT run_id, start_pos, end_pos, received, matched, bad, 0"
        "   FROM json_to_recordset(%(batches)s) AS b(run_id bigint, start_pos bigint, end_pos bigint,"
        "                                    received integer, matched integer, bad integer)"
        "  ORDER BY run_id, start_pos"
        " ON CONFLICT DO NOTHING RETURNING run_id, start_pos",
        {"batches": _json([{"run_id": run_id, "start_pos": start, "end_pos": end, "received": counts.received,
                            "matched": counts.matched, "bad": counts.bad} for run_id, start, end, counts in batches])},
    )
    return {(run_id, start) for run_id, start in cursor.fetchall()}


def record_committed(cursor, batches: list[tuple[int, int, int, BatchCounts, int]]) -> None:
    """For (run_id, start, end, counts, stored) batches claimed in this transaction: how many new
    tweets each brought, and everything added to its run's totals (one round trip)."""
    if not batches:
        return
    cursor.execute(
        "UPDATE run_batches b SET stored = s.stored"
        "  FROM json_to_recordset(%(batches)s) AS s(run_id bigint, start_pos bigint, stored integer)"
        " WHERE b.run_id = s.run_id AND b.start_pos = s.start_pos;"
        "INSERT INTO run_totals (run_id, items, received, matched, bad, stored)"
        " SELECT run_id, sum(end_pos - start_pos), sum(received), sum(matched), sum(bad), sum(stored)"
        "   FROM json_to_recordset(%(batches)s) AS s(run_id bigint, start_pos bigint, end_pos bigint,"
        "        received bigint, matched bigint, bad bigint, stored bigint)"
        "  GROUP BY run_id ORDER BY run_id"
        " ON CONFLICT (run_id) DO UPDATE SET items = run_totals.items + EXCLUDED.items,"
        "    received = run_totals.received + EXCLUDED.received, matched = run_totals.matched + EXCLUDED.matched,"
        "    bad = run_totals.bad + EXCLUDED.bad, stored = run_totals.stored + EXCLUDED.stored;"
        # a batch kept as failed and committed now (a retry, or a takeover's resend) is no longer failed
        "DELETE FROM failed_batches f USING json_to_recordset(%(batches)s) AS s(run_id bigint, start_pos bigint)"
        " WHERE f.run_id = s.run_id AND f.start_pos = s.start_pos",
        {"batches": _json([{"run_id": run_id, "start_pos": start, "end_pos": end, "received": counts.received,
                            "matched": counts.matched, "bad": counts.bad, "stored": stored}
                           for run_id, start, end, counts, stored in batches])},
    )


def record_bad_reasons(cursor, reasons: list[tuple[int, dict[str, int]]]) -> None:
    """Add (run_id, {reason: count}) of batches claimed in this transaction to their runs' counts."""
    rows = [{"run_id": run_id, "reason": reason, "count": count}
            for run_id, counts in reasons for reason, count in counts.items() if count]
    if not rows:
        return
    cursor.execute(
        "INSERT INTO run_bad_reasons AS known (run_id, reason, count)"
        " SELECT run_id, reason, sum(count)"
        "   FROM json_to_recordset(%(reasons)s) AS r(run_id bigint, reason text, count bigint)"
        "  GROUP BY run_id, reason ORDER BY run_id, reason"
        " ON CONFLICT (run_id, reason) DO UPDATE SET count = known.count + EXCLUDED.count",
        {"reasons": _json(rows)},
    )


def record_failed_batch(cursor, run_id: int, start: int, end: int, error: str, payload: str) -> None:
    """Keep a batch that could not be stored; a batch that fails again keeps its newest cause."""
    cursor.execute(
        "INSERT INTO failed_batches (run_id, start_pos, end_pos, error, payload)"
        " VALUES (%(run_id)s, %(start)s, %(end)s, %(error)s, %(payload)s)"
        " ON CONFLICT (run_id, start_pos) DO UPDATE SET error = EXCLUDED.error, failed_at = now()",
        {"run_id": run_id, "start": start, "end": end, "error": error, "payload": payload},
    )


def failed_batches_of(cursor, run_id: int) -> list[tuple[int, str]]:
    """(start, payload as JSON text) of the run's failed batches, in order."""
    cursor.execute("SELECT start_pos, payload::text FROM failed_batches WHERE run_id = %(run_id)s ORDER BY start_pos",
                   {"run_id": run_id})
    return cursor.fetchall()


def forget_failed_batch(cursor, run_id: int, start: int) -> None:
    cursor.execute("DELETE FROM failed_batches WHERE run_id = %(run_id)s AND start_pos = %(start)s",
                   {"run_id": run_id, "start": start})


# For `INSERT INTO users AS known ...`: the newest sighting's name and follower count win,
# and tweet_count adds the author's tweets stored by this statement (the bulk loader uses it too).
AUTHOR_UPSERT_CONFLICT = """ON CONFLICT (id) DO UPDATE SET
    username = CASE WHEN known.seen_at <= EXCLUDED.seen_at THEN EXCLUDED.username ELSE known.username END,
    name = CASE WHEN known.seen_at <= EXCLUDED.seen_at THEN EXCLUDED.name ELSE known.name END,
    followers = CASE WHEN known.seen_at <= EXCLUDED.seen_at THEN EXCLUDED.followers ELSE known.followers END,
    seen_at = greatest(known.seen_at, EXCLUDED.seen_at),
    tweet_count = known.tweet_count + EXCLUDED.tweet_count"""

# What a write stored just now, which the rollups count: the tweets new to the store (with the country
# and run they are counted under) and the tags new to them. Filled by the write's own statements.
NEW_ROWS_SQL = """
CREATE TEMP TABLE IF NOT EXISTS batch_new_tweets
    (id bigint, author_id bigint, created_at timestamptz, lang text, country text, run_key bigint)
    ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS batch_new_tags (tweet_id bigint, tag text) ON COMMIT DELETE ROWS;
DELETE FROM batch_new_tweets;
DELETE FROM batch_new_tags;
"""

_STORE_ROWS_SQL = f"""

INSERT INTO places (id, country_code, full_name)
SELECT id, country_code, full_name
  FROM json_to_recordset(%(places)s) AS p(id text, country_code text, full_name text)
 ORDER BY id
ON CONFLICT DO NOTHING;

WITH incoming AS (
    SELECT * FROM json_to_recordset(%(tweets)s) AS t(id bigint, author_id bigint, text text,
        created_at timestamptz, lang text, place_id text, country_code text, hashtags jsonb)
), inserted AS (
    INSERT INTO tweets (id, author_id, text, created_at, lang, place_id, country_code, hashtags, first_run_id)
    SELECT id, author_id, text, created_at, lang, place_id, country_code, hashtags, %(run_id)s
      FROM incoming ORDER BY id
    ON CONFLICT (id) DO NOTHING
    RETURNING id, author_id, created_at, lang, coalesce(country_code, '{UNKNOWN_COUNTRY}'),
              coalesce(first_run_id, {POPULATE_RUN_ID})
)
INSERT INTO batch_new_tweets SELECT * FROM inserted;

-- hashtags of the tweets stored just now; a populate tag even for a tweet stored before
WITH incoming AS (
    SELECT * FROM json_to_recordset(%(tags)s) AS g(tweet_id bigint, tag text, populated boolean)
), inserted AS (
    INSERT INTO tweet_tags (tweet_id, tag, populated)
    SELECT tweet_id, tag, populated FROM incoming g
     WHERE g.populated OR EXISTS (SELECT 1 FROM batch_new_tweets n WHERE n.id = g.tweet_id)
     ORDER BY tweet_id, tag
    -- a tweet stored earlier with this hashtag is now also known as fetched for it
    ON CONFLICT (tweet_id, tag) DO UPDATE SET populated = true
     WHERE EXCLUDED.populated AND NOT tweet_tags.populated
    RETURNING tweet_id, tag, xmax = 0 AS fresh  -- xmax is 0 on a row inserted, not updated
)
INSERT INTO batch_new_tags SELECT tweet_id, tag FROM inserted WHERE fresh;

-- the newest follower count wins; tweet_count grows by the author's tweets stored just now
INSERT INTO users AS known (id, username, name, followers, seen_at, tweet_count)
SELECT u.id, u.username, u.name, u.followers, u.seen_at, coalesce(n.stored, 0)
  FROM json_to_recordset(%(users)s) AS u(id bigint, username text, name text, followers bigint,
                                          seen_at timestamptz)
  LEFT JOIN (SELECT author_id, count(*) AS stored FROM batch_new_tweets GROUP BY author_id) n
         ON n.author_id = u.id
 ORDER BY u.id
{AUTHOR_UPSERT_CONFLICT};
"""

# Every rollup the views read, added to from batch_new_tweets and batch_new_tags (NEW_ROWS_SQL), in
# the transaction that stored those rows. The one place a rollup is defined: the filter's batches,
# populate and the bulk loader all count through it.
ROLLUPS_SQL = f"""
INSERT INTO hour_counts (hour, count)
SELECT date_trunc('hour', created_at), count(*) FROM batch_new_tweets GROUP BY 1 ORDER BY 1
ON CONFLICT (hour) DO UPDATE SET count = hour_counts.count + EXCLUDED.count;

INSERT INTO minute_counts (minute, run_id, lang, country, count)
SELECT date_trunc('minute', created_at), run_key, lang, country, count(*)
  FROM batch_new_tweets GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
ON CONFLICT (minute, run_id, lang, country) DO UPDATE SET count = minute_counts.count + EXCLUDED.count;

CREATE TEMP TABLE IF NOT EXISTS batch_tag_rows
    (minute timestamptz, tag text, run_key bigint, lang text, country text) ON COMMIT DELETE ROWS;
DELETE FROM batch_tag_rows;
-- a tweet stored just now is described by batch_new_tweets; only a populate tag on a tweet
-- stored before looks the tweet up, by key (OFFSET 0 keeps the planner from turning the
-- look-up into a join that read the whole tweets table for every batch)
INSERT INTO batch_tag_rows
SELECT date_trunc('minute', coalesce(n.created_at, t.created_at)), nt.tag,
       coalesce(n.run_key, t.first_run_id, {POPULATE_RUN_ID}), coalesce(n.lang, t.lang),
       coalesce(n.country, t.country_code, '{UNKNOWN_COUNTRY}')
  FROM batch_new_tags nt
  LEFT JOIN batch_new_tweets n ON n.id = nt.tweet_id
  LEFT JOIN LATERAL (SELECT created_at, first_run_id, lang, country_code FROM tweets
                      WHERE tweets.id = nt.tweet_id AND n.id IS NULL OFFSET 0) t ON true;

INSERT INTO minute_tag_counts (minute, tag, run_id, lang, country, count)
SELECT minute, tag, run_key, lang, country, count(*) FROM batch_tag_rows
 GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
ON CONFLICT (minute, tag, run_id, lang, country) DO UPDATE SET count = minute_tag_counts.count + EXCLUDED.count;

INSERT INTO minute_tag_totals (minute, tag, count)
SELECT minute, tag, count(*) FROM batch_tag_rows GROUP BY 1, 2 ORDER BY 1, 2
ON CONFLICT (minute, tag) DO UPDATE SET count = minute_tag_totals.count + EXCLUDED.count;

INSERT INTO tag_counts (tag, country, lang, count)
SELECT tag, country, lang, count(*) FROM batch_tag_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
ON CONFLICT (tag, country, lang) DO UPDATE SET count = tag_counts.count + EXCLUDED.count;
"""

# one round trip: the rows, their rollups, and which tweets were new
_STORE_SQL = NEW_ROWS_SQL + _STORE_ROWS_SQL + ROLLUPS_SQL + "SELECT id FROM batch_new_tweets;"


def _json(rows: list[dict]) -> str:
    return orjson.dumps(rows).decode()


def store_tweets(cursor, tweets: list[Tweet], users: dict[int, User], places: dict[str, Place],
                 *, run_id: int | None, populate_tag: str | None = None) -> set[int]:
    """Store tweets once each, with their authors, places, tags and rollups.

    Returns the ids of the tweets this call stored for the first time.
    """
    if not tweets:
        return set()
    unique = {t.id: t for t in tweets}

    def country_of(tweet: Tweet) -> str | None:
        place = places.get(tweet.place_id) if tweet.place_id else None
        return place.country_code if place else None

    tweet_rows, tag_rows, newest = [], [], {}
    for t in unique.values():
        tweet_rows.append({"id": t.id, "author_id": t.author_id, "text": t.text.replace("\x00", ""),
                           "created_at": t.created_at, "lang": t.lang, "place_id": t.place_id,
                           "country_code": country_of(t), "hashtags": t.hashtags})
        for tag in {h.casefold() for h in t.hashtags} - {populate_tag and populate_tag.casefold()}:
            tag_rows.append({"tweet_id": t.id, "tag": tag, "populated": False})
        if populate_tag:
            tag_rows.append({"tweet_id": t.id, "tag": populate_tag.casefold(), "populated": True})
        if t.author_id in users and (t.author_id not in newest or t.created_at > newest[t.author_id]):
            newest[t.author_id] = t.created_at
    user_rows = [{"id": uid, "username": users[uid].username, "name": users[uid].name,
                  "followers": users[uid].followers, "seen_at": seen} for uid, seen in newest.items()]
    used_places = {t.place_id for t in unique.values() if t.place_id in places}
    place_rows = [{"id": p, "country_code": places[p].country_code, "full_name": places[p].full_name}
                  for p in used_places]

    cursor.execute(_STORE_SQL, {"places": _json(place_rows), "tweets": _json(tweet_rows),
                                "tags": _json(tag_rows), "users": _json(user_rows), "run_id": run_id})
    return {row[0] for row in cursor.fetchall()}
