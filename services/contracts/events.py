"""The one event that carries tweets: the launcher's batches, consumed by the filter.

The filter's queue is declared here too, so that the launcher can make sure it exists
before its first dispatch: RabbitMQ drops events that reach an exchange with no queue
bound, and a filter that starts a moment after the launcher must not lose a batch.
"""
from kombu import Connection, Queue
from kombu import compression as kombu_compression
from nameko.standalone.events import event_dispatcher, get_event_exchange

import services.contracts.wire  # noqa: F401 - registers zstd at the level batches use
from services.settings import setting

BATCH_SOURCE = "launcher"
BATCH_EVENT = "tweet_batch"
BATCH_HANDLER = ("filter", "handle_batch")

# The batch's version, in its header as "v". During a rolling upgrade launchers and filters of two
# versions run side by side: a filter reads every version up to its own (1: the header without "v",
# as launchers wrote it before there was one), and refuses a newer one by name; the batch is kept
# as failed, and retried (POST /statistics/runs/{id}/retry) once every filter is upgraded.
BATCH_VERSION = 2


class NewerBatchVersion(ValueError):
    """A batch written by a newer launcher than this filter can read."""


def check_batch_version(batch: dict) -> None:
    version = batch.get("v", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise NewerBatchVersion(f"batch version {version!r} is not a version this filter knows (1 to {BATCH_VERSION})")
    if version > BATCH_VERSION:
        raise NewerBatchVersion(f"batch version {version} was written by a newer launcher; this filter reads "
                                f"versions 1 to {BATCH_VERSION}: retry the run's failed batches once every "
                                "filter is upgraded")


def batch_queue(config: dict) -> Queue:
    service, method = BATCH_HANDLER
    # the name nameko's @event_handler gives a SERVICE_POOL handler's queue
    return Queue(f"evt-{BATCH_SOURCE}-{BATCH_EVENT}--{service}.{method}",
                 exchange=get_event_exchange(BATCH_SOURCE, config), routing_key=BATCH_EVENT,
                 durable=True, auto_delete=False, exclusive=False)


def declare_batch_queue(config: dict) -> None:
    with Connection(config["AMQP_URI"]) as connection:
        batch_queue(config)(connection.default_channel).declare()


def batch_compression(config: dict) -> str | None:
    """How batches are compressed on the broker: BATCH_COMPRESSION (a compression kombu knows),
    ``none`` for not at all. Refused by name at start: at publish time the launcher would retry
    the failing dispatch for ever."""
    name = str(setting(config, "BATCH_COMPRESSION"))
    if name.lower() == "none":
        return None
    try:
        kombu_compression.get_encoder(name)
    except KeyError:
        raise ValueError(f"BATCH_COMPRESSION {name!r} is not a compression kombu knows; "
                         f"use zstd, or none for uncompressed batches") from None
    return name


def batch_dispatcher(config: dict):
    """``dispatch(source, event, payload)`` for tweet batches; kombu decompresses them on delivery."""
    return event_dispatcher(config, compression=batch_compression(config))
