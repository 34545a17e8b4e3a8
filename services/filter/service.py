"""The filter: turns batches of raw tweets into stored, matched tweets."""
import gc

import eventlet
from nameko.events import event_handler
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from services.contracts.events import BATCH_EVENT, BATCH_SOURCE
from services.filter.committer import GroupCommitter
from services.filter.pipeline import process_batch, retry_failed
from services.observability.metrics import EntrypointMetrics, MetricsServer
from services.storage.database import Database

# Parsing allocates many short-lived objects, none of them in a cycle: at CPython's default threshold
# (700) the cyclic collector would run several times a batch and find nothing to free.
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
