"""A raw line read by the typed stream-message reader gives exactly what the general reader
gives for the same document, whatever shape or odd field it has."""
import copy
import functools

import orjson
import pytest

from services.sources.synthetic import SyntheticSource
from services.tweets.parse import ParsedBatch, _add_stream_message, parse_documents
from services.tweets.track import TrackMatcher
from tests.system import SAMPLES


def records(batch) -> tuple:
    return batch.tweets, {user_id: batch.users[user_id] for user_id in batch.users}, batch.places, batch.bad


def read_both_ways(lines: list[bytes]) -> tuple[tuple, tuple]:
    """(as raw lines, through the fast reader where it applies; as decoded documents, never through it)"""
    return records(parse_documents(lines)), records(parse_documents([orjson.loads(line) for line in lines]))


@functools.lru_cache(maxsize=1)
def synthetic_source() -> SyntheticSource:
    return SyntheticSource(seed=7, rate=0)


def synthetic_message() -> dict:
    return orjson.loads(synthetic_source().item(3))


def changed(path: tuple, value) -> bytes:
    """The synthetic message with the field at ``path`` set (or removed, for ...)."""
    doc = synthetic_message()
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value
    return orjson.dumps(doc)


@pytest.mark.parametrize("name", ["streaming_output_with_error.jsonl", "geo_tweets.jsonl", "brexit.jsonl",
                                  "noflat.jsonl", "flat.jsonl"])
def test_the_recorded_samples_read_the_same_both_ways(name):
    lines = [line for line in (SAMPLES / name).read_bytes().splitlines() if line.strip()]
    decodable = []
    for line in lines:
        try:
            orjson.loads(line)
            decodable.append(line)
        except orjson.JSONDecodeError:
            pass
    fast, general = read_both_ways(decodable)
    assert fast == general
    assert fast[0]   # some tweets were read


def test_synthetic_stream_messages_take_the_fast_reader_and_read_the_same():
    lines = [synthetic_source().item(position) for position in range(300)]
    for line in lines:
        _add_stream_message(line, ParsedBatch(), None)   # none falls back (it raises)
    fast, general = read_both_ways(lines)
    assert fast == general
    assert len(fast[0]) == 300 and fast[1]


@pytest.mark.parametrize("path, value", [
    (("data", "lang"), None), (("data", "lang"), ...), (("data", "lang"), 5),
    (("data", "entities"), None), (("data", "entities"), ...), (("data", "entities"), {"hashtags": None}),
    (("data", "entities"), {"hashtags": [{"tag": None}, {"start": 1}, {"tag": ""}, {"tag": "Ok"}]}),
    (("data", "entities"), {"hashtags": ["notanobject"]}),
    (("data", "entities"), {"urls": [{"url": "https://t.co/a"}, {"expanded_url": None, "url": None}]}),
    (("data", "entities"), {"mentions": [{"username": 7}]}),
    (("data", "geo"), None), (("data", "geo"), {"place_id": None}), (("data", "geo"), {"place_id": 12}),
    (("data", "id"), 123), (("data", "id"), "12x"), (("data", "id"), ...),
    (("data", "text"), 5), (("data", "created_at"), "yesterday"), (("data", "author_id"), None),
    (("includes",), ...), (("includes",), None), (("includes", "users"), None), (("includes", "users"), "x"),
    (("includes",), [1]), (("includes",), "x"), (("includes", "users"), 5), (("includes", "places"), {"id": "p"}),
    (("includes", "users"), [{"id": "1", "username": "a", "public_metrics": {"followers_count": None}}]),
    (("includes", "users"), [{"id": "1", "username": "a", "public_metrics": {"followers_count": "12"}}]),
    (("includes", "users"), [{"id": "1", "username": "a", "public_metrics": {"followers_count": True}}]),
    (("includes", "users"), [{"id": "1", "username": "a", "name": None}, {"id": "x1", "username": "b"}]),
    (("includes", "users"), [{"id": 2, "username": "b"}, {"id": "3"}]),
    (("includes", "places"), [{"id": 5, "country_code": "US"}, {"country_code": "FR"}]),
    (("includes", "places"), [{"id": "p1", "country_code": None, "full_name": "Somewhere"}]),
    (("data",), [{"id": "1", "text": "a page", "created_at": "2024-05-01T12:00:00.000Z", "author_id": "2"}]),
    (("data",), ...), (("data",), "text"),
])
def test_odd_fields_read_the_same_both_ways(path, value):
    line = changed(path, value)
    fast, general = read_both_ways([line])
    assert fast == general


