"""The launcher: owns stream runs. Any replica can launch or stop; a run whose
replica died is taken over by another one. Runs stream side by side, up to MAX_ACTIVE_RUNS, each
owned by the user who launched it: an operator stops and retries their own, an admin any.

``caller`` is what the gateway found out about who asked (``{"role", "name"}``); a caller of the RPC
API itself (``n.rpc.launcher`` in a Nameko shell) is trusted as an admin without a name."""
import logging
import time

from nameko.dependency_providers import Config
from nameko.rpc import RpcProxy, rpc
from nameko.timer import timer

from services.contracts.errors import ANSWERS, BadRequest, BudgetExhausted, Conflict, Forbidden, NotFound
from services.contracts.requests import LaunchRequest, StopRequest, validate
from services.launcher.streamer import RunStreamer, budget_used_up, source_for_run
from services.observability.metrics import X_POST_BUDGET, X_POSTS_READ, EntrypointMetrics, MetricsServer
from services.sources import SourceCredentials, default_source_name
from services.sources.synthetic import MAX_SEED
from services.storage import budget, runs
from services.storage.database import Database, retry_transient
from services.settings import setting

log = logging.getLogger(__name__)


class LauncherService:
    name = "launcher"

    config = Config()
    source_credentials = SourceCredentials()
    db = Database(pool_size=4)
    streamer = RunStreamer()
    metrics = MetricsServer()
    entrypoint_metrics = EntrypointMetrics()
    filter = RpcProxy("filter")

    @rpc(expected_exceptions=ANSWERS)
    def launch(self, request: dict, caller: dict | None = None) -> dict:
        return launch_run(self.db, self.streamer, self.config, request, caller)

    @rpc(expected_exceptions=ANSWERS)
    def stop(self, request: dict | None = None, caller: dict | None = None) -> dict:
        return stop_run(self.db, self.streamer, float(setting(self.config, "STOP_DRAIN_SECONDS")), request, caller)

    @rpc(expected_exceptions=ANSWERS)
    def retry_failed(self, run_id: int, caller: dict | None = None) -> dict:
        """Send the run's failed batches through the filter again: ``{"retried", "stored", "still_failing"}``."""
        return retry_failed_batches(self.db, self.filter, int(run_id), caller)

    @timer(interval=2)
    def keep_runs(self):
        keep_runs(self.db, self.streamer, float(setting(self.config, "TAKEOVER_AFTER_SECONDS")))
        keep_to_budget(self.db, self.streamer, int(setting(self.config, "X_MONTHLY_POST_BUDGET")))


def _is_admin(caller: dict | None) -> bool:
    return caller is None or caller.get("role") == "admin"


def _name(caller: dict | None) -> str | None:
    return None if caller is None else caller.get("name")


def _may_act_on(caller: dict | None, run: dict) -> None:
    """An operator acts on their own runs only (403); an admin on any."""
    if not _is_admin(caller) and run["launched_by"] != _name(caller):
        raise Forbidden(f"run {run['id']} belongs to {run['launched_by'] or 'nobody'}; "
                        f"only its owner or an admin may do this")


def launch_run(engine, streamer: RunStreamer, config: dict, request: dict, caller: dict | None = None) -> dict:
    launch = validate(LaunchRequest, request)
    source_name = launch.source or default_source_name(config)
    options = launch.model_dump(exclude={"track", "source"}, exclude_none=True)
    if source_name != "x" and "max_posts" in options:
        raise BadRequest(f"max_posts: caps the posts an X run reads; a {source_name} run takes limit instead")
    if source_name == "synthetic" and "seed" not in options:
        # recorded so that a replica taking the run over produces the same tweets
        options["seed"] = int(time.time() * 1000) % (MAX_SEED + 1)
    # Building the source checks its options (files, credentials) before a run exists; what it
    # prepares (the synthetic source's bodies) is kept for the run by its seed.
    draft = {"id": 0, "source": source_name, "options": options, "track": launch.track}
    probe = source_for_run(draft, config)
    try:
        probe.prepare()
    finally:
        probe.close()
    if source_name == "x":
        monthly = int(setting(config, "X_MONTHLY_POST_BUDGET"))
        with engine.connect() as conn:
            used = budget.month_reads(conn)
        if used >= monthly:
            raise BudgetExhausted(f"{budget_used_up(used, monthly)}: 0 posts left this month")
    with engine.begin() as conn:
        # an X run goes to the replica that streams the X runs already (one connection per app): it
        # is left unclaimed, and that replica's keep_runs claims it within a tick
        holder = (runs.x_stream_holder(conn, streamer.owner, float(setting(config, "TAKEOVER_AFTER_SECONDS")))
                  if source_name == "x" else None)
        try:
            run_id = runs.create_run(conn, launch.track, source_name, options, None if holder else streamer.owner,
                                     launched_by=_name(caller), max_active=int(setting(config, "MAX_ACTIVE_RUNS")))
        except runs.TooManyActiveRuns as full:
            raise Conflict(f"{full}; stop one before launching another") from None
        run = runs.get_run(conn, run_id)
    if holder:
        log.info("run %s goes to %s, which streams the X runs", run_id, holder, extra={"run_id": run_id})
    else:
        streamer.stream_run(run)
    log.info("run %s launched by %s: source=%s, %d track phrases", run_id, _name(caller) or "an open gateway's caller",
             source_name, len(launch.track), extra={"run_id": run_id})
    return {"process_started": True, "run_id": run_id}


