"""The launcher: owns stream runs. Any replica can launch or stop; a run whose
replica died is taken over by another one."""
import logging
import time

from nameko.dependency_providers import Config
from nameko.rpc import RpcProxy, rpc
from nameko.timer import timer

from services.contracts.errors import ANSWERS, Conflict, NotFound
from services.contracts.requests import LaunchRequest, validate
from services.launcher.streamer import RunStreamer, source_for_run
from services.observability.metrics import EntrypointMetrics, MetricsServer
from services.sources import SourceCredentials, default_source_name
from services.sources.synthetic import MAX_SEED
from services.storage import runs
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
    def launch(self, request: dict) -> dict:
        return launch_run(self.db, self.streamer, self.config, request)

    @rpc(expected_exceptions=ANSWERS)
    def stop(self) -> dict:
        return stop_run(self.db, self.streamer, float(setting(self.config, "STOP_DRAIN_SECONDS")))

    @rpc(expected_exceptions=ANSWERS)
    def retry_failed(self, run_id: int) -> dict:
        """Send the run's failed batches through the filter again: ``{"retried", "stored", "still_failing"}``."""
        return retry_failed_batches(self.db, self.filter, int(run_id))

    @timer(interval=2)
    def keep_runs(self):
        keep_runs(self.db, self.streamer, float(setting(self.config, "TAKEOVER_AFTER_SECONDS")))


def launch_run(engine, streamer: RunStreamer, config: dict, request: dict) -> dict:
    launch = validate(LaunchRequest, request)
    source_name = launch.source or default_source_name(config)
    options = launch.model_dump(exclude={"track", "source"}, exclude_none=True)
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
    with engine.begin() as conn:
        try:
            run_id = runs.create_run(conn, launch.track, source_name, options, streamer.owner)
        except runs.RunAlreadyActive as active:
            raise Conflict(f"run {active.run_id} is active; stop it before launching another") from None
        run = runs.get_run(conn, run_id)
    streamer.stream_run(run)
    log.info("run %s launched: source=%s, %d track phrases", run_id, source_name, len(launch.track),
             extra={"run_id": run_id})
    return {"process_started": True, "run_id": run_id}


def stop_run(engine, streamer: RunStreamer, drain_seconds: float) -> dict:
    with engine.begin() as conn:
        run_id = runs.active_run_id(conn)
        if run_id is None:
            raise Conflict("no run is active")
        runs.end_run(conn, run_id, runs.STOPPED)
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
    log.info("run %s stopped: %s matched", run_id, figures["amount"], extra={"run_id": run_id})
    return figures


def retry_failed_batches(engine, filter_service, run_id: int) -> dict:
    with engine.connect() as conn:
        if runs.get_run(conn, run_id) is None:
            raise NotFound(f"run {run_id} does not exist")
    # the filter retries them: the same parse, the same ledger and group commit as any batch
    return filter_service.retry_failed(run_id)


def keep_runs(engine, streamer: RunStreamer, stale_after: float) -> None:
    def beat():
        with engine.begin() as conn:
            if streamer.streaming():
                runs.heartbeat(conn, streamer.owner, streamer.streaming())
            return runs.take_over_orphan(conn, streamer.owner, stale_after)
    orphan = retry_transient(beat, attempts=3)
    if orphan:
        log.warning("taking over run %s from %s", orphan["id"], "a silent launcher", extra={"run_id": orphan["id"]})
        streamer.stream_run(orphan)
