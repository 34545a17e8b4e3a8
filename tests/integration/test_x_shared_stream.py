"""Every X run of a process over the one filtered-stream connection the X API allows an app.

Real tweepy code against the local fake X API (tests/fakes/fake_x_api.py), which holds one stream
connection at a time, evaluates its rules on each post and names the matching ones (id and tag)
in ``matching_rules``. The posts are the recorded ones of data/x-api-samples.
"""
import json
import threading
import time

import pytest
import requests

from services.sources import x_api
from services.sources.base import SourceError
from services.sources.x_api import XApiSource
from tests.fakes.fake_x_api import SAMPLES, STREAM_FILE, TOO_MANY_CONNECTIONS, FakeXApi

TOKEN = "shared-stream-test-token"
STREAM = "/2/tweets/search/stream"
RULES = "/2/tweets/search/stream/rules"
RECORDED = (SAMPLES / STREAM_FILE).read_bytes().splitlines()
POSTS, TRUNCATED = RECORDED[:7], RECORDED[7]
DISCONNECT_NOTICE = (b'{"errors": [{"title": "operational-disconnect", "disconnect_type": "UpstreamOperationalDisconnect", '
                     b'"detail": "This stream has been disconnected upstream for operational reasons.", '
                     b'"type": "https://api.twitter.com/2/problems/operational-disconnect"}]}')
# the words of the recorded posts: "fury" is in post 0 only, "lubbock" in 4, "golden" in 6, "dogs" in 1 to 6
GOLDEN_OR_LUBBOCK, DOGS = ["golden", "lubbock"], ["dogs"]


@pytest.fixture
def api():
    with FakeXApi(token=TOKEN, timeline=[]) as fake:  # no post until a test publishes some
        yield fake


@pytest.fixture
def source_for(api):
    made = []

    def make(run_id, **config):
        settings = {"X_BEARER_TOKEN": TOKEN, "X_API_BASE_URL": api.base_url,
                    "X_RETRY_INITIAL": "0.05", "X_RETRY_MAX_WAIT": "0.2"}
        made.append(XApiSource.from_config({**settings, **config}, run_id=run_id))
        return made[-1]

    yield make
    for source in made:
        source.close()


class Reader:
    """Reads a run's stream on a thread of its own, as the launcher does."""

    def __init__(self, lines):
        self.lines, self.received, self.error = lines, [], None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for line in self.lines:
                self.received.append(line)
        except SourceError as exc:
            self.error = exc

    def wait_for(self, count: int, timeout: float = 5.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.received) == count, f"{len(self.received)} of {count} lines arrived"
        return self.received


def tags_of(line: bytes) -> set[str]:
    return {rule["tag"] for rule in json.loads(line)["matching_rules"]}