def run_to_stop(conn, request: dict | None, caller: dict | None) -> int:
    """The run ``{"run_id": n}`` names (its owner or an admin), else the caller's only active run."""
    run_id = validate(StopRequest, request).run_id
    if run_id is not None:
        run = runs.get_run(conn, run_id)
        if run is None:
            raise NotFound(f"run {run_id} does not exist")
        _may_act_on(caller, run)
        if run["status"] != runs.ACTIVE:
            raise Conflict(f"run {run_id} is not active (it is {run['status']})")
        return run_id
    mine = runs.active_run_ids(conn, launched_by=_name(caller))
    if not mine:
        raise Conflict("no run of yours is active" if _name(caller) else "no run is active")
    if len(mine) > 1:
        listed = ", ".join(map(str, mine))
        raise Conflict(f"runs {listed} are active; name the one to stop: {{\"run_id\": {mine[0]}}}")
    return mine[0]


def stop_run(engine, streamer: RunStreamer, drain_seconds: float, request: dict | None = None,
             caller: dict | None = None) -> dict:
    with engine.begin() as conn:
        run_id = run_to_stop(conn, request, caller)
        if not runs.end_run(conn, run_id, runs.STOPPED):
            raise Conflict(f"run {run_id} is not active")
    streamer.halt(run_id)
    # Batches already sent are still being committed: wait for them so the figures are final.
    deadline = time.monotonic() + drain_seconds
    while True:
        with engine.connect() as conn:
            figures = runs.run_figures(conn, run_id)
        accounted = figures["committed_items"] + figures["failed_items"]
        if accounted >= figures["dispatched_items"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    log.info("run %s stopped by %s: %s matched", run_id, _name(caller) or "an open gateway's caller",
             figures["amount"], extra={"run_id": run_id})
    return figures


def retry_failed_batches(engine, filter_service, run_id: int, caller: dict | None = None) -> dict:
    with engine.connect() as conn:
        run = runs.get_run(conn, run_id)
        if run is None:
            raise NotFound(f"run {run_id} does not exist")
        _may_act_on(caller, run)
    # the filter retries them: the same parse, the same ledger and group commit as any batch
    return filter_service.retry_failed(run_id)


def keep_runs(engine, streamer: RunStreamer, stale_after: float) -> None:
    def beat():
        with engine.begin() as conn:
            if streamer.streaming():
                runs.heartbeat(conn, streamer.owner, streamer.streaming())
            return runs.take_over_orphans(conn, streamer.owner, stale_after)
    for orphan in retry_transient(beat, attempts=3):
        log.warning("taking over run %s from a silent launcher", orphan["id"], extra={"run_id": orphan["id"]})
        streamer.stream_run(orphan)


def keep_to_budget(engine, streamer: RunStreamer, monthly_budget: int) -> None:
    """Stop every X run this replica streams once the month's posts are used up (a quiet run reads
    nothing, but it would read the next post), and keep the budget's metrics current."""
    with engine.connect() as conn:
        used = budget.month_reads(conn)
        streamed = [runs.get_run(conn, run_id) for run_id in streamer.streaming()] if used >= monthly_budget else []
    X_POSTS_READ.set(used)
    X_POST_BUDGET.set(monthly_budget)
    for run in streamed:
        if run is not None and run["source"] == "x":
            with engine.begin() as conn:
                ended = runs.end_run(conn, run["id"], runs.STOPPED, budget_used_up(used, monthly_budget))
            if ended:
                streamer.halt(run["id"])
                log.warning("run %s stopped: the month's X posts are used up", run["id"], extra={"run_id": run["id"]})
