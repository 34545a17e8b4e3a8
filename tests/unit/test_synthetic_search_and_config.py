"""The synthetic source's recent search (the pages populate stores) and how a source is built from the config.

Search pages are read at a fixed moment (the module's clock replaced by one that stands still), so a
tweet's time can be checked to the second; the clock's naive local time is that of a machine at UTC+14,
so a time read without its zone shows.
"""
import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import orjson
import pytest

from services.settings import default
from services.sources import synthetic
from services.sources.synthetic import SEARCH_ID_BASE, TWEET_ID_BASE, SyntheticSource
from services.tweets.parse import parse_documents

NOW = datetime(2024, 3, 10, 12, 0, 0, tzinfo=timezone.utc)
WEEK = timedelta(days=7)
USERS = 400   # a small user table: the search draws from it all the same


class StillClock(datetime):
    """``datetime`` whose now() is NOW (with microseconds, which search must drop)."""

    @classmethod
    def now(cls, tz=None):
        moment = NOW.replace(microsecond=987_654)
        if tz is None:   # naive local time, on a machine at UTC+14
            return moment.astimezone(ZoneInfo("Pacific/Kiritimati")).replace(tzinfo=None)
        return moment.astimezone(tz)


@pytest.fixture(autouse=True)
def still_clock(monkeypatch):
    monkeypatch.setattr(synthetic, "datetime", StillClock)


def tag_key(tag: str) -> int:
    """The tag's place in populate's id space, as the source's documentation gives it."""
    return sum(ord(c) * 31 ** i for i, c in enumerate(tag.casefold())) % 1_000_000


def search_id(tag: str, index: int) -> int:
    return SEARCH_ID_BASE + tag_key(tag) * 100_000 + index


def search(tag: str, limit: int, seed: int = 3) -> list[dict]:
    return list(SyntheticSource(seed=seed, users=USERS).search(tag, limit))


def tweets_of(pages: list[dict]) -> list[dict]:
    return [tweet for page in pages for tweet in page["data"]]


def expected_tweet(source: SyntheticSource, tag: str, index: int) -> dict:
    """Tweet ``index`` of #tag: drawn from its own random state, made of the seed, the tag and the index."""
    rng = random.Random((source.seed * 1_000_003 + tag_key(tag)) * 10_007 + index)
    created = NOW - timedelta(seconds=rng.randrange(7 * 24 * 3600))
    return source.tweet(search_id(tag, index), rng, created, forced_tag=tag)[0]


# -- pages, their sizes and their meta ------------------------------------------------------------

@pytest.mark.parametrize("limit, sizes", [
    (0, []), (1, [1]), (99, [99]), (100, [100]), (101, [100, 1]), (200, [100, 100]), (250, [100, 100, 50]),
])
def test_search_answers_exactly_limit_tweets_in_pages_of_at_most_100(limit, sizes):
    pages = search("devops", limit)
    assert [len(page["data"]) for page in pages] == sizes
    assert [page["meta"]["result_count"] for page in pages] == sizes
    assert len(tweets_of(pages)) == limit


@pytest.mark.parametrize("limit, tokens", [
    (1, [None]), (100, [None]), (101, ["devops-100", None]), (250, ["devops-100", "devops-200", None]),
])
def test_every_page_but_the_last_names_the_next_one(limit, tokens):
    pages = search("devops", limit)
    assert [page["meta"].get("next_token") for page in pages] == tokens
    assert all(("next_token" in page["meta"]) == (token is not None) for page, token in zip(pages, tokens, strict=True))


def test_a_page_has_data_includes_and_meta_and_its_meta_names_its_newest_and_oldest_tweet():
    for page in search("sre", 150):
        assert set(page) == {"data", "includes", "meta"}
        data, meta = page["data"], page["meta"]
        assert set(meta) - {"next_token"} == {"result_count", "newest_id", "oldest_id"}
        assert meta["result_count"] == len(data)
        assert meta["newest_id"] == data[0]["id"] and meta["oldest_id"] == data[-1]["id"]
        assert meta["newest_id"] != meta["oldest_id"]


