"""The bulk loader leaves the database as the pipeline would: every rollup equals a GROUP BY over
the stored rows (its own tweets added to the ones the write path stored before), every author
is a user seen at its newest tweet, and the ledger accounts for every tweet once."""
import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from services.sources.synthetic import SyntheticSource
from services.storage.ingest import store_tweets
from services.storage.recount import ROLLUP_CHECKS
from services.tweets.parse import Place, Tweet, User, parse_documents
from tools.bulk_load import BULK_TWEET_ID_BASE, UPDATED_IN_PLACE, load


def rows(conn, sql: str) -> set[tuple]:
    return {tuple(row) for row in conn.execute(text(sql))}


def store_through_write_path(engine, count: int) -> None:
    """Tweets stored the pipeline's way first, so the loader must add to rollups that exist."""
    source = SyntheticSource(seed=17, rate=0)
    now = datetime.now(timezone.utc)
    parsed = parse_documents([source.item(position, now=now) for position in range(count)])
    with engine.begin() as conn:
        cursor = conn.connection.cursor()
        store_tweets(cursor, parsed.tweets, parsed.users, parsed.places, run_id=None)


@pytest.fixture
def loaded(clean_db, db_uri):
    store_through_write_path(clean_db, 300)
    # two loads, the first in uneven chunks: rollup rows are added to, chunk after chunk
    first = load(db_uri, 12_000, chunk_size=5_000, users=800, progress=lambda _line: None)
    second = load(db_uri, 8_000, chunk_size=8_000, users=800, progress=lambda _line: None)
    return clean_db, [first, second]


def test_rollups_equal_group_by_over_the_rows(loaded):
    engine, _ = loaded
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tweets")).scalar_one() == 20_300
        for table, (rollup, group_by) in ROLLUP_CHECKS.items():
            assert rows(conn, rollup) == rows(conn, group_by), table


def test_authors_are_users_seen_at_their_newest_tweet(loaded):
    engine, _ = loaded
    with engine.connect() as conn:
        authors = rows(conn, "SELECT author_id, max(created_at), count(*) FROM tweets GROUP BY 1")
        users = rows(conn, "SELECT id, seen_at, tweet_count FROM users")
        assert users == authors
        assert conn.execute(text(
            "SELECT count(*) FROM users WHERE followers < 0 OR username = ''")).scalar_one() == 0


def test_tags_places_and_hashtags_agree(loaded):
    engine, _ = loaded
    with engine.connect() as conn:
        # tweet_tags holds each tweet's hashtags, case-folded, once each
        assert rows(conn, "SELECT id, lower(tag) FROM tweets, jsonb_array_elements_text(hashtags) AS tag") \
            == rows(conn, "SELECT tweet_id, tag FROM tweet_tags")
        assert conn.execute(text(
            "SELECT count(*) FROM tweets t LEFT JOIN places p ON p.id = t.place_id"
            " WHERE t.place_id IS NOT NULL AND (p.id IS NULL OR p.country_code IS DISTINCT FROM t.country_code)"
        )).scalar_one() == 0
        assert conn.execute(text("SELECT count(DISTINCT place_id) FROM tweets")).scalar_one() > 5


def test_each_load_is_a_finished_run_whose_ledger_counts_every_tweet_once(loaded):
    engine, results = loaded
    with engine.connect() as conn:
        for result in results:
            run = conn.execute(text("SELECT status, source, position, stopped_at FROM runs WHERE id = :id"),
                               {"id": result["run_id"]}).one()
            assert (run.status, run.source, run.position) == ("finished", "bulk", result["tweets"])
            assert run.stopped_at is not None
            ledger = conn.execute(text(
                "SELECT sum(received), sum(matched), sum(stored), sum(bad), sum(end_pos - start_pos), max(end_pos)"
                "  FROM run_batches WHERE run_id = :id"), {"id": result["run_id"]}).one()
            assert tuple(ledger) == (result["tweets"],) * 3 + (0, result["tweets"], result["tweets"])
            stored = conn.execute(text("SELECT count(*), min(id), max(id) FROM tweets WHERE first_run_id = :id"),
                                  {"id": result["run_id"]}).one()
            assert tuple(stored) == (result["tweets"], result["first_id"], result["last_id"])
        assert results[0]["first_id"] == BULK_TWEET_ID_BASE
        assert results[1]["first_id"] == results[0]["last_id"] + 1