def test_a_user_seen_twice_keeps_its_latest_sighting_whichever_reader_read_it():
    first = synthetic_message()
    author = copy.deepcopy(first["includes"]["users"][0])
    later = copy.deepcopy(first)
    later["data"]["id"] = str(int(first["data"]["id"]) + 1)
    later["includes"]["users"] = [dict(author, username="renamed")]
    odd = copy.deepcopy(later)
    odd["data"]["id"] = str(int(first["data"]["id"]) + 2)
    odd["includes"]["users"] = [dict(author, username="renamed_again", public_metrics={"followers_count": "5"})]
    lines = [orjson.dumps(first), orjson.dumps(later), orjson.dumps(odd)]   # the last one falls back
    fast, general = read_both_ways(lines)
    assert fast == general
    assert fast[1][int(author["id"])].username == "renamed_again"


def test_lines_that_are_not_json_objects_are_counted_bad():
    batch = parse_documents([b"{not json", b'"\\ud800"', b"\xff\xfe", b"[1, 2]", b"42"])
    assert batch.bad == 5 and not batch.tweets


def read_wanted_both_ways(lines: list[bytes], matcher: TrackMatcher) -> tuple[tuple, tuple]:
    """What ``wanted`` keeps, read as raw lines and as decoded documents, with what was left out."""
    def kept(batch):
        return records(batch), batch.unwanted, batch.received
    return (kept(parse_documents(lines, wanted=matcher.matches_parts)),
            kept(parse_documents([orjson.loads(line) for line in lines], wanted=matcher.matches_parts)))


def test_wanted_keeps_the_matching_tweets_and_counts_the_others():
    lines = [synthetic_source().item(position) for position in range(300)]
    everything = parse_documents(lines)
    matcher = TrackMatcher([everything.tweets[0].text.split()[0], *everything.tweets[5].hashtags[:1], "nosuchword"])
    fast, general = read_wanted_both_ways(lines, matcher)
    assert fast == general
    (tweets, users, places, bad), unwanted, received = fast
    assert tweets == [t for t in everything.tweets if matcher.matches(t)]
    assert 0 < len(tweets) < 300 and unwanted == 300 - len(tweets) and bad == 0 and received == 300
    assert all(users[t.author_id] == everything.users[t.author_id] for t in tweets)
    assert len(users) < len(list(everything.users))   # the users of the tweets left out were not read


@pytest.mark.parametrize("path, value", [
    (("includes", "users"), "x"), (("includes", "users"), [{"id": "x1", "username": "b"}]),
    (("includes", "places"), [{"id": 5}]), (("data", "id"), "12x"), (("data", "created_at"), "yesterday"),
])
def test_an_odd_line_counts_the_same_whether_wanted_or_not(path, value):
    line = changed(path, value)
    text = orjson.loads(line)["data"]["text"]
    for matcher, kept in ((TrackMatcher([text.split()[0]]), 1), (TrackMatcher(["nosuchword"]), 0)):
        fast, general = read_wanted_both_ways([line], matcher)
        assert fast == general
        (tweets, _users, _places, bad), _unwanted, _received = fast
        assert len(tweets) == (0 if bad else kept)   # a bad tweet is bad whatever is wanted
