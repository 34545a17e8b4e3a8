"""The analytic views, as SQL over the rollups and indexed tables.

None of these reads the tweets table: at 10M tweets a GROUP BY over it takes seconds,
while the rollups (kept current by ``services.storage.ingest``) hold one row per hour
or per (tag, country, language), and the top authors come off the users_by_followers
index. Each function takes a SQLAlchemy connection and returns JSON-ready rows.
"""
from datetime import datetime, timezone


TOP_USERS = 5
HOURS_OF_DAY = range(24)


def top_users(conn, limit: int = TOP_USERS) -> list[dict]:
    """The most-followed authors, ties by username; one row per author with the newest count seen.

    Only authors are stored in users, so this is "among the stored tweets' authors".
    The ORDER BY matches the users_by_followers index: an index scan that stops after ``limit`` rows.
    """
    rows = conn.exec_driver_sql(
        "SELECT username, followers FROM users ORDER BY followers DESC, username LIMIT %(limit)s", {"limit": limit})
    return [{"username": username, "followers": followers} for username, followers in rows]


def _iso_hour(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:00:00Z")


def tweets_per_hour(conn) -> list[dict]:
    """Tweets per hour of created_at (UTC), in time order; hours without tweets are left out."""
    rows = conn.exec_driver_sql("SELECT hour, count FROM hour_counts ORDER BY hour")
    return [{"date": _iso_hour(hour), "count": count} for hour, count in rows]


def tweets_per_hour_of_day(conn) -> list[dict]:
    """Tweets per hour of the day (0..23, UTC) over every day; all 24 hours, zero when none."""
    rows = conn.exec_driver_sql(
        "SELECT extract(hour FROM hour AT TIME ZONE 'UTC')::int AS hour_of_day, sum(count)::bigint"
        " FROM hour_counts GROUP BY hour_of_day"
    )
    counts = dict(rows.all())
    return [{"hour": hour, "count": int(counts.get(hour, 0))} for hour in HOURS_OF_DAY]


def tag_counts(conn, limit: int) -> list[dict]:
    """Tweets per (tag, country, language), biggest first, then by tag, country, language.

    The tag_counts_by_count index gives the rows in count order, so only the ``limit``
    first ones (and their ties) are read and sorted.
    """
    rows = conn.exec_driver_sql(
        "SELECT tag, country, lang, count FROM tag_counts"
        " ORDER BY count DESC, tag, country, lang LIMIT %(limit)s", {"limit": limit})
    return [{"tag": tag, "country": country, "language": lang, "count": count}
            for tag, country, lang, count in rows]
