"""Every way of starting the services gives the filter its own worker count: make run, the
test/bench process starter and docker-compose."""
import subprocess
from unittest import mock

import pytest

from tests.unit.deployment_files import compose_services
from tools.supervise import FILTER_MAX_WORKERS, service_env


def test_the_filter_runs_its_own_worker_count_and_the_others_keep_theirs():
    env = {"MAX_WORKERS": "10"}
    assert service_env("filter", env)["MAX_WORKERS"] == FILTER_MAX_WORKERS == "20"
    assert service_env("filter", dict(env, FILTER_MAX_WORKERS="32"))["MAX_WORKERS"] == "32"
    for name in ("gateway", "launcher", "statistics", "query", "health"):
        assert service_env(name, env)["MAX_WORKERS"] == "10"
    assert env == {"MAX_WORKERS": "10"}   # the caller's environment is left as it was


@pytest.mark.parametrize("name, workers", [("filter", "20"), ("query", "10")])
def test_both_process_starters_give_it_to_the_filter_alone(monkeypatch, tmp_path, name, workers):
    from tools import processes, supervise
    started = []
    monkeypatch.setenv("MAX_WORKERS", "10")
    monkeypatch.delenv("FILTER_MAX_WORKERS", raising=False)
    monkeypatch.setattr(subprocess, "Popen", lambda *args, env, **kwargs: started.append(env) or mock.Mock())
    monkeypatch.setattr(supervise.threading, "Thread", mock.Mock())

    processes.ServiceProcesses({}, tmp_path).start(name)   # tests, the bench, the soak
    supervise.start(name, 0, "config/config.yml", tmp_path)   # make run

    assert [env["MAX_WORKERS"] for env in started] == [workers, workers]


def test_docker_compose_gives_the_filter_the_same_default():
    assert compose_services()["filter"]["environment"]["MAX_WORKERS"] == f"${{FILTER_MAX_WORKERS:-{FILTER_MAX_WORKERS}}}"
