"""Tweet batches cross the real broker compressed (BATCH_COMPRESSION) and arrive as the lines that left."""
import os
from unittest import mock

import pytest
import yaml
from kombu import Connection

from services.contracts import wire
from services.contracts.events import BATCH_EVENT, BATCH_SOURCE, batch_dispatcher, batch_queue, declare_batch_queue
from services.launcher.service import LauncherService
from services.sources.synthetic import SyntheticSource
from tests.system import ROOT, nameko_config_loader

CONFIG_YML = ROOT / "config" / "config.yml"


def service_config(amqp_uri: str, **env) -> dict:
    """config/config.yml as `nameko run` reads it, with ``env`` set."""
    with mock.patch.dict(os.environ, {"AMQP_URI": amqp_uri, **env}):
        if not env:
            os.environ.pop("BATCH_COMPRESSION", None)
        return yaml.load(CONFIG_YML.read_text(), Loader=nameko_config_loader())


def a_batch(count: int = 300) -> dict:
    source = SyntheticSource(seed=11, rate=0)
    return {"run_id": 5, "start": 1000, "end": 1000 + count, "source": "synthetic", "track": ["the"],
            "items": wire.RawLines(source.item(position) for position in range(1000, 1000 + count))}


def dispatch_and_fetch(config: dict, batch: dict):
    """Dispatch as the launcher does; the message as it sits on the broker, and as a consumer gets it."""
    declare_batch_queue(config)
    with Connection(config["AMQP_URI"]) as connection:
        channel = connection.default_channel
        queue = batch_queue(config)(channel)
        queue.purge()
        batch_dispatcher(config)(BATCH_SOURCE, BATCH_EVENT, batch)
        raw = channel.basic_get(queue.name, no_ack=False)       # py-amqp: the body as it travelled
        assert raw is not None
        channel.basic_reject(raw.delivery_tag, requeue=True)
        delivered = queue.get(no_ack=True)                        # kombu, as Nameko consumes
        return raw, delivered


def test_a_batch_travels_zstd_compressed_by_default_and_arrives_as_it_left(amqp_uri):
    config = service_config(amqp_uri)
    assert config["BATCH_COMPRESSION"] == "zstd"
    batch = a_batch()
    raw, delivered = dispatch_and_fetch(config, batch)
    encoded = wire.dumps(batch)
    assert raw.headers["compression"] == wire.ZSTD
    assert len(raw.body) * 4 < len(encoded)     # synthetic tweets compress about tenfold
    assert delivered.body == encoded
    received = wire.loads(delivered.body)
    assert [bytes(line) for line in received["items"]] == list(batch["items"])
    assert {k: v for k, v in received.items() if k != "items"} == {k: v for k, v in batch.items() if k != "items"}


def test_batch_compression_none_sends_batches_as_they_are(amqp_uri):
    config = service_config(amqp_uri, BATCH_COMPRESSION="none")
    assert config["BATCH_COMPRESSION"] == "none"
    batch = a_batch(20)
    raw, delivered = dispatch_and_fetch(config, batch)
    assert "compression" not in (raw.headers or {})
    assert bytes(raw.body) == delivered.body == wire.dumps(batch)


def test_an_unknown_batch_compression_stops_the_launcher_at_start(container_factory, nameko_config):
    # at publish time the launcher would retry the failing dispatch for ever
    container = container_factory(LauncherService, dict(nameko_config, BATCH_COMPRESSION="lz5"))
    with pytest.raises(ValueError, match="BATCH_COMPRESSION 'lz5' is not a compression kombu knows"):
        container.start()
