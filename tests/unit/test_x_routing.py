"""What routes a line of the shared X stream (services/sources/x_stream.py matching_rules_of), and
what the fake X API evaluates to fill matching_rules in (tests/fakes/fake_x_api.py)."""
import json

import pytest

from services.sources.x_api import build_stream_rules
from services.sources.x_stream import matching_rules_of
from tests.fakes.fake_x_api import SAMPLES, STREAM_FILE, rule_matches, with_matching_rules, words_of

RECORDED = (SAMPLES / STREAM_FILE).read_bytes().splitlines()


def test_the_matching_rules_of_a_recorded_line_are_read_from_its_end():
    assert matching_rules_of(RECORDED[0]) == [{"id": 1377649934414049282, "tag": None}]


@pytest.mark.parametrize("line, expected", [
    (b'{"data": {"text": "a \\"matching_rules\\": [1]"}, "matching_rules": [{"id": "7", "tag": "t"}]}',
     [{"id": "7", "tag": "t"}]),
    (b'{"matching_rules": [{"id": "7", "tag": "t"}], "data": {"text": "x"}}', [{"id": "7", "tag": "t"}]),
    (b'{"data": {"text": "matching_rules"}, "matching_rules": [{"id": "8", "tag": "caf\xc3\xa9"}]}',
     [{"id": "8", "tag": "caf\u00e9"}]),
    (b'{"data": {"text": "\\"matching_rules\\""}}', None),  # only inside the text: no rules
    (b'{"errors": [{"title": "operational-disconnect"}]}', None),
    (b'{"matching_rules": "not a list"}', None),
    (b'{"data": {"author_id": "1021159080151404544"', None),  # truncated
    (b'{"matching_rules": [{"id": "9"', None),
])
def test_matching_rules_are_found_only_where_the_api_puts_them(line, expected):
    assert matching_rules_of(line) == expected


def test_the_fake_matches_the_rules_build_stream_rules_writes_as_the_track_matcher_would():
    rules = build_stream_rules(["justin bieber", "don't stop", "#dogs"], tag="t", max_len=1024, max_rules=1)
    (value,) = [rule.value for rule in rules]

    assert value == '(justin bieber) OR ("don\'t" stop) OR #dogs'
    assert rule_matches(value, words_of("Justin Bieber live!"))
    assert rule_matches(value, words_of("DON'T STOP me now"))
    assert rule_matches(value, words_of("walking the #Dogs"))
    assert not rule_matches(value, words_of("justin timberlake"))
    assert rule_matches("cats has:images -is:retweet", words_of("my cats"))  # operators: not evaluated


def test_the_fake_changes_only_the_matching_rules_of_a_recorded_line():
    matching = [{"id": "1", "tag": "tweetstream-run-1"}, {"id": "2", "tag": "tweetstream-run-2"}]

    sent = with_matching_rules(RECORDED[0], matching)

    assert json.loads(sent)["matching_rules"] == matching
    before, after = RECORDED[0].split(b'"matching_rules"')[0], sent.split(b'"matching_rules"')[0]
    assert before == after
    assert json.loads(with_matching_rules(b'{"data": {"text": "x"}}', matching))["matching_rules"] == matching
