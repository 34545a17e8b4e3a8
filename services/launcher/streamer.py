"""Streams one run: reads its source, announces each batch in the database, then
dispatches it as an event for the filter.

Announce-then-dispatch is what makes takeover exact: the run row always names the
last batch that may have left ([batch_start, position)); a replica taking the run
over sends that batch again under the same identity (the filter drops it if it
already arrived) and goes on from ``position``.
"""
import logging
import os
import socket
import time
import uuid

import eventlet
from nameko.extensions import DependencyProvider

from services.contracts.events import BATCH_EVENT, BATCH_SOURCE, BATCH_VERSION, batch_dispatcher, declare_batch_queue
from services.contracts.wire import RawLines
from services.launcher.batching import batches
from services.observability.metrics import ACTIVE_RUNS, BROKER_ERRORS, RUN_TWEETS_DISPATCHED, X_POSTS_READ
from services.sources import SourceError, make_source
from services.storage import budget, runs
from services.storage.database import db_uri, make_engine, retry_transient
from services.settings import setting

log = logging.getLogger(__name__)


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def budget_used_up(month_posts: int, monthly_budget: int) -> str:
    return (f"X_MONTHLY_POST_BUDGET reached: {month_posts} posts read from the X API this month, "
            f"the budget is {monthly_budget}")


def source_for_run(run: dict, config: dict):
    options = dict(run["options"] or {})
    return make_source(run["source"], config, run_id=run["id"], **options)


class RunStreamer(DependencyProvider):
    """Owns the green threads that stream runs in this launcher process."""

    def __init__(self):
        super().__init__()
        # stop() and kill() may come before setup() finished (a container that failed to start):
        # what they release exists from the start
        self.threads: dict[int, eventlet.greenthread.GreenThread] = {}
        self.engine = self.announcing = None

    def setup(self):
        config = self.container.config
        self.config = config
        self.owner = owner_name()
        self.batch_size = int(setting(config, "BATCH_SIZE"))
        self.batch_max_bytes = int(setting(config, "BATCH_MAX_BYTES"))
        self.batch_max_wait = float(setting(config, "BATCH_MAX_WAIT"))
        self.monthly_post_budget = int(setting(config, "X_MONTHLY_POST_BUDGET"))
        self.engine = make_engine(db_uri(config), pool_size=2)
        # the write-ahead of each batch is one statement: one round trip in autocommit, where the
        # pool's ping, BEGIN, the statement and COMMIT took four
        self.announcing = make_engine(db_uri(config), pool_size=1, pre_ping=False, autocommit=True)
        self.dispatch = batch_dispatcher(config)
        declare_batch_queue(config)

    def stop(self):
        # Graceful stop: give the runs up at once so another replica can take them over. Their ids
        # are taken first: a killed stream thread removes itself from self.threads as it ends.
        streaming = list(self.threads)
        for thread in list(self.threads.values()):
            thread.kill()
        if streaming:
            with self.engine.begin() as conn:
                runs.give_up(conn, self.owner, streaming)
        self.threads.clear()
        ACTIVE_RUNS.set(0)
        self._dispose()

    def kill(self):
        for thread in self.threads.values():
            thread.kill()
        self._dispose()

    def _dispose(self):
        for engine in (self.engine, self.announcing):
            if engine is not None:
                engine.dispose()

    def get_dependency(self, worker_ctx):
        return self

    # -- used by the service's entrypoints --------------------------------------------------

    def streaming(self) -> list[int]:
        return [run_id for run_id, thread in self.threads.items() if not thread.dead]

    def stream_run(self, run: dict, source=None) -> None:
        source = source or source_for_run(run, self.config)
        thread = self.container.spawn_managed_thread(lambda: self._stream(run, source))
        self.threads[run["id"]] = thread
        ACTIVE_RUNS.set(len(self.threads))

    def halt(self, run_id: int) -> None:
        thread = self.threads.pop(run_id, None)
        if thread is not None:
            thread.kill()
        ACTIVE_RUNS.set(len(self.threads))

    # -- the streaming loop --------------------------------------------------------------

    def _stream(self, run: dict, source) -> None:
        run_id = run["id"]
        batch_size = int((run["options"] or {}).get("batch_size") or self.batch_size)
        resend_from, position = run["batch_start"], run["position"]
        deterministic = source.deterministic
        # A deterministic source restarts at the last announced batch and sends it again
        # whole; a live one cannot replay, so it goes on from where the count stopped.
        start = resend_from if deterministic else position
        pending_end = position if deterministic and resend_from < position else None
        try:
            items = source.stream(run["track"], start=start)
            if pending_end is not None:
                first = [next(items) for _ in range(pending_end - start)]
                self._send(run, start, first, announce=False)
                start = pending_end
            for batch in batches(items, batch_size, self.batch_max_bytes, self.batch_max_wait):
                if not self._send(run, start, batch, announce=True):
                    log.info("run %s is no longer ours to stream", run_id, extra={"run_id": run_id})
                    return
                start += len(batch)
                cap = self._spent(run, len(batch)) if run["source"] == "x" else None
                if cap is not None:
                    log.warning("run %s stopped: %s", run_id, cap, extra={"run_id": run_id})
                    self._end(run_id, runs.STOPPED, cap)
                    return
            self._end(run_id, runs.FINISHED)
        except SourceError as error:
            log.error("run %s: source failed: %s", run_id, error, extra={"run_id": run_id})
            self._end(run_id, runs.FAILED, str(error))
        except StopIteration:
            self._end(run_id, runs.FINISHED)
        finally:
            self.threads.pop(run_id, None)
            ACTIVE_RUNS.set(len(self.threads))
            source.close()

    def _send(self, run: dict, start: int, items: list[bytes], announce: bool) -> bool:
        run_id, end = run["id"], start + len(items)
        if announce:
            def write_ahead():
                with self.announcing.connect() as conn:
                    return runs.announce_batch(conn, run_id, self.owner, start, end)
            if not retry_transient(write_ahead):
                return False
        payload = {"v": BATCH_VERSION, "run_id": run_id, "start": start, "end": end, "source": run["source"],
                   "track": run["track"], "items": RawLines(items)}
        delay = 0.2
        while True:
            try:
                self.dispatch(BATCH_SOURCE, BATCH_EVENT, payload)
                break
            except Exception as error:  # noqa: BLE001 - the broker is away; the batch must still go
                BROKER_ERRORS.labels(service="launcher").inc()
                log.warning("dispatch of run %s batch %s failed (%s); retrying", run_id, start, error,
                            extra={"run_id": run_id, "batch": start})
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        RUN_TWEETS_DISPATCHED.labels(source=run["source"]).inc(len(items))
        return True

    def _spent(self, run: dict, posts: int) -> str | None:
        """Count posts an X run read (each is billed); the cap it reached, if it did. A run stops
        after the batch that reached a cap: that batch's posts were read and are kept."""
        def count():
            with self.announcing.connect() as conn:
                return budget.record_reads(conn, posts, run["id"])
        month, run_posts = retry_transient(count)
        X_POSTS_READ.set(month)
        max_posts = (run["options"] or {}).get("max_posts")
        if max_posts is not None and run_posts >= max_posts:
            return f"max_posts reached: {run_posts} posts read from the X API, the run's cap is {max_posts}"
        if month >= self.monthly_post_budget:
            return budget_used_up(month, self.monthly_post_budget)

    def _end(self, run_id: int, status: str, error: str | None = None) -> None:
        def finish():
            with self.engine.begin() as conn:
                runs.end_run(conn, run_id, status, error)
        retry_transient(finish)
