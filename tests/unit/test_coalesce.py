"""Concurrent /statistics requests share one RPC; an answer is reused only briefly."""
import eventlet
import pytest

from services.gateway.coalesce import CoalescedCall


def test_requests_in_flight_together_share_one_call():
    calls = []

    def fetch():
        calls.append(1)
        eventlet.sleep(0.05)
        return {"amount": len(calls)}

    shared = CoalescedCall(fresh_for=0.0)
    answers = [t.wait() for t in [eventlet.spawn(shared.get, fetch) for _ in range(20)]]
    assert len(calls) == 1 and answers == [{"amount": 1}] * 20


def test_an_answer_is_reused_only_while_fresh_and_forgotten_on_demand():
    now = [0.0]
    shared = CoalescedCall(fresh_for=0.25, clock=lambda: now[0])
    counter = iter(range(100))
    fetch = lambda: next(counter)  # noqa: E731
    assert shared.get(fetch) == 0
    now[0] = 0.2
    assert shared.get(fetch) == 0
    now[0] = 0.3
    assert shared.get(fetch) == 1
    shared.forget()
    assert shared.get(fetch) == 2


def test_a_failed_call_fails_every_waiter_and_is_not_kept():
    def fail():
        eventlet.sleep(0.02)
        raise RuntimeError("statistics service away")

    shared = CoalescedCall(fresh_for=10)
    waiters = [eventlet.spawn(shared.get, fail) for _ in range(3)]
    for waiter in waiters:
        with pytest.raises(RuntimeError):
            waiter.wait()
    assert shared.get(lambda: "back") == "back"
