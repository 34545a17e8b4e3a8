"""The broker encoding: orjson, and tweet batches as a JSON header followed by raw lines."""
import orjson

from services.contracts import wire
from services.sources.synthetic import SyntheticSource
from services.tweets.parse import parse_documents


def batch(items):
    return {"run_id": 3, "start": 500, "end": 500 + len(items), "track": ["a b"], "items": items}


def test_a_batch_of_raw_lines_arrives_as_the_same_lines():
    lines = [b'{"data": {"id": "1", "text": "caf\xc3\xa9 \\"quoted\\""}}', b"not json at all", b'{"x": 1}']
    body = wire.dumps(batch(wire.RawLines(lines)))
    assert body.count(b"\n") == len(lines)          # header, then one line per item
    assert wire.loads(body) == batch(lines)


def test_an_item_holding_a_newline_travels_as_a_json_string_instead():
    lines = [b'{"a": 1}', b'{"b":\n 2}']
    body = wire.dumps(batch(wire.RawLines(lines)))
    assert b"\n" not in body
    assert wire.loads(body)["items"] == ['{"a": 1}', '{"b":\n 2}']


def test_other_messages_are_plain_orjson():
    payload = {"args": [1, "two"], "kwargs": {"n": None}, "items": ["a string item"]}
    assert wire.dumps(payload) == orjson.dumps(payload)
    assert wire.loads(wire.dumps(payload)) == payload
    assert wire.loads(wire.dumps(payload).decode()) == payload
    assert wire.loads(wire.dumps(batch(wire.RawLines([])))) == batch([])


def test_a_batch_read_from_the_broker_parses_as_its_lines_would():
    # the lines arrive as views into the message body; blank ones and bad ones count as before
    source = SyntheticSource(seed=4, rate=0)
    lines = [source.item(0), b"", b"\r", b"{not json", b'{"errors": [{"title": "x"}]}', source.item(1)]
    received = wire.loads(wire.dumps(batch(wire.RawLines(lines))))["items"]
    assert all(isinstance(line, memoryview) for line in received)
    as_views, as_bytes = parse_documents(received), parse_documents(lines)
    assert as_views.tweets == as_bytes.tweets and len(as_views.tweets) == 2
    assert as_views.bad == as_bytes.bad == 2
    assert dict(as_views.users) == dict(as_bytes.users) and as_views.places == as_bytes.places
