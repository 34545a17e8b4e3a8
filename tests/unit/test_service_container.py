"""The services' container stops once, after its start, however many stop signals come; an expected
error is logged in one line; the launcher's streamer stops and is killed before its setup finished."""
import logging
import sys

import eventlet
import pytest
from nameko.containers import get_container_cls
from nameko.extensions import DependencyProvider
from nameko.timer import timer

from services.container import ExpectedErrorsInOneLine, ServiceContainer
from services.launcher.streamer import RunStreamer
from tests.system import ROOT, nameko_config_loader


class Recorder(DependencyProvider):
    """Its setup yields, as a setup that connects to the broker or the database does."""
    calls: list[str] = []

    def setup(self):
        self.calls.append("setup")
        eventlet.sleep(0.05)

    def start(self):
        self.calls.append("start")

    def stop(self):
        self.calls.append("stop")


class Ticking:
    name = "ticking"
    recorder = Recorder()

    @timer(interval=60)
    def tick(self):
        pass


@pytest.fixture
def calls():
    Recorder.calls = []
    return Recorder.calls


def test_config_yml_runs_every_service_in_it():
    import yaml
    config = yaml.load((ROOT / "config" / "config.yml").read_text(), Loader=nameko_config_loader())
    assert get_container_cls(config) is ServiceContainer


def test_two_stops_during_the_start_stop_once_after_it(calls):
    container = ServiceContainer(Ticking, {})
    starting = eventlet.spawn(container.start)
    eventlet.sleep(0)                      # setup has begun and yields
    stops = [eventlet.spawn(container.stop) for _ in range(2)]   # SIGINT's and SIGTERM's
    starting.wait()
    for stop in stops:
        stop.wait()                        # nameko's timer sent its stop event twice, or had no thread yet
    assert calls == ["setup", "start", "stop"]
    container.wait()


def test_a_stop_before_the_start_leaves_nothing_to_start(calls):
    container = ServiceContainer(Ticking, {})
    container.stop()
    container.start()
    container.wait()
    assert calls == []


def test_an_expected_error_is_logged_without_its_traceback():
    try:
        raise LookupError("run 7 does not exist")
    except LookupError:
        exc_info = sys.exc_info()
    expected = logging.LogRecord("nameko.containers", logging.WARNING, __file__, 1,
                                 "(expected) error handling worker %s: %s", ("w", "run 7 does not exist"), exc_info)
    unexpected = logging.LogRecord("nameko.containers", logging.ERROR, __file__, 1,
                                   "error handling worker %s: %s", ("w", "boom"), exc_info)
    one_line = ExpectedErrorsInOneLine()
    assert one_line.filter(expected) and one_line.filter(unexpected)
    assert expected.exc_info is None and expected.getMessage().endswith("run 7 does not exist")
    assert unexpected.exc_info is exc_info


def test_the_streamer_stops_and_is_killed_before_its_setup_finished():
    RunStreamer().stop()
    RunStreamer().kill()
