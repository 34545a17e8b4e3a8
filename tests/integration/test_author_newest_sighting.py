"""An author's row holds what its newest tweet said about it, whatever order the tweets are
stored in, within one write and across writes."""
from datetime import datetime, timedelta, timezone

from sqlalchemy import text

from services.storage.ingest import store_tweets
from services.tweets.parse import Tweet, User

AUTHOR = 4242
NOON = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)


def tweet(tweet_id: int, created_at: datetime) -> Tweet:
    return Tweet(id=tweet_id, text="hello there", created_at=created_at, lang="en", author_id=AUTHOR,
                 hashtags=(), mentions=(), urls=(), place_id=None)


def store(engine, tweets: list[Tweet], followers: int) -> None:
    users = {AUTHOR: User(id=AUTHOR, username=f"ann{followers}", name="Ann", followers=followers)}
    with engine.begin() as conn:
        store_tweets(conn.connection.cursor(), tweets, users, {}, run_id=None)


def author_row(engine):
    with engine.connect() as conn:
        return conn.execute(text("SELECT username, followers, seen_at, tweet_count FROM users WHERE id = :id"),
                            {"id": AUTHOR}).one()


def test_within_one_write_the_authors_newest_tweet_sets_when_it_was_last_seen(clean_db):
    # the newest tweet first, then an older one: the row says when the newest was written
    store(clean_db, [tweet(1, NOON), tweet(2, NOON - timedelta(hours=2)), tweet(3, NOON - timedelta(hours=1))],
          followers=500)
    row = author_row(clean_db)
    assert (row.followers, row.seen_at, row.tweet_count) == (500, NOON, 3), row


def test_a_later_write_of_a_tweet_older_than_the_newest_of_an_earlier_write_does_not_overwrite_the_author(
        clean_db):
    store(clean_db, [tweet(1, NOON), tweet(2, NOON - timedelta(hours=2))], followers=500)
    # written afterwards, but from before noon: its follower count is older than the one stored
    store(clean_db, [tweet(3, NOON - timedelta(hours=1))], followers=300)
    row = author_row(clean_db)
    assert (row.username, row.followers, row.seen_at, row.tweet_count) == ("ann500", 500, NOON, 3), row


def test_across_writes_the_newer_sighting_wins_and_an_older_one_arriving_later_does_not(clean_db):
    store(clean_db, [tweet(1, NOON)], followers=100)
    store(clean_db, [tweet(2, NOON + timedelta(minutes=5))], followers=200)
    row = author_row(clean_db)
    assert (row.username, row.followers, row.seen_at) == ("ann200", 200, NOON + timedelta(minutes=5)), row

    store(clean_db, [tweet(3, NOON - timedelta(days=1))], followers=50)
    row = author_row(clean_db)
    assert (row.username, row.followers, row.seen_at, row.tweet_count) == (
        "ann200", 200, NOON + timedelta(minutes=5), 3), row
