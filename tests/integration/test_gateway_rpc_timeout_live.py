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
