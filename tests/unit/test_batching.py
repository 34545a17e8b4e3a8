"""Batches close when full, when large, or when a slow stream has waited long enough."""
import time

import pytest

from services.launcher.batching import batches
from services.sources.base import paced


def test_batches_close_when_full():
    assert [len(b) for b in batches(iter([b"x"] * 1050), 500, 10**9, 5.0)] == [500, 500, 50]


def test_batches_close_at_the_byte_limit():
    assert [len(b) for b in batches(iter([b"12345"] * 10), 100, 20, 5.0)] == [4, 4, 2]


def test_a_slow_stream_still_delivers_within_the_wait():
    def slow():
        for _ in range(3):
            time.sleep(0.3)
            yield b"y"
    began = time.monotonic()
    arrivals = [(len(b), time.monotonic() - began) for b in batches(slow(), 500, 10**9, 0.4)]
    assert sum(n for n, _ in arrivals) == 3
    assert len(arrivals) >= 2  # not held until the stream ended


def test_a_failing_source_delivers_what_it_had_then_raises():
    def failing():
        yield b"a"
        raise RuntimeError("source broke")
    got = []
    with pytest.raises(RuntimeError, match="source broke"):
        for batch in batches(failing(), 10, 100, 1.0):
            got.append(batch)
    assert got == [[b"a"]]


def test_paced_keeps_the_rate_without_real_sleeping():
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    items = list(paced(range(5), 10.0, clock=lambda: now[0], sleep=sleep))
    assert items == [0, 1, 2, 3, 4]
    assert now[0] == pytest.approx(0.4)
