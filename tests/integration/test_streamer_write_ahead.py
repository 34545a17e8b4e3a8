"""The launcher's streaming loop against the real PostgreSQL, the broker replaced by a recorder:
every batch is announced in the run row before it is dispatched (the write-ahead that makes a
takeover exact)."""
import orjson
import pytest
from sqlalchemy import text

from services.launcher.streamer import RunStreamer
from services.sources.synthetic import SyntheticSource, stream_tweet_id
from services.storage import runs
from services.storage.database import make_engine

SEED, LIMIT, BATCH = 3, 35, 10


@pytest.fixture
def streamer(clean_db, db_uri):
    """A RunStreamer as setup() makes it, its dispatch recording each batch with the run row as
    the database holds it at that moment."""
    streamer = RunStreamer()
    streamer.owner = "owner-a"
    streamer.batch_size, streamer.batch_max_bytes, streamer.batch_max_wait = BATCH, 8_000_000, 0.05
    streamer.engine = clean_db
    streamer.announcing = make_engine(db_uri, pool_size=1, pre_ping=False, autocommit=True)
    streamer.sent = []

    def dispatch(source, event, payload):
        with clean_db.connect() as conn:
            row = conn.execute(text("SELECT batch_start, position FROM runs WHERE id = :id"),
                               {"id": payload["run_id"]}).one()
        ids = [int(orjson.loads(item)["data"]["id"]) for item in payload["items"]]
        streamer.sent.append({"batch": (payload["start"], payload["end"]), "row": tuple(row), "ids": ids})

    streamer.dispatch = dispatch
    yield streamer
    streamer.announcing.dispose()


def new_run(engine, owner: str, batch_start: int = 0, position: int = 0) -> dict:
    with engine.begin() as conn:
        run_id = runs.create_run(conn, ["the"], "synthetic", {"seed": SEED, "limit": LIMIT}, owner)
        conn.execute(text("UPDATE runs SET batch_start = :b, position = :p WHERE id = :id"),
                     {"b": batch_start, "p": position, "id": run_id})
        return runs.get_run(conn, run_id)


def ids(start: int, end: int) -> list[int]:
    return [stream_tweet_id(SEED, position) for position in range(start, end)]


def test_every_batch_is_announced_in_the_run_row_before_it_is_dispatched(clean_db, streamer):
    run = new_run(clean_db, streamer.owner)

    streamer._stream(run, SyntheticSource(seed=SEED, rate=0, limit=LIMIT))

    assert [sent["batch"] for sent in streamer.sent] == [(0, 10), (10, 20), (20, 30), (30, 35)]
    for sent in streamer.sent:
        # when a batch leaves, the row already names it as the last one that may have left
        assert sent["row"] == sent["batch"], f"batch {sent['batch']} was dispatched while the row said {sent['row']}"
        assert sent["ids"] == ids(*sent["batch"])
    with clean_db.connect() as conn:
        assert runs.get_run(conn, run["id"])["status"] == runs.FINISHED


def test_a_takeover_sends_the_announced_batch_again_then_announces_each_new_one_before_sending_it(
        clean_db, streamer):
    # the replica that died had announced [10, 20): it may or may not have left
    run = new_run(clean_db, streamer.owner, batch_start=10, position=20)

    streamer._stream(run, SyntheticSource(seed=SEED, rate=0, limit=LIMIT))

    assert [sent["batch"] for sent in streamer.sent] == [(10, 20), (20, 30), (30, 35)]
    assert [sent["row"] for sent in streamer.sent] == [(10, 20), (20, 30), (30, 35)]
    assert [sent["ids"] for sent in streamer.sent] == [ids(10, 20), ids(20, 30), ids(30, 35)]


def test_a_batch_is_never_dispatched_once_the_run_is_no_longer_this_owners(clean_db, streamer):
    run = new_run(clean_db, "owner-b")   # taken over by another replica in the meantime

    streamer._stream(run, SyntheticSource(seed=SEED, rate=0, limit=LIMIT))

    assert streamer.sent == []
    with clean_db.connect() as conn:
        row = runs.get_run(conn, run["id"])
    assert (row["status"], row["owner"], row["position"]) == (runs.ACTIVE, "owner-b", 0)
