"""A source this deployment does not offer is the caller's choice, answered 422 with the sources it
does offer, and never logged by the RPC services as their own error."""
import inspect

import orjson
import pytest
from nameko.exceptions import RemoteError, deserialize, serialize
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from nameko.rpc import Rpc
from nameko.testing.services import worker_factory
from werkzeug.test import EnvironBuilder

from services.contracts.errors import ANSWERS, HTTP_STATUS
from services.gateway.service import GatewayService
from services.launcher.service import LauncherService, launch_run
from services.query.service import QueryService
from services.sources import SourceError, SourceUnavailable, make_source, offered_sources
from services.sources.x_api import TOKEN_MISSING
from services.statistics.service import StatisticsService


@pytest.fixture
def stage(tmp_path, monkeypatch):
    """A stage config with a replay directory and no X bearer token."""
    monkeypatch.delenv("X_BEARER_TOKEN", raising=False)
    return {"FLAVOR": "stage", "REPLAY_DIR": str(tmp_path), "SYNTHETIC_RATE": 0}


def test_a_deployment_offers_synthetic_always_replay_with_its_directory_and_x_with_a_token(stage, tmp_path,
                                                                                         monkeypatch):
    assert offered_sources(stage) == ["synthetic", "replay"]
    assert offered_sources(dict(stage, REPLAY_DIR=str(tmp_path / "absent"))) == ["synthetic"]
    monkeypatch.setenv("X_BEARER_TOKEN", "a-token-for-the-test")
    assert offered_sources(stage) == ["synthetic", "replay", "x"]


def test_building_a_source_not_offered_says_why_and_what_is_offered(stage, tmp_path):
    with pytest.raises(SourceUnavailable) as no_token:
        make_source("x", stage)
    # still a SourceError with the same message: the production flavor's refusal to start and the
    # health check of the configured source read as before
    assert isinstance(no_token.value, SourceError) and str(no_token.value) == TOKEN_MISSING
    assert (no_token.value.source, no_token.value.offered) == ("x", ["synthetic", "replay"])
    assert no_token.value.describe() == (f"source 'x' is not offered by this deployment ({TOKEN_MISSING}); "
                                         "it offers: synthetic, replay")

    with pytest.raises(SourceUnavailable, match="REPLAY_DIR") as no_directory:
        make_source("replay", dict(stage, REPLAY_DIR=str(tmp_path / "absent")), files=["a.jsonl"])
    assert no_directory.value.offered == ["synthetic"]

    with pytest.raises(SourceUnavailable, match="unknown source 'nosuch'"):
        make_source("nosuch", stage)


def test_it_crosses_rpc_whole():
    sent = SourceUnavailable("x", ["synthetic", "replay"], TOKEN_MISSING)
    received = deserialize(orjson.loads(orjson.dumps(serialize(sent))))
    assert type(received) is SourceUnavailable
    assert (received.source, received.offered, received.reason) == ("x", ["synthetic", "replay"], TOKEN_MISSING)


def test_launching_a_source_not_offered_fails_before_a_run_exists(stage):
    # no engine and no streamer: the probe source refuses before either is used
    with pytest.raises(SourceUnavailable):
        launch_run(None, None, stage, {"track": ["x"], "source": "x"})


def launch_answer(gateway, refusal):
    gateway.launcher.launch.side_effect = refusal
    response = gateway.launch(EnvironBuilder(method="POST", path="/launch",
                                             json={"track": ["x"], "source": "x"}).get_request())
    return response.status_code, orjson.loads(response.get_data())


def test_the_gateway_answers_422_naming_the_offered_sources():
    gateway = worker_factory(GatewayService)
    status, body = launch_answer(gateway, SourceUnavailable("x", ["synthetic", "replay"], TOKEN_MISSING))
    assert status == HTTP_STATUS["SourceUnavailable"] == 422
    assert body == {"error": f"source 'x' is not offered by this deployment ({TOKEN_MISSING}); "
                             "it offers: synthetic, replay",
                    "available_sources": ["synthetic", "replay"]}

    # from a launcher that predates the registration: the status still, with the reason
    status, body = launch_answer(gateway, RemoteError("SourceUnavailable", TOKEN_MISSING))
    assert (status, body) == (422, {"error": TOKEN_MISSING})


@pytest.mark.parametrize("service", [LauncherService, StatisticsService, QueryService])
def test_every_rpc_a_caller_reaches_declares_the_answers_as_expected(service):
    """Nameko logs an exception an entrypoint does not expect at ERROR with its traceback."""
    undeclared = [name for name, method in inspect.getmembers(service, inspect.isfunction)
                  for entrypoint in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ())
                  if isinstance(entrypoint, Rpc) and not set(ANSWERS) <= set(entrypoint.expected_exceptions)]
    assert undeclared == []
