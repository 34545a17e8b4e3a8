"""Through real Nameko RPC: a gateway whose statistics service does not answer in time answers
504 after RPC_TIMEOUT, and answers again once the service does."""
import time

import eventlet
import requests
from nameko.rpc import rpc

from services.gateway.service import GatewayService


class SlowStatistics:
    name = "statistics"
    delay = [2.0]

    @rpc
    def get_statistics(self):
        eventlet.sleep(self.delay[0])
        return {"amount": 7, "speed": 1.0, "elapsed_time": 7}


def test_a_statistics_service_that_does_not_answer_in_time_is_a_504(container_factory, nameko_config,
                                                                      web_config, web_config_port):
    # (nameko's web_session fixture imports werkzeug's removed url_join)
    config = dict(nameko_config, RPC_TIMEOUT=0.5, STATISTICS_FRESH_FOR=0,
                  WEB_SERVER_ADDRESS=web_config["WEB_SERVER_ADDRESS"])
    container_factory(SlowStatistics, config).start()
    container_factory(GatewayService, config).start()
    url = f"http://127.0.0.1:{web_config_port}/statistics"

    began = time.monotonic()
    late = requests.get(url, timeout=10)
    assert late.status_code == 504, late.text
    assert "statistics.get_statistics did not answer within 0.5 s" in late.json()["error"]
    assert time.monotonic() - began < 3

    SlowStatistics.delay[0] = 0.0
    assert requests.get(url, timeout=10).json()["amount"] == 7


def test_a_request_that_arrives_while_the_gateway_starts_is_answered(container_factory, nameko_config,
                                                                     web_config, web_config_port,
                                                                     monkeypatch):
    """The gateway's HTTP server and its RPC reply consumer start side by side. A request served
    before the consumer has declared its reply queue must still get its reply."""
    from nameko.messaging import QueueConsumer

    config = dict(nameko_config, RPC_TIMEOUT=3, STATISTICS_FRESH_FOR=0,
                  WEB_SERVER_ADDRESS=web_config["WEB_SERVER_ADDRESS"])
    SlowStatistics.delay[0] = 0.0
    container_factory(SlowStatistics, config).start()

    # hold the gateway's consumer back, as a slow broker connection would
    set_up_consumers = QueueConsumer.get_consumers

    def late_consumers(self, consumer_cls, channel):
        eventlet.sleep(1.5)
        return set_up_consumers(self, consumer_cls, channel)

    monkeypatch.setattr(QueueConsumer, "get_consumers", late_consumers)
    gateway = container_factory(GatewayService, config)
    starting = eventlet.spawn(gateway.start)

    url = f"http://127.0.0.1:{web_config_port}/statistics"
    for _ in range(200):
        sent_while_starting = not starting.dead
        try:
            answer = requests.get(url, timeout=10)
            break
        except requests.ConnectionError:  # not listening yet
            eventlet.sleep(0.01)
    assert sent_while_starting, "the request should come in while the gateway is still starting"
    assert answer.status_code == 200, answer.text
    assert answer.json()["amount"] == 7
    starting.wait()
