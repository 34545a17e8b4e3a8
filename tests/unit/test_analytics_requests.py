"""Query-string input of the live analytics views: what is accepted, how windows resolve,
and that every mistake is a BadRequest naming the parameter to fix."""
from datetime import datetime, timedelta, timezone

import pytest

from services.contracts.errors import BadRequest
from services.contracts.requests import (
    AggregatesRequest,
    TopHashtagsRequest,
    UserTweetsRequest,
    validate,
)

NOW = datetime(2024, 5, 1, 12, 30, 15, tzinfo=timezone.utc)


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def test_query_strings_carry_integers_as_text():
    top = validate(TopHashtagsRequest, {"limit": "3", "minutes": "15"})
    assert (top.limit, top.minutes) == (3, 15)
    assert top.for_rpc() == {"limit": 3, "minutes": 15}


def test_defaults_are_ten_tags_over_the_last_hour():
    top = validate(TopHashtagsRequest, {})
    assert top.limit == 10
    assert top.minute_range(NOW) == (utc(2024, 5, 1, 11, 31), utc(2024, 5, 1, 12, 30))


def test_minutes_counts_the_current_minute():
    window = validate(AggregatesRequest, {"minutes": "1"})
    assert window.minute_range(NOW) == (utc(2024, 5, 1, 12, 30), utc(2024, 5, 1, 12, 30))


def test_from_to_covers_every_minute_overlapping_it():
    window = validate(AggregatesRequest, {"from": "2024-05-01T10:00:30Z", "to": "2024-05-01T10:05:00Z"})
    # 10:05 starts at `to`, so it is outside; 10:00 overlaps the window's first 30 s
    assert window.minute_range(NOW) == (utc(2024, 5, 1, 10, 0), utc(2024, 5, 1, 10, 4))
    window = validate(AggregatesRequest, {"from": "2024-05-01T10:00:00Z", "to": "2024-05-01T10:04:01Z"})
    assert window.minute_range(NOW) == (utc(2024, 5, 1, 10, 0), utc(2024, 5, 1, 10, 4))


def test_offsets_and_dates_are_iso_8601_and_naive_means_utc():
    window = validate(AggregatesRequest, {"from": "2024-05-01", "to": "2024-05-01T04:00:00+02:00"})
    assert window.start == utc(2024, 5, 1)
    assert window.end == utc(2024, 5, 1, 2)
    # the RPC receives the same moments, in UTC
    assert validate(AggregatesRequest, window.for_rpc()) == window


def test_from_without_to_ends_now():
    start = (datetime.now(timezone.utc) - timedelta(minutes=3)).replace(microsecond=500_000)
    window = validate(AggregatesRequest, {"from": start.isoformat()})
    first, last = window.minute_range(start + timedelta(minutes=3))
    assert first == start.replace(second=0, microsecond=0)
    assert last - first == timedelta(minutes=3)


def test_filters_are_normalised_as_stored():
    aggregates = validate(AggregatesRequest, {"tag": "#Bieber", "lang": "EN", "country": "us",
                                                    "run_id": "7"})
    assert (aggregates.tag, aggregates.lang, aggregates.country, aggregates.run_id) == ("bieber", "en", "US", 7)
    assert validate(AggregatesRequest, {"country": "Unknown"}).country == "unknown"


def test_a_user_request_takes_an_at_sign_and_text_limit():
    wanted = validate(UserTweetsRequest, {"username": "@Jack_1", "limit": "5"})
    assert (wanted.username, wanted.limit) == ("Jack_1", 5)
    assert validate(UserTweetsRequest, {"username": "jack"}).limit == 200


@pytest.mark.parametrize("model, params, parameter", [
    (AggregatesRequest, {"from": "yesterday"}, "from"),
    (AggregatesRequest, {"from": "1714564800"}, "from"),           # a Unix time is not ISO 8601
    (AggregatesRequest, {"from": "2024-05-01T25:00"}, "from"),
    (AggregatesRequest, {"from": "2024-05-02", "to": "2024-05-01"}, "to"),
    (AggregatesRequest, {"from": "2024-05-01", "to": "2024-05-08T00:00:01Z"}, "to"),
    (AggregatesRequest, {"from": "2999-01-01"}, "to"),              # to defaults to now, before from
    (AggregatesRequest, {"to": "2024-05-01"}, "to"),
    (AggregatesRequest, {"minutes": "5", "from": "2024-05-01", "to": "2024-05-02"}, "minutes"),
    (AggregatesRequest, {"minutes": "0"}, "minutes"),
    (AggregatesRequest, {"minutes": "10081"}, "minutes"),
    (AggregatesRequest, {"run_id": "-1"}, "run_id"),
    (AggregatesRequest, {"tag": "#"}, "tag"),
    (AggregatesRequest, {"color": "red"}, "color"),
    (TopHashtagsRequest, {"limit": "0"}, "limit"),
    (TopHashtagsRequest, {"limit": "101"}, "limit"),
    (TopHashtagsRequest, {"limit": "ten"}, "limit"),
    (TopHashtagsRequest, {"limit": "2.5"}, "limit"),
    (UserTweetsRequest, {"username": "jack", "limit": "0"}, "limit"),
    (UserTweetsRequest, {"username": "jack", "limit": "1001"}, "limit"),
    (UserTweetsRequest, {"username": "jack smith"}, "username"),
    (UserTweetsRequest, {"username": ""}, "username"),
])
def test_mistakes_name_the_parameter(model, params, parameter):
    with pytest.raises(BadRequest) as raised:
        validate(model, params)
    assert str(raised.value).startswith(parameter + ":"), str(raised.value)


def test_a_window_of_exactly_seven_days_is_accepted():
    window = validate(AggregatesRequest, {"from": "2024-05-01T00:00:00Z", "to": "2024-05-08T00:00:00Z"})
    first, last = window.minute_range(NOW)
    assert (last - first) // timedelta(minutes=1) + 1 == 7 * 24 * 60
