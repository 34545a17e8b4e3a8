"""The broker limit against a real RabbitMQ: a figure when every published batch was consumed."""
from datetime import datetime, timezone

from services.sources.synthetic import SyntheticSource
from tools import bench


def test_the_broker_limit_reports_a_rate_when_every_batch_and_item_was_consumed(amqp_uri):
    source = SyntheticSource(seed=91, rate=0)
    now = datetime.now(timezone.utc)
    items = [source.item(position, now) for position in range(2_500)]   # two full batches and a half

    outcome = bench.limit_broker(amqp_uri, items, ["alpha", "beta"])

    assert outcome["completed"] and outcome["problems"] == []
    assert (outcome["batches"], outcome["consumed_batches"], outcome["consumed_items"]) == (3, 3, 2_500)
    assert outcome["tweets_per_s"] > 0 and outcome["publish_only_tweets_per_s"] > 0
