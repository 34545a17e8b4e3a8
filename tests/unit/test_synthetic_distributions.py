"""The synthetic source's mix, read from its stream messages and pinned with stated tolerances.

The expected shares are written here, not read from the source's constants: a changed mix fails.
Each observed share over N messages must lie within 4 standard deviations of its expected value
(for a deterministic seed the test always gives the same answer; the tolerance says how far a
correct source could plausibly be, so it is not tuned to one seed's luck):

* a language is drawn per position: a binomial over N, sd = sqrt(p(1 - p) / N); the language
  table has 256 slots, so each share may also be off by up to one slot, 1/256;
* a place, a retweet, a quote, a reply and media belong to the message's body, one of a pool
  of 4,096 bodies each drawn once: the pool's own share varies as a binomial over 4,096 and the
  N messages sample the pool, so sd = sqrt(p(1 - p) * (1/N + 1/4096)).
"""
import math
from collections import Counter

import orjson
import pytest

from services.sources.synthetic import SyntheticSource

N = 20_000
BODY_POOL_SIZE = 4096
LANGUAGE_SLOTS = 256
SIGMAS = 4

LANGUAGE_SHARES = {"en": 0.46, "es": 0.10, "ja": 0.09, "pt": 0.07, "ar": 0.05, "fr": 0.04, "tr": 0.03,
                   "ko": 0.03, "de": 0.03, "in": 0.03, "hi": 0.02, "it": 0.02, "und": 0.03}
POPULATE_TAGS = ("openbanking", "remediation", "devops", "sre", "microservices",
                 "observability", "oauth", "metrics", "logmonitoring", "opentracing")


def language_tolerance(p: float) -> float:
    return SIGMAS * math.sqrt(p * (1 - p) / N) + 1 / LANGUAGE_SLOTS


def body_tolerance(p: float) -> float:
    return SIGMAS * math.sqrt(p * (1 - p) * (1 / N + 1 / BODY_POOL_SIZE))


@pytest.fixture(scope="module")
def stream():
    """What each of the first N messages of seed 8 carries (the whole messages would take 200 MB)."""
    source = SyntheticSource(seed=8, rate=0)
    read = []
    for position in range(N):
        data = orjson.loads(source.item(position))["data"]
        read.append({"lang": data["lang"], "place": "geo" in data,
                     "referenced": [ref["type"] for ref in data.get("referenced_tweets", ())],
                     "media": bool(data.get("attachments", {}).get("media_keys")),
                     "tags": [tag["tag"] for tag in data.get("entities", {}).get("hashtags", ())]})
    return read


def share(stream, has) -> float:
    return sum(1 for message in stream if has(message)) / len(stream)


@pytest.mark.parametrize("lang, expected", sorted(LANGUAGE_SHARES.items()))
def test_each_language_has_its_share_of_the_stream(stream, lang, expected):
    observed = share(stream, lambda message: message["lang"] == lang)
    tolerance = language_tolerance(expected)
    assert abs(observed - expected) <= tolerance, (
        f"{lang}: {observed:.4f} of {N} messages, expected {expected} +- {tolerance:.4f}")


def test_the_stream_speaks_only_the_languages_of_the_mix(stream):
    assert {message["lang"] for message in stream} == set(LANGUAGE_SHARES)


@pytest.mark.parametrize("what, has, expected", [
    ("a place", lambda m: m["place"], 0.30),
    ("a retweet", lambda m: m["referenced"] == ["retweeted"], 0.35),
    ("a quote", lambda m: m["referenced"] == ["quoted"], 0.08),
    ("a reply", lambda m: m["referenced"] == ["replied_to"], 0.12),
    ("media", lambda m: m["media"], 0.25),
])
def test_places_retweets_quotes_replies_and_media_have_their_share_of_the_stream(stream, what, has, expected):
    observed = share(stream, has)
    tolerance = body_tolerance(expected)
    assert abs(observed - expected) <= tolerance, (
        f"{what}: {observed:.4f} of {N} messages, expected {expected} +- {tolerance:.4f}")


def test_a_message_refers_to_one_tweet_at_most(stream):
    assert max(len(message["referenced"]) for message in stream) == 1


def test_hashtags_follow_zipfs_law_with_every_populate_tag_in_the_stream(stream):
    counts = Counter(tag for message in stream for tag in message["tags"])
    assert set(POPULATE_TAGS) <= set(counts), f"populate tags missing: {set(POPULATE_TAGS) - set(counts)}"
    ranked = [count for _, count in counts.most_common()]
    # Zipf with s = 1.1 over the 40 tags: the first is about 20^1.1 = 27 times the 20th (the median)
    median = ranked[len(ranked) // 2]
    assert ranked[0] >= 10 * median, f"most frequent {ranked[0]}, median {median}: not a Zipf head"
    # and log(count) falls with log(rank) at a slope near -s over the 20 most frequent tags
    xs = [math.log(rank) for rank in range(1, 21)]
    ys = [math.log(count) for count in ranked[:20]]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = (sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
             / sum((x - mean_x) ** 2 for x in xs))
    assert -1.4 <= slope <= -0.8, f"log-log slope of the tag counts: {slope:.3f}, expected about -1.1"
