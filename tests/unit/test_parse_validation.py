"""Validation while parsing, item by item, in the cases the rules were written for: a value the
store cannot hold costs its own item (counted bad, with a reason) or is normalised, never the page
or batch it came with."""
import json
from collections import Counter
from datetime import datetime, timezone

import orjson
import pytest

from services.tweets import parse
from services.tweets.parse import ParsedBatch, add_document, parse_documents
from tests.unit.parse_checks import (
    BIGINT_MAX, DEEP, PLACEHOLDER, Raw, assert_storable, baseline, encode, read_generally, records, sample_lines,
)


# -- the cases the rules were written for ---------------------------------------------------------

def brexit_page() -> dict:
    return orjson.loads(sample_lines("brexit.jsonl")[0])


def test_a_search_page_of_100_real_tweets_with_one_20_digit_id_gives_99_tweets_and_one_bad_with_its_reason():
    page = brexit_page()
    page["data"][37]["id"] = "1" * 20
    batch = parse_documents([orjson.dumps(page)])
    assert len(batch.tweets) == 99 and batch.bad == 1
    assert batch.bad_reasons == Counter({"id out of range": 1})
    assert [t.id for t in batch.tweets] == [int(t["id"]) for i, t in enumerate(page["data"]) if i != 37]
    assert_storable(batch)


@pytest.mark.parametrize("followers", [2**63, 2**64, 10**30, -1])
def test_an_author_with_a_follower_count_a_bigint_cannot_hold_is_absent_and_the_page_is_read(followers):
    page = brexit_page()
    author = page["includes"]["users"][0]
    author["public_metrics"]["followers_count"] = followers
    batch = parse_documents([json.dumps(page).encode()])
    assert len(batch.tweets) == 100 and batch.bad == 0
    assert int(author["id"]) not in batch.users
    assert sum(t.author_id == int(author["id"]) for t in batch.tweets) >= 1   # the author's tweets stay
    assert_storable(batch)


def test_the_largest_follower_count_a_bigint_holds_is_kept():
    page = brexit_page()
    page["includes"]["users"][0]["public_metrics"]["followers_count"] = BIGINT_MAX
    batch = parse_documents([orjson.dumps(page)])
    assert batch.users[int(page["includes"]["users"][0]["id"])].followers == BIGINT_MAX


@pytest.mark.parametrize("field, value, reason", [
    ("id", "0", "id out of range"), ("id", "-5", "id out of range"), ("id", str(2**63), "id out of range"),
    ("id", 2**64, "id out of range"), ("id", 10**30, "id out of range"), ("id", "12x", "bad id"),
    ("id", [1], "bad id"), ("author_id", str(2**63), "author_id out of range"), ("author_id", None, "bad author_id"),
    ("text", 5, "bad text"), ("text", ["a"], "bad text"), ("lang", 5, "bad lang"),
    ("lang", "x" * 36, "lang too long"), ("created_at", "yesterday", "bad created_at"),
    ("created_at", 20210401, "bad created_at"), ("created_at", "0001-01-01T00:00:00Z", "created_at out of range"),
    ("created_at", "9999-12-31T23:00:00-14:00", "created_at out of range"),
    ("entities", {"hashtags": [{"tag": "x" * 501}]}, "hashtag too long"),
    ("entities", {"hashtags": [{"tag": "é" * 251}]}, "hashtag too long"),
    ("entities", {"hashtags": [{"tag": 5}]}, "bad hashtag"), ("entities", {"hashtags": ["tag"]}, "bad hashtags"),
    ("entities", {"mentions": [{"username": 7}]}, "bad mentions"), ("entities", [1], "bad entities"),
    ("geo", {"place_id": "p" * 501}, "place_id too long"), ("geo", {"place_id": 12}, "bad place_id"),
])
def test_a_tweet_with_a_value_the_store_cannot_hold_is_bad_with_its_reason(field, value, reason):
    page = brexit_page()
    page["data"][3][field] = value
    for batch in (parse_documents([encode(page, None)]), parse_documents([json.loads(encode(page, None))])):
        assert len(batch.tweets) == 99 and batch.bad_reasons == Counter({reason: 1})


