"""Soak test (make soak): every service under a steady 5,000 tweets/s for a bounded time.

Starts the services against their own database (``tweets_soak``) and RabbitMQ vhost, streams one
run at SOAK_RATE, samples each process's resident memory (RSS) every SOAK_SAMPLE_SECONDS, and fails
when a service's RSS grew by more than SOAK_MAX_GROWTH after the warm-up, or when any service
logged an ERROR. SOAK_SECONDS bounds the run (600 by default). A report goes to build/soak/.
"""
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import psutil
import requests
from sqlalchemy import text

from services.storage.database import make_engine
from services.storage.schema import metadata
from tools import infra
from tools.processes import ServiceProcesses

ROOT = Path(__file__).resolve().parents[1]
NAME = "tweets_soak"
TRACK = ["the", "love", "music"]


# an error in a service's JSON log (services/observability/logs.py), or a traceback it printed raw
ERROR_LINE = re.compile(r'"level": ?"(ERROR|CRITICAL)"|^Traceback')


def setting(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


class SoakStore:
    """The soak's own database and vhost, emptied at start so that every soak begins alike."""

    def __init__(self):
        base = os.environ.get("DB_URI", "postgresql://postgres@localhost:5432/tweets")
        self.db_uri = base.rsplit("/", 1)[0] + f"/{NAME}"
        self.amqp_uri = f"pyamqp://guest:guest@localhost:5672/{quote(NAME, safe='')}"

    def prepare(self) -> None:
        infra.create_database(self.db_uri)
        infra.migrate(self.db_uri)
        engine = make_engine(self.db_uri, pool_size=1)
        names = ", ".join(table.name for table in metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        engine.dispose()
        # a fresh vhost: no queue left over from an earlier soak
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", NAME], capture_output=True)
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", NAME], check=True, capture_output=True)
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", NAME, "guest", ".*", ".*", ".*"],
                       check=True, capture_output=True)


class Services(ServiceProcesses):
    """One `nameko run` process per service, logging to build/soak/<service>.log."""

    def __init__(self, store: SoakStore, log_dir: Path):
        for old in log_dir.glob("*.log"):  # an earlier soak's errors are not this one's
            old.unlink()
        super().__init__({"DB_URI": store.db_uri, "AMQP_URI": store.amqp_uri, "LOG_LEVEL": "INFO"}, log_dir)

    def rss_mib(self) -> dict[str, float]:
        sizes = {}
        for name, process in self.processes.items():
            try:
                sizes[name] = psutil.Process(process.pid).memory_info().rss / 2**20
            except psutil.NoSuchProcess:
                sizes[name] = float("nan")
        return sizes

    def error_lines(self) -> list[str]:
        found = []
        for path in sorted(self.log_dir.glob("*.log")):
            for line in path.read_text(errors="replace").splitlines():
                if ERROR_LINE.search(line):
                    found.append(f"{path.stem}: {line[:300]}")
        return found


class MemoryWatch:
    """RSS samples per service; growth compares the last samples with the first after warm-up."""

    def __init__(self, warmup: float):
        self.warmup = warmup
        self.samples: list[tuple[float, dict[str, float]]] = []

    def add(self, elapsed: float, sizes: dict[str, float]) -> None:
        self.samples.append((elapsed, sizes))

    def growth(self) -> dict[str, dict]:
        settled = [sizes for elapsed, sizes in self.samples if elapsed >= self.warmup]
        if len(settled) < 2:
            return {}
        edge = min(3, len(settled) // 2)
        out = {}
        for name in settled[0]:
            start = statistics.median(sizes[name] for sizes in settled[:edge])
            end = statistics.median(sizes[name] for sizes in settled[-edge:])
            out[name] = {"after_warmup_mib": round(start, 1), "end_mib": round(end, 1),
                         "peak_mib": round(max(sizes[name] for sizes in settled), 1),
                         "growth": round(end / start - 1, 4)}
        return out


def main() -> int:
    duration = setting("SOAK_SECONDS", 600)
    rate = setting("SOAK_RATE", 5000)
    interval = setting("SOAK_SAMPLE_SECONDS", 5)
    max_growth = setting("SOAK_MAX_GROWTH", 0.20)
    warmup = setting("SOAK_WARMUP_SECONDS", min(60.0, duration / 3))
    log_dir = ROOT / "build" / "soak"
    log_dir.mkdir(parents=True, exist_ok=True)

    store = SoakStore()
    store.prepare()
    services = Services(store, log_dir)
    watch = MemoryWatch(warmup)
    problems: list[str] = []
    run = {}
    try:
        services.start_all()
        answer = requests.post(services.base_url + "/launch", json={"track": TRACK, "rate": rate, "seed": 7},
                               timeout=60)
        answer.raise_for_status()
        run_id = answer.json()["run_id"]
        print(f"[soak] run {run_id} at {rate:g} tweets/s for {duration:g} s (warm-up {warmup:g} s)", flush=True)
        began = time.monotonic()
        while (elapsed := time.monotonic() - began) < duration:
            sizes = services.rss_mib()
            watch.add(elapsed, sizes)
            print(f"[soak] {elapsed:6.0f} s  " + "  ".join(f"{n} {s:.0f}" for n, s in sizes.items()) + " MiB",
                  flush=True)
            if services.exited():
                problems.append(f"exited during the soak: {', '.join(services.exited())}")
                break
            time.sleep(interval)
        streamed = time.monotonic() - began
        stopped = requests.post(services.base_url + "/stop", timeout=120)
        run = stopped.json() if stopped.status_code == 200 else {"error": stopped.text}
        # let the filter drain what was dispatched before the stop
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and run.get("committed_items", 0) < run.get("dispatched_items", 0):
            time.sleep(1)
            run = requests.get(f"{services.base_url}/statistics/runs/{run_id}", timeout=30).json()
        run["streamed_seconds"] = round(streamed, 1)
        run["received_per_second"] = round(run.get("received", 0) / streamed, 1)
    finally:
        services.stop_all()

    growth = watch.growth()
    for name, figures in growth.items():
        if figures["growth"] > max_growth:
            problems.append(f"{name} RSS grew {figures['growth']:.1%} after warm-up (limit {max_growth:.0%})")
    errors = services.error_lines()
    if errors:
        problems.append(f"{len(errors)} ERROR line(s) logged; first: {errors[0]}")
    if run.get("committed_items", -1) != run.get("dispatched_items", -2):
        problems.append("not every dispatched tweet was committed after the stop")
    report = {"duration_seconds": duration, "rate": rate, "warmup_seconds": warmup, "run": run,
              "memory": growth, "samples": watch.samples, "errors": errors[:20], "problems": problems}
    (log_dir / "report.json").write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps({key: report[key] for key in ("run", "memory", "problems")}, indent=2, default=str))
    print(f"[soak] {'FAILED' if problems else 'passed'}; report in {log_dir / 'report.json'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
