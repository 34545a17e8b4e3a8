"""Keep freed multi-megabyte buffers in the process for the next batch (launcher, filter).

A batch of 500 tweets is a 2 MB message: joined and sent by the launcher, received, split and
turned into a 1 MB statement by the filter. By default glibc serves such a buffer with mmap, or
trims the heap when it is freed, so every batch page-faulted its buffers in again: encoding one
took 6.0 us a tweet instead of 1.6 (services.wire.dumps, 500 lines of 4 KB). Above the largest
buffer a service makes, the threshold keeps them in the heap, and up to KEEP_FREE_BYTES of free
heap stay mapped for the next batch.
"""
import ctypes
import ctypes.util
import logging

from nameko.extensions import DependencyProvider

log = logging.getLogger(__name__)

# mallopt parameters, from glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
HEAP_UP_TO_BYTES = 32 * 1024 * 1024    # a batch is at most BATCH_MAX_BYTES (4 MB) plus a group's SQL
KEEP_FREE_BYTES = 64 * 1024 * 1024


def keep_large_buffers() -> bool:
    """Set the thresholds; False where the C library has no mallopt (not glibc)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, HEAP_UP_TO_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, KEEP_FREE_BYTES))


class ReusedLargeBuffers(DependencyProvider):
    """Tunes the C allocator of a process that moves tweet batches."""

    def setup(self):
        if not keep_large_buffers():
            log.info("mallopt is not available: large buffers are left to the C library's defaults")
