"""The filter: turns batches of raw tweets into stored, matched tweets."""
from nameko.events import event_handler

from services.filter.pipeline import process_batch
from services.launcher.streamer import BATCH_EVENT
from services.observability.metrics import EntrypointMetrics, MetricsServer
from services.storage.database import Database


class FilterService:
    name = "filter"

    db = Database()
    metrics = MetricsServer()
    entrypoint_metrics = EntrypointMetrics()

    @event_handler("launcher", BATCH_EVENT)
    def handle_batch(self, batch: dict):
        process_batch(self.db, batch)
