"""Launch input: every client mistake is a BadRequest naming the field."""
import pytest

from services.contracts.errors import BadRequest
from services.contracts.requests import LaunchRequest, validate


@pytest.mark.parametrize("body, field", [
    ({}, "track"),
    ({"track": []}, "track"),
    ({"track": "bieber"}, "track"),
    ({"track": [1]}, "track.0"),
    ({"track": ["a" * 61]}, "track"),
    ({"track": [""]}, "track"),
    ({"track": ["x"] * 401}, "track"),
    ({"track": ["ok"], "rate": -1}, "rate"),
    ({"track": ["ok"], "limit": 0}, "limit"),
    ({"track": ["ok"], "source": "twitter"}, "source"),
    ({"track": ["ok"], "seed": "1"}, "seed"),
    ({"track": ["ok"], "unknown": 1}, "unknown"),
    # PostgreSQL cannot store a NUL: the run's row failed to be written (a 500)
    ({"track": ["ok\x00go"]}, "track"),
    ({"track": ["ok"], "files": ["a.jsonl\x00"]}, "files"),
    ([1, 2], "body"),
])
def test_rejections_name_the_field(body, field):
    with pytest.raises(BadRequest) as raised:
        validate(LaunchRequest, body)
    assert str(raised.value).startswith(field + ":")


def test_a_full_request_is_accepted():
    launch = validate(LaunchRequest, {"track": ["justin bieber", "nba"], "source": "replay", "seed": 3,
                                      "rate": 0, "limit": 10, "files": ["a.jsonl"]})
    assert launch.track == ["justin bieber", "nba"] and launch.rate == 0.0 and launch.files == ["a.jsonl"]


def test_400_phrases_of_60_bytes_are_the_limit():
    validate(LaunchRequest, {"track": ["a" * 60] * 400})
