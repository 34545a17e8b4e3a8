"""The health service: checks the database, the broker and the tweet source on request."""
from nameko.dependency_providers import Config
from nameko.rpc import rpc

from services.health.checks import run_checks
from services.observability.metrics import EntrypointMetrics, MetricsServer


class HealthService:
    name = "health"

    config = Config()
    metrics = MetricsServer()
    entrypoint_metrics = EntrypointMetrics()

    @rpc
    def check(self) -> dict:
        """``{"status": "ok" | "failed", "checks": {"database", "broker", "source"}}``, within a few seconds."""
        return run_checks(self.config)
