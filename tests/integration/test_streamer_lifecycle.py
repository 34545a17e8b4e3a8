"""The launcher's RunStreamer through its whole life, against the real PostgreSQL and RabbitMQ: setup()
from a container's config, runs streamed in green threads to the batch queue, one halted, the rest given
up at stop(). The container is a stand-in with a config and eventlet's spawn (the hub runs green threads
with or without eventlet's monkey patching, so the tests run under mutmut too)."""
import os
import re
import socket

import eventlet
import orjson
import pytest
import yaml
from amqp.exceptions import NotFound
from kombu import Connection
from prometheus_client import REGISTRY
from sqlalchemy import text

from services.contracts import wire
from services.contracts.events import BATCH_EVENT, BATCH_SOURCE, batch_queue
from services.launcher.streamer import RunStreamer, owner_name, source_for_run
from services.settings import CONFIG_FILE, config_loader
from services.sources import SourceError, SourceUnavailable
from services.sources.replay import ReplaySource
from services.sources.synthetic import SyntheticSource, stream_tweet_id
from services.storage import runs
from tests.system import SAMPLES

SETTINGS = {"BATCH_SIZE": 7, "BATCH_MAX_BYTES": 654_321, "BATCH_MAX_WAIT": 0.15, "BATCH_COMPRESSION": "none",
            "X_MONTHLY_POST_BUDGET": 4242, "SYNTHETIC_SEED": 13, "SYNTHETIC_RATE": 0, "REPLAY_DIR": str(SAMPLES)}


class FakeContainer:
    """What RunStreamer asks of its Nameko container: the config, and managed threads."""

    def __init__(self, config: dict):
        self.config = config
        self.spawned: list = []

    def spawn_managed_thread(self, run, identifier=None):
        thread = eventlet.spawn(run)
        self.spawned.append(thread)
        return thread


@pytest.fixture
def config(db_uri, amqp_uri):
    """config.yml as `nameko run` reads it (its message serializer with it), the settings above in it."""
    return dict(yaml.load(CONFIG_FILE.read_text(), Loader=config_loader()), **SETTINGS, DB_URI=db_uri,
                AMQP_URI=amqp_uri)


@pytest.fixture
def streamer(clean_db, config):
    """A RunStreamer after setup(), the batch queue deleted before it (setup must declare it)."""
    with Connection(config["AMQP_URI"]) as connection:
        connection.default_channel.queue_delete(batch_queue(config).name)
    streamer = RunStreamer()
    streamer.container = FakeContainer(config)
    streamer.setup()
    # Each pool's first connection is made under a lock of SQLAlchemy's. Without eventlet's monkey
    # patching (under mutmut) that lock is a real one: a second green thread waiting on it would block
    # the hub that the first one waits in. Connected once here, the pools never take it again.
    # For the same reason no test streams more runs at once than the write-ahead pool holds (2).
    for engine in (streamer.engine, streamer.announcing):
        with engine.connect():
            pass
    yield streamer
    for thread in streamer.container.spawned:
        thread.kill()
    streamer._dispose()


def delivered(config) -> list[dict]:
    """The batches waiting in the filter's queue (taken off it), as the filter gets them."""
    found = []
    with Connection(config["AMQP_URI"]) as connection:
        queue = batch_queue(config)(connection.default_channel)
        while (message := queue.get(no_ack=True)) is not None:
            batch = wire.loads(message.body)
            found.append(dict(batch, items=[bytes(item) for item in batch["items"]],
                              compression=(message.headers or {}).get("compression")))
    return found


def active_runs_gauge() -> float:
    return REGISTRY.get_sample_value("tweetstream_active_runs")


def run_row(engine, owner: str, options: dict, *, batch_start: int = 0, position: int = 0) -> dict:
    with engine.begin() as conn:
        run_id = runs.create_run(conn, ["the"], "synthetic", options, owner)
        conn.execute(text("UPDATE runs SET batch_start = :b, position = :p WHERE id = :id"),
                     {"b": batch_start, "p": position, "id": run_id})
        return runs.get_run(conn, run_id)


def row(engine, run_id: int) -> dict:
    with engine.connect() as conn:
        return runs.get_run(conn, run_id)


def wait_until(condition, seconds: float = 20.0):
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        eventlet.sleep(0.05)
    raise AssertionError(f"not true within {seconds} s")


def endless(seed: int) -> SyntheticSource:
    """A stream that never ends, a tweet every 10 ms, waiting cooperatively."""
    return SyntheticSource(seed=seed, rate=100, sleep=eventlet.sleep)


