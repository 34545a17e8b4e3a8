"""Run every service, one `nameko run` process each, in the foreground (make run).

Output goes to the terminal and to build/logs/<service>.log; Ctrl-C (or SIGTERM)
stops them all. A service that dies is reported and the others keep running.
"""
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

SERVICES = ("gateway", "launcher", "filter", "statistics", "query", "health")
ROOT = Path(__file__).resolve().parents[1]
FIRST_METRICS_PORT = 9101
# eventlet announces its own deprecation as plain text in a JSON log, from whichever module
# imports it first: nameko's CLI, or coverage's collector under make coverage
QUIET_WARNINGS = ("ignore::DeprecationWarning,ignore::Warning:nameko.cli.commands,"
                  "ignore::Warning:coverage.collector")


# The filter runs twice the workers of the other services, so twice the batches in flight (its
# prefetch is its worker count). With ten, the end of an ingest saw the filter and its writer's
# backend wait for each other at about 0.7 of a core each; with twenty the group committer finds
# more batches ready, forms bigger groups and writes less per tweet.
FILTER_MAX_WORKERS = "20"


def service_env(name: str, env: dict) -> dict:
    """The environment a service's process starts with: ``env``, and for the filter its own
    worker count (FILTER_MAX_WORKERS) as MAX_WORKERS."""
    if name == "filter":
        return dict(env, MAX_WORKERS=env.get("FILTER_MAX_WORKERS") or FILTER_MAX_WORKERS)
    return env


def available_services() -> list[str]:
    return [name for name in SERVICES if (ROOT / "services" / name / "__init__.py").exists()]


def _pump(name: str, stream, log_path: Path) -> None:
    with open(log_path, "ab") as log:
        for line in stream:
            log.write(line)
            log.flush()
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()


def start(name: str, index: int, config: str, log_dir: Path) -> subprocess.Popen:
    env = service_env(name, dict(os.environ, SERVICE_NAME=name, PYTHONWARNINGS=QUIET_WARNINGS))
    if "METRICS_PORT" not in os.environ:  # one port per process on a shared host
        env["METRICS_PORT"] = str(FIRST_METRICS_PORT + index)
    process = subprocess.Popen(
        [sys.executable, "-m", "nameko", "run", "--config", config, f"services.{name}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    threading.Thread(target=_pump, args=(name, process.stdout, log_dir / f"{name}.log"), daemon=True).start()
    return process


def main() -> int:
    config = os.environ.get("NAMEKO_CONFIG", str(ROOT / "config" / "config.yml"))
    log_dir = Path(os.environ.get("LOG_DIR", ROOT / "build" / "logs"))
    log_dir.mkdir(parents=True, exist_ok=True)
    processes = {name: start(name, i, config, log_dir) for i, name in enumerate(available_services())}
    print(f"[run] started {', '.join(processes)}; gateway on {os.environ.get('WEB_SERVER_ADDRESS', '0.0.0.0:8004')}"
          f"; logs in {log_dir}; Ctrl-C stops them all", flush=True)
    stopping = threading.Event()

    def stop(*_):
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    running = dict(processes)
    while running and not stopping.wait(0.5):
        for name, process in list(running.items()):
            if process.poll() is not None:
                print(f"[run] {name} exited with code {process.returncode}", flush=True)
                del running[name]
    for process in running.values():
        process.send_signal(signal.SIGTERM)
    for process in running.values():
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
    print("[run] all services stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
