"""Statistics: amount, speed and elapsed time over every run, and per run."""
from nameko.rpc import rpc

from services.contracts.errors import ANSWERS, NotFound
from services.observability.metrics import EntrypointMetrics, MetricsServer
from services.storage import runs
from services.storage.database import Database


class StatisticsService:
    name = "statistics"

    db = Database(pool_size=4)
    metrics = MetricsServer()
    entrypoint_metrics = EntrypointMetrics()

    @rpc(expected_exceptions=ANSWERS)
    def get_statistics(self) -> dict:
        with self.db.connect() as conn:
            return runs.overall_figures(conn)

    @rpc(expected_exceptions=ANSWERS)
    def get_run(self, run_id: int) -> dict:
        with self.db.connect() as conn:
            figures = runs.run_figures(conn, int(run_id))
        if figures is None:
            raise NotFound(f"run {run_id} does not exist")
        return figures

    @rpc(expected_exceptions=ANSWERS)
    def list_runs(self) -> list[dict]:
        with self.db.connect() as conn:
            return runs.all_run_figures(conn)
