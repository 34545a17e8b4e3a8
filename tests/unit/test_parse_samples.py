"""The one parser on every shape of the real recorded payloads (data/x-api-samples)."""
import json

import pytest

from services.tweets.parse import parse_documents
from tests.system import SAMPLES


def read_plain(name):
    """The sample's tweets and users, read with plain json: an independent reading."""
    tweets, users, places, bad = [], {}, {}, 0
    for line in (SAMPLES / name).read_text().splitlines():
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        data = doc.get("data", doc)
        tweets += data if isinstance(data, list) else [data]
        for user in doc.get("includes", {}).get("users", []):
            users[user["id"]] = user
        for place in doc.get("includes", {}).get("places", []):
            places[place["id"]] = place
        if "author" in doc:
            users[doc["author"]["id"]] = doc["author"]
    return tweets, users, places, bad


@pytest.mark.parametrize("name, tweets, bad", [
    ("streaming_output_with_error.jsonl", 7, 1),
    ("geo_tweets.jsonl", 2, 0),
    ("brexit.jsonl", 100, 0),
    ("noflat.jsonl", 100, 0),
    ("flat.jsonl", 100, 0),
])
def test_every_sample_parses_with_its_authors(name, tweets, bad):
    batch = parse_documents((SAMPLES / name).read_bytes().splitlines())
    assert len(batch.tweets) == tweets
    assert batch.bad == bad
    assert batch.received == tweets + bad
    plain_tweets, plain_users, _, _ = read_plain(name)
    assert [t.id for t in batch.tweets] == [int(t["id"]) for t in plain_tweets]
    for parsed in batch.tweets:
        author = plain_users[str(parsed.author_id)]
        assert batch.users[parsed.author_id].username == author["username"]
        assert batch.users[parsed.author_id].followers == author["public_metrics"]["followers_count"]


def test_stream_messages_carry_places_with_country_codes():
    batch = parse_documents((SAMPLES / "streaming_output_with_error.jsonl").read_bytes().splitlines())
    countries = sorted(batch.places[t.place_id].country_code for t in batch.tweets)
    assert countries == ["GB", "GB", "MW", "US", "US", "US", "US"]


def test_fields_of_one_tweet():
    batch = parse_documents((SAMPLES / "streaming_output_with_error.jsonl").read_bytes().splitlines())
    fourth = batch.tweets[3]
    assert fourth.hashtags == ("DogsofTwitter", "dogs")
    assert fourth.created_at.tzinfo is not None
    assert fourth.lang == "en"
    first = batch.tweets[0]
    assert first.urls[0].startswith("https://twitter.com/blackheart_265/status/")


def test_flattened_and_paged_tweets_are_the_same_tweets():
    flat = parse_documents((SAMPLES / "flat.jsonl").read_bytes().splitlines())
    paged = parse_documents((SAMPLES / "noflat.jsonl").read_bytes().splitlines())
    assert [(t.id, t.text, t.author_id, t.hashtags) for t in flat.tweets] == \
           [(t.id, t.text, t.author_id, t.hashtags) for t in paged.tweets]


@pytest.mark.parametrize("line", [b"not json", b"[1, 2]", b'{"errors": [{"title": "operational-disconnect"}]}',
                                  b'{"data": {"id": "1"}}', b'"text"'])
def test_unreadable_items_are_counted_bad_never_raised(line):
    batch = parse_documents([line, b"", b"\r\n"])
    assert batch.bad == 1 and batch.tweets == []


def test_users_are_read_only_when_asked_for_and_unreadable_ones_are_absent():
    lines = [b'{"data": {"id": "1", "text": "hi", "created_at": "2021-04-01T15:52:31.000Z", "author_id": "7"},'
             b' "includes": {"users": [{"id": "7", "username": "seven", "public_metrics": {"followers_count": 3}},'
             b' {"id": "8", "username": "eight", "public_metrics": "not an object"}, {"username": "no id"}]}}']
    batch = parse_documents(lines)
    assert batch.users[7].username == "seven" and batch.users[7].followers == 3
    assert 8 not in batch.users and batch.users.get(8) is None
    assert list(batch.users) == [7] and len(batch.users) == 1
