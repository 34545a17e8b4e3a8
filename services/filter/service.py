"""The filter: turns batches of raw tweets into stored, matched tweets."""
import eventlet
from nameko.events import event_handler

from services.events import BATCH_EVENT, BATCH_SOURCE
from services.filter.committer import GroupCommitter
from services.filter.pipeline import process_batch
from services.observability.metrics import EntrypointMetrics, MetricsServer
from services.storage.database import Database


class FilterService:
    name = "filter"

    db = Database()
    commit = GroupCommitter()
    metrics = MetricsServer()
    entrypoint_metrics = EntrypointMetrics()

    @event_handler(BATCH_SOURCE, BATCH_EVENT)
    def handle_batch(self, batch: dict):
        process_batch(self.db, batch, commit=self.commit, pause=eventlet.sleep)
