"""Validation while parsing, item by item: a value the store cannot hold costs its own item
(counted bad, with a reason) or is normalised, never the page or batch it came with.

The property tests mutate one item of the real recorded payloads (data/x-api-samples) and
check that nothing raises, that every other item reads exactly as it did, and that every record
can be written the way services.storage.ingest writes it."""
import dataclasses
import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from unittest import mock

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.storage.ingest import store_tweets
from services.tweets import parse
from services.tweets.parse import ParsedBatch, add_document, parse_documents
from tests.system import SAMPLES

BIGINT_MAX = 2**63 - 1
KEY_BYTES = 500
REASONS = {
    "not JSON", "invalid UTF-8", "too deeply nested", "not a tweet", "API error", "unreadable tweet",
    "bad created_at", "created_at out of range", "number out of range", "lang too long", "hashtag too long", "place_id too long",
    *(f"missing field {name}" for name in ("id", "text", "created_at", "author_id")),
    *(f"{name} out of range" for name in ("id", "author_id")),
    *(f"bad {name}" for name in ("id", "author_id", "text", "lang", "entities", "hashtags", "hashtag",
                                 "mentions", "urls", "geo", "place_id")),
}
SLOW = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# -- what the store can hold ----------------------------------------------------------------------

class CapturingCursor:
    """Stands for a database cursor: keeps what store_tweets sends (the JSON ingest makes)."""

    def __init__(self):
        self.params = None

    def execute(self, sql, params=None):
        self.params = params

    def fetchall(self):
        return []


def storable_string(value, *, max_bytes=None) -> bool:
    try:
        encoded = value.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in value and (max_bytes is None or len(encoded) <= max_bytes)


def assert_storable(batch: ParsedBatch) -> None:
    """Every record within the bounds of parse's rules, and written by ingest's own serialisation."""
    assert batch.bad == sum(batch.bad_reasons.values())
    assert set(batch.bad_reasons) <= REASONS
    for t in batch.tweets:
        assert type(t.id) is int and 0 < t.id <= BIGINT_MAX
        assert type(t.author_id) is int and 0 < t.author_id <= BIGINT_MAX
        assert type(t.text) is str and storable_string(t.text)
        assert type(t.lang) is str and 0 < len(t.lang) <= 35 and storable_string(t.lang)
        assert all(tag and storable_string(tag, max_bytes=KEY_BYTES) for tag in t.hashtags)
        # ingest keys tweet_tags by the case-folded tag: still far below a btree entry's 2,700 bytes
        assert all(len(tag.casefold().encode()) <= 3 * KEY_BYTES for tag in t.hashtags)
        assert t.place_id is None or storable_string(t.place_id, max_bytes=KEY_BYTES)
        assert all(type(s) is str and storable_string(s.replace("\x00", "")) for s in t.mentions + t.urls)
        assert t.created_at.utcoffset() == timedelta(0)
        assert datetime(1, 1, 2, tzinfo=timezone.utc) <= t.created_at <= datetime(9999, 12, 30, tzinfo=timezone.utc)
    users = {user_id: batch.users[user_id] for user_id in batch.users}
    for user in users.values():
        assert type(user.id) is int and 0 < user.id <= BIGINT_MAX
        assert type(user.followers) is int and 0 <= user.followers <= BIGINT_MAX
        assert storable_string(user.username, max_bytes=KEY_BYTES) and storable_string(user.name)
    for key, place in batch.places.items():
        assert key == place.id and storable_string(place.id, max_bytes=KEY_BYTES)
        assert place.country_code is None or (len(place.country_code) <= 8 and storable_string(place.country_code))
        assert place.full_name is None or storable_string(place.full_name)
    for record in [*batch.tweets, *users.values(), *batch.places.values()]:
        orjson.dumps(dataclasses.asdict(record))
    cursor = CapturingCursor()
    store_tweets(cursor, batch.tweets, batch.users, batch.places, run_id=1, populate_tag="brexit")
    if batch.tweets:
        for name in ("tweets", "tags", "users", "places"):
            assert "\\u0000" not in cursor.params[name]   # PostgreSQL's json cannot turn it into text