def test_setup_reads_every_setting_from_the_container_config_and_declares_the_batch_queue(streamer, config):
    assert streamer.config is streamer.container.config
    assert (streamer.batch_size, streamer.batch_max_bytes, streamer.batch_max_wait, streamer.monthly_post_budget) \
        == (7, 654_321, 0.15, 4242)
    assert [type(v) for v in (streamer.batch_size, streamer.batch_max_bytes, streamer.batch_max_wait,
                              streamer.monthly_post_budget)] == [int, int, float, int]
    assert re.fullmatch(rf"{re.escape(socket.gethostname())}:{os.getpid()}:[0-9a-f]{{6}}", streamer.owner)
    # two engines on the configured database: a pool of 2 (pinged) and the write-ahead's pool of 1 (not)
    for engine in (streamer.engine, streamer.announcing):
        assert engine.url.render_as_string(hide_password=False) == config["DB_URI"]
    assert (streamer.engine.pool.size(), streamer.engine.pool._max_overflow, streamer.engine.pool._pre_ping) \
        == (2, 2, True)
    assert (streamer.announcing.pool.size(), streamer.announcing.pool._max_overflow,
            streamer.announcing.pool._pre_ping) == (1, 1, False)
    # the queue the fixture deleted exists again, empty, before any batch was sent
    with Connection(config["AMQP_URI"]) as connection:
        name, messages, _ = connection.default_channel.queue_declare(batch_queue(config).name, passive=True)
    assert (name, messages) == (batch_queue(config).name, 0)
    # the dispatcher sends to it, compressed as BATCH_COMPRESSION says (none: not at all)
    streamer.dispatch(BATCH_SOURCE, BATCH_EVENT, {"run_id": 1, "start": 0, "end": 1, "source": "synthetic",
                                                  "track": ["the"], "items": wire.RawLines([b'{"data": 1}'])})
    assert delivered(config) == [{"run_id": 1, "start": 0, "end": 1, "source": "synthetic", "track": ["the"],
                                  "items": [b'{"data": 1}'], "compression": None}]


def test_a_deleted_batch_queue_is_seen_missing_so_that_finding_it_after_setup_means_setup_declared_it(
        config, streamer):
    with Connection(config["AMQP_URI"]) as connection:
        connection.default_channel.queue_delete(batch_queue(config).name)
    with Connection(config["AMQP_URI"]) as connection, pytest.raises(NotFound):
        connection.default_channel.queue_declare(batch_queue(config).name, passive=True)


def test_the_write_ahead_engine_commits_each_statement_alone_and_the_other_only_when_told(streamer, clean_db):
    for engine in (streamer.announcing, streamer.engine):
        with engine.connect() as conn:   # left without a commit
            runs.create_run(conn, ["the"], "synthetic", {}, f"left by {engine is streamer.announcing}")
    with clean_db.connect() as conn:
        assert list(conn.execute(text("SELECT owner FROM runs")).scalars()) == ["left by True"]


def test_a_streamer_whose_setup_never_ran_stops_and_is_killed_without_an_error():
    for end in (RunStreamer.stop, RunStreamer.kill):
        streamer = RunStreamer()
        end(streamer)
        assert (streamer.threads, streamer.engine, streamer.announcing) == ({}, None, None)
    assert active_runs_gauge() == 0


def test_owner_names_say_the_host_and_process_and_differ_per_replica():
    names = {owner_name() for _ in range(20)}
    assert len(names) == 20
    for name in names:
        assert re.fullmatch(rf"{re.escape(socket.gethostname())}:{os.getpid()}:[0-9a-f]{{6}}", name), name


def test_source_for_run_builds_the_source_the_row_names_with_its_options(config):
    built = source_for_run({"id": 41, "source": "synthetic", "options": {"seed": 6, "limit": 9, "rate": 3}}, config)
    assert isinstance(built, SyntheticSource)
    assert (built.seed, built.limit, built.rate, built.run_id) == (6, 9, 3.0, 41)
    defaults = source_for_run({"id": 42, "source": "synthetic", "options": None}, config)
    assert (defaults.seed, defaults.limit, defaults.rate, defaults.run_id) == (13, None, 0.0, 42)
    replay = source_for_run({"id": 43, "source": "replay", "options": {"files": ["flat.jsonl"], "limit": 5}}, config)
    assert isinstance(replay, ReplaySource)
    assert (replay.paths, replay.limit) == ([SAMPLES / "flat.jsonl"], 5)
    with pytest.raises(SourceUnavailable):
        source_for_run({"id": 44, "source": "carrier pigeon", "options": {}}, config)


