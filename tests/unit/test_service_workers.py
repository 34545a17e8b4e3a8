"""Services' entrypoints through nameko.testing: worker_factory with the dependencies replaced."""
from unittest import mock

import eventlet
import orjson
import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import text

from services.contracts.errors import HTTP_STATUS, BadRequest, Conflict, NotFound
from services.filter.service import FilterService
from services.launcher import service as launcher_module
from services.launcher.service import LauncherService
from services.launcher.streamer import source_for_run
from services.sources.synthetic import MAX_SEED
from services.statistics.service import StatisticsService
from services.storage import runs


def stopped_run(engine, seconds: float, matched: int, ended_ago: float = 0) -> int:
    """A run that lasted ``seconds`` by its row and ended ``ended_ago`` s ago, with ``matched`` tweets in its ledger."""
    with engine.begin() as conn:
        run_id = runs.create_run(conn, ["x"], "synthetic", {"seed": 1}, "owner-a")
        runs.end_run(conn, run_id, runs.STOPPED)
        conn.execute(text("UPDATE runs SET stopped_at = now() - make_interval(secs => :ago),"
                          " started_at = now() - make_interval(secs => :ago + :s), position = :n"
                          " WHERE id = :id"), {"s": seconds, "ago": ended_ago, "n": matched, "id": run_id})
        conn.execute(text("INSERT INTO run_totals (run_id, items, received, matched, bad, stored)"
                          " VALUES (:id, :n, :n, :n, 0, :n)"), {"id": run_id, "n": matched})
    return run_id


def test_statistics_answer_the_amount_speed_and_elapsed_time_of_the_run_ledger(clean_db):
    worker = worker_factory(StatisticsService, db=clean_db)
    first, second = stopped_run(clean_db, 2.5, 5, ended_ago=60), stopped_run(clean_db, 1.25, 10)

    assert worker.get_statistics() == {"amount": 15, "speed": 4.0, "elapsed_time": 3}
    assert [(run["run_id"], run["amount"], run["speed"], run["elapsed_time"]) for run in worker.list_runs()] == [
        (second, 10, 8.0, 1), (first, 5, 2.0, 2)]   # newest first
    assert worker.get_run(second)["status"] == "stopped"


def test_statistics_for_an_unknown_run_is_not_found(clean_db):
    worker = worker_factory(StatisticsService, db=clean_db)
    with pytest.raises(NotFound, match="^run 42 does not exist$"):
        worker.get_run(42)
    assert HTTP_STATUS[NotFound.__name__] == 404   # what the gateway answers for it


def test_filter_entrypoint_processes_the_batch_with_its_engine():
    worker = worker_factory(FilterService)
    batch = {"run_id": 1, "start": 0, "end": 1, "track": ["x"], "items": []}
    with mock.patch("services.filter.service.process_batch") as process:
        worker.handle_batch(batch)
    process.assert_called_once_with(worker.db, batch, commit=worker.commit, pause=eventlet.sleep)


def test_launch_validates_before_touching_anything():
    worker = worker_factory(LauncherService, config={"FLAVOR": "stage"})
    with pytest.raises(BadRequest):
        worker.launch({"track": []})
    worker.streamer.stream_run.assert_not_called()
    worker.db.begin.assert_not_called()


def test_launch_records_a_seed_so_that_a_takeover_repeats_the_same_tweets():
    worker = worker_factory(LauncherService, config={"FLAVOR": "stage", "SYNTHETIC_RATE": 0})
    created, built = {}, []

    def create_run(conn, track, source, options, owner, **_):
        created.update(track=track, source=source, options=options)
        return 7

    def build(run, config):
        built.append(source_for_run(run, config))
        return built[-1]

    with mock.patch.object(launcher_module.runs, "create_run", side_effect=create_run), \
            mock.patch.object(launcher_module.runs, "get_run", return_value={"id": 7}), \
            mock.patch.object(launcher_module, "source_for_run", side_effect=build):
        answer = worker.launch({"track": ["bieber"], "limit": 10})
    assert answer == {"process_started": True, "run_id": 7}
    assert created["source"] == "synthetic" and created["options"]["limit"] == 10
    seed = created["options"]["seed"]
    # the seed recorded is the one the launch built its source with, one the source accepts
    assert [source.seed for source in built] == [seed]
    assert isinstance(seed, int) and 0 <= seed <= MAX_SEED
    # a replica building the run's source from its row streams the very same tweets
    recorded = {"id": 7, "source": created["source"], "options": created["options"], "track": created["track"]}
    again = source_for_run(recorded, {"SYNTHETIC_RATE": 0})
    assert [item_without_time(again, n) for n in range(5)] == [item_without_time(built[0], n) for n in range(5)]
    worker.streamer.stream_run.assert_called_once_with({"id": 7})


def item_without_time(source, position: int) -> dict:
    item = orjson.loads(source.item(position))
    item["data"].pop("created_at")
    return item["data"]


def test_launch_prepares_the_source_before_the_run_exists():
    worker = worker_factory(LauncherService, config={"FLAVOR": "stage"})
    order = []
    with mock.patch.object(launcher_module.runs, "create_run", side_effect=lambda *a, **k: order.append("run") or 7), \
            mock.patch.object(launcher_module.runs, "get_run", return_value={"id": 7}), \
            mock.patch.object(launcher_module, "source_for_run") as build:
        build.return_value.prepare.side_effect = lambda: order.append("prepare")
        build.return_value.close.side_effect = lambda: order.append("close")
        worker.launch({"track": ["bieber"]})
    assert order == ["prepare", "close", "run"]


def test_a_launch_beyond_max_active_runs_is_a_conflict_naming_the_limit():
    worker = worker_factory(LauncherService, config={"FLAVOR": "stage"})
    with mock.patch.object(launcher_module.runs, "create_run",
                           side_effect=launcher_module.runs.TooManyActiveRuns(10, list(range(1, 11)))), \
            mock.patch.object(launcher_module, "source_for_run"):
        with pytest.raises(Conflict, match=r"10 runs are active, as many as MAX_ACTIVE_RUNS \(10\) allows"):
            worker.launch({"track": ["bieber"]})


def test_production_flavor_defaults_to_the_x_source():
    worker = worker_factory(LauncherService, config={"FLAVOR": "production"})
    with mock.patch.object(launcher_module, "source_for_run", side_effect=RuntimeError("stop here")) as build:
        with pytest.raises(RuntimeError):
            worker.launch({"track": ["bieber"]})
    assert build.call_args[0][0]["source"] == "x"
