"""Populate and the views against the real PostgreSQL: the query service in a Nameko container,
the synthetic source (stage) and the local fake X API serving the recorded samples (production).

Expected figures for the recorded samples are worked out here from the sample files with
plain ``json``, not with the project's parser.
"""
import json
from collections import Counter

import pytest
from nameko.testing.services import entrypoint_hook
from sqlalchemy import text

from services.contracts.errors import SourceFailed
from services.query import QueryService
from services.query.populate import populate_tags
from services.sources.base import SourceError, TweetSource
from services.sources.synthetic import SyntheticSource
from tests.fakes.fake_x_api import SEARCH_FILES, FakeXApi
from tests.system import SAMPLES

TOKEN = "populate-test-bearer-token"


# --- expected figures, from the sample files ------------------------------------------

def recorded_pages(*names):
    for name in names:
        for line in (SAMPLES / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                yield json.loads(line)


def expected_views(tweets: list[dict], followers: dict[str, tuple[str, int]],
                   country_of_place: dict[str, str], extra_tags=()) -> dict:
    """What users, hour and tags must say about these stored tweets.

    ``followers``: author id -> (username, follower count) as the store should keep it.
    ``extra_tags``: the populate tags every tweet was fetched for.
    """
    authors = {followers[t["author_id"]] for t in tweets if t["author_id"] in followers}
    users = [{"username": name, "followers": count}
             for name, count in sorted(authors, key=lambda a: (-a[1], a[0]))[:5]]
    hours = Counter(t["created_at"][:13] + ":00:00Z" for t in tweets)
    tags = Counter()
    for t in tweets:
        country = country_of_place.get((t.get("geo") or {}).get("place_id"), "unknown")
        carried = {h["tag"].casefold() for h in (t.get("entities") or {}).get("hashtags", [])}
        for tag in carried | set(extra_tags):
            tags[(tag, country, t.get("lang") or "und")] += 1
    return {
        "users": users,
        "hour": [{"date": hour, "count": n} for hour, n in sorted(hours.items())],
        "tags": sorted(({"tag": k[0], "country": k[1], "language": k[2], "count": n} for k, n in tags.items()),
                       key=lambda row: (-row["count"], row["tag"], row["country"], row["language"])),
    }


def store_figures(engine) -> dict:
    """Counts taken from the stored rows themselves, to hold the rollups against."""
    with engine.connect() as conn:
        return {
            "tweets": conn.execute(text("SELECT count(*) FROM tweets")).scalar(),
            "tags": dict(conn.execute(text("SELECT tag, count(*) FROM tweet_tags GROUP BY tag")).all()),
            "users": conn.execute(text("SELECT username, followers FROM users ORDER BY id")).all(),
        }


# --- the service in a container -------------------------------------------------------

@pytest.fixture
def query_service(container_factory, nameko_config, clean_db):
    """Call QueryService entrypoints by name, on a running container over an empty store."""
    def start(**config):
        container = container_factory(QueryService, dict(nameko_config, **config))
        container.start()

        def call(method, *args):
            with entrypoint_hook(container, method) as entrypoint:
                return entrypoint(*args)
        return call
    return start


def test_populate_stores_each_tag_once_and_the_views_agree_with_the_store(query_service, clean_db):
    call = query_service()

    answer = call("populate", {"tags": ["DevOps", "sre", "#oauth"], "per_tag": 50})

    assert answer["stored"] == {"devops": 50, "sre": 50, "oauth": 50}
    assert answer["total"] == 150 and answer["fetched"] == {"devops": 50, "sre": 50, "oauth": 50}
    stored = store_figures(clean_db)
    assert stored["tweets"] == 150
    assert sum(row["count"] for row in call("tweets_per_hour")) == 150
    assert sum(row["count"] for row in call("tweets_per_hour", {"by": "hour_of_day"})) == 150
    tag_rows = call("tag_counts", {"limit": 10_000})
    per_tag = Counter()
    for row in tag_rows:
        per_tag[row["tag"]] += row["count"]
    assert per_tag == Counter(stored["tags"])   # every tag of every stored tweet, counted once
    assert all(per_tag[tag] >= 50 for tag in ("devops", "sre", "oauth"))
    top = sorted(stored["users"], key=lambda u: (-u[1], u[0]))[:5]
    assert call("top_users") == [{"username": u, "followers": f} for u, f in top]

    again = call("populate", {"tags": ["devops", "sre", "oauth"], "per_tag": 50})

    assert again["total"] == 0 and again["fetched"] == {"devops": 50, "sre": 50, "oauth": 50}
    assert store_figures(clean_db) == stored
    assert sum(row["count"] for row in call("tweets_per_hour")) == 150


def test_populate_by_default_fetches_a_hundred_tweets_for_each_of_the_ten_tags(query_service, clean_db):
    answer = query_service()("populate", None)

    assert list(answer["stored"]) == ["openbanking", "remediation", "devops", "sre", "microservices",
                                      "observability", "oauth", "metrics", "logmonitoring", "opentracing"]
    assert set(answer["fetched"].values()) == {100}
    assert answer["total"] == sum(answer["stored"].values()) == store_figures(clean_db)["tweets"] == 1000


class FailingAfterOnePage(TweetSource):
    """A source that delivers one real page, then fails as a rate-limited API would."""
    name = "flaky"

    def __init__(self):
        self.pages = SyntheticSource(seed=3, rate=0)

    def stream(self, track, start=0):
        raise NotImplementedError

    def search(self, tag, limit):
        yield next(self.pages.search(tag, 100))
        raise SourceError("X API search failed: HTTP 429 Too Many Requests; gave up after 5 retries")


def test_a_source_failure_names_the_cause_and_keeps_whole_pages_with_their_rollups(clean_db):
    with pytest.raises(SourceFailed) as failure:
        populate_tags(clean_db, FailingAfterOnePage(), ["devops", "sre"], 300)

    message = str(failure.value)
    assert "#devops" in message and "HTTP 429" in message and "100 tweets were stored" in message
    stored = store_figures(clean_db)
    assert stored["tweets"] == 100
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT sum(count) FROM hour_counts")).scalar() == 100
        tag_totals = dict(conn.execute(text("SELECT tag, sum(count)::bigint FROM tag_counts GROUP BY tag")).all())
    assert tag_totals == stored["tags"] and stored["tags"]["devops"] == 100


def test_a_source_that_cannot_be_built_is_a_source_failure(query_service):
    call = query_service(SOURCE="nosuch")

    with pytest.raises(Exception) as failure:
        call("populate", {"tags": ["devops"], "per_tag": 10})

    # entrypoint_hook re-raises the worker's exception as it was raised
    assert type(failure.value) is SourceFailed and "unknown source 'nosuch'" in str(failure.value)


def test_the_views_of_an_empty_store_are_empty(query_service):
    call = query_service()

    assert call("top_users") == []
    assert call("tweets_per_hour") == []
    assert call("tag_counts") == []
    assert call("tweets_per_hour", {"by": "hour_of_day"}) == [{"hour": h, "count": 0} for h in range(24)]


# --- production flavor: the X API source against the fake ----------------------------

def fake_search_expectations(populate_tags_: list[str]) -> dict:
    """What the fake serves to any search: the tweets of SEARCH_FILES in order, each author's
    profile as recorded last across the files (the fake keeps one profile per user id)."""
    tweets: dict[str, dict] = {}
    profiles: dict[str, tuple[str, int]] = {}
    places: dict[str, str] = {}
    for page in recorded_pages(*SEARCH_FILES):
        for tweet in page.get("data", []):
            tweets.setdefault(tweet["id"], tweet)   # a tweet already stored is not stored again
        for user in page.get("includes", {}).get("users", []):
            profiles[user["id"]] = (user["username"], user["public_metrics"]["followers_count"])
        for place in page.get("includes", {}).get("places", []):
            if place.get("country_code"):
                places[place["id"]] = place["country_code"]
    return {"count": len(tweets), **expected_views(list(tweets.values()), profiles, places, populate_tags_)}


def test_production_populate_from_the_x_api_gives_the_figures_of_the_recorded_tweets(
        query_service, monkeypatch):
    monkeypatch.setenv("X_BEARER_TOKEN", TOKEN)
    with FakeXApi(token=TOKEN) as api:
        call = query_service(FLAVOR="production", X_API_BASE_URL=api.base_url, X_RETRY_INITIAL="0.05")

        answer = call("populate", {"tags": ["Brexit", "devops"], "per_tag": 1000})

        searched = [r.params["query"] for r in api.requests_to("/2/tweets/search/recent")]
    expected = fake_search_expectations(["brexit", "devops"])
    assert expected["count"] == 202
    # the fake answers every query with the same recordings: devops finds nothing new
    assert answer["stored"] == {"brexit": 202, "devops": 0}
    assert answer["fetched"] == {"brexit": 202, "devops": 202}
    assert searched == ["#brexit -is:retweet"] * 3 + ["#devops -is:retweet"] * 3
    assert call("top_users") == expected["users"]
    assert call("tweets_per_hour") == expected["hour"]
    assert call("tag_counts", {"limit": 10_000}) == expected["tags"]
    assert any(row["country"] == "DE" for row in expected["tags"])   # the geo tweet's place counts
