"""twarc2's flattened tweets (data/x-api-samples/flat.jsonl): one tweet a line, its author inlined as
``author`` and its place merged into ``geo``, read field by field.

Each document is read both ways the parser is given one: as a raw line (the stream-message reader
refuses it and the general reader takes it) and as a document already decoded.
"""
from collections import Counter
from datetime import datetime, timezone

import orjson
import pytest

from services.tweets.parse import ParsedBatch, Place, Tweet, User, add_document, parse_documents
from tests.unit.parse_checks import assert_storable, read_generally, records, sample_lines

MANHATTAN = {"place_id": "01a9a39529b27f36", "id": "01a9a39529b27f36", "full_name": "Manhattan, NY",
             "name": "Manhattan", "country": "United States", "country_code": "US", "place_type": "city",
             "geo": {"type": "Feature", "bbox": [-74.03, 40.68, -73.91, 40.88], "properties": {}}}


def flattened(**fields) -> dict:
    """A flattened tweet as twarc2 writes it, with ``fields`` set (None: the field left out)."""
    doc = {
        "id": "1380242413445337098", "text": "Why not #Obama @Breaking911 https://t.co/x", "lang": "en",
        "created_at": "2021-04-08T19:33:29.000Z", "author_id": "2850254543", "conversation_id": "1",
        "entities": {"hashtags": [{"start": 8, "end": 14, "tag": "Obama"}],
                     "mentions": [{"start": 15, "end": 27, "username": "Breaking911", "id": "371381075"}],
                     "urls": [{"start": 28, "end": 41, "url": "https://t.co/x",
                               "expanded_url": "https://example.com/a/b", "display_url": "example.com/a/b"}]},
        "author": {"id": "2850254543", "username": "GForrester406", "name": "G Forrester",
                   "created_at": "2014-10-10T00:00:00.000Z",
                   "public_metrics": {"followers_count": 1951, "following_count": 10, "tweet_count": 5,
                                      "listed_count": 0}},
        "__twarc": {"url": "https://api.twitter.com/2/tweets/search/recent", "version": "2.0.0"},
    }
    doc.update(fields)
    return {key: value for key, value in doc.items() if value is not None}


def both_ways(doc: dict) -> ParsedBatch:
    """The document read as a raw line and as a decoded document: the same records either way."""
    from_line = parse_documents([orjson.dumps(doc)])
    decoded = ParsedBatch()
    add_document(doc, decoded)
    assert records(from_line) == records(decoded)
    assert_storable(from_line)
    return from_line


def users_of(batch: ParsedBatch) -> dict:
    return {user_id: batch.users[user_id] for user_id in batch.users}


# -- the real recording ---------------------------------------------------------------------------

def test_every_real_flattened_line_gives_its_tweet_and_its_inline_author_field_by_field():
    lines = sample_lines("flat.jsonl")
    batch = parse_documents(lines)
    assert len(batch.tweets) == len(lines) == 100 and batch.bad == 0 and batch.unwanted == 0
    for line, tweet in zip(lines, batch.tweets, strict=True):
        doc = orjson.loads(line)
        author = doc["author"]
        assert tweet.id == int(doc["id"]) and tweet.author_id == int(doc["author_id"]) == int(author["id"])
        assert batch.users[tweet.author_id] == User(
            id=int(author["id"]), username=author["username"], name=author["name"],
            followers=author["public_metrics"]["followers_count"])
    assert records(read_generally(lines)) == records(batch)


def test_a_real_flattened_tweet_with_a_hashtag_a_mention_and_a_url_is_read_whole():
    batch = parse_documents([sample_lines("flat.jsonl")[23]])
    [tweet] = batch.tweets
    assert tweet.id == 1380242413445337098 and tweet.author_id == 815773577014349824
    assert tweet.hashtags == ("incompetentMoron",)
    assert tweet.mentions == ("Breaking911",)
    assert tweet.urls == ("https://twitter.com/GForrester406/status/1380242413445337098/photo/1",)
    assert tweet.lang == "en" and tweet.place_id is None
    assert tweet.created_at == datetime(2021, 4, 8, 19, 33, 29, tzinfo=timezone.utc)
    assert tweet.text.startswith("@Breaking911 Why didn’t Biden just invite Obama back")
    assert batch.users[tweet.author_id] == User(id=815773577014349824, username="GForrester406",
                                                name="Official Account of Phillip Becknell", followers=1951)
    assert batch.places == {}


# -- the tweet, field by field --------------------------------------------------------------------