def records(batch: ParsedBatch) -> tuple:
    return (batch.tweets, {user_id: batch.users[user_id] for user_id in batch.users}, batch.places,
            batch.bad, batch.bad_reasons, batch.unwanted)


# -- the real payloads and their mutations --------------------------------------------------------

@lru_cache(maxsize=None)
def sample_lines(name: str) -> tuple[bytes, ...]:
    return tuple(line for line in (SAMPLES / name).read_bytes().splitlines() if line.strip())


@lru_cache(maxsize=None)
def baseline(kind: str) -> ParsedBatch:
    return parse_documents(batch_lines(kind))


def batch_lines(kind: str) -> list[bytes]:
    """The lines one mutation is tried in: a whole stream recording, one search page, flattened tweets."""
    return {"stream": lambda: list(sample_lines("streaming_output_with_error.jsonl")),
            "brexit page": lambda: list(sample_lines("brexit.jsonl")),
            "noflat page": lambda: list(sample_lines("noflat.jsonl")),
            "geo pages": lambda: list(sample_lines("geo_tweets.jsonl")),
            "flattened": lambda: list(sample_lines("flat.jsonl")[:25])}[kind]()


MISSING = object()                 # the field removed
ADD_NUL = object()                 # NULs put into the string the field holds


@dataclasses.dataclass(frozen=True)
class Raw:
    """A value written into the line's JSON text as it is, for what a decoded value cannot be."""
    text: bytes


PLACEHOLDER = "\ue000the mutated value\ue000"
DEEP = Raw(b"[" * 10_000 + b"]" * 10_000)

values = st.one_of(
    st.sampled_from([2**63, 2**63 - 1, 2**64, 2**64 - 1, -1, 0, 10**30, -(2**63), -(2**63) - 1, 1]),
    st.integers(),
    st.sampled_from([None, True, False, 1.5, 1e300, -0.0, [], {}, [1], {"a": 1}, [{"tag": 5}], "", "12x",
                     " 12 ", "0x1f", "9" * 25, "1_000", "\x00", "a\x00b", "٣"]),
    st.text(max_size=40),
    st.sampled_from(["x" * 125, "x" * 126, "x" * 500, "x" * 501, "x" * 100_000, "é" * 250, "é" * 251,
                     "ΐ" * 250, "ΐ" * 50_000, "en-" + "x" * 40, "x" * 35, "USA-LONG-", "US\x00"]),
    st.sampled_from(["0001-01-01T00:00:00Z", "0001-01-02T00:00:00.000Z", "9999-12-31T23:59:59-14:00",
                     "9999-12-30T00:00:00Z", "2021-04-01T15:52:31+05:30", "2021-04-01", "2021-13-01T00:00:00Z",
                     "2021-04-01T15:52:31.000Z"]),
    st.sampled_from([MISSING, ADD_NUL, DEEP, Raw(b'"a\\ud800b"'), Raw(b'"\\udfff"'), Raw(b'"\\ud83d\\ude00"'),
                     Raw(b'"\\u0000"'), Raw(b'"a\xffb"'), Raw(b'{"a":' * 2000 + b"1" + b"}" * 2000),
                     Raw(b"1e400"), Raw(b"-" + b"9" * 30)]),
)

TWEET_FIELDS = [("id",), ("author_id",), ("text",), ("created_at",), ("lang",), ("entities",),
                ("entities", "hashtags"), ("entities", "hashtags", 0), ("entities", "hashtags", 0, "tag"),
                ("entities", "mentions", 0, "username"), ("entities", "urls", 0, "expanded_url"),
                ("geo",), ("geo", "place_id"), ("an_unknown_field",)]
USER_FIELDS = [("id",), ("username",), ("name",), ("public_metrics",), ("public_metrics", "followers_count"),
               ("an_unknown_field",)]