def test_a_page_of_one_tweet_names_it_newest_and_oldest():
    [page] = search("sre", 1)
    assert page["meta"] == {"result_count": 1, "newest_id": str(search_id("sre", 0)),
                            "oldest_id": str(search_id("sre", 0))}


def test_each_page_lists_its_tweets_newest_first():
    for page in search("oauth", 250):
        times = [tweet["created_at"] for tweet in page["data"]]
        assert times == sorted(times, reverse=True)
        assert times[0] > times[-1]


# -- the tweets -----------------------------------------------------------------------------------

def test_every_tweet_carries_the_tag_in_its_text_and_its_hashtags():
    for tweet in tweets_of(search("Kubernetes", 120)):
        assert "#Kubernetes" in tweet["text"]
        assert "Kubernetes" in [h["tag"] for h in tweet["entities"]["hashtags"]]


def test_tweet_n_of_a_tag_has_the_id_its_index_gives_in_populates_id_space():
    tag = "devops"
    assert tag_key(tag) == 210_147   # 3,399,210,147 modulo a million
    tweets = tweets_of(search(tag, 250))
    assert sorted(int(tweet["id"]) for tweet in tweets) == [1_400_000_021_014_700_000 + i for i in range(250)]
    assert all(tweet["id"] == tweet["conversation_id"] == tweet["edit_history_tweet_ids"][0] for tweet in tweets)
    # below every stream id: a populated tweet never takes a streamed tweet's id
    assert all(SEARCH_ID_BASE <= int(tweet["id"]) < TWEET_ID_BASE for tweet in tweets)


def test_a_tags_ids_do_not_depend_on_its_case_and_differ_from_another_tags():
    ids = {tag: [tweet["id"] for tweet in tweets_of(search(tag, 5))] for tag in ("DevOps", "devops", "metrics")}
    assert sorted(ids["DevOps"]) == sorted(ids["devops"]) == [str(search_id("devops", i)) for i in range(5)]
    assert sorted(ids["metrics"]) == [str(search_id("metrics", i)) for i in range(5)]
    assert not set(ids["metrics"]) & set(ids["devops"])