def test_a_flattened_tweet_is_read_field_by_field_with_its_author():
    batch = both_ways(flattened())
    assert batch.tweets == [Tweet(
        id=1380242413445337098, text="Why not #Obama @Breaking911 https://t.co/x",
        created_at=datetime(2021, 4, 8, 19, 33, 29, tzinfo=timezone.utc), lang="en", author_id=2850254543,
        hashtags=("Obama",), mentions=("Breaking911",), urls=("https://example.com/a/b",), place_id=None)]
    assert users_of(batch) == {2850254543: User(id=2850254543, username="GForrester406", name="G Forrester",
                                                followers=1951)}
    assert batch.places == {} and batch.bad == 0 and batch.received == 1


def test_a_created_at_with_an_offset_is_kept_in_utc_and_a_missing_lang_is_und():
    batch = both_ways(flattened(created_at="2021-04-08T21:33:29+02:00", lang=None))
    [tweet] = batch.tweets
    assert tweet.created_at == datetime(2021, 4, 8, 19, 33, 29, tzinfo=timezone.utc)
    assert tweet.lang == "und"


def test_a_url_without_an_expanded_url_is_read_as_its_short_url():
    doc = flattened(entities={"urls": [{"start": 0, "end": 14, "url": "https://t.co/x"}]})
    [tweet] = both_ways(doc).tweets
    assert tweet.urls == ("https://t.co/x",) and tweet.hashtags == () and tweet.mentions == ()


def test_a_flattened_tweet_without_an_author_is_kept_with_its_author_id_and_no_user():
    batch = both_ways(flattened(author=None))
    assert [tweet.author_id for tweet in batch.tweets] == [2850254543]
    assert users_of(batch) == {} and batch.bad == 0


@pytest.mark.parametrize("author", ["GForrester406", ["2850254543"], 2850254543])
def test_an_author_that_is_not_an_object_is_ignored_and_the_tweet_kept(author):
    batch = both_ways(flattened(author=author))
    assert len(batch.tweets) == 1 and users_of(batch) == {} and batch.bad == 0


def test_an_inline_author_without_public_metrics_has_no_followers_counted():
    author = {"id": "2850254543", "username": "GForrester406", "name": "G Forrester"}
    batch = both_ways(flattened(author=author))
    assert users_of(batch) == {2850254543: User(id=2850254543, username="GForrester406", name="G Forrester",
                                                followers=0)}


def test_an_inline_author_without_a_name_is_named_empty():
    batch = both_ways(flattened(author={"id": "7", "username": "ann", "public_metrics": {"followers_count": 3}}))
    assert users_of(batch) == {7: User(id=7, username="ann", name="", followers=3)}


@pytest.mark.parametrize("author", [
    {"id": "2850254543", "username": "g", "public_metrics": {"followers_count": -1}},
    {"id": "2850254543", "username": "g", "public_metrics": {"followers_count": 2**63}},
    {"id": "2850254543", "name": "no username"},
    {"id": "0", "username": "g"},
    {"id": "2850254543", "username": "u" * 501},
])
def test_an_inline_author_that_cannot_be_stored_is_unreadable_and_its_tweet_kept(author):
    batch = both_ways(flattened(author=author))
    assert len(batch.tweets) == 1 and batch.bad == 0
    assert users_of(batch) == {}


def test_a_tweet_left_out_by_wanted_is_counted_unwanted_and_wanted_hears_its_parts():
    heard = []

    def wanted(text, hashtags, mentions, urls):
        heard.append((text, hashtags, mentions, urls))
        return False

    line = orjson.dumps(flattened())
    batch = parse_documents([line], wanted=wanted)
    assert batch.tweets == [] and batch.unwanted == 1 and batch.bad == 0 and batch.received == 1
    assert heard == [("Why not #Obama @Breaking911 https://t.co/x", ("Obama",), ("Breaking911",),
                      ("https://example.com/a/b",))]
    kept = parse_documents([line], wanted=lambda *parts: True)
    assert [tweet.id for tweet in kept.tweets] == [1380242413445337098] and kept.unwanted == 0


# -- the place merged into geo --------------------------------------------------------------------

def test_the_place_merged_into_geo_is_read_and_the_tweet_points_at_it():
    batch = both_ways(flattened(geo=MANHATTAN))
    assert batch.places == {"01a9a39529b27f36": Place(id="01a9a39529b27f36", country_code="US",
                                                      full_name="Manhattan, NY")}
    assert [tweet.place_id for tweet in batch.tweets] == ["01a9a39529b27f36"]


def test_a_merged_place_without_a_full_name_or_with_a_null_country_code_is_kept_as_it_is():
    geo = {"place_id": "abc123", "country_code": None}
    batch = both_ways(flattened(geo=geo))
    assert batch.places == {"abc123": Place(id="abc123", country_code=None, full_name=None)}
    assert batch.tweets[0].place_id == "abc123"


