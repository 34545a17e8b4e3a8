"""Runs the real service processes for integration, e2e and fault tests.

Each test session gets its own PostgreSQL database and RabbitMQ vhost (see conftest),
so tests never touch the developer's data and clean up after themselves.
"""
import contextlib
import time
from pathlib import Path

import requests

from services.settings import config_loader
from tools.processes import ServiceProcesses, free_port

__all__ = ["ROOT", "SAMPLES", "System", "free_port", "nameko_config_loader", "running_system", "system_env"]

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "x-api-samples"


def system_env(db_uri: str, amqp_uri: str, **settings) -> dict:
    """The environment the tests' service processes run with: this session's database and vhost,
    the recorded samples, short batch waits and takeovers; ``settings`` add or override."""
    return {"DB_URI": db_uri, "AMQP_URI": amqp_uri, "REPLAY_DIR": str(SAMPLES), "BATCH_MAX_WAIT": "0.2",
            "TAKEOVER_AFTER_SECONDS": "5", "LOG_LEVEL": "INFO", **settings}


@contextlib.contextmanager
def running_system(env: dict, log_dir, system_class=None):
    """Every service as a real process for the block, stopped after it."""
    running = (system_class or System)(env, log_dir)
    try:
        running.start_all()
        yield running
    finally:
        running.stop_all()


def nameko_config_loader():
    """config.yml read as `nameko run` reads it (services/settings.py)."""
    return config_loader()


class System(ServiceProcesses):
    """The services as real `nameko run` processes, with the HTTP helpers tests use."""

    def tail(self, lines: int = 40) -> str:
        out = []
        for path in sorted(self.log_dir.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(out)

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.base_url + path, timeout=kwargs.pop("timeout", 30), **kwargs)

    def post(self, path: str, body=None, **kwargs) -> requests.Response:
        return requests.post(self.base_url + path, json=body, timeout=kwargs.pop("timeout", 60), **kwargs)

    def wait_run_done(self, run_id: int, timeout: float = 60) -> dict:
        """Wait until a run with a limit finished and every dispatched batch is committed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.get(f"/statistics/runs/{run_id}").json()
            if run["status"] not in ("active", "draining") and (
                    run["committed_items"] + run["failed_items"] >= run["dispatched_items"]):
                return run
            time.sleep(0.3)
        raise TimeoutError(f"run {run_id} did not finish: {run}\n{self.tail()}")