def test_stream_run_sends_each_run_rows_batches_to_the_broker_and_the_gauge_counts_the_runs(
        streamer, config, clean_db):
    plain = run_row(clean_db, streamer.owner, {"limit": 30})   # seed and rate from the config
    sized = run_row(clean_db, streamer.owner, {"seed": 6, "limit": 25, "rate": 0, "batch_size": 11})

    for run in (plain, sized):
        streamer.stream_run(run)
    assert streamer.streaming() == [plain["id"], sized["id"]]
    assert active_runs_gauge() == 2
    for thread in streamer.container.spawned:
        thread.wait()
    assert (streamer.streaming(), streamer.threads, active_runs_gauge()) == ([], {}, 0)

    # taken over after [0, 4) was announced: that batch goes again whole, then batches of 7 follow
    resumed = run_row(clean_db, streamer.owner, {"seed": 7, "limit": 20, "rate": 0}, batch_start=0, position=4)
    streamer.stream_run(resumed)
    assert (streamer.streaming(), active_runs_gauge()) == ([resumed["id"]], 1)
    streamer.container.spawned[-1].wait()

    sent = delivered(config)
    by_run = {run["id"]: [(b["start"], b["end"]) for b in sent if b["run_id"] == run["id"]]
              for run in (plain, sized, resumed)}
    assert by_run == {plain["id"]: [(0, 7), (7, 14), (14, 21), (21, 28), (28, 30)],
                      sized["id"]: [(0, 11), (11, 22), (22, 25)],
                      resumed["id"]: [(0, 4), (4, 11), (11, 18), (18, 20)]}
    assert len(sent) == 12
    seeds = {plain["id"]: 13, sized["id"]: 6, resumed["id"]: 7}
    for batch in sent:
        assert [int(orjson.loads(item)["data"]["id"]) for item in batch["items"]] == \
            [stream_tweet_id(seeds[batch["run_id"]], p) for p in range(batch["start"], batch["end"])]
        assert (batch["source"], batch["track"], batch["compression"]) == ("synthetic", ["the"], None)
    for run, end in ((plain, 30), (sized, 25), (resumed, 20)):
        ended = row(clean_db, run["id"])
        assert (ended["status"], ended["position"], ended["error"]) == (runs.FINISHED, end, None)
        assert ended["stopped_at"] is not None
    assert (streamer.streaming(), streamer.threads, active_runs_gauge()) == ([], {}, 0)


def test_stream_run_streams_the_source_it_is_given_not_one_built_from_the_row(streamer, config, clean_db):
    run = run_row(clean_db, streamer.owner, {"seed": 5, "limit": 30, "rate": 0})
    given = SyntheticSource(seed=9, rate=0, limit=10)

    streamer.stream_run(run, given)
    streamer.container.spawned[0].wait()

    sent = delivered(config)
    assert [(b["run_id"], b["start"], b["end"]) for b in sent] == [(run["id"], 0, 7), (run["id"], 7, 10)]
    assert [int(orjson.loads(item)["data"]["id"]) for b in sent for item in b["items"]] == \
        [stream_tweet_id(9, p) for p in range(10)]
    assert row(clean_db, run["id"])["position"] == 10


def test_halt_stops_one_run_for_good_and_leaves_the_others_streaming(streamer, config, clean_db):
    halted = run_row(clean_db, streamer.owner, {})
    going = run_row(clean_db, streamer.owner, {})
    streamer.stream_run(halted, endless(21))
    streamer.stream_run(going, endless(22))
    seen: list[dict] = []

    def both_sent_three_batches():
        seen.extend(delivered(config))
        return {b["run_id"] for b in seen if b["start"] >= 14} == {halted["id"], going["id"]}
    wait_until(both_sent_three_batches)

    streamer.halt(halted["id"])
    assert (streamer.streaming(), list(streamer.threads), active_runs_gauge()) == ([going["id"]], [going["id"]], 1)
    eventlet.sleep(0)
    assert streamer.container.spawned[0].dead and not streamer.container.spawned[1].dead
    delivered(config)
    position = row(clean_db, halted["id"])["position"]

    eventlet.sleep(0.6)
    later = delivered(config)
    assert {b["run_id"] for b in later} == {going["id"]}   # not a batch more of the halted run
    still = row(clean_db, halted["id"])
    # halting only stops the stream: the row stays as it was (the caller ends the run)
    assert (still["position"], still["status"], still["owner"]) == (position, runs.ACTIVE, streamer.owner)

    streamer.halt(987_654)   # not streamed here: nothing happens
    assert (streamer.streaming(), active_runs_gauge()) == ([going["id"]], 1)


