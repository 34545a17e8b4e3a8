"""The views' SQL over a small, hand-made store: exact answers, and plans that stay off the tweets table."""
import re
from datetime import datetime, timezone

from sqlalchemy import event, text

from services.storage import views
from services.storage.ingest import store_tweets
from services.tweets.parse import Place, Tweet, User


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=timezone.utc)


def tweet(tweet_id, author_id, created_at, lang="en", hashtags=(), place_id=None) -> Tweet:
    return Tweet(id=tweet_id, text=f"tweet {tweet_id}", created_at=created_at, lang=lang, author_id=author_id,
                 hashtags=tuple(hashtags), mentions=(), urls=(), place_id=place_id)


def store(engine, tweets, users, places=(), populate_tag=None, run_id=None):
    with engine.begin() as conn:
        store_tweets(conn.connection.cursor(), tweets, {u.id: u for u in users}, {p.id: p for p in places},
                     run_id=run_id, populate_tag=populate_tag)


BERLIN = Place("p-berlin", "DE", "Berlin, Germany")


def fill(engine):
    """Seven tweets: two days, a populated page and a streamed one, an author seen twice."""
    store(engine, [
        tweet(1, 10, at(22, 13, 5), hashtags=("DevOps", "devops", "SRE")),   # one tweet, devops once
        tweet(2, 11, at(22, 13, 59), lang="de", place_id=BERLIN.id),
        tweet(3, 12, at(23, 2, 0), lang="es"),
    ], [User(10, "ann", "Ann", 500), User(11, "bob", "Bob", 900), User(12, "cid", "Cid", 900)],
        [BERLIN], populate_tag="devops")
    store(engine, [
        tweet(4, 13, at(23, 13, 30), hashtags=("sre",)),
        tweet(5, 14, at(23, 13, 31)),
        tweet(6, 15, at(24, 23, 59)),
        tweet(7, 10, at(24, 1, 0)),     # ann again, newer: her newer count wins
    ], [User(13, "dee", "Dee", 50), User(14, "eve", "Eve", 1), User(15, "Zed", "Zed", 900),
        User(10, "ann", "Ann", 1200)], run_id=None)


def test_top_users_are_the_five_most_followed_authors_ties_by_username(clean_db):
    fill(clean_db)
    with clean_db.connect() as conn:
        assert views.top_users(conn) == [
            {"username": "ann", "followers": 1200},
            {"username": "Zed", "followers": 900},   # byte order (C collation): capitals first
            {"username": "bob", "followers": 900},
            {"username": "cid", "followers": 900},
            {"username": "dee", "followers": 50},
        ]


def test_tweets_per_hour_in_time_order_and_per_hour_of_day(clean_db):
    fill(clean_db)
    with clean_db.connect() as conn:
        assert views.tweets_per_hour(conn) == [
            {"date": "2026-11-22T13:00:00Z", "count": 2},
            {"date": "2026-11-23T02:00:00Z", "count": 1},
            {"date": "2026-11-23T13:00:00Z", "count": 2},
            {"date": "2026-11-24T01:00:00Z", "count": 1},
            {"date": "2026-11-24T23:00:00Z", "count": 1},
        ]
        by_hour_of_day = views.tweets_per_hour_of_day(conn)
    assert [row["hour"] for row in by_hour_of_day] == list(range(24))
    assert {row["hour"]: row["count"] for row in by_hour_of_day if row["count"]} == {1: 1, 2: 1, 13: 4, 23: 1}


def test_tag_counts_count_each_tag_of_a_tweet_once_by_country_and_language(clean_db):
    fill(clean_db)
    with clean_db.connect() as conn:
        assert views.tag_counts(conn, 1000) == [
            {"tag": "sre", "country": "unknown", "language": "en", "count": 2},
            {"tag": "devops", "country": "DE", "language": "de", "count": 1},
            {"tag": "devops", "country": "unknown", "language": "en", "count": 1},
            {"tag": "devops", "country": "unknown", "language": "es", "count": 1},
        ]
        assert views.tag_counts(conn, 2) == [
            {"tag": "sre", "country": "unknown", "language": "en", "count": 2},
            {"tag": "devops", "country": "DE", "language": "de", "count": 1},
        ]


def test_the_views_read_only_rollups_and_indexed_tables(clean_db):
    fill(clean_db)
    statements = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    with clean_db.connect() as conn:
        event.listen(conn, "before_cursor_execute", remember)
        views.top_users(conn)
        views.tweets_per_hour(conn)
        views.tweets_per_hour_of_day(conn)
        views.tag_counts(conn, 1000)
        event.remove(conn, "before_cursor_execute", remember)
        # the planner picks the index the way it would on a big table
        conn.execute(text("SET enable_seqscan = off"))
        plans = ["\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
                 for statement, parameters in statements]
    assert len(plans) == 4
    read = set()
    for plan in plans:
        read.update(re.findall(r" on (\w+)", plan))
    assert read <= {"users", "users_by_followers", "hour_counts", "hour_counts_pkey",
                    "tag_counts", "tag_counts_by_count"}, plans
    assert "users_by_followers" in plans[0]
    # the top rows come off the count index; only ties on count get sorted
    assert "tag_counts_by_count" in plans[3] and "Incremental Sort" in plans[3]
