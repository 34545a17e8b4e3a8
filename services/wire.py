"""How messages are encoded on the broker (registered as a Nameko serializer in
config/config.yml).

Every message is orjson (kombu's JSON encoder was a tenth of the launcher's time), except
a batch of raw tweets: its JSON header, a newline, then its items as the raw lines the
source gave, one per line. Encoding 500 tweets as JSON strings escaped every quote they
hold on one side and unescaped it on the other; as lines they cross untouched and the
filter decodes each once. orjson never writes a raw newline, so the first one (if any)
is where a batch's header ends.
"""
import orjson

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
    if b"\n" not in body:
        return orjson.loads(body)
    lines = body.split(b"\n")
    message = orjson.loads(lines[0])
    del lines[0]
    message[ITEMS] = lines
    return message
