"""The filter: turns batches of raw tweets into stored, matched tweets."""
import gc

import eventlet
from nameko.events import event_handler
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from services.events import BATCH_EVENT, BATCH_SOURCE
from services.filter.committer import GroupCommitter
from services.filter.pipeline import process_batch, retry_failed
from services.observability.metrics import EntrypointMetrics, MetricsServer
from services.storage.database import Database

# Reading a tweet whole with orjson allocates about a hundred dicts and lists, none of them in a
# cycle: at CPython's default threshold (700) the cyclic collector ran about 8 times a batch of 500,
# 11% of the parse time in a micro benchmark (its effect on the whole pipeline was within run-to-run
# noise). Stream messages now take the typed reader, which allocates far fewer objects; this setting
# was not measured again since.
COLLECT_AFTER_ALLOCATIONS = 100_000


class FewerCollections(DependencyProvider):
    """Tunes the garbage collector for a process that parses tweets all day."""

    def setup(self):
        gc.freeze()   # what the process loaded at start lives as long as it does: never scanned again
        gc.set_threshold(COLLECT_AFTER_ALLOCATIONS, 50, 100)


class FilterService:
    name = "filter"

    db = Database()
    commit = GroupCommitter()
    collections = FewerCollections()
    metrics = MetricsServer()
    entrypoint_metrics = EntrypointMetrics()

    @event_handler(BATCH_SOURCE, BATCH_EVENT)
    def handle_batch(self, batch: dict):
        process_batch(self.db, batch, commit=self.commit, pause=eventlet.sleep)

    @rpc
    def retry_failed(self, run_id: int) -> dict:
        """Send the run's failed batches through again (the launcher's retry_failed asks for it)."""
        return retry_failed(self.db, int(run_id), commit=self.commit)
