"""What every fault test needs: one deterministic workload, its fault-free outcome, and a way to
compare a faulted run with it (figures and the set of stored tweet ids) straight from the database,
which keeps answering while the broker or a service is away."""
import time

import pytest
from sqlalchemy import text

from services.storage import runs
from services.storage.schema import metadata

# the synthetic source is deterministic for a seed: same tweets, same matches, whatever the rate
WORKLOAD = {"track": ["the", "love", "music"], "seed": 4242, "limit": 24_000, "batch_size": 200}
# about 10 s of streaming: long enough to strike in the middle, short enough for the suite
FAULT_RATE = 2400


def empty_store(engine) -> None:
    names = ", ".join(table.name for table in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def launch(system, rate: float) -> int:
    answer = system.post("/launch", dict(WORKLOAD, rate=rate))
    assert answer.status_code == 200, answer.text
    return answer.json()["run_id"]


def run_row(engine, run_id: int) -> dict:
    # a restarted PostgreSQL may have cut the pool's connections: retry the read a few times
    for attempt in range(30):
        try:
            with engine.connect() as conn:
                return runs.run_figures(conn, run_id)
        except Exception:  # noqa: BLE001 - the database is coming back
            if attempt == 29:
                raise
            time.sleep(1)


def wait_committed(engine, run_id: int, at_least: int, timeout: float = 60) -> dict:
    """Wait until the run has committed at least this many items while still active (the moment to strike)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = run_row(engine, run_id)
        assert row["status"] == "active", f"run ended before the fault could strike: {row}"
        if row["committed_items"] >= at_least:
            return row
        time.sleep(0.1)
    raise TimeoutError(f"run {run_id} did not reach {at_least} committed items: {row}")


def wait_done(engine, run_id: int, timeout: float = 180, system=None) -> dict:
    """Wait until the run ended and every dispatched item is committed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = run_row(engine, run_id)
        if row["status"] != "active" and row["committed_items"] >= row["dispatched_items"]:
            return row
        time.sleep(0.3)
    raise TimeoutError(f"run {run_id} did not finish: {row}\n{system.tail() if system else ''}")


def stored_tweet_ids(engine) -> set[int]:
    with engine.connect() as conn:
        return {row[0] for row in conn.execute(text("SELECT id FROM tweets"))}


def failed_batch_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM failed_batches")).scalar()


def figures(row: dict) -> dict:
    return {key: row[key] for key in ("status", "received", "matched", "bad", "stored", "dispatched_items",
                                      "committed_items")}


@pytest.fixture(scope="module")
def reference(system, engine):
    """The workload run once without a fault, at full speed, in an empty store: the outcome to match."""
    empty_store(engine)
    run = wait_done(engine, launch(system, rate=0), system=system)
    outcome = {"figures": figures(run), "tweet_ids": stored_tweet_ids(engine)}
    assert outcome["figures"]["received"] == WORKLOAD["limit"] and outcome["figures"]["status"] == "finished"
    assert outcome["figures"]["matched"] == outcome["figures"]["stored"] == len(outcome["tweet_ids"]) > 0
    empty_store(engine)
    return outcome


@pytest.fixture
def empty(reference, engine):
    """An empty store for the faulted run (after the reference was taken)."""
    empty_store(engine)
    return engine


def assert_like_reference(engine, run_id: int, reference: dict, system=None) -> dict:
    run = wait_done(engine, run_id, system=system)
    assert figures(run) == reference["figures"]
    ids = stored_tweet_ids(engine)
    assert len(ids) == len(reference["tweet_ids"]) and ids == reference["tweet_ids"]
    assert failed_batch_count(engine) == 0
    return run
