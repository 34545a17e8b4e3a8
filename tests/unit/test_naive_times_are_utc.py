"""A moment without an offset means UTC, whatever the machine's local time zone.

On a machine in UTC, reading a naive time as local time gives the same answer, so these tests
put the process half an hour off the whole hours, at UTC-3:30 (St. John's standard time, as a
POSIX TZ rule: no time zone database needed), for their duration."""
import time
from datetime import datetime, timezone

import orjson
import pytest

from services.contracts.requests import AggregatesRequest, TopHashtagsRequest, parse_moment, validate
from services.tweets.parse import parse_created_at, parse_documents

TEN_UTC = datetime(2024, 1, 1, 10, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def local_time_is_utc_minus_three_and_a_half(monkeypatch):
    monkeypatch.setenv("TZ", "NST+3:30")
    time.tzset()
    parse_created_at.cache_clear()   # a moment read before, under another zone, must not be reused
    assert time.timezone == 3 * 3600 + 30 * 60, "the process did not take the time zone"
    yield
    monkeypatch.undo()
    time.tzset()
    parse_created_at.cache_clear()


def test_a_naive_created_at_is_read_as_utc():
    moment = parse_created_at("2024-01-01T10:00:00")
    assert moment == TEN_UTC and moment.utcoffset().total_seconds() == 0, moment


def test_a_stream_message_with_a_naive_created_at_gives_a_tweet_of_that_moment_in_utc():
    message = {"data": {"id": "1500000000000000001", "text": "hello", "author_id": "12",
                        "created_at": "2024-01-01T10:00:00", "lang": "en"},
               "includes": {"users": [{"id": "12", "username": "ann", "name": "Ann",
                                       "public_metrics": {"followers_count": 3}}]}}
    batch = parse_documents([orjson.dumps(message)])
    assert batch.bad == 0 and [tweet.created_at for tweet in batch.tweets] == [TEN_UTC]


def test_a_created_at_with_an_offset_keeps_its_moment():
    assert parse_created_at("2024-01-01T06:30:00-03:30") == TEN_UTC


@pytest.mark.parametrize("value, expected", [
    ("2024-01-01T10:00:00", TEN_UTC),
    ("2024-01-01T10:00", TEN_UTC),
    ("2024-01-01", datetime(2024, 1, 1, tzinfo=timezone.utc)),
    ("2024-01-01T10:00:00Z", TEN_UTC),
    ("2024-01-01T06:30:00-03:30", TEN_UTC),
])
def test_a_query_moment_without_an_offset_is_utc(value, expected):
    assert parse_moment(value) == expected


def test_an_aggregates_window_given_in_naive_times_covers_those_minutes_in_utc():
    window = validate(AggregatesRequest, {"from": "2024-01-01T10:00:00", "to": "2024-01-01T11:00:00"})
    assert (window.start, window.end) == (TEN_UTC, datetime(2024, 1, 1, 11, 0, tzinfo=timezone.utc))
    assert window.minute_range(datetime(2024, 1, 2, tzinfo=timezone.utc)) == (
        TEN_UTC, datetime(2024, 1, 1, 10, 59, tzinfo=timezone.utc))
    # what the gateway sends the query service names the same moments
    assert window.for_rpc() == {"from": "2024-01-01T10:00:00Z", "to": "2024-01-01T11:00:00Z"}


def test_a_top_hashtags_window_given_in_naive_times_is_utc():
    top = validate(TopHashtagsRequest, {"from": "2024-01-01T10:00:00", "to": "2024-01-01T10:30:00"})
    assert top.minute_range(datetime(2024, 1, 2, tzinfo=timezone.utc)) == (
        TEN_UTC, datetime(2024, 1, 1, 10, 29, tzinfo=timezone.utc))