@pytest.mark.parametrize("field", ["id", "text", "created_at", "author_id"])
def test_a_tweet_missing_a_required_field_is_bad_for_that_field(field):
    page = brexit_page()
    del page["data"][3][field]
    batch = parse_documents([orjson.dumps(page)])
    assert len(batch.tweets) == 99 and batch.bad_reasons == Counter({f"missing field {field}": 1})


@pytest.mark.parametrize("value, read", [(123, 123), (True, 1), (1.9, 1), (" 77 ", 77), ("١٢٣", 123)])
def test_ids_are_read_as_int_reads_them_as_the_general_reader_always_did(value, read):
    page = brexit_page()
    page["data"][3]["id"] = value
    batch = parse_documents([orjson.dumps(page)])
    assert batch.bad == 0 and batch.tweets[3].id == read


def test_the_longest_keys_the_rules_allow_are_kept():
    page = brexit_page()
    tweet = page["data"][3]
    tweet["lang"] = "x" * 35
    tweet["entities"] = {"hashtags": [{"tag": "é" * 250}, {"tag": "ΐ" * 250}]}   # 500 bytes each
    tweet["geo"] = {"place_id": "p" * 500}
    batch = parse_documents([orjson.dumps(page)])
    assert batch.bad == 0
    assert batch.tweets[3].hashtags == ("é" * 250, "ΐ" * 250) and batch.tweets[3].place_id == "p" * 500
    assert_storable(batch)


def test_nuls_are_dropped_from_every_stored_string_and_the_item_kept():
    line = orjson.loads(sample_lines("streaming_output_with_error.jsonl")[0])
    tweet, user, place = line["data"], line["includes"]["users"][0], line["includes"]["places"][0]
    tweet["text"] = "\x00a\x00b"
    tweet["lang"] = "e\x00n"
    tweet["entities"] = {"hashtags": [{"tag": "do\x00gs"}, {"tag": "\x00"}]}
    place_id = place["id"]
    tweet["geo"] = {"place_id": place_id[:3] + "\x00" + place_id[3:]}
    place["id"] = "\x00" + place_id
    place["country_code"], place["full_name"] = "U\x00S", "Some\x00where"
    user["id"] = tweet["author_id"]
    user["username"], user["name"] = "na\x00me", "Na\x00me"
    for batch in (parse_documents([orjson.dumps(line)]), parse_documents([line])):
        assert batch.bad == 0
        (read,) = batch.tweets
        assert (read.text, read.lang, read.hashtags, read.place_id) == ("ab", "en", ("dogs",), place_id)
        assert batch.places[place_id] == parse.Place(place_id, "US", "Somewhere")
        author = batch.users[read.author_id]
        assert (author.username, author.name) == ("name", "Name")
        assert_storable(batch)


def test_a_lone_surrogate_costs_only_the_item_that_holds_it_in_raw_lines_and_in_decoded_documents():
    page = brexit_page()
    page["data"][5]["text"] = PLACEHOLDER
    raw = encode(page, Raw(b'"broken \\ud83d emoji"'))
    decoded = json.loads(raw)   # what response.json() gives: the stdlib keeps the lone surrogate
    assert "\ud83d" in decoded["data"][5]["text"]
    for batch in (parse_documents([raw]), parse_documents([raw.decode("utf-8")]), parse_documents([decoded])):
        assert len(batch.tweets) == 99 and batch.bad_reasons == Counter({"invalid UTF-8": 1})
        assert_storable(batch)


def test_a_user_or_place_holding_a_lone_surrogate_is_unreadable_and_its_tweets_are_kept():
    line = orjson.loads(sample_lines("streaming_output_with_error.jsonl")[0])
    author = next(u for u in line["includes"]["users"] if u["id"] == line["data"]["author_id"])
    author["name"] = "x\udc00"
    line["includes"]["places"][0]["full_name"] = "y\ud800"
    batch = parse_documents([line])
    assert len(batch.tweets) == 1 and batch.bad == 0
    assert int(author["id"]) not in batch.users and not batch.places
    assert_storable(batch)


def test_bytes_that_are_not_utf8_inside_one_tweet_of_a_page_cost_only_that_tweet():
    page = brexit_page()
    page["data"][8]["text"] = PLACEHOLDER
    batch = parse_documents([encode(page, Raw(b'"caf\xe9"'))])
    assert len(batch.tweets) == 99 and batch.bad_reasons == Counter({"invalid UTF-8": 1})


