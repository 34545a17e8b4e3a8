"""The production X API source, real tweepy code against a local fake of the X API v2.

Nothing here leaves 127.0.0.1; the fake serves the recorded payloads of data/x-api-samples.
"""
import itertools
import json
import logging
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from services.sources.backoff import RetriesExhausted, Retryable, RetryPolicy
from services.sources.base import SourceError
from services.sources.x_api import XApiSource
from tests.fakes.fake_x_api import SAMPLES, STREAM_FILE, FakeXApi

TOKEN = "AAAAAAAAAAAAAAAAAAAAAtest%2Fsecret%3Dtoken"
STREAM = "/2/tweets/search/stream"
RULES = "/2/tweets/search/stream/rules"
SEARCH = "/2/tweets/search/recent"
RECORDED_LINES = (SAMPLES / STREAM_FILE).read_bytes().splitlines()
# every recorded post holds one of these words, so the fake sends them all, with our rules' tags
EVERY_POST = ["dogs", "fury"]


@pytest.fixture
def api():
    with FakeXApi(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def source_for(api, monkeypatch):
    """XApiSource.from_config against the fake, with quick retries; closed after the test."""
    monkeypatch.setenv("X_BEARER_TOKEN", TOKEN)
    made = []

    def make(run_id=None, **config):
        settings = {"X_API_BASE_URL": api.base_url, "X_RETRY_INITIAL": "0.05", "X_RETRY_MAX_WAIT": "0.2"}
        made.append(XApiSource.from_config({**settings, **config}, run_id=run_id))
        return made[-1]

    yield make
    for source in made:
        source.close()


def _take(lines, count, timeout=5.0):
    """The first ``count`` items of a stream, failing instead of hanging when they do not come,
    and raising here what the stream raised."""
    taken, failed, done = [], [], threading.Event()

    def read():
        try:
            taken.extend(itertools.islice(lines, count))
        except Exception as exc:  # noqa: BLE001 - handed to the test, which asserts on it
            failed.append(exc)
        finally:
            done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(timeout), f"only {len(taken)} of {count} stream lines arrived"
    if failed:
        raise failed[0]
    return taken


# --- search -------------------------------------------------------------------

def test_search_pages_with_next_token_up_to_the_limit(api, source_for):
    pages = list(source_for().search("brexit", 130))

    assert [len(page["data"]) for page in pages] == [100, 30]
    assert pages[-1]["meta"]["result_count"] == 30
    asked = api.requests_to(SEARCH)
    assert [r.params.get("next_token") for r in asked] == [None, "fake-100"]
    first = asked[0].params
    assert first["query"] == "#brexit -is:retweet"
    assert first["max_results"] == "100"
    assert first["expansions"] == "author_id,geo.place_id,entities.mentions.username"
    assert set(first["tweet.fields"].split(",")) == {"created_at", "lang", "entities", "geo", "public_metrics", "author_id"}
    assert set(first["user.fields"].split(",")) == {"username", "name", "public_metrics"}
    assert set(first["place.fields"].split(",")) == {"country_code", "full_name", "country"}
    for page in pages:
        users = {user["id"]: user for user in page["includes"]["users"]}
        assert all(tweet["author_id"] in users for tweet in page["data"])
        assert all("followers_count" in user["public_metrics"] for user in users.values())


def test_search_ends_with_the_api_results_and_includes_places(api, source_for):
    pages = list(source_for().search("#harrypotter", 1000))

    assert [len(page["data"]) for page in pages] == [100, 100, 2]
    assert len(api.requests_to(SEARCH)) == 3  # no request after the last next_token-less page
    assert api.requests_to(SEARCH)[0].params["query"] == "#harrypotter -is:retweet"
    places = pages[-1]["includes"]["places"]
    placed = [t for t in pages[-1]["data"] if "place_id" in t.get("geo", {})]
    assert placed and {t["geo"]["place_id"] for t in placed} <= {p["id"] for p in places}
    assert all(place["country_code"] for place in places)


@pytest.mark.parametrize("limit, max_results, sizes", [(5, "10", [5]), (15, "15", [15]), (0, None, [])])
def test_search_asks_for_what_the_limit_needs(api, source_for, limit, max_results, sizes):
    pages = list(source_for().search("brexit", limit))

    assert [len(page["data"]) for page in pages] == sizes
    assert [r.params["max_results"] for r in api.requests_to(SEARCH)] == ([max_results] if max_results else [])


def test_search_waits_for_the_rate_limit_reset_then_goes_on(api, source_for):
    api.rate_limit_next(1, reset_in=1.0, path=SEARCH)

    pages = list(source_for().search("brexit", 20))

    assert sum(len(page["data"]) for page in pages) == 20
    refused, served = api.requests_to(SEARCH)
    assert (refused.status, served.status) == (429, 200)
    assert served.at >= api.rate_limit_resets[0] - 0.05  # not before the reset the API named


def test_search_gives_up_when_rate_limited_past_the_retries(api, source_for):
    api.rate_limit_next(5, reset_in=0.0, path=SEARCH)

    with pytest.raises(SourceError, match=r"X API search failed: .*429.*gave up after 1 retries"):
        list(source_for(X_MAX_RETRIES="1").search("brexit", 20))
    assert len(api.requests_to(SEARCH)) == 2


# --- stream -------------------------------------------------------------------

def test_stream_yields_the_lines_sent_as_bytes_skipping_keep_alives(api, source_for):
    lines = source_for(run_id=1).stream(EVERY_POST)

    received = _take(lines, len(RECORDED_LINES))

    assert received == api.sent_lines  # exactly the bytes sent, keep-alives (empty lines) left out
    assert all(isinstance(line, bytes) for line in received)
    parsed = []
    for line in received:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            parsed.append(None)
    assert sum(doc is not None for doc in parsed) == 7 and parsed[-1] is None  # the truncated line
    assert all(rule["tag"] == "tweetstream-run-1" for doc in parsed if doc for rule in doc["matching_rules"])
    # the recorded posts, but for the rules that matched them
    assert [doc["data"] for doc in parsed if doc] == [json.loads(line)["data"] for line in RECORDED_LINES[:-1]]
    (connection,) = api.requests_to(STREAM)
    assert connection.params["expansions"] == "author_id,geo.place_id,entities.mentions.username"
    assert "country_code" in connection.params["place.fields"]


def test_the_first_stream_adds_the_run_s_rules_deletes_our_leftovers_and_keeps_everybody_else_s(api, source_for):
    foreign = api.add_rule("cats has:images", tag="someone-else")
    untagged = api.add_rule("dogs")
    old_ours = api.add_rule("old OR terms", tag="tweetstream-run-3")  # no run streams it: a crash left it
    track = ["justin bieber", "Selena", "taylor swift", "OR", "don't stop", "#nowplaying", "bieber", "selena"]

    source_for(run_id=7, X_RULE_MAX_LEN="40").stream(track)

    deleted, added = api.rule_changes
    assert deleted == {"delete": {"ids": [old_ours["id"]]}}
    new_rules = added["add"]
    assert [rule["value"] for rule in new_rules] == [  # AND of words per phrase, phrases OR-ed, packed
        "(justin bieber) OR selena",
        '(taylor swift) OR or OR ("don\'t" stop)',
        "#nowplaying OR bieber",
    ]
    assert all(len(rule["value"]) <= 40 for rule in new_rules)
    assert {rule["tag"] for rule in new_rules} == {"tweetstream-run-7"}
    kept = {rule["id"] for rule in api.rules.values()}
    assert {foreign["id"], untagged["id"]} <= kept and old_ours["id"] not in kept


def test_stream_refuses_track_terms_that_do_not_fit_the_rules(api, source_for):
    track = [f"term{i:03d}" for i in range(50)]

    with pytest.raises(SourceError, match=r"do not fit in X stream rules: they need \d+ rules .* only 2 are allowed"):
        source_for(X_RULE_MAX_LEN="60", X_MAX_RULES="2").stream(track)
    assert api.rule_changes == []  # nothing half-done


def test_stream_retries_a_429_after_the_reset(api, source_for):
    lines = source_for(run_id=2).stream(EVERY_POST)
    api.rate_limit_next(1, reset_in=1.0, path=STREAM)

    received = _take(lines, len(RECORDED_LINES))

    assert received == api.sent_lines
    refused, served = api.requests_to(STREAM)
    assert (refused.status, served.status) == (429, 200)
    assert served.at >= api.rate_limit_resets[0] - 0.05


def test_stream_reconnects_after_a_disconnect_and_goes_on(api, source_for):
    api.disconnect_stream_after(3)
    lines = source_for(run_id=3).stream(EVERY_POST)

    received = _take(lines, len(RECORDED_LINES))

    assert received == api.sent_lines and len(received) == len(RECORDED_LINES)
    assert api.stream_connections == 2


def test_a_slow_consumer_gets_every_line_in_order(api, monkeypatch):
    monkeypatch.setenv("X_BEARER_TOKEN", TOKEN)
    source = XApiSource.from_config({"X_BEARER_TOKEN": TOKEN, "X_API_BASE_URL": api.base_url})
    source.queue_size = 1
    received = []

    for line in source.stream(EVERY_POST):
        received.append(line)
        time.sleep(0.02)  # the connection thread waits on the full queue meanwhile
        if len(received) == len(RECORDED_LINES):
            break

    assert received == api.sent_lines
    source.close()


def test_close_ends_the_stream_its_connection_and_its_rules(api, source_for):
    source = source_for(run_id=4)
    lines = source.stream(EVERY_POST)
    _take(lines, len(RECORDED_LINES))  # from now on only keep-alives come
    assert api.rules_tagged("tweetstream-run-4") and api.open_connections == 1

    threading.Timer(0.2, source.close).start()
    started = time.monotonic()
    assert list(lines) == []  # the blocked consumer is released
    assert time.monotonic() - started < 2.0
    deadline = time.monotonic() + 2.0
    while (api.open_connections or api.rules) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (api.open_connections, api.rules) == (0, {})
    assert not source.hub().streaming


def test_stream_refused_for_a_bad_token_ends_with_a_source_error(api, source_for, caplog):
    api.token = "another-token"  # ours is refused from now on
    caplog.set_level(logging.DEBUG)

    with pytest.raises(SourceError, match=r"X API reading stream rules failed: HTTP 401 .*bearer token was rejected") as refused:
        source_for().stream(["brexit"])

    assert TOKEN not in str(refused.value)
    assert TOKEN not in caplog.text
    assert "Bearer <redacted>" in caplog.text  # tweepy did log the header, redacted


def test_stream_connection_refused_with_401_ends_the_generator(api, source_for):
    lines = source_for().stream(["brexit"])
    api.token = "another-token"

    with pytest.raises(SourceError, match=r"X API refused the stream: HTTP 401") as refused:
        _take(lines, 1)  # raised inside the reader thread: re-raise it here
    assert TOKEN not in str(refused.value)


# --- retry policy -------------------------------------------------------------

def test_backoff_grows_exponentially_up_to_its_cap():
    policy = RetryPolicy(initial=1.0, factor=2.0, cap=5.0)

    assert [policy.delay(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    rate_limited = Retryable("429", retry_at=1030.0)
    assert RetryPolicy(initial=1.0, clock=lambda: 1000.0).wait_after(rate_limited, 1) == 30.0
    assert RetryPolicy(initial=1.0, rate_limit_cap=10.0, clock=lambda: 1000.0).wait_after(rate_limited, 1) == 10.0


def test_retries_start_over_after_progress_and_stop_when_asked():
    outcomes = iter([Retryable("a"), Retryable("b"), Retryable("c", progressed=True), Retryable("d"), "done"])
    waits = []

    def attempt():
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    policy = RetryPolicy(initial=1.0, factor=2.0, cap=60.0, max_retries=10)
    assert policy.call(attempt, wait=lambda s: waits.append(s) or False) == "done"
    assert waits == [1.0, 2.0, 1.0, 2.0]

    assert policy.call(lambda: (_ for _ in ()).throw(Retryable("x")), wait=lambda s: True) is None
    with pytest.raises(RetriesExhausted, match="x; gave up after 2 retries"):
        RetryPolicy(max_retries=2).call(lambda: (_ for _ in ()).throw(Retryable("x")), wait=lambda s: False)


# --- configuration, check, secrets --------------------------------------------

def test_no_bearer_token_is_a_clear_source_error(monkeypatch):
    monkeypatch.delenv("X_BEARER_TOKEN", raising=False)

    with pytest.raises(SourceError) as missing:
        XApiSource.from_config({"X_BEARER_TOKEN": ""})
    assert str(missing.value) == "X_BEARER_TOKEN is not set: the production flavor needs an X API bearer token"


def test_the_token_set_in_the_environment_reaches_the_source_through_config_yml(api, monkeypatch):
    monkeypatch.setenv("X_BEARER_TOKEN", TOKEN)
    source = XApiSource.from_config({"X_API_BASE_URL": api.base_url})

    source.check()

    assert api.requests[-1].authorized
    assert TOKEN not in repr(source)


def test_check_passes_against_a_working_api(api, source_for):
    source_for().check()

    assert [(r.method, r.path, r.status) for r in api.requests] == [("GET", RULES, 200)]


def test_check_names_the_http_status_never_the_token(api, source_for, caplog):
    caplog.set_level(logging.DEBUG)
    source = source_for()
    api.token = "another-token"

    with pytest.raises(SourceError, match=r"X API check failed: HTTP 401 Unauthorized") as failed:
        source.check()

    assert TOKEN not in str(failed.value)
    assert TOKEN not in caplog.text
    assert "Bearer <redacted>" in caplog.text


def test_check_gives_up_on_a_hung_api_after_its_short_timeout(api, source_for):
    source = source_for(X_CHECK_TIMEOUT="0.2")
    api.stall_next(1, seconds=3.0)
    started = time.monotonic()

    with pytest.raises(SourceError, match=r"X API check failed: cannot reach the API \(ReadTimeout\)"):
        source.check()
    assert time.monotonic() - started < 1.5


def test_the_fake_base_url_follows_no_proxy_like_any_url(api, source_for, monkeypatch):
    # proxies were chosen for api.twitter.com; 127.0.0.1 is exempt, so the dead proxy must not be used
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")

    source_for().check()


def test_check_fails_when_the_api_cannot_be_reached(api, source_for):
    source = source_for()
    api.stop()

    with pytest.raises(SourceError, match=r"X API check failed: cannot reach the API \(ConnectionError\)"):
        source.check()


# --- under eventlet, as nameko runs it ------------------------------------------

def test_stream_works_under_eventlet_monkey_patching(api):
    program = textwrap.dedent(f"""
        import eventlet
        eventlet.monkey_patch()
        import itertools, sys
        from services.sources.x_api import XApiSource
        source = XApiSource.from_config({{"X_BEARER_TOKEN": {TOKEN!r}, "X_API_BASE_URL": {api.base_url!r}}})
        lines = list(itertools.islice(source.stream({EVERY_POST!r}), {len(RECORDED_LINES)}))
        source.close()
        sys.stdout.write(str(len(lines)) + " " + str(sum(map(len, lines))))
    """)
    root = Path(__file__).resolve().parents[2]

    done = subprocess.run([sys.executable, "-c", program], cwd=root, capture_output=True, text=True, timeout=30)

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{len(RECORDED_LINES)} {sum(map(len, api.sent_lines))}"
    assert api.rules == {}  # close() deleted the run's rules
    deadline = time.monotonic() + 2.0
    while api.open_connections and time.monotonic() < deadline:  # the fake notices at its next keep-alive
        time.sleep(0.02)
    assert api.open_connections == 0
