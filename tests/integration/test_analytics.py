"""The live analytics views over HTTP, against figures computed here from the tweets stored.

Tweets go in through the real write path (services.storage.ingest.store_tweets, which keeps the
rollups), the answers come from the running gateway and query service.
"""
import random
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event

from services.storage.analytics import user_tweets
from services.storage.database import make_engine
from services.storage.ingest import store_tweets
from services.tweets.parse import Place, Tweet, User

pytestmark = pytest.mark.integration

MINUTE = timedelta(minutes=1)
LANGS = ("en", "es", "und")
PLACES = {"p-us": Place("p-us", "US", "Austin, TX"), "p-gb": Place("p-gb", "GB", "Leeds")}
TAGS = ("Bieber", "bieber", "NBA", "Rust", "python", "music")
USERS = {1: User(1, "Alice_A", "Alice", 120), 2: User(2, "bob", "Bob", 5_000), 3: User(3, "carol", "Carol", 7)}


def minute_of(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


def make_tweets(now: datetime, count: int, first_id: int, rng: random.Random) -> list[Tweet]:
    """Tweets spread over the last 20 minutes, with tag, language and place mixes."""
    tweets = []
    for offset in range(count):
        created = now - timedelta(seconds=rng.randrange(20 * 60))
        tags = tuple(rng.sample(TAGS, rng.randrange(3)))
        tweets.append(Tweet(id=first_id + offset, text=f"tweet {offset} " + " ".join("#" + t for t in tags),
                            created_at=created, lang=rng.choice(LANGS), author_id=rng.choice(list(USERS)),
                            hashtags=tags, mentions=(), urls=(), place_id=rng.choice([None, "p-us", "p-gb"])))
    return tweets


def country(tweet: Tweet) -> str:
    return PLACES[tweet.place_id].country_code if tweet.place_id else "unknown"


def tags_of(tweet: Tweet, populate_tag: str | None) -> set[str]:
    """The tags a tweet is counted under: its hashtags case-folded, once each, and its populate tag."""
    return {tag.casefold() for tag in tweet.hashtags} | ({populate_tag} if populate_tag else set())


@pytest.fixture(scope="module")
def now():
    return datetime.now(timezone.utc)


@pytest.fixture
def stored(fresh_system, engine, now):
    """Two runs' tweets and a populated set, stored as the filter and populate store them."""
    rng = random.Random(5)
    run_1, run_2, populated = (make_tweets(now, 150, 1_000, rng), make_tweets(now, 100, 2_000, rng),
                               make_tweets(now, 40, 3_000, rng))
    with engine.begin() as conn:
        cursor = conn.connection.cursor()
        store_tweets(cursor, run_1, USERS, PLACES, run_id=1)
        store_tweets(cursor, run_2, USERS, PLACES, run_id=2)
        store_tweets(cursor, populated, USERS, PLACES, run_id=None, populate_tag="devops")
    # (tweet, run_id as the rollups key it, populate tag)
    return [(t, 1, None) for t in run_1] + [(t, 2, None) for t in run_2] + [(t, 0, "devops") for t in populated]


def expected_per_minute(stored, first: datetime, last: datetime, *, tag=None, lang=None, country_code=None,
                        run_id=None) -> list[dict]:
    counts = Counter(
        minute_of(t.created_at) for t, run, populate_tag in stored
        if (tag is None or tag in tags_of(t, populate_tag)) and (lang is None or t.lang == lang)
        and (country_code is None or country(t) == country_code) and (run_id is None or run == run_id)
    )
    minutes = []
    minute = first
    while minute <= last:
        minutes.append({"minute": iso(minute), "count": counts.get(minute, 0)})
        minute += MINUTE
    return minutes


def test_top_hashtags_over_the_last_minutes(stored, system):
    # "the last 10 minutes" is the server's; ask again if a minute began while asking
    while True:
        asked_in = minute_of(datetime.now(timezone.utc))
        answer = system.get("/api/v1/hashtags/top", params={"minutes": 10, "limit": 3})
        if minute_of(datetime.now(timezone.utc)) == asked_in:
            break
    assert answer.status_code == 200, answer.text
    top = answer.json()
    window_start = asked_in - 9 * MINUTE
    counts = Counter(tag for t, _, populate_tag in stored if t.created_at >= window_start
                     for tag in tags_of(t, populate_tag))
    expected = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:3]
    assert top == [{"tag": tag, "count": n} for tag, n in expected]
    # "Bieber" and "bieber" are one tag
    assert "bieber" in [t["tag"] for t in system.get("/api/v1/hashtags/top", params={"limit": 100}).json()]


def test_top_hashtags_over_a_range(stored, system, now):
    start, end = minute_of(now) - 15 * MINUTE, minute_of(now) - 5 * MINUTE
    counts = Counter(tag for t, _, populate_tag in stored if start <= t.created_at < end
                     for tag in tags_of(t, populate_tag))
    top = system.get("/api/v1/hashtags/top", params={"from": iso(start), "to": iso(end), "limit": 100}).json()
    assert {row["tag"]: row["count"] for row in top} == dict(counts)
    assert [row["count"] for row in top] == sorted((row["count"] for row in top), reverse=True)


def test_aggregates_give_every_minute_with_zeros(stored, system, now):
    # from 30 minutes back: the first ten have no tweet at all and must be there as 0
    start, end = minute_of(now) - 30 * MINUTE, now
    answer = system.get("/api/v1/aggregates", params={"from": iso(start), "to": iso(end)})
    assert answer.status_code == 200, answer.text
    minutes = answer.json()
    assert minutes == expected_per_minute(stored, start, minute_of(now))
    assert len(minutes) == 31 and minutes[0]["count"] == 0
    assert sum(m["count"] for m in minutes) == len(stored)