def test_nesting_deeper_than_orjson_reads_costs_only_the_part_that_holds_it():
    page = brexit_page()
    page["data"][8]["an_unknown_field"] = PLACEHOLDER
    page["includes"]["users"][4]["an_unknown_field"] = "another"
    raw = encode(page, DEEP).replace(b'"another"', DEEP.text)
    batch = parse_documents([raw])
    assert len(batch.tweets) == 99 and batch.bad_reasons == Counter({"too deeply nested": 1})
    assert int(page["includes"]["users"][4]["id"]) not in batch.users
    assert len(list(batch.users)) == len(list(baseline("brexit page").users)) - 1


def test_deep_nesting_outside_a_stream_messages_tweet_leaves_the_tweet_and_inside_it_makes_it_bad():
    line = sample_lines("streaming_output_with_error.jsonl")[0]
    outside = line.replace(b'"matching_rules"', b'"x": ' + DEEP.text + b', "matching_rules"')
    inside = line.replace(b'"data": {', b'"data": {"x": ' + DEEP.text + b", ", 1)
    assert inside != line and outside != line
    expected = parse_documents([line])
    assert records(parse_documents([outside])) == records(expected)
    batch = parse_documents([inside])
    assert batch.tweets == [] and batch.bad_reasons == Counter({"too deeply nested": 1})
    assert records(read_generally([inside])) == records(batch)


def test_a_flattened_tweet_nested_too_deep_is_bad_and_its_author_kept():
    lines = list(sample_lines("flat.jsonl")[:3])
    doc = orjson.loads(lines[1])
    doc["an_unknown_field"] = PLACEHOLDER
    lines[1] = encode(doc, DEEP)
    batch = parse_documents(lines)
    assert len(batch.tweets) == 2 and batch.bad_reasons == Counter({"too deeply nested": 1})
    assert batch.users[int(doc["author"]["id"])] == parse_documents([orjson.dumps(dict(doc, an_unknown_field=1))]) \
        .users[int(doc["author"]["id"])]


@pytest.mark.parametrize("value, expected", [
    ("2021-04-01T15:52:31.000Z", datetime(2021, 4, 1, 15, 52, 31, tzinfo=timezone.utc)),
    ("2021-04-01T15:52:31", datetime(2021, 4, 1, 15, 52, 31, tzinfo=timezone.utc)),           # naive: UTC
    ("2021-04-01T17:52:31+02:00", datetime(2021, 4, 1, 15, 52, 31, tzinfo=timezone.utc)),
    ("0001-01-02T00:00:00Z", datetime(1, 1, 2, tzinfo=timezone.utc)),
    ("9999-12-30T00:00:00Z", datetime(9999, 12, 30, tzinfo=timezone.utc)),
])
def test_created_at_is_read_as_an_aware_moment_in_utc(value, expected):
    moment = parse.parse_created_at(value)
    assert moment == expected and moment.tzinfo is timezone.utc


def test_every_bad_item_has_a_reason_and_bad_is_their_sum():
    lines = [b"{not json", b'"\\ud800"', b"\xff\xfe", b"[1, 2]", b"42", b'{"errors": [{"title": "x"}]}',
             b'{"meta": {}}', b"[" * 5000 + b"]" * 5000, b"", b"\r\n"]
    batch = parse_documents(lines)
    assert batch.bad == 8 == sum(batch.bad_reasons.values())
    assert batch.bad_reasons == Counter({"not a tweet": 4, "not JSON": 1, "invalid UTF-8": 1, "API error": 1,
                                         "too deeply nested": 1})
    assert parse_documents(sample_lines("streaming_output_with_error.jsonl")).bad_reasons == Counter({"not JSON": 1})


def test_a_document_already_decoded_that_is_not_an_object_is_counted_not_raised():
    batch = ParsedBatch()
    for doc in (None, 5, "x", [1], {"data": 5}, {"data": [5, None, "x"]}):
        add_document(doc, batch)
    assert batch.bad == 6 + 2 and batch.bad_reasons == Counter({"not a tweet": 8})