PLACE_FIELDS = [("id",), ("country_code",), ("full_name",), ("an_unknown_field",)]


def set_path(target, path: tuple, value) -> None:
    """Set (or remove, or put NULs into) the field at ``path``, making the containers on the way."""
    for step, following in zip(path, path[1:], strict=False):
        fresh = [] if isinstance(following, int) else {}
        if isinstance(step, int):
            while len(target) <= step:
                target.append(fresh)
            if not isinstance(target[step], type(fresh)):
                target[step] = fresh
        elif not isinstance(target.get(step), type(fresh)):
            target[step] = fresh
        target = target[step]
    last = path[-1]
    if isinstance(last, int):
        while len(target) <= last:
            target.append({})
    if value is MISSING:
        if isinstance(last, int):
            del target[last]
        else:
            target.pop(last, None)
        return
    if value is ADD_NUL:
        old = target.get(last) if isinstance(target, dict) else target[last]
        value = f"\x00{old}\x00" if isinstance(old, str) else "\x00"
    target[last] = PLACEHOLDER if isinstance(value, Raw) else value


def encode(doc: dict, value) -> bytes:
    if isinstance(value, Raw):
        raw = orjson.dumps(doc)
        assert raw.count(PLACEHOLDER.encode()) == 1
        return raw.replace(b'"' + PLACEHOLDER.encode() + b'"', value.text)
    try:
        return orjson.dumps(doc)
    except TypeError:   # an integer past 64 bits: the API's JSON could still carry it
        return json.dumps(doc, ensure_ascii=False).encode()


class Mutation(tuple):
    """(kind, lines, (what, original id, path, value)); shown by what was changed, not by its lines."""

    def __repr__(self):
        kind, _lines, (what, original_id, path, value) = self
        return f"Mutation({kind!r}, {what} {original_id}, {path}, {repr(value)[:80]})"


@st.composite
def mutations(draw, kinds=("stream", "brexit page", "noflat page", "geo pages", "flattened")):
    """(kind, lines with one item mutated, what was mutated: ("tweet", id) / ("user", id) / ("place", id))."""
    kind = draw(st.sampled_from(kinds))
    lines = batch_lines(kind)
    readable = [i for i, line in enumerate(lines) if _loads(line) is not None]
    index = draw(st.sampled_from(readable))
    doc = orjson.loads(lines[index])
    if kind == "flattened":
        choices = [("tweet", doc)] + ([("user", doc["author"])] if isinstance(doc.get("author"), dict) else [])
    else:
        data = doc["data"] if isinstance(doc["data"], list) else [doc["data"]]
        includes = doc.get("includes") or {}
        choices = [("tweet", t) for t in data] + [("user", u) for u in includes.get("users", [])] \
            + [("place", p) for p in includes.get("places", [])]
    what, target = draw(st.sampled_from(choices))
    original_id = target.get("id")
    fields = {"tweet": TWEET_FIELDS, "user": USER_FIELDS, "place": PLACE_FIELDS}[what]
    path = draw(st.sampled_from(fields))
    value = draw(values)
    set_path(target, path, value)
    lines[index] = encode(doc, value)
    return Mutation((kind, lines, (what, original_id, path, value)))


def _loads(line):
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return None


