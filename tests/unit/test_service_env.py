"""Every way of starting the services gives the filter its own worker count: make run, the
test/bench process starter and docker-compose."""
from services.ops.supervise import FILTER_MAX_WORKERS, service_env
from tests.unit.test_compose_static import compose_services


def test_the_filter_runs_its_own_worker_count_and_the_others_keep_theirs():
    env = {"MAX_WORKERS": "10"}
    assert service_env("filter", env)["MAX_WORKERS"] == FILTER_MAX_WORKERS == "20"
    assert service_env("filter", dict(env, FILTER_MAX_WORKERS="32"))["MAX_WORKERS"] == "32"
    for name in ("gateway", "launcher", "statistics", "query", "health"):
        assert service_env(name, env)["MAX_WORKERS"] == "10"
    assert env == {"MAX_WORKERS": "10"}   # the caller's environment is left as it was


def test_the_process_starter_applies_it(tmp_path):
    from services.ops.processes import ServiceProcesses
    starter = ServiceProcesses({"MAX_WORKERS": "10"}, tmp_path)
    assert service_env("filter", starter.env)["MAX_WORKERS"] == "20"


def test_docker_compose_gives_the_filter_the_same_default():
    assert compose_services()["filter"]["environment"]["MAX_WORKERS"] == f"${{FILTER_MAX_WORKERS:-{FILTER_MAX_WORKERS}}}"
