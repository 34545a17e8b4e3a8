"""The per-window request caps of the X API (services/sources/backoff.py WindowLimiter), on a fake
clock: requests beyond the cap wait their turn instead of being refused, and a launch that waits
says so."""
import logging
import threading
import time

import pytest

from services.sources.backoff import WindowLimiter, within_limit
from services.sources.x_stream import StreamHub


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return False


def limiter(clock: FakeClock, limit: int = 2, window: float = 900.0) -> WindowLimiter:
    return WindowLimiter(limit, window, name="X_RULE_CHANGES_PER_WINDOW", clock=clock, wait=clock.wait)


def test_requests_within_the_limit_go_at_once_and_the_next_one_waits_for_the_window_to_move(caplog):
    clock = FakeClock()
    limits = limiter(clock)
    caplog.set_level(logging.INFO)

    assert limits.acquire("stream rule change") and limits.acquire("stream rule change")
    assert clock.waits == []
    clock.now += 100.0
    assert limits.wait_time() == 800.0

    assert limits.acquire("stream rule change")

    assert clock.waits == [800.0] and clock.now == 1900.0  # the first request left the window
    assert "stream rule change waits 800 s" in caplog.text and "X_RULE_CHANGES_PER_WINDOW" in caplog.text


def test_the_window_slides_so_no_window_ever_holds_more_than_the_limit():
    clock = FakeClock()
    limits = limiter(clock, limit=3, window=60.0)
    sent = []

    for _ in range(10):
        limits.acquire("stream connect")
        sent.append(clock.now)
        clock.now += 7.0

    assert all(later - earlier >= 60.0 for earlier, later in zip(sent, sent[3:], strict=False))
    assert sent[3] - sent[0] == 60.0  # and no longer than needed


def test_a_waiting_request_that_is_asked_to_stop_is_not_counted():
    clock = FakeClock()
    limits = limiter(clock, limit=1)
    limits.acquire("stream connect")

    assert limits.acquire("stream connect", wait=lambda seconds: True) is False

    clock.now += 900.0
    assert limits.wait_time() == 0.0


def test_concurrent_callers_queue_and_together_keep_within_the_limit():
    limits = WindowLimiter(2, 0.3, name="X_CONNECTS_PER_WINDOW")
    sent, lock = [], threading.Lock()

    def request():
        limits.acquire("stream connect")
        with lock:
            sent.append(time.monotonic())

    threads = [threading.Thread(target=request) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)

    sent.sort()
    assert len(sent) == 6
    assert all(later - earlier >= 0.29 for earlier, later in zip(sent, sent[2:], strict=False))


def test_a_limited_method_takes_a_turn_at_each_call():
    clock = FakeClock()

    class Rules:
        rule_changes = limiter(clock, limit=1, window=900.0)

        @within_limit("rule_changes", "stream rule change")
        def add(self, value):
            return value

    rules = Rules()
    assert [rules.add(n) for n in range(3)] == [0, 1, 2]
    assert clock.waits == [900.0, 900.0]


def test_the_limit_must_allow_a_request():
    with pytest.raises(ValueError, match="X_CONNECTS_PER_WINDOW must be at least 1"):
        WindowLimiter(0, 900.0, name="X_CONNECTS_PER_WINDOW")


# --- the hub's rule changes queue on the limiter ------------------------------

class Rule:
    def __init__(self, value: str, tag: str):
        self.value, self.tag = value, tag


class FakeRules:
    """The rules endpoint in memory: each change takes its turn as StreamRules' do."""

    def __init__(self, rule_changes: WindowLimiter, clock: FakeClock):
        self.rule_changes, self.clock = rule_changes, clock
        self.rules: dict[str, dict] = {}
        self.changed_at: list[float] = []

    def current(self) -> list[dict]:
        return list(self.rules.values())

    @within_limit("rule_changes", "stream rule change")
    def add(self, rules):
        self.changed_at.append(self.clock.now)
        created = [{"id": str(len(self.changed_at) * 100 + n), "value": r.value, "tag": r.tag} for n, r in enumerate(rules)]
        self.rules.update((rule["id"], rule) for rule in created)
        return created, []

    @within_limit("rule_changes", "stream rule change")
    def delete(self, ids):
        self.changed_at.append(self.clock.now)
        for rule_id in ids:
            self.rules.pop(rule_id, None)


def test_launches_beyond_the_rule_change_limit_wait_their_turn_and_say_so(caplog):
    clock = FakeClock()
    changes = limiter(clock, limit=2)
    rules = FakeRules(changes, clock)
    hub = StreamHub(rules, make_stream=None, rule_changes=changes)
    caplog.set_level(logging.INFO)

    runs = [hub.subscribe(f"tweetstream-run-{n}", [Rule(f"term{n}", f"tweetstream-run-{n}")],
                          max_rules=1000, queue_size=10) for n in range(3)]

    assert rules.changed_at == [1000.0, 1000.0, 1900.0]  # the third launch waited for the window
    assert "launching tweetstream-run-2 waits about 900 s" in caplog.text
    for run in runs[:2]:  # a stop's deletion queues the same way
        hub.unsubscribe(run).join()
    assert rules.changed_at[3:] == [1900.0, 2800.0]
    assert [rule["tag"] for rule in rules.rules.values()] == ["tweetstream-run-2"]
