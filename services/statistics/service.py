"""Statistics: amount, speed and elapsed time over every run (or one user's), and per run."""
from nameko.dependency_providers import Config
from nameko.rpc import rpc

from services.contracts.errors import ANSWERS, NotFound
from services.contracts.requests import OwnerQuery, RunsQuery, validate
from services.observability.metrics import EntrypointMetrics, MetricsServer
from services.settings import setting
from services.storage import budget, runs
from services.storage.database import Database


class StatisticsService:
    name = "statistics"

    db = Database(pool_size=4, reads_only=True)   # as tweetstream_reader where DB_READER_URI says so
    config = Config()
    metrics = MetricsServer()
    entrypoint_metrics = EntrypointMetrics()

    @rpc(expected_exceptions=ANSWERS)
    def get_statistics(self, query: dict | None = None) -> dict:
        """Every run's figures together; ``{"owner": name}``: one user's runs only."""
        wanted = validate(OwnerQuery, query)
        owner = {"owner": wanted.owner} if "owner" in wanted.model_fields_set else {}
        with self.db.connect() as conn:
            return runs.overall_figures(conn, **owner)

    @rpc(expected_exceptions=ANSWERS)
    def get_run(self, run_id: int) -> dict:
        with self.db.connect() as conn:
            figures = runs.run_figures(conn, int(run_id))
        if figures is None:
            raise NotFound(f"run {run_id} does not exist")
        return figures

    @rpc(expected_exceptions=ANSWERS)
    def list_runs(self, query: dict | None = None) -> list[dict]:
        """Runs newest first (RunsQuery: status, owner, limit, cursor)."""
        wanted = validate(RunsQuery, query)
        owner = {"owner": wanted.owner} if "owner" in wanted.model_fields_set else {}
        with self.db.connect() as conn:
            return runs.list_run_figures(conn, status=wanted.status, limit=wanted.limit, before=wanted.cursor, **owner)

    @rpc(expected_exceptions=ANSWERS)
    def get_budget(self) -> dict:
        """This month's X API posts against X_MONTHLY_POST_BUDGET, and their estimated cost."""
        with self.db.connect() as conn:
            return budget.budget_figures(conn, int(setting(self.config, "X_MONTHLY_POST_BUDGET")),
                                         float(setting(self.config, "X_PRICE_PER_POST")))
