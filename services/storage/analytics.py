"""Live analytics over the rollups: top hashtags, minute aggregates, user profiles.

Every figure comes from a rollup kept current by the write path (minute_counts,
minute_tag_counts, minute_tag_totals) or from an index (tweets_by_author_newest,
users_by_username), so an answer reads a number of rows that grows with the window, never
with the number of tweets stored.
"""
import math
from datetime import datetime, timezone

import orjson
from sqlalchemy.engine import Connection

from services.contracts.requests import MINUTE


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


# The lower bound's seed: the strongest tags of the window's latest two minutes (the current one
# may have just begun), a few more than asked for in case some of them are strong only lately.
SEED_MINUTES, SEED_SPARE_TAGS = 2, 5
# Where the bound pays: over longer windows or for more tags the bound gets weak (the last tag
# asked for is itself in the tail) and summing every tag was faster (measured at 10M tweets:
# 60 minutes and 10 tags 5.2 against 6.5 ms; 2 hours and 25 tags 15.1 against 11.8 ms).
BOUNDED_MAX_MINUTES, BOUNDED_MAX_LIMIT = 120, 20


def top_hashtags(conn: Connection, first_minute: datetime, last_minute: datetime, limit: int) -> list[dict]:
    """The most used tags in [first_minute, last_minute], ties by name.

    Exact, without summing the long tail: an hour holds ~7,500 tags, most seen in a minute or
    two, and grouping them all was half of this view's time. A lower bound comes first: the
    ``limit``-th best window total among the tags strongest in the window's latest minutes. A
    tag whose total reaches that bound over n minutes has a minute with at least bound / n, so
    only the tags with such a minute are summed: every tag left out totals less than the
    ``limit`` tags found, ties included. Counts only grow, so the two statements agree although
    each sees its own snapshot.
    """
    if last_minute < first_minute:   # from == to: no whole minute
        return []
    minutes = int((last_minute - first_minute) / MINUTE) + 1
    floor = 0
    if minutes <= BOUNDED_MAX_MINUTES and limit <= BOUNDED_MAX_LIMIT:
        floor = math.ceil(_top_total_bound(conn, first_minute, last_minute, limit) / minutes)
    # A minute's count fits an integer, and summing integers adds in bigint instead of numeric.
    # The primary key (minute, tag) gives the window's rows; minute_tag_totals_by_tag (tag,
    # minute) gives each candidate's.
    candidates = ("" if floor <= 1 else
                  " AND tag IN (SELECT tag FROM minute_tag_totals"
                  "             WHERE minute BETWEEN %(first)s AND %(last)s AND count >= %(floor)s)")
    rows = conn.exec_driver_sql(
        "SELECT tag, sum(count::integer) AS count FROM minute_tag_totals"
        " WHERE minute BETWEEN %(first)s AND %(last)s" + candidates +
        " GROUP BY tag ORDER BY count DESC, tag LIMIT %(limit)s",
        {"first": first_minute, "last": last_minute, "limit": limit, "floor": floor},
    )
    return [{"tag": tag, "count": int(count)} for tag, count in rows]


def _top_total_bound(conn: Connection, first_minute: datetime, last_minute: datetime, limit: int) -> int:
    """A total that at least ``limit`` tags reach in the window (0 when fewer tags are seen)."""
    bound = conn.exec_driver_sql(
        "WITH latest AS (SELECT max(minute) AS minute FROM minute_tag_totals"
        "                WHERE minute BETWEEN %(first)s AND %(last)s),"
        " seed AS (SELECT tag FROM minute_tag_totals, latest"
        "          WHERE minute_tag_totals.minute BETWEEN greatest(%(first)s, latest.minute - %(seed_span)s)"
        "                AND latest.minute"
        "          GROUP BY tag ORDER BY max(count) DESC LIMIT %(seed_tags)s)"
        " SELECT sum(count) AS total FROM minute_tag_totals"
        " WHERE tag IN (SELECT tag FROM seed) AND minute BETWEEN %(first)s AND %(last)s"
        " GROUP BY tag ORDER BY total DESC OFFSET %(limit)s - 1 LIMIT 1",
        {"first": first_minute, "last": last_minute, "limit": limit,
         "seed_span": (SEED_MINUTES - 1) * MINUTE, "seed_tags": limit + SEED_SPARE_TAGS},
    ).scalar()
    return int(bound or 0)


