"""What populate and the views accept: defaults, normalisation, and the 400 reasons."""
import pytest

from services.contracts.errors import BadRequest
from services.contracts.requests import DEFAULT_TAGS, HourQuery, PopulateRequest, TagsQuery, validate


def test_populate_defaults_to_a_hundred_tweets_for_each_of_the_ten_tags():
    for body in (None, {}):
        wanted = validate(PopulateRequest, body)
        assert wanted.tags == list(DEFAULT_TAGS) and wanted.per_tag == 100
    assert DEFAULT_TAGS == ("openbanking", "remediation", "devops", "sre", "microservices",
                            "observability", "oauth", "metrics", "logmonitoring", "opentracing")


def test_populate_tags_are_case_folded_without_hash_and_each_kept_once():
    wanted = validate(PopulateRequest, {"tags": ["#DevOps", "devops", "SRE", "größe"], "per_tag": 10})
    assert wanted.tags == ["devops", "sre", "grösse"] and wanted.per_tag == 10


@pytest.mark.parametrize("body, reason", [
    ({"tags": "devops"}, "tags: Input should be a valid list"),
    ({"tags": []}, "tags: List should have at least 1 item"),
    ({"tags": [5]}, "tags.0: Input should be a valid string"),
    ({"tags": ["dev ops"]}, "tags: tag 0 ('dev ops') is not a hashtag"),
    ({"tags": [""]}, "tags: tag 0 ('') is not a hashtag"),
    ({"tags": ["x" * 101]}, "is not a hashtag"),
    ({"tags": [f"t{i}" for i in range(51)]}, "tags: List should have at most 50 items"),
    ({"per_tag": 9}, "per_tag: Input should be greater than or equal to 10"),
    ({"per_tag": 1001}, "per_tag: Input should be less than or equal to 1000"),
    ({"per_tag": "100"}, "per_tag: Input should be a valid integer"),
    ({"per_tag": 50.0}, "per_tag: Input should be a valid integer"),
    ({"per_tag": True}, "per_tag: Input should be a valid integer"),
    ({"tag": ["devops"]}, "tag: is not a known field"),
    (["devops"], "body: must be a JSON object"),
])
def test_populate_refuses_bad_input_saying_which_field_and_why(body, reason):
    with pytest.raises(BadRequest) as refused:
        validate(PopulateRequest, body)
    assert reason in str(refused.value)


def test_hour_query_is_by_hour_unless_asked_by_hour_of_day():
    assert validate(HourQuery, {}).by == "hour"
    assert validate(HourQuery, {"by": "hour_of_day"}).by == "hour_of_day"
    with pytest.raises(BadRequest, match="by: Input should be 'hour' or 'hour_of_day'"):
        validate(HourQuery, {"by": "week"})
    with pytest.raises(BadRequest, match="from: is not a known field"):
        validate(HourQuery, {"from": "2026-01-01"})


def test_tags_query_limit_reads_the_query_string_and_stays_bounded():
    assert validate(TagsQuery, {}).limit == 100
    assert validate(TagsQuery, {"limit": "25"}).limit == 25
    assert validate(TagsQuery, {"limit": "10000"}).limit == 10_000
    for value, reason in (("0", "greater than or equal to 1"), ("10001", "less than or equal to 10000"),
                          ("ten", "valid integer")):
        with pytest.raises(BadRequest, match=f"limit: Input should be .*{reason}"):
            validate(TagsQuery, {"limit": value})
