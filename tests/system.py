"""Runs the real service processes for integration, e2e and fault tests.

Each test session gets its own PostgreSQL database and RabbitMQ vhost (see conftest),
so tests never touch the developer's data and clean up after themselves.
"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "x-api-samples"
# eventlet announces its own deprecation at every start, as plain text in a JSON log
QUIET_WARNINGS = "ignore::DeprecationWarning,ignore::Warning:nameko.cli.commands"
SERVICES = ("gateway", "launcher", "filter", "statistics", "query", "health")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class System:
    """The services as real `nameko run` processes against a test database and vhost."""

    def __init__(self, env: dict, log_dir: Path):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ, **env, WEB_SERVER_ADDRESS=f"127.0.0.1:{self.port}",
                        PYTHONWARNINGS=QUIET_WARNINGS)
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.processes: dict[str, subprocess.Popen] = {}
        self.metrics_ports: dict[str, int] = {}

    def available(self) -> list[str]:
        return [name for name in SERVICES if (ROOT / "services" / name / "__init__.py").exists()]

    def start(self, name: str, replica: str | None = None, **env) -> subprocess.Popen:
        key = f"{name}-{replica}" if replica else name
        log = open(self.log_dir / f"{key}.log", "ab")
        self.metrics_ports[key] = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "nameko", "run", "--config", str(ROOT / "config" / "config.yml"),
             f"services.{name}"],
            cwd=ROOT, env=dict(self.env, SERVICE_NAME=name, METRICS_PORT=str(self.metrics_ports[key]), **env),
            stdout=log, stderr=subprocess.STDOUT,
        )
        self.processes[key] = process
        return process

    def start_all(self) -> "System":
        for name in self.available():
            if name not in self.processes or self.processes[name].poll() is not None:
                self.start(name)
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                answer = requests.get(self.base_url + "/statistics", timeout=2)
                if answer.status_code == 200:
                    # the launcher and filter have no HTTP: give their consumers a moment
                    time.sleep(1.0)
                    return
                last = answer.text
            except requests.RequestException as error:
                last = str(error)
            time.sleep(0.3)
        raise RuntimeError(f"services did not become ready: {last}\n{self.tail()}")

    def signal(self, key: str, sig: int, wait: float = 30) -> int | None:
        process = self.processes.pop(key)
        process.send_signal(sig)
        try:
            return process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()

    def kill(self, key: str) -> None:
        self.signal(key, signal.SIGKILL)

    def stop_all(self) -> None:
        """SIGTERM to every process at once (each finishes its workers), then wait for all."""
        stopping = list(self.processes.items())
        self.processes.clear()
        for _, process in stopping:
            process.send_signal(signal.SIGTERM)
        for _, process in stopping:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def tail(self, lines: int = 40) -> str:
        out = []
        for path in sorted(self.log_dir.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(out)

    # -- HTTP helpers ------------------------------------------------------------------

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.base_url + path, timeout=kwargs.pop("timeout", 30), **kwargs)

    def post(self, path: str, body=None, **kwargs) -> requests.Response:
        return requests.post(self.base_url + path, json=body, timeout=kwargs.pop("timeout", 60), **kwargs)

    def wait_run_done(self, run_id: int, timeout: float = 60) -> dict:
        """Wait until a run with a limit finished and every dispatched batch is committed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.get(f"/statistics/runs/{run_id}").json()
            if run["status"] != "active" and run["committed_items"] >= run["dispatched_items"]:
                return run
            time.sleep(0.3)
        raise TimeoutError(f"run {run_id} did not finish: {run}\n{self.tail()}")