@pytest.mark.parametrize("filters", [
    {"tag": "bieber"}, {"tag": "#BIEBER"}, {"tag": "devops"}, {"lang": "es"}, {"country": "us"},
    {"country": "unknown"}, {"run_id": 2}, {"run_id": 0},
    {"tag": "nba", "lang": "en", "country": "GB"}, {"tag": "python", "run_id": 1}, {"tag": "nothere"},
])
def test_aggregate_filters_combine_with_and(stored, system, now, filters):
    start = minute_of(now) - 20 * MINUTE
    minutes = system.get("/api/v1/aggregates", params={"from": iso(start), "to": iso(now), **filters}).json()
    tag, code = filters.get("tag"), filters.get("country")
    expected = expected_per_minute(
        stored, start, minute_of(now), tag=tag and tag.lstrip("#").casefold(), lang=filters.get("lang"),
        country_code=code if code in (None, "unknown") else code.upper(), run_id=filters.get("run_id"))
    assert minutes == expected
    if filters != {"tag": "nothere"}:
        assert sum(m["count"] for m in minutes) > 0


def test_aggregates_over_seven_days(stored, system, now):
    start = now - timedelta(days=7)
    minutes = system.get("/api/v1/aggregates", params={"from": iso(start), "to": iso(now)}).json()
    assert len(minutes) == 7 * 24 * 60 + 1  # `from` falls inside a minute: that minute counts too
    assert sum(m["count"] for m in minutes) == len(stored)
    assert minutes[0]["minute"] == iso(minute_of(start))


def test_user_tweets_newest_first(stored, system):
    bobs = sorted((t for t, _, _ in stored if t.author_id == 2), key=lambda t: (t.created_at, t.id), reverse=True)
    answer = system.get("/api/v1/users/BOB/tweets", params={"limit": 5})
    assert answer.status_code == 200, answer.text
    profile = answer.json()
    assert (profile["username"], profile["followers"], profile["tweet_count"]) == ("bob", 5_000, len(bobs))
    assert [t["id"] for t in profile["tweets"]] == [str(t.id) for t in bobs[:5]]
    first = profile["tweets"][0]
    assert (first["text"], first["lang"], first["hashtags"]) == (bobs[0].text, bobs[0].lang, list(bobs[0].hashtags))
    assert datetime.fromisoformat(first["created_at"]) == bobs[0].created_at
    assert len(system.get("/api/v1/users/@bob/tweets").json()["tweets"]) == min(200, len(bobs))


def test_unknown_user_is_404(stored, system):
    answer = system.get("/api/v1/users/nobody_here/tweets")
    assert answer.status_code == 404
    assert "nobody_here" in answer.json()["error"]


@pytest.mark.parametrize("path, params, named", [
    ("/api/v1/aggregates", {"from": "last tuesday"}, "from"),
    ("/api/v1/aggregates", {"from": "2024-05-02T00:00:00Z", "to": "2024-05-01T00:00:00Z"}, "to"),
    ("/api/v1/aggregates", {"from": "2024-05-01T00:00:00Z", "to": "2024-05-09T00:00:00Z"}, "to"),
    ("/api/v1/aggregates", {"run_id": "x"}, "run_id"),
    ("/api/v1/hashtags/top", {"limit": "0"}, "limit"),
    ("/api/v1/hashtags/top", {"minutes": "99999"}, "minutes"),
    ("/api/v1/hashtags/top", {"to": "2024-05-01T00:00:00Z"}, "to"),
    ("/api/v1/users/bob/tweets", {"limit": "1001"}, "limit"),
    ("/api/v1/users/bob/tweets", {"limit": "0"}, "limit"),
    ("/api/v1/users/b%20b/tweets", {}, "username"),
])
def test_bad_input_is_400_with_a_reason(system, path, params, named):
    answer = system.get(path, params=params)
    assert answer.status_code == 400, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json()["error"].startswith(named + ":")


def test_user_tweets_count_agrees_with_the_tweets_listed_while_a_batch_commits(clean_db, db_uri, now):
    """The profile and its tweets come from one snapshot: a batch committed for the author while the
    view reads must not make tweet_count disagree with the tweets listed."""
    def tweet(tweet_id: int) -> Tweet:
        return Tweet(id=tweet_id, text=f"tweet {tweet_id}", created_at=now - timedelta(seconds=tweet_id), lang="en",
                     author_id=2, hashtags=(), mentions=(), urls=(), place_id=None)

    def store(tweets: list[Tweet]) -> None:
        with clean_db.begin() as conn:
            store_tweets(conn.connection.cursor(), tweets, USERS, {}, run_id=None)

    store([tweet(n) for n in range(1, 4)])
    reads = make_engine(db_uri, pool_size=1, pre_ping=False, autocommit=True)   # as the query service reads
    committed_meanwhile = []

    @event.listens_for(reads, "after_cursor_execute")
    def commit_a_batch_meanwhile(*_):
        if not committed_meanwhile:
            committed_meanwhile.append(True)
            store([tweet(4)])

    try:
        with reads.connect() as conn:
            profile = user_tweets(conn, "bob", 200)
    finally:
        reads.dispose()
    assert committed_meanwhile
    assert profile["tweet_count"] == len(profile["tweets"]) == 3