def as_int(value):
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def assert_only_the_mutated_item_changed(before: ParsedBatch, after: ParsedBatch, mutated: tuple) -> None:
    what, original_id, path, value = mutated
    before_users = {user_id: before.users[user_id] for user_id in before.users}
    after_users = {user_id: after.users[user_id] for user_id in after.users}
    if what == "tweet":
        k = [t.id for t in before.tweets].index(int(original_id))
        rest = before.tweets[:k] + before.tweets[k + 1:]
        if len(after.tweets) == len(before.tweets):      # the tweet is still read, as a valid record
            assert after.tweets[:k] + after.tweets[k + 1:] == rest
            assert after.bad_reasons == before.bad_reasons
        else:                                            # or it is counted bad, with a reason
            assert after.tweets == rest
            assert after.bad == before.bad + 1
            added = after.bad_reasons - before.bad_reasons
            assert sum(added.values()) == 1 and set(added) <= REASONS
        # a flattened tweet carries its place: a mutated geo may change that place, or make one; and
        # its author: a flattened line that is no tweet any more (its id gone) brings no author either
        changed_users = {before.tweets[k].author_id} if len(after.tweets) < len(before.tweets) else set()
        changed_places = {before.tweets[k].place_id}
    else:
        assert after.tweets == before.tweets
        assert after.bad == before.bad and after.bad_reasons == before.bad_reasons
        # the mutated user or place may change, move to another id, or be unreadable (absent)
        changed_users = {as_int(original_id), as_int(value)} if what == "user" else set()
        changed_places = {original_id} if what == "place" else set()
    for user_id in (set(before_users) | set(after_users)) - changed_users:
        assert after_users.get(user_id) == before_users.get(user_id), user_id
    for place_id in set(before.places) - changed_places:
        assert after.places.get(place_id) == before.places[place_id], place_id
    # a place that was not there is the mutated one, under its new id
    assert len(set(after.places) - set(before.places)) <= (what != "user")


# -- properties -----------------------------------------------------------------------------------

@SLOW
@given(mutations())
def test_one_mutated_item_of_a_real_payload_costs_at_most_that_item_and_every_record_is_storable(mutation):
    kind, lines, mutated = mutation
    after = parse_documents(lines)
    assert_only_the_mutated_item_changed(baseline(kind), after, mutated)
    assert_storable(after)


@SLOW
@given(mutations())
def test_the_mutated_payload_reads_the_same_as_bytes_as_text_and_as_views(mutation):
    _kind, lines, _mutated = mutation
    as_bytes = records(parse_documents(lines))
    assert records(parse_documents([memoryview(line) for line in lines])) == as_bytes
    texts = [line.decode("utf-8", "surrogateescape") for line in lines]
    if all(storable_string(line.replace("\x00", "")) for line in texts):   # raw bytes that are not UTF-8 have no text
        assert records(parse_documents(texts)) == as_bytes


@SLOW
@given(mutations(kinds=("stream",)), st.sampled_from([None, "brexit", "the"]))
def test_the_fast_and_the_general_reader_agree_on_every_mutated_stream_line(mutation, track):
    from services.tweets.track import TrackMatcher
    _kind, lines, _mutated = mutation
    wanted = TrackMatcher([track]).matches_parts if track else None
    fast = parse_documents(lines, wanted=wanted)
    assert records(fast) == records(read_generally(lines, wanted))
    decoded = [_loads(line) for line in lines]
    if all(doc is not None for doc in decoded):   # and as documents already decoded, where orjson can
        assert records(parse_documents(decoded, wanted=wanted)) == records(fast)


def read_generally(lines, wanted=None) -> ParsedBatch:
    """The lines read without the stream-message reader: the general reader decides every line."""
    with mock.patch.object(parse, "_add_stream_message", side_effect=ValueError("not read fast")):
        return parse_documents(lines, wanted=wanted)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=200) | st.text(max_size=200), max_size=5))
def test_any_bytes_or_text_are_read_or_counted_never_raised(lines):
    batch = parse_documents(lines)
    assert_storable(batch)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({}, optional={
    "id": json_values, "text": json_values, "created_at": json_values, "author_id": json_values,
    "lang": json_values, "entities": json_values, "geo": json_values}), st.sampled_from(["stream", "page", "flat"]))
def test_any_json_in_a_tweets_fields_gives_a_storable_tweet_or_one_bad_item(tweet, shape):
    doc = {"stream": {"data": tweet}, "page": {"data": [tweet]}, "flat": dict(tweet, text=tweet.get("text"))}[shape]
    for batch in (parse_documents([doc]), parse_documents([encode(doc, None)])):
        assert len(batch.tweets) + batch.bad == 1
        assert_storable(batch)


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
