"""Validation while parsing, as properties over the real recorded payloads (data/x-api-samples):
one item of a page, a stream line or a flattened line is mutated, and nothing raises, every other
item reads exactly as it did, and every record can be written the way services.storage.ingest
writes it."""

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from services.tweets.parse import ParsedBatch, parse_documents
from tests.unit.parse_checks import (
    ADD_NUL, MISSING, PLACEHOLDER, REASONS, SLOW, Raw, assert_storable, baseline, batch_lines, DEEP, encode,
    read_generally, records, storable_string,
)


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