def test_the_tables_updated_in_place_are_vacuumed_after_the_last_chunk(loaded):
    engine, results = loaded
    with engine.connect() as conn:
        stopped_at = conn.execute(text("SELECT stopped_at FROM runs WHERE id = :id"),
                                  {"id": results[-1]["run_id"]}).scalar_one()
        vacuumed = dict(conn.execute(text(
            "SELECT relname, last_vacuum FROM pg_stat_user_tables WHERE relname = ANY(:tables)"),
            {"tables": list(UPDATED_IN_PLACE)}).all())
    assert set(vacuumed) == set(UPDATED_IN_PLACE)
    # a chunk's upserts leave dead row versions behind; the summing views would read through them
    assert all(at is not None and at >= stopped_at for at in vacuumed.values()), vacuumed


def test_created_at_spreads_over_the_last_seven_days(loaded):
    engine, _ = loaded
    with engine.connect() as conn:
        span = conn.execute(text(
            "SELECT extract(epoch FROM max(created_at) - min(created_at)) / 86400,"
            "       max(created_at) <= now() FROM tweets WHERE first_run_id IS NOT NULL")).one()
        assert 6.9 < span[0] <= 7.0 and span[1]


# Every table both ways fill, as rows that do not depend on when or in which transaction they were written.
EVERY_TABLE = {
    "tweets": "SELECT id, author_id, text, created_at, lang, place_id, country_code, hashtags::text, first_run_id FROM tweets",
    "tweet_tags": "SELECT tweet_id, tag, populated FROM tweet_tags",
    "users": "SELECT id, username, name, followers, seen_at, tweet_count FROM users",
    "places": "SELECT id, country_code, full_name FROM places",
    "hour_counts": "SELECT hour, count FROM hour_counts",
    "minute_counts": "SELECT minute, run_id, lang, country, count FROM minute_counts",
    "minute_tag_counts": "SELECT minute, tag, run_id, lang, country, count FROM minute_tag_counts",
    "minute_tag_totals": "SELECT minute, tag, count FROM minute_tag_totals",
    "tag_counts": "SELECT tag, country, lang, count FROM tag_counts",
}


def test_the_same_tweets_loaded_in_bulk_or_through_the_write_path_leave_every_table_equal(clean_db, db_uri):
    result = load(db_uri, 3_000, chunk_size=1_000, users=200, analyze=False, progress=lambda _line: None)
    with clean_db.connect() as conn:
        bulk = {table: rows(conn, sql) for table, sql in EVERY_TABLE.items()}
        run = conn.execute(text("SELECT * FROM runs WHERE id = :id"), {"id": result["run_id"]}).mappings().one()
    tweets = [Tweet(id=r[0], author_id=r[1], text=r[2], created_at=r[3], lang=r[4], place_id=r[5],
                    hashtags=tuple(json.loads(r[7])), mentions=(), urls=()) for r in bulk["tweets"]]
    users = {r[0]: User(id=r[0], username=r[1], name=r[2], followers=r[3]) for r in bulk["users"]}
    places = {r[0]: Place(id=r[0], country_code=r[1], full_name=r[2]) for r in bulk["places"]}

    with clean_db.begin() as conn:   # the same tweets, into an empty store, the filter's way
        conn.execute(text(f"TRUNCATE {', '.join(EVERY_TABLE)}, run_batches, run_totals"))
        store_tweets(conn.connection.cursor(), tweets, users, places, run_id=run["id"])
    with clean_db.connect() as conn:
        written = {table: rows(conn, sql) for table, sql in EVERY_TABLE.items()}

    assert all(bulk[table] for table in EVERY_TABLE), "the load filled every table"
    for table in EVERY_TABLE:
        assert written[table] == bulk[table], table
