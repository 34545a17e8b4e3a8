"""The rollups recounted from the stored rows.

Ingest keeps every rollup current in the transaction that stores the rows (``ingest.ROLLUPS_SQL``),
and the bulk loader adds to them with the same SQL; each rollup must then equal a GROUP BY over the
rows it counts. ``rollup_differences`` says, for each, how many rows differ: the bench's
``verified`` and the write-path tests ask it, and an operator can after a repair.
"""
from services.storage.schema import POPULATE_RUN_ID, UNKNOWN_COUNTRY

__all__ = ["ROLLUP_CHECKS", "rollup_differences", "rows_differing"]

# UTC hours and minutes, as ingest counts them; run_totals from the ledger, users.tweet_count from the tweets
ROLLUP_CHECKS = {
    "hour_counts": (
        "SELECT hour, count FROM hour_counts",
        "SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', count(*)"
        "  FROM tweets GROUP BY 1",
    ),
    "minute_counts": (
        "SELECT minute, run_id, lang, country, count FROM minute_counts",
        "SELECT date_trunc('minute', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',"
        f"       coalesce(first_run_id, {POPULATE_RUN_ID}), lang, coalesce(country_code, '{UNKNOWN_COUNTRY}'), count(*)"
        "  FROM tweets GROUP BY 1, 2, 3, 4",
    ),
    "tag_counts": (
        "SELECT tag, country, lang, count FROM tag_counts",
        f"SELECT g.tag, coalesce(t.country_code, '{UNKNOWN_COUNTRY}'), t.lang, count(*)"
        "  FROM tweet_tags g JOIN tweets t ON t.id = g.tweet_id GROUP BY 1, 2, 3",
    ),
    "minute_tag_counts": (
        "SELECT minute, tag, run_id, lang, country, count FROM minute_tag_counts",
        "SELECT date_trunc('minute', t.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', g.tag,"
        f"       coalesce(t.first_run_id, {POPULATE_RUN_ID}), t.lang, coalesce(t.country_code, '{UNKNOWN_COUNTRY}'), count(*)"
        "  FROM tweet_tags g JOIN tweets t ON t.id = g.tweet_id GROUP BY 1, 2, 3, 4, 5",
    ),
    "minute_tag_totals": (
        "SELECT minute, tag, count FROM minute_tag_totals",
        "SELECT date_trunc('minute', t.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', g.tag, count(*)"
        "  FROM tweet_tags g JOIN tweets t ON t.id = g.tweet_id GROUP BY 1, 2",
    ),
    "run_totals": (
        "SELECT run_id, items, received, matched, bad, stored FROM run_totals",
        "SELECT run_id, sum(end_pos - start_pos), sum(received), sum(matched), sum(bad), sum(stored)"
        "  FROM run_batches GROUP BY 1",
    ),
    "users.tweet_count": (
        "SELECT id, tweet_count FROM users",
        "SELECT author_id, count(*) FROM tweets GROUP BY 1",
    ),
}


def rows_differing(cursor, rollup: str, group_by: str) -> int:
    """How many rows one of the two statements gives and the other does not (0: equal)."""
    cursor.execute(f"SELECT count(*) FROM (({rollup}) EXCEPT ALL ({group_by})"
                   f" UNION ALL (({group_by}) EXCEPT ALL ({rollup}))) AS differing")
    return cursor.fetchone()[0]


def rollup_differences(cursor) -> dict[str, int]:
    """For each rollup (ROLLUP_CHECKS), the rows in which it and its GROUP BY differ (a DB-API cursor)."""
    return {table: rows_differing(cursor, rollup, group_by) for table, (rollup, group_by) in ROLLUP_CHECKS.items()}