def test_every_tweet_was_created_in_the_last_seven_days_in_utc_to_the_second():
    tweets = tweets_of(search("observability", 250))
    times = [datetime.strptime(tweet["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
             for tweet in tweets]
    assert all(NOW - WEEK <= moment <= NOW for moment in times)
    assert all(tweet["created_at"].endswith(".000Z") for tweet in tweets)
    # spread over the week, not bunched into its first hours
    assert min(times) < NOW - timedelta(days=6) and max(times) > NOW - timedelta(hours=12)


def test_tweet_n_is_drawn_from_a_state_made_of_the_seed_the_tag_and_n_alone():
    source = SyntheticSource(seed=3, users=USERS)
    tweets = {tweet["id"]: tweet for tweet in tweets_of(list(source.search("remediation", 230)))}
    for index in range(230):
        expected = expected_tweet(source, "remediation", index)
        assert tweets[expected["id"]] == expected, index


def test_the_same_seed_gives_the_same_pages_and_another_seed_other_tweets():
    first, again, other = search("python", 120, seed=3), search("python", 120, seed=3), search("python", 120, seed=4)
    assert first == again
    texts, other_texts = [t["text"] for t in tweets_of(first)], [t["text"] for t in tweets_of(other)]
    assert len(set(texts) & set(other_texts)) < 5


def test_includes_hold_each_user_place_tweet_and_medium_the_pages_tweets_refer_to_once():
    for page in search("microservices", 250):
        data, includes = page["data"], page["includes"]
        users = {user["id"] for user in includes["users"]}
        places = {place["id"] for place in includes.get("places", [])}
        quoted = {tweet["id"]: tweet for tweet in includes.get("tweets", [])}
        media = {medium["media_key"] for medium in includes.get("media", [])}
        assert len(users) == len(includes["users"]) and len(places) == len(includes.get("places", []))
        referred_users, referred_places, referred_media = set(), set(), set()
        for tweet in data:
            referred_users.add(tweet["author_id"])
            referred_users.update(m["id"] for m in tweet["entities"].get("mentions", ()))
            if "in_reply_to_user_id" in tweet:
                referred_users.add(tweet["in_reply_to_user_id"])
            for ref in tweet.get("referenced_tweets", ()):
                if ref["type"] != "replied_to":
                    assert ref["id"] in quoted
                    referred_users.add(quoted[ref["id"]]["author_id"])
                    referred_users.update(m["id"] for m in quoted[ref["id"]]["entities"].get("mentions", ()))
            if "geo" in tweet:
                referred_places.add(tweet["geo"]["place_id"])
            referred_media.update(tweet.get("attachments", {}).get("media_keys", ()))
        assert users == referred_users
        assert places == referred_places and places   # 30% of tweets have a place: a page has some
        assert media == referred_media and media


def test_search_pages_parse_into_the_tweets_with_their_authors_and_places():
    pages = search("openbanking", 101)
    batch = parse_documents(orjson.dumps(page) for page in pages)
    assert batch.bad == 0 and len(batch.tweets) == 101
    assert all("openbanking" in tweet.hashtags and tweet.author_id in batch.users for tweet in batch.tweets)
    placed = [tweet for tweet in batch.tweets if tweet.place_id]
    assert placed and all(tweet.place_id in batch.places for tweet in placed)


# -- from_config ----------------------------------------------------------------------------------

@pytest.fixture
def no_synthetic_environment(monkeypatch):
    monkeypatch.delenv("SYNTHETIC_SEED", raising=False)
    monkeypatch.delenv("SYNTHETIC_RATE", raising=False)


def test_seed_and_rate_given_as_arguments_win_over_the_config(no_synthetic_environment):
    source = SyntheticSource.from_config({"SYNTHETIC_SEED": 9, "SYNTHETIC_RATE": 5}, seed=2, rate=7.5)
    assert (source.seed, source.rate) == (2, 7.5)


def test_seed_and_rate_come_from_the_config_when_not_given(no_synthetic_environment):
    source = SyntheticSource.from_config({"SYNTHETIC_SEED": "2", "SYNTHETIC_RATE": "12.5"})
    assert (source.seed, source.rate) == (2, 12.5)
    assert type(source.seed) is int and type(source.rate) is float


def test_without_config_or_arguments_seed_and_rate_are_config_ymls_defaults(no_synthetic_environment):
    assert (default("SYNTHETIC_SEED"), default("SYNTHETIC_RATE")) == (1, 50)
    for config in ({}, {"SYNTHETIC_SEED": "", "SYNTHETIC_RATE": ""}, {"SYNTHETIC_SEED": None, "SYNTHETIC_RATE": None}):
        source = SyntheticSource.from_config(config)
        assert (source.seed, source.rate) == (1, 50.0), config


def test_a_setting_missing_from_the_config_is_read_from_the_environment_as_nameko_run_would(monkeypatch):
    monkeypatch.setenv("SYNTHETIC_SEED", "2")
    monkeypatch.setenv("SYNTHETIC_RATE", "0.5")
    source = SyntheticSource.from_config({})
    assert (source.seed, source.rate) == (2, 0.5)


def test_a_rate_or_seed_of_zero_is_kept_and_not_taken_for_the_default(no_synthetic_environment):
    source = SyntheticSource.from_config({}, seed=0, rate=0)
    assert (source.seed, source.rate) == (0, 0.0)
    source = SyntheticSource.from_config({"SYNTHETIC_SEED": 0, "SYNTHETIC_RATE": 0})
    assert (source.seed, source.rate) == (0, 0.0)


def test_limit_and_run_id_are_passed_through_and_other_options_ignored(no_synthetic_environment):
    source = SyntheticSource.from_config({}, seed=1, rate=0, limit=3, run_id=12, track=["x"], bearer_token="t")
    assert (source.limit, source.run_id) == (3, 12)
    items = [orjson.loads(item) for item in source.stream([])]
    assert len(items) == 3
    assert items[0]["matching_rules"] == [{"id": "1700000000000000012", "tag": "tweetstream-run-12"}]
    unlimited = SyntheticSource.from_config({}, seed=1)
    assert (unlimited.limit, unlimited.run_id) == (None, None)
