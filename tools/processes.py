"""The services as real `nameko run` processes, one each, for tests, the benchmark and the soak.

(`make run` uses tools/supervise.py instead: a foreground supervisor with its output
on the terminal.) Each process logs to <log_dir>/<key>.log and serves its metrics on a port
of its own.
"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tools.supervise import QUIET_WARNINGS, available_services, service_env

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServiceProcesses:
    def __init__(self, env: dict, log_dir: Path, *, inherit_env: bool = True):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        base = dict(os.environ) if inherit_env else {"PATH": os.environ.get("PATH", "")}
        self.env = dict(base, **env, WEB_SERVER_ADDRESS=f"127.0.0.1:{self.port}", PYTHONWARNINGS=QUIET_WARNINGS)
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.processes: dict[str, subprocess.Popen] = {}
        self.metrics_ports: dict[str, int] = {}

    def available(self) -> list[str]:
        return available_services()

    def start(self, name: str, replica: str | None = None, module: str | None = None, **env) -> subprocess.Popen:
        """Start one service (``replica`` names a second process of the same service)."""
        key = f"{name}-{replica}" if replica else name
        self.metrics_ports[key] = free_port()
        with open(self.log_dir / f"{key}.log", "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "nameko", "run", "--config", str(ROOT / "config" / "config.yml"),
                 module or f"services.{name}"],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                env=dict(service_env(name, self.env), SERVICE_NAME=name, METRICS_PORT=str(self.metrics_ports[key]), **env),
            )
        self.processes[key] = process
        return process

    def start_all(self, timeout: float = 60) -> "ServiceProcesses":
        for name in self.available():
            if name not in self.processes or self.processes[name].poll() is not None:
                self.start(name)
        self.wait_ready(timeout)
        return self

    def ready_headers(self) -> dict:
        """Headers for the readiness probe (a subclass adds a token when the API needs one)."""
        return {}

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.exited():
                raise RuntimeError(f"service process(es) exited: {self.exited()}; see {self.log_dir}")
            try:
                answer = requests.get(self.base_url + "/statistics", headers=self.ready_headers(), timeout=2)
                if answer.status_code == 200:
                    time.sleep(1.0)  # the launcher and filter have no HTTP: give their consumers a moment
                    return
                last = answer.text
            except requests.RequestException as error:
                last = str(error)
            time.sleep(0.3)
        raise RuntimeError(f"services did not become ready: {last}; see {self.log_dir}")

    def exited(self) -> list[str]:
        return [key for key, process in self.processes.items() if process.poll() is not None]

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

    def stop_all(self, wait: float = 30) -> None:
        """SIGTERM to every process at once (each finishes its workers), then wait for all."""
        stopping = list(self.processes.values())
        self.processes.clear()
        for process in stopping:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in stopping:
            try:
                process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
