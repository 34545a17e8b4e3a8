"""Services' entrypoints through nameko.testing: worker_factory with the dependencies replaced."""
from unittest import mock

import eventlet
import pytest

from nameko.testing.services import worker_factory

from services.errors import BadRequest, Conflict
from services.filter.service import FilterService
from services.launcher import service as launcher_module
from services.launcher.service import LauncherService
from services.statistics.service import StatisticsService


def test_statistics_entrypoint_hands_over_to_the_run_ledger():
    worker = worker_factory(StatisticsService)
    figures = {"amount": 3, "speed": 1.5, "elapsed_time": 2}
    with mock.patch("services.statistics.service.runs.overall_figures", return_value=figures) as overall:
        assert worker.get_statistics() == figures
    overall.assert_called_once_with(worker.db.connect.return_value.__enter__.return_value)


def test_statistics_for_an_unknown_run_is_not_found():
    worker = worker_factory(StatisticsService)
    with mock.patch("services.statistics.service.runs.run_figures", return_value=None):
        with pytest.raises(Exception) as raised:
            worker.get_run(42)
    assert type(raised.value).__name__ == "NotFound"


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
    worker = worker_factory(LauncherService, config={"FLAVOR": "stage"})
    created = {}

    def create_run(conn, track, source, options, owner):
        created.update(track=track, source=source, options=options)
        return 7

    with mock.patch.object(launcher_module.runs, "create_run", side_effect=create_run), \
            mock.patch.object(launcher_module.runs, "get_run", return_value={"id": 7}), \
            mock.patch.object(launcher_module, "source_for_run"):
        answer = worker.launch({"track": ["bieber"], "limit": 10})
    assert answer == {"process_started": True, "run_id": 7}
    assert created["source"] == "synthetic" and isinstance(created["options"]["seed"], int)
    assert created["options"]["limit"] == 10
    worker.streamer.stream_run.assert_called_once_with({"id": 7})


def test_launch_prepares_the_source_before_the_run_exists():
    worker = worker_factory(LauncherService, config={"FLAVOR": "stage"})
    order = []
    with mock.patch.object(launcher_module.runs, "create_run", side_effect=lambda *a: order.append("run") or 7), \
            mock.patch.object(launcher_module.runs, "get_run", return_value={"id": 7}), \
            mock.patch.object(launcher_module, "source_for_run") as build:
        build.return_value.prepare.side_effect = lambda: order.append("prepare")
        build.return_value.close.side_effect = lambda: order.append("close")
        worker.launch({"track": ["bieber"]})
    assert order == ["prepare", "close", "run"]


def test_launch_while_a_run_is_active_is_a_conflict_naming_it():
    worker = worker_factory(LauncherService, config={"FLAVOR": "stage"})
    with mock.patch.object(launcher_module.runs, "create_run",
                           side_effect=launcher_module.runs.RunAlreadyActive(3)), \
            mock.patch.object(launcher_module, "source_for_run"):
        with pytest.raises(Conflict, match="run 3 is active"):
            worker.launch({"track": ["bieber"]})


def test_production_flavor_defaults_to_the_x_source():
    worker = worker_factory(LauncherService, config={"FLAVOR": "production"})
    with mock.patch.object(launcher_module, "source_for_run", side_effect=RuntimeError("stop here")) as build:
        with pytest.raises(RuntimeError):
            worker.launch({"track": ["bieber"]})
    assert build.call_args[0][0]["source"] == "x"
