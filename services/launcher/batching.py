"""Group source items into batches: by count, by size, and by time for slow streams."""
import time
from typing import Iterator

import eventlet
from eventlet.queue import Empty, LightQueue

_END = object()


def batches(items: Iterator[bytes], max_items: int, max_bytes: int, max_wait: float,
            clock=time.monotonic) -> Iterator[list[bytes]]:
    """Yield lists of items; a batch closes when full or ``max_wait`` seconds after it opened.

    The source is read in a green thread of its own, so a quiet stream still delivers
    what it has after ``max_wait`` instead of holding it until the batch fills.
    """
    queue = LightQueue(max(max_items * 4, 64))
    failure: list[BaseException] = []

    def read():
        try:
            for item in items:
                queue.put(item)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer
            failure.append(error)
        finally:
            queue.put(_END)

    reader = eventlet.spawn(read)
    try:
        batch: list[bytes] = []
        size = 0
        opened = None
        while True:
            timeout = None if opened is None else max(0.0, opened + max_wait - clock())
            try:
                item = queue.get(timeout=timeout)
            except Empty:
                item = None
            if item is _END:
                if batch:
                    yield batch
                if failure:
                    raise failure[0]
                return
            if item is not None:
                if opened is None:
                    opened = clock()
                batch.append(item)
                size += len(item)
            if batch and (len(batch) >= max_items or size >= max_bytes or clock() - opened >= max_wait):
                yield batch
                batch, size, opened = [], 0, None
    finally:
        reader.kill()
