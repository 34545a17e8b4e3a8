"""How messages are encoded on the broker (registered as a Nameko serializer in
config/config.yml).

Every message is orjson (kombu's JSON encoder was a tenth of the launcher's time), except
a batch of raw tweets: its JSON header, a newline, then its items as the raw lines the
source gave, one per line. Encoding 500 tweets as JSON strings escaped every quote they
hold on one side and unescaped it on the other; as lines they cross untouched and the
filter decodes each once. orjson never writes a raw newline, so the first one (if any)
is where a batch's header ends.

Tweet batches also travel compressed (``BATCH_COMPRESSION``, zstd by default; kombu compresses on
publish and decompresses on delivery, by the message's ``compression`` header). RabbitMQ keeps a
persistent message on disk: for 4 MB batches that was its largest cost.
"""
import functools
import sys

import orjson
from kombu import compression as kombu_compression

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

ZSTD = "application/zstd"
# Level -1 (zstd's fast levels): the launcher compresses every tweet, so speed matters more than
# the last part of the ratio; the payloads still come out several times smaller. kombu's own
# registration (when it has one) uses the default level; the decoder is the same whatever the level.
ZSTD_LEVEL = -1
kombu_compression.register(functools.partial(zstd.compress, level=ZSTD_LEVEL), zstd.decompress, ZSTD, aliases=["zstd"])

ITEMS = "items"


class RawLines(tuple):
    """The items of a batch, bytes each, to travel as lines after the message's header."""


def dumps(payload) -> bytes:
    if isinstance(payload, dict) and isinstance(payload.get(ITEMS), RawLines):
        lines = payload[ITEMS]
        header = {key: value for key, value in payload.items() if key != ITEMS}
        if lines and not any(b"\n" in line for line in lines):
            # one join: concatenating the parts copied the 2 MB body twice more
            return b"\n".join((orjson.dumps(header, option=orjson.OPT_NON_STR_KEYS), *lines))
        # an item with a newline in it cannot be a line: it travels as a JSON string instead
        payload = dict(header, items=[line.decode("utf-8", "replace") for line in lines])
    return orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS)


def loads(body):
    if isinstance(body, str):
        body = body.encode("utf-8")
    header_end = body.find(b"\n")
    if header_end < 0:
        return orjson.loads(body)
    message = orjson.loads(body[:header_end])
    message[ITEMS] = _lines(body, header_end + 1)
    return message


def _lines(body: bytes, at: int) -> list[memoryview]:
    """The lines from ``at`` on, as views into the body: bytes.split scans byte by byte and
    copies every line (3.4 ms for a 2 MB batch, against 0.2 ms); the readers take buffers."""
    whole, find, lines = memoryview(body), body.find, []
    while (end := find(b"\n", at)) >= 0:
        lines.append(whole[at:end])
        at = end + 1
    lines.append(whole[at:])
    return lines
