"""The gateway's RPC deadline: a call that gets no reply gives up after RPC_TIMEOUT, and the
request is answered 504 in JSON; a /statistics call shared by waiting requests fails for all of
them, so the next request asks again instead of waiting forever for a lost reply."""
import time

import eventlet
import orjson
import pytest
from nameko.testing.services import worker_factory
from werkzeug.test import EnvironBuilder

from services.gateway.coalesce import CoalescedCall
from services.gateway.rpc import RpcTimeout, TimedServiceProxy
from services.gateway.service import GatewayService


class Reply:
    def __init__(self, value=None, delay: float | None = None):
        self.value, self.delay = value, delay

    def result(self):
        if self.delay is None:
            eventlet.Event().wait()   # a lost reply: never comes
        eventlet.sleep(self.delay)
        return self.value


class Method:
    def __init__(self, reply: Reply):
        self.reply, self.calls = reply, 0

    def call_async(self, *args, **kwargs):
        self.calls += 1
        return self.reply

    def __call__(self, *args, **kwargs):
        return self.reply.result()


class Proxy:
    service_name = "statistics"

    def __init__(self, **methods):
        self.__dict__.update(methods)


def test_a_call_without_a_reply_gives_up_after_the_deadline():
    proxy = TimedServiceProxy(Proxy(get_statistics=Method(Reply())), timeout=0.2, unbounded=frozenset())
    began = time.monotonic()
    with pytest.raises(RpcTimeout, match="statistics.get_statistics did not answer within 0.2 s"):
        proxy.get_statistics()
    assert 0.2 <= time.monotonic() - began < 2


def test_a_reply_in_time_is_returned_and_unbounded_methods_are_left_alone():
    answered = Method(Reply({"amount": 3}, delay=0.05))
    slow = Method(Reply("stored", delay=0.4))
    proxy = TimedServiceProxy(Proxy(get_statistics=answered, populate=slow), timeout=0.3,
                              unbounded=frozenset({"populate"}))
    assert proxy.get_statistics() == {"amount": 3}
    assert proxy.populate() == "stored"   # past the deadline, but populate may take its time


def test_a_lost_reply_no_longer_holds_every_later_statistics_request():
    lost, answered = Method(Reply()), Method(Reply({"amount": 5}, delay=0))
    shared = CoalescedCall(fresh_for=0.25)
    first = TimedServiceProxy(Proxy(get_statistics=lost), timeout=0.2, unbounded=frozenset())
    # two requests share the call whose reply is lost: both fail at the deadline
    waiting = [eventlet.spawn(shared.get, first.get_statistics) for _ in range(2)]
    for request in waiting:
        with pytest.raises(RpcTimeout):
            request.wait()
    assert lost.calls == 1
    # the next request asks again and gets its answer
    again = TimedServiceProxy(Proxy(get_statistics=answered), timeout=0.2, unbounded=frozenset())
    assert shared.get(again.get_statistics) == {"amount": 5}


def test_the_gateway_answers_504_in_json_when_a_service_does_not_answer():
    gateway = worker_factory(GatewayService)
    gateway.query.top_users.side_effect = RpcTimeout("query.top_users did not answer within 30 s")

    response = gateway.view_top_users(EnvironBuilder(method="GET", path="/api/v1/users").get_request())

    assert response.status_code == 504
    assert orjson.loads(response.get_data()) == {"error": "query.top_users did not answer within 30 s"}