def minute_aggregates(conn: Connection, first_minute: datetime, last_minute: datetime, *,
                      tag: str | None = None, lang: str | None = None, country: str | None = None,
                      run_id: int | None = None) -> list[dict]:
    """Tweets per minute for every minute in [first_minute, last_minute], 0 where none was posted."""
    if last_minute < first_minute:
        return []
    # A tag filter needs a per-tag rollup: the totals alone, or the one that carries the other
    # filter columns too.
    others = (lang, country, run_id) != (None, None, None)
    table = "minute_counts" if tag is None else "minute_tag_counts" if others else "minute_tag_totals"
    filters = {"tag": tag, "lang": lang, "country": country, "run_id": run_id}
    conditions = "".join(f" AND {column} = %({column})s" for column, value in filters.items() if value is not None)
    rows = conn.exec_driver_sql(
        "SELECT m.minute, coalesce(c.count, 0) AS count"
        " FROM generate_series(CAST(%(first)s AS timestamptz), CAST(%(last)s AS timestamptz),"
        "                      interval '1 minute') AS m(minute)"
        " LEFT JOIN (SELECT minute, sum(count) AS count FROM " + table +
        "            WHERE minute BETWEEN %(first)s AND %(last)s" + conditions +
        "            GROUP BY minute) c ON c.minute = m.minute"
        " ORDER BY m.minute",
        {"first": first_minute, "last": last_minute,
         **{column: value for column, value in filters.items() if value is not None}},
    )
    return [{"minute": _iso(minute), "count": int(count)} for minute, count in rows]


def user_tweets(conn: Connection, username: str, limit: int) -> dict | None:
    """An author's profile and newest tweets; None when no such author was stored."""
    # One statement, so one snapshot: the profile's tweet_count and the tweets listed agree even
    # while a batch for this author commits (two autocommit statements could each see another).
    # Usernames can move between accounts over time: the account seen most recently holds it.
    # Rows as tuples, hashtags as JSON text for orjson (psycopg2 decodes jsonb with the json
    # module): 1.35 ms of Python for 200 tweets, where mappings and json took 1.9 ms (measured
    # on the earlier two-statement form; the whole call took 0.89-0.94 ms in either form).
    rows = conn.exec_driver_sql(
        "WITH author AS (SELECT id, username, name, followers, tweet_count FROM users"
        "                WHERE lower(username) = lower(%(username)s) ORDER BY seen_at DESC LIMIT 1)"
        " SELECT a.username, a.name, a.followers, a.tweet_count,"
        "        t.id, t.text, t.created_at, t.lang, t.country_code, t.hashtags::text"
        "   FROM author a LEFT JOIN LATERAL ("
        "        SELECT id, text, created_at, lang, country_code, hashtags FROM tweets"
        "         WHERE author_id = a.id ORDER BY created_at DESC, id DESC LIMIT %(limit)s) t ON true"
        "  ORDER BY t.created_at DESC, t.id DESC",
        {"username": username, "limit": limit},
    ).all()
    if not rows:
        return None
    name, display_name, followers, tweet_count = rows[0][:4]
    return {
        "username": name, "name": display_name, "followers": int(followers),
        "tweet_count": int(tweet_count),  # kept current by the write path
        "tweets": [
            {"id": str(tweet_id), "text": body, "created_at": _iso(created_at), "lang": lang,
             "country": country, "hashtags": orjson.loads(hashtags)}
            for *_, tweet_id, body, created_at, lang, country, hashtags in rows if tweet_id is not None
        ],
    }
