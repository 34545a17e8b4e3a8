"""The health service: checks the database, the broker and the tweet source on request, and
reports batches of the pipeline that failed lately."""

from nameko.dependency_providers import Config
from nameko.rpc import rpc

from services.health.checks import CHECKS, check_pipeline, run_checks
from services.observability.metrics import EntrypointMetrics, MetricsServer
from services.storage.database import Database


class HealthService:
    name = "health"

    config = Config()
    db = Database(pool_size=1)
    metrics = MetricsServer()
    entrypoint_metrics = EntrypointMetrics()

    @rpc
    def check(self) -> dict:
        """``{"status": "ok" | "failed", "checks": {"database", "broker", "source", "pipeline"}}``, within a few
        seconds; ``pipeline`` does not change the status."""
        checks = dict(CHECKS, pipeline=lambda _config, timeout: check_pipeline(self.db, timeout))
        return run_checks(self.config, checks)
