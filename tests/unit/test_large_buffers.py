"""Batch-sized buffers are reused, not page-faulted in again for every batch."""
import subprocess
import sys

from services.filter.service import FilterService
from services.large_buffers import ReusedLargeBuffers, keep_large_buffers
from services.launcher.service import LauncherService

# Encodes 50 batches of 500 lines of 4 KB as the launcher does; prints the page faults it took.
ENCODE_BATCHES = """
import resource, sys
from services.large_buffers import keep_large_buffers
from services.wire import RawLines, dumps
if sys.argv[1] == "tuned":
    assert keep_large_buffers()
lines = RawLines(bytes([65 + i % 26]) * 4096 for i in range(500))
dumps({"run_id": 1, "items": lines})
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    dumps({"run_id": 1, "items": lines})
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", ENCODE_BATCHES, mode], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1])


def test_this_c_library_takes_the_thresholds():
    assert keep_large_buffers()


def test_encoding_batches_reuses_the_buffers_of_the_batch_before():
    default, tuned = page_faults("default"), page_faults("tuned")
    # by default each 2 MB buffer (512 pages) faults in again for every batch
    assert default > 50 * 512
    assert tuned < 512


def test_the_services_that_move_batches_are_tuned():
    assert isinstance(LauncherService.large_buffers, ReusedLargeBuffers)
    assert isinstance(FilterService.large_buffers, ReusedLargeBuffers)