def test_a_geo_holding_only_a_place_id_is_a_reference_without_a_place():
    """Not merged (the place was not in the includes twarc2 flattened): no country_code, so no place."""
    batch = both_ways(flattened(geo={"place_id": "abc123", "full_name": "Somewhere"}))
    assert batch.places == {}
    assert [tweet.place_id for tweet in batch.tweets] == ["abc123"] and batch.bad == 0


def test_a_geo_with_a_country_code_but_no_place_id_gives_no_place_and_the_tweet_is_kept():
    for geo in ({"country_code": "US", "full_name": "Manhattan, NY"},
                {"place_id": "", "country_code": "US"}, {"place_id": None, "country_code": "US"}):
        batch = both_ways(flattened(geo=geo))
        assert batch.places == {}, geo
        assert len(batch.tweets) == 1 and batch.bad == 0, geo


def test_a_geo_with_only_coordinates_gives_no_place():
    batch = both_ways(flattened(geo={"coordinates": {"type": "Point", "coordinates": [-73.9, 40.7]}}))
    assert batch.places == {} and batch.tweets[0].place_id is None


def test_a_geo_that_is_not_an_object_makes_the_tweet_bad_and_gives_no_place():
    batch = both_ways(flattened(geo=["place_id", "country_code"]))
    assert batch.tweets == [] and batch.places == {}
    assert batch.bad_reasons == Counter({"bad geo": 1})


def test_an_empty_geo_is_no_geo():
    batch = both_ways(flattened(geo={}))
    assert batch.places == {} and batch.tweets[0].place_id is None and batch.bad == 0


def test_a_merged_place_with_a_country_code_too_long_is_dropped_and_its_tweet_kept():
    batch = both_ways(flattened(geo=dict(MANHATTAN, country_code="UNITEDSTATES")))
    assert batch.places == {}
    assert [tweet.place_id for tweet in batch.tweets] == ["01a9a39529b27f36"] and batch.bad == 0


def test_a_merged_place_whose_id_cannot_be_stored_is_dropped_and_its_tweet_bad_for_it():
    batch = both_ways(flattened(geo=dict(MANHATTAN, place_id="p" * 501)))
    assert batch.places == {} and batch.tweets == []
    assert batch.bad_reasons == Counter({"place_id too long": 1})
    batch = both_ways(flattened(geo=dict(MANHATTAN, place_id=12345)))
    assert batch.places == {} and batch.tweets == []
    assert batch.bad_reasons == Counter({"bad place_id": 1})


def test_a_merged_place_name_holding_nuls_is_kept_without_them():
    batch = both_ways(flattened(geo=dict(MANHATTAN, full_name="Man\x00hattan, NY", country_code="U\x00S")))
    assert batch.places["01a9a39529b27f36"] == Place(id="01a9a39529b27f36", country_code="US",
                                                     full_name="Manhattan, NY")


# -- bad values -----------------------------------------------------------------------------------

@pytest.mark.parametrize("fields, reason", [
    ({"created_at": "yesterday"}, "bad created_at"),
    ({"created_at": "0001-01-01T00:00:00Z"}, "created_at out of range"),
    ({"author_id": "-5"}, "author_id out of range"),
    ({"author_id": "someone"}, "bad author_id"),
    ({"id": str(2**63)}, "id out of range"),
    ({"lang": "x" * 36}, "lang too long"),
    ({"entities": {"hashtags": [{"tag": "h" * 501}]}}, "hashtag too long"),
    ({"entities": {"hashtags": "Obama"}}, "bad hashtags"),
    ({"entities": {"mentions": ["Breaking911"]}}, "bad mentions"),
    ({"entities": "none"}, "bad entities"),
    ({"text": 42}, "bad text"),
])
def test_a_flattened_tweet_with_a_bad_value_is_bad_with_its_reason_and_its_author_still_read(fields, reason):
    batch = both_ways(flattened(**fields))
    assert batch.tweets == [] and batch.bad == 1
    assert batch.bad_reasons == Counter({reason: 1})
    assert list(batch.users) == [2850254543]


@pytest.mark.parametrize("missing", ["created_at", "author_id"])
def test_a_flattened_tweet_missing_a_required_field_is_bad_for_that_field(missing):
    doc = flattened()
    del doc[missing]
    batch = both_ways(doc)
    assert batch.tweets == [] and batch.bad_reasons == Counter({f"missing field {missing}": 1})


def test_a_bad_flattened_tweet_costs_only_itself_among_good_ones():
    lines = [orjson.dumps(flattened(id=str(1000 + n))) for n in range(3)]
    lines.insert(1, orjson.dumps(flattened(id="1100", created_at="not a moment")))
    batch = parse_documents(lines)
    assert [tweet.id for tweet in batch.tweets] == [1000, 1001, 1002]
    assert batch.bad_reasons == Counter({"bad created_at": 1}) and batch.received == 4