def test_stop_kills_a_run_not_yet_begun_gives_it_up_and_disposes_the_engines(streamer, config, clean_db):
    mine = run_row(clean_db, streamer.owner, {})
    kept = run_row(clean_db, streamer.owner, {})       # this replica's, not streamed by it
    theirs = run_row(clean_db, "replica-b", {})
    engine_pool, announcing_pool = streamer.engine.pool, streamer.announcing.pool
    with streamer.announcing.connect() as conn:      # a pooled connection that dispose must close
        conn.exec_driver_sql("SELECT 1")
    # nothing yields to the hub from here to stop(): the stream thread never begins
    streamer.stream_run(mine, endless(23))
    assert (announcing_pool.checkedin(), active_runs_gauge(), streamer.streaming()) == (1, 1, [mine["id"]])

    streamer.stop()

    assert streamer.container.spawned[0].dead
    assert (streamer.threads, streamer.streaming(), active_runs_gauge()) == ({}, [], 0)
    assert {run["id"]: row(clean_db, run["id"])["owner"] for run in (mine, kept, theirs)} == \
        {mine["id"]: None, kept["id"]: streamer.owner, theirs["id"]: "replica-b"}
    assert row(clean_db, mine["id"])["status"] == runs.ACTIVE   # given up, not ended: another replica goes on
    # disposed: the pools' connections closed, fresh pools in their place
    assert (engine_pool.checkedin(), announcing_pool.checkedin()) == (0, 0)
    assert streamer.engine.pool is not engine_pool and streamer.announcing.pool is not announcing_pool
    assert delivered(config) == []   # killed before its first batch


def test_stop_with_nothing_streaming_leaves_every_run_to_its_owner(streamer, clean_db):
    mine = run_row(clean_db, streamer.owner, {})

    streamer.stop()

    assert (row(clean_db, mine["id"])["owner"], active_runs_gauge(), streamer.threads) == (streamer.owner, 0, {})


def test_stop_gives_up_the_runs_whose_streams_already_began_and_sends_nothing_more(streamer, config, clean_db):
    streamed = [run_row(clean_db, streamer.owner, {}) for _ in range(2)]
    kept = run_row(clean_db, streamer.owner, {})
    for number, run in enumerate(streamed):
        streamer.stream_run(run, endless(24 + number))
    wait_until(lambda: all(row(clean_db, run["id"])["position"] > 0 for run in streamed))

    streamer.stop()

    assert all(thread.dead for thread in streamer.container.spawned)
    assert (streamer.threads, streamer.streaming(), active_runs_gauge()) == ({}, [], 0)
    assert [row(clean_db, run["id"])["owner"] for run in (*streamed, kept)] == [None, None, streamer.owner]
    delivered(config)
    eventlet.sleep(0.3)
    assert delivered(config) == []


def test_a_stream_thread_killed_by_its_container_is_no_longer_listed_as_streaming(streamer, clean_db):
    first, second = run_row(clean_db, streamer.owner, {}), run_row(clean_db, streamer.owner, {})
    streamer.stream_run(first, endless(25))
    streamer.stream_run(second, endless(26))
    streamer.container.spawned[0].kill()   # before it began: its thread stays in the map, dead

    assert streamer.streaming() == [second["id"]]
    assert list(streamer.threads) == [first["id"], second["id"]]


class FailingSource:
    deterministic = False

    def __init__(self):
        self.closed = 0

    def stream(self, track, start=0):
        yield b'{"data": {"id": "1", "text": "the one"}}'
        raise SourceError("the API said no: 401")

    def close(self):
        self.closed += 1


def test_a_run_whose_source_fails_ends_failed_with_the_cause_and_its_source_closed(streamer, config, clean_db):
    run = run_row(clean_db, streamer.owner, {})
    other = run_row(clean_db, streamer.owner, {})
    source = FailingSource()

    streamer.stream_run(run, source)
    streamer.container.spawned[0].wait()

    ended, untouched = row(clean_db, run["id"]), row(clean_db, other["id"])
    # what it read before failing was sent; then the run ended with the source's error
    assert (ended["status"], ended["error"], ended["position"]) == (runs.FAILED, "the API said no: 401", 1)
    assert (untouched["status"], untouched["error"], untouched["stopped_at"]) == (runs.ACTIVE, None, None)
    assert source.closed == 1
    assert (streamer.threads, active_runs_gauge()) == ({}, 0)
    assert [(b["run_id"], b["start"], b["end"], b["items"]) for b in delivered(config)] == \
        [(run["id"], 0, 1, [b'{"data": {"id": "1", "text": "the one"}}'])]
