"""What the parse tests share: what the store can hold (checked the way services.storage.ingest
writes a batch), the real recorded payloads (data/x-api-samples) and the reasons a bad item may give."""
import dataclasses
import json
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from unittest import mock

import orjson
from hypothesis import HealthCheck, settings

from services.storage.ingest import store_tweets
from services.tweets import parse
from services.tweets.parse import ParsedBatch, parse_documents
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


def encode(doc: dict, value) -> bytes:
    if isinstance(value, Raw):
        raw = orjson.dumps(doc)
        assert raw.count(PLACEHOLDER.encode()) == 1
        return raw.replace(b'"' + PLACEHOLDER.encode() + b'"', value.text)
    try:
        return orjson.dumps(doc)
    except TypeError:   # an integer past 64 bits: the API's JSON could still carry it
        return json.dumps(doc, ensure_ascii=False).encode()


def read_generally(lines, wanted=None) -> ParsedBatch:
    """The lines read without the stream-message reader: the general reader decides every line."""
    with mock.patch.object(parse, "_add_stream_message", side_effect=ValueError("not read fast")):
        return parse_documents(lines, wanted=wanted)