def eventually(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert check()


def values_tagged(api, tag: str) -> set[str]:
    return {rule["value"] for rule in api.rules_tagged(tag)}


# --- one connection, each line to the runs it matches -------------------------

def test_two_runs_share_one_connection_and_each_gets_exactly_the_lines_carrying_its_tag(api, source_for):
    api.add_rule("fury", tag="someone-else")  # post 0 comes for another program's rule only
    golden_source = source_for(21)
    golden = Reader(golden_source.stream(GOLDEN_OR_LUBBOCK))
    dogs = Reader(source_for(22).stream(DOGS))

    api.publish(*POSTS, TRUNCATED, DISCONNECT_NOTICE)

    dogs.wait_for(8)
    golden.wait_for(4)
    sent = api.sent_lines
    assert len(sent) == 9 and tags_of(sent[0]) == {"someone-else"}
    assert tags_of(sent[4]) == tags_of(sent[6]) == {"tweetstream-run-21", "tweetstream-run-22"}
    # a line nobody can read, and a message of the API, go to every run, as each run's own connection passed them on
    assert golden.received == [sent[4], sent[6], TRUNCATED, DISCONNECT_NOTICE]
    assert dogs.received == sent[1:]
    assert api.stream_connections == 1 and len(api.requests_to(STREAM)) == 1
    assert golden_source.hub().dropped == 1  # post 0: no tag of an active run


def test_stopping_one_run_leaves_the_other_s_rules_and_stream_untouched(api, source_for):
    golden_source = source_for(31)
    golden = Reader(golden_source.stream(GOLDEN_OR_LUBBOCK))
    dogs = Reader(source_for(32).stream(DOGS))
    api.publish(*POSTS)
    dogs.wait_for(6)
    golden.wait_for(2)
    dogs_rules = api.rules_tagged("tweetstream-run-32")
    golden_ids = {rule["id"] for rule in api.rules_tagged("tweetstream-run-31")}

    golden_source.close()

    golden.thread.join(timeout=2.0)
    assert not golden.thread.is_alive() and golden.error is None
    assert api.rule_changes[-1] == {"delete": {"ids": sorted(golden_ids)}}  # its rules, nobody else's
    assert api.rules_tagged("tweetstream-run-31") == [] and api.rules_tagged("tweetstream-run-32") == dogs_rules
    api.publish(*POSTS)
    assert dogs.wait_for(12)[6:] == api.sent_lines[6:]
    assert all(tags_of(line) == {"tweetstream-run-32"} for line in dogs.received[6:])
    assert api.stream_connections == 1 and api.open_connections == 1


def test_the_connection_closes_with_the_last_run_and_opens_again_with_the_next(api, source_for):
    first = source_for(41)
    Reader(first.stream(DOGS))
    eventually(lambda: api.open_connections == 1)

    first.close()

    eventually(lambda: api.open_connections == 0 and not api.rules)
    assert not first.hub().streaming
    second = Reader(source_for(42).stream(DOGS))
    api.publish(*POSTS)
    assert second.wait_for(6) == api.sent_lines[-6:]
    assert api.stream_connections == 2
    assert [r.status for r in api.requests_to(STREAM)] == [200, 200]  # never two connections at once


def test_runs_with_the_same_terms_share_the_rule_the_api_allows_once(api, source_for):
    first_source = source_for(51)
    first = Reader(first_source.stream(DOGS))
    second = Reader(source_for(52).stream(["Dogs"]))

    assert [rule["value"] for rule in api.rules.values()] == ["dogs"]  # no DuplicateRule asked for
    api.publish(*POSTS)
    assert first.wait_for(6) == second.wait_for(6) == api.sent_lines

    first_source.close()  # the rule still serves the second run: it stays

    assert [rule["value"] for rule in api.rules.values()] == ["dogs"]
    api.publish(POSTS[1])
    assert second.wait_for(7)[-1] == api.sent_lines[-1]


# --- rules left behind, rules of others ---------------------------------------

def test_rules_a_crash_left_are_deleted_at_the_next_start_and_other_programs_rules_stay(api, source_for):
    left = [api.add_rule("old OR terms", tag="tweetstream-run-90"), api.add_rule("brexit", tag="tweetstream-run-91")]
    others = [api.add_rule("cats has:images", tag="someone-else"), api.add_rule("puppies")]

    Reader(source_for(92).stream(GOLDEN_OR_LUBBOCK))

    assert api.rule_changes[0] == {"delete": {"ids": [rule["id"] for rule in left]}}
    assert {rule["id"] for rule in others} <= set(api.rules)
    assert values_tagged(api, "tweetstream-run-92") == {"golden OR lubbock"}


def test_a_start_touches_no_rule_of_a_run_the_hub_streams_and_later_leftovers_wait_for_the_next_start(api, source_for):
    streaming = source_for(61)
    Reader(streaming.stream(DOGS))
    ours = api.rules_tagged("tweetstream-run-61")
    late = api.add_rule("late", tag="tweetstream-run-60")  # another process's, while this hub streams

    joining = source_for(62)
    Reader(joining.stream(GOLDEN_OR_LUBBOCK))

    assert api.rules_tagged("tweetstream-run-61") == ours and late["id"] in api.rules
    streaming.close()
    joining.close()
    eventually(lambda: api.open_connections == 0)
    Reader(source_for(63).stream(DOGS))
    assert late["id"] not in api.rules  # deleted when the hub started again


def test_a_run_taken_over_after_a_crash_keeps_the_rules_it_still_wants(api, source_for):
    kept = api.add_rule("golden OR lubbock", tag="tweetstream-run-70")
    dropped = api.add_rule("brexit", tag="tweetstream-run-70")

    Reader(source_for(70).stream(GOLDEN_OR_LUBBOCK))

    assert api.rule_changes == [{"delete": {"ids": [dropped["id"]]}}]  # no new rule, no 20 s gap
    assert api.rules_tagged("tweetstream-run-70") == [kept]


# --- limits ---------------------------------------------------------------------

def test_a_run_whose_rules_would_go_over_x_max_rules_fails_naming_it_and_how_many_are_in_use(api, source_for):
    api.add_rule("cats", tag="someone-else")  # not ours: does not count
    limits = {"X_MAX_RULES": "3", "X_RULE_MAX_LEN": "20"}
    first = Reader(source_for(81, **limits).stream(["alpha", "bravo", "charlie", "delta"]))
    changes = list(api.rule_changes)

    with pytest.raises(SourceError, match=r"need 2 more X stream rules, but 2 of the 3 allowed \(X_MAX_RULES\) are in use"):
        source_for(82, **limits).stream(["echo", "foxtrot", "golf", "hotel"])

    assert api.rule_changes == changes  # nothing changed
    assert values_tagged(api, "tweetstream-run-81") == {"alpha OR bravo", "charlie OR delta"}
    assert first.error is None


def test_rule_changes_beyond_the_limit_wait_instead_of_meeting_the_api_s_429(api, source_for, monkeypatch):
    monkeypatch.setattr(x_api, "RATE_WINDOW", 1.0)
    api.rate_window, api.rule_changes_per_window = 0.9, 2
    started = time.monotonic()

    for run_id in (101, 102, 103):
        source_for(run_id, X_RULE_CHANGES_PER_WINDOW="2").stream([f"term{run_id}"])

    assert time.monotonic() - started >= 0.95  # the third launch waited for the window
    assert [r.status for r in api.requests_to(RULES) if r.method == "POST"] == [201, 201, 201]


def test_the_fake_refuses_rule_changes_past_its_window_as_the_api_does(api):
    api.rule_changes_per_window = 2
    post = {"url": api.base_url + RULES, "headers": {"Authorization": f"Bearer {TOKEN}"}, "timeout": 5}

    answers = [requests.post(json={"add": [{"value": f"w{n}", "tag": "t"}]}, **post) for n in range(3)]

    assert [answer.status_code for answer in answers] == [201, 201, 429]
    assert float(answers[-1].headers["x-rate-limit-reset"]) >= time.time() + 890
    assert len(api.rules) == 2


def test_a_second_connection_gets_too_many_connections_and_the_run_connects_once_it_is_gone(api, source_for):
    stream = {"url": api.base_url + STREAM, "headers": {"Authorization": f"Bearer {TOKEN}"}, "timeout": 5}
    held = requests.get(stream=True, **stream)  # another connection of the app, left open
    run = Reader(source_for(111).stream(DOGS))
    eventually(lambda: len(api.requests_to(STREAM)) >= 2)

    assert api.requests_to(STREAM)[1].status == 429
    held.close()
    api.publish(*POSTS)

    assert run.wait_for(6) == api.sent_lines and run.error is None
    answer = requests.get(**stream)  # now the run holds the one connection
    assert (answer.status_code, answer.json()) == (429, TOO_MANY_CONNECTIONS)
