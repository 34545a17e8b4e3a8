"""Group commit: the filter's workers hand their prepared batches to one writer, which
stores whatever has gathered in a single transaction.

Each batch updates the same few rows (the author upserts of popular accounts, the
current hour's and minute's rollups). With a transaction per batch, ten workers spent
most of their time waiting on each other's row locks and fsyncs (pg_stat_activity:
Lock/transactionid), so the filter stored batches one at a time anyway. One writer takes
no lock another batch of this process waits for, and pays one commit for several batches.
A worker still returns (and its message is acked) only after its own batch is committed.
"""
import eventlet
from eventlet.event import Event
from eventlet.queue import LightQueue
from nameko.extensions import DependencyProvider

from services.filter.pipeline import PreparedBatch, commit_batches, count_db_error
from services.storage.database import db_uri, make_engine, retry_transient

MAX_GROUP_TWEETS = 10_000   # matched tweets in one transaction


class GroupCommitter(DependencyProvider):
    writer = None   # the green thread that commits, from start() on

    def setup(self):
        # every use is retried (retry_transient), which replaces a dead connection: no ping round trip
        self.engine = make_engine(db_uri(self.container.config), pool_size=2, pre_ping=False)
        self.pending: LightQueue = LightQueue()

    def start(self):
        self.writer = self.container.spawn_managed_thread(self._write)

    def stop(self):
        # stopped after the workers: no batch is waiting, the writer waits for the next one; ending it
        # here spares the container's warning about a managed thread it had to kill
        if self.writer is not None:
            self.writer.kill()
        self.engine.dispose()

    kill = stop

    def get_dependency(self, worker_ctx):
        return self.commit

    def commit(self, prepared: PreparedBatch) -> int | None:
        """Wait until ``prepared`` is committed; its result, or its own error."""
        done = Event()
        self.pending.put((prepared, done))
        return done.wait()

    def _write(self):
        while True:
            group = [self.pending.get()]
            size = len(group[0][0].matched)
            while size < MAX_GROUP_TWEETS and not self.pending.empty():
                group.append(self.pending.get_nowait())
                size += len(group[-1][0].matched)
            self._commit(group)
            eventlet.sleep(0)   # let the workers whose batches were committed go on

    def _commit(self, group: list[tuple[PreparedBatch, Event]]) -> None:
        try:
            results = retry_transient(lambda: commit_batches(self.engine, [p for p, _ in group]),
                                      on_retry=count_db_error)
        except Exception as error:  # noqa: BLE001 - handed to the worker(s) it belongs to
            if len(group) == 1:
                group[0][1].send_exception(error)
            else:   # one bad batch must not fail the others: each alone, to find it
                for item in group:
                    self._commit([item])
            return
        for (_, done), result in zip(group, results, strict=True):
            done.send(result)
