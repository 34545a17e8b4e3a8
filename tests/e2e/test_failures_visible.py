"""A batch the database refuses is visible (the run's figures, /api/health, the filter's metric) and
recoverable (retry stores it exactly once), over the real processes."""
import json
import re

import pytest
import requests
from sqlalchemy import text

from tests.system import SAMPLES, System

pytestmark = pytest.mark.e2e

POISONED = "brexit_poisoned.jsonl"   # brexit.jsonl with one tweet's id 20 digits long
FILE = "flat.jsonl"    # 100 lines, a tweet each; 83 say obama (see test_core_walkthrough)


@pytest.fixture(scope="module")
def system(db_uri, amqp_uri, tmp_path_factory):
    """The services over a replay directory holding the samples and a poisoned copy of one of them."""
    replay_dir = tmp_path_factory.mktemp("replay")
    for sample in SAMPLES.glob("*.jsonl"):
        (replay_dir / sample.name).write_bytes(sample.read_bytes())   # a link would lead outside it
    page = json.loads((SAMPLES / "brexit.jsonl").read_text())
    page["data"][41]["id"] = "123456789012345678901"
    (replay_dir / POISONED).write_text(json.dumps(page) + "\n")
    running = System({"DB_URI": db_uri, "AMQP_URI": amqp_uri, "REPLAY_DIR": str(replay_dir),
                      "BATCH_MAX_WAIT": "0.2", "LOG_LEVEL": "INFO"}, tmp_path_factory.mktemp("system-logs"))
    try:
        running.start_all()
        yield running
    finally:
        running.stop_all()


def test_a_replayed_page_with_one_poisoned_tweet_stores_the_other_99(fresh_system, engine):
    system = fresh_system
    launched = system.post("/launch", {"track": ["brexit"], "source": "replay", "files": ["brexit.jsonl"]})
    clean = system.wait_run_done(launched.json()["run_id"])
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE tweets, tweet_tags"))
    launched = system.post("/launch", {"track": ["brexit"], "source": "replay", "files": [POISONED]})
    poisoned = system.wait_run_done(launched.json()["run_id"])

    assert clean["received"] == 100 and clean["bad"] == 0
    assert (poisoned["received"], poisoned["bad"], poisoned["failed_batches"]) == (100, 1, 0)
    assert poisoned["bad_reasons"] == {"id out of range": 1}
    assert poisoned["status"] == "finished" and poisoned["error"] is None
    # the poisoned tweet said brexit or not: every other matching tweet is stored
    assert poisoned["matched"] in (clean["matched"], clean["matched"] - 1)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tweets")).scalar() == poisoned["matched"]


def failed_batches_counted(system) -> float:
    body = requests.get(f"http://127.0.0.1:{system.metrics_ports['filter']}/metrics", timeout=10).text
    found = re.search(r'^tweetstream_batches_processed_total\{outcome="failed"\} (\S+)$', body, re.M)
    return float(found.group(1)) if found else 0.0


@pytest.fixture
def refusing_store(fresh_system, engine):
    """The database refuses every new tweet (a valid row, refused: not the batch's fault)."""
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE tweets ADD CONSTRAINT refuse_all CHECK (false) NOT VALID"))

    def allow():
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE tweets DROP CONSTRAINT IF EXISTS refuse_all"))
    yield allow
    allow()


def test_a_batch_refused_at_commit_shows_everywhere_and_a_retry_stores_it_once(fresh_system, engine, refusing_store):
    system = fresh_system
    failed_before = failed_batches_counted(system)
    launched = system.post("/launch", {"track": ["obama"], "source": "replay", "files": [FILE], "batch_size": 40})
    assert launched.status_code == 200, launched.text
    run = system.wait_run_done(launched.json()["run_id"])

    # the run: finished (not draining: every batch is accounted for), its failures counted and named
    assert run["status"] == "finished"
    assert run["committed_items"] == 0 and run["failed_items"] == run["dispatched_items"] == 100
    assert run["failed_batches"] == 3 and run["stored"] == 0
    assert "refuse_all" in run["error"]
    # health names the run and still answers 200: every component is up
    health = system.get("/api/health")
    assert health.status_code == 200
    assert f"run {run['run_id']}: 3 batches" in health.json()["checks"]["pipeline"]
    # the filter's metric counts them (an alert rule fires on it)
    assert failed_batches_counted(system) - failed_before == 3

    # retried while the cause is still there: each batch fails again and stays, with its new cause
    again = system.post(f"/statistics/runs/{run['run_id']}/retry")
    assert again.status_code == 200, again.text
    assert again.json().items() >= {"retried": 3, "stored": 0, "still_failing": 3}.items()
    assert system.get(f"/statistics/runs/{run['run_id']}").json()["failed_batches"] == 3

    refusing_store()   # the cause is fixed
    retried = system.post(f"/statistics/runs/{run['run_id']}/retry").json()
    assert retried.items() >= {"retried": 3, "stored": 3, "still_failing": 0, "tweets_stored": 83}.items()
    after = system.get(f"/statistics/runs/{run['run_id']}").json()
    assert (after["failed_batches"], after["failed_items"], after["error"]) == (0, 0, None)
    assert after["committed_items"] == 100 and after["matched"] == after["stored"] == 83
    assert system.get("/statistics").json()["amount"] == 83
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tweets")).scalar() == 83
        assert conn.execute(text("SELECT sum(count) FROM hour_counts")).scalar() == 83

    # a second retry finds nothing to do and changes nothing
    assert system.post(f"/statistics/runs/{run['run_id']}/retry").json().items() >= {"retried": 0, "stored": 0}.items()
    assert system.get("/statistics").json()["amount"] == 83
    assert system.get("/api/health").json()["checks"]["pipeline"] == "ok"   # nothing is failed any more


def test_retry_of_a_run_that_does_not_exist_is_a_json_404(fresh_system):
    answer = fresh_system.post("/statistics/runs/987654/retry")
    assert answer.status_code == 404 and "987654" in answer.json()["error"]
