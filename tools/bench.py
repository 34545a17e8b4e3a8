"""make bench: the system as deployed (one `nameko run` process per service) against the local
RabbitMQ and PostgreSQL, measured in one run; prints a table and writes build/bench.json.

Phases, and what each figure measures:
 1. ingest: the synthetic source at full speed through launcher -> broker -> filter -> PostgreSQL,
    BENCH_TWEETS tweets (default 200,000) in the launcher's default batches (1,000), 50 track terms
    matching about half.
    The clock (`seconds`) runs from the moment the launch request is sent (so the gateway's and
    launcher's handling of it and the source's preparation are inside) to the end of the first
    poll that saw the last batch committed. The bench polls the run's ledger in the database every
    POLL_SECONDS on a connection of its own; each poll is one statement in a snapshot of its own, so
    the last commit happened after the previous poll began and before the observing poll ended:
    `seconds` is the upper end of that window (tweets_per_s, received / seconds, a lower bound of the
    rate), `seconds_at_least` its lower end, `seconds_error` their difference (a poll interval plus
    two polls' round trips). `ledger_seconds` is the older figure, runs.started_at to the start
    of the last ledger row's transaction (processed_at is now(), a transaction's start): it leaves
    out the source's preparation and the last group's commit.
    `verified`: the ledger accounts for every tweet once (received and positions = BENCH_TWEETS, no
    bad item, no failed batch, matched = stored = the run's rows in tweets), and every rollup table
    (services.storage.recount: hour, minute, tag rollups, run_totals, users.tweet_count) equals a GROUP BY over
    the stored rows; `problems` says what differed.
    ingest_concurrent: the same BENCH_TWEETS tweets in four runs launched at once (POST /launch from
    a thread each; a quarter of the tweets each, seeds CONCURRENT_SEEDS, the same track terms,
    rate 0, the same batches), right after the one run. The same clock over all four: from the
    moment the first launch request is sent to the end of the first poll (one statement over the
    four runs, every POLL_SECONDS) that saw every run over, so the last commit of the last run is
    inside; tweets_per_s is the four runs' received tweets over that. The same `verified`: each
    run's ledger and rows alone (problems named "run N"), the four runs' totals together, and
    every rollup against its GROUP BY once. ingest_concurrent_ratio = ingest_concurrent tweets/s /
    ingest tweets/s (goal: at least CONCURRENT_RATIO_GOAL, 0.90). When an ingest fails before its
    runs are over (an error, a timeout, a service that exited, Ctrl-C), the bench stops each run it
    launched with POST /stop {"run_id": n} before it goes on failing.
 2. ingest with one tweet per message (BENCH_BATCH1_TWEETS, default 5,000), for the ratio; same clock.
 3. the limits of the parts on the same payloads, each alone:
    - limit_filter_prepare: the filter's parse + match (services.filter.pipeline.prepare) over the
      same batches, one core, no database (also filter_cpu_tweets_per_s);
    - limit_store: the filter's write path (pipeline.commit_batches: the ledger, store_tweets with
      tags, authors, places and every rollup) over those prepared batches with fresh tweet ids, in
      groups as the group committer forms them at most (MAX_GROUP_TWEETS matched tweets a
      transaction), on one connection in sequence; tweets/s counts the source tweets whose matches
      were written (as ingest counts them), stored_tweets_per_s the rows; its rows stay, as a run of
      source 'bench-limit';
    - limit_broker: RabbitMQ publish (confirmed) + consume of the same batches (kombu, no Nameko);
      it reports a figure only when the consumer was ready, every published batch and item was
      consumed and nothing failed;
    - beside them, two figures that are not limits of the pipeline and are named for what they
      are: limit_orjson_loads (orjson.loads of each item, not the filter's parser) and
      limit_copy_tweets_only (COPY of the rows into tweets alone: no tags, users, rollups or ledger).
    The slowest limit is the slowest of filter_prepare, store and broker; none when one of them did
    not complete.
 4. the views at scale: BENCH_LOAD tweets (default 10,000,000) bulk loaded (tools.bulk_load),
    then latency of every view through the gateway (BENCH_VIEW_REQUESTS sequential requests):
    percentiles over the successful (200) requests only, failures counted apart (any failure fails
    the goal). /statistics is answered from an answer the gateway shares for STATISTICS_FRESH_FOR
    (0.25 s): it is measured as deployed, and again through a second gateway started with
    STATISTICS_FRESH_FOR=0 (an RPC to the statistics service and its query for every request that
    does not arrive while another's call is in flight). Requests/s at 32 connections of
    /statistics from both gateways beside a bare Nameko @http endpoint that does no work (no RPC,
    no database); each statistics load says how many get_statistics RPCs the statistics service
    served (its own metrics).
    statistics_many_runs: then the uncached /statistics path (the STATISTICS_FRESH_FOR=0 gateway)
    with FEW_RUNS (10) runs in the runs table and with MANY_RUNS (1,000), alternately in
    STATISTICS_ROUNDS (4) rounds (10 then 1,000 in each; ten requests to warm up, then a quarter of
    BENCH_VIEW_REQUESTS sequential requests), so that a change of the machine's load during the
    phase falls on both alike; p50/p95/p99 of each over all its rounds, as for the views. Finished
    runs of source 'bench-runs' are inserted into the bench database (one INSERT ... SELECT
    generate_series: a ledger row and a run_totals row each, every item received, none matched, so
    the rollups stay equal to their GROUP BYs; intervals two minutes apart two days ago, lasting 30
    to 210 s, so some overlap), and the last of them deleted, to set the table's size; the three
    tables are VACUUM ANALYZEd after each change, as autovacuum would have. The goal: p95 with 1,000
    runs at most the larger of 1.5 x and +2 ms of p95 with 10 (RUNS_P95_FACTOR, RUNS_P95_SLACK_MS:
    the tolerance for this machine's varying timings), no request failed.
 5. memory: the peak RSS (VmHWM, the process's high-water mark) of each service process, read at
    the end, after every phase.

CPU per process (cores_used, cpu_us_per_tweet) counts only the processes serving this bench: each
service process it started, the PostgreSQL backends connected to the bench database (pids from
pg_stat_activity, autovacuum workers of that database included, the bench's own measuring
connections left out: the sampler's and the ingest's poller) and RabbitMQ's beam process (the one
listening on the AMQP port; it serves every vhost, so others' traffic on the broker would show in
it). The postmaster's background
processes (checkpointer, background writer, walwriter, launchers) serve every database of the
cluster: they are reported apart (shared_cores_used, shared_cpu_us_per_tweet), not in the sums.
A sampler reads them every CPU_SAMPLE_SECONDS, so a backend that ends within a phase counts up to
its last sample and one that begins counts from its start.

It runs in a database of its own (tweets_bench, dropped and recreated; kept afterwards for
inspection) and a RabbitMQ vhost of its own (deleted at the end), and stops every process it started.
"""
import csv
import io
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote, urlparse

import orjson
import psycopg2
import psycopg2.extensions
import requests
from kombu import Connection, Exchange, Queue
from psycopg2 import sql
from sqlalchemy import event, text

from services.contracts import wire
from services.contracts.events import batch_compression
from services.contracts.requests import RunsQuery, TagsQuery, TopHashtagsRequest, UserTweetsRequest, validate
from services.filter.committer import MAX_GROUP_TWEETS
from services.filter.pipeline import PreparedBatch, commit_batches, prepare
from services.launcher.batching import DEFAULT_BATCH_SIZE
from services.storage import analytics, views
from services.sources.synthetic import WORDS, SyntheticSource
from services.storage import runs
from services.storage.database import make_engine
from services.storage.recount import rollup_differences
from services.tweets.parse import parse_documents
from services.tweets.track import TrackMatcher, tokens_of
from tools.bulk_load import load as bulk_load
from tools.infra import create_database, migrate
from tools.processes import ServiceProcesses, free_port

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"
LOG_DIR = BUILD / "bench-logs"
BENCH_NAME = "tweets_bench"          # the database and the vhost
TRACK_TERMS = 50
TARGET_MATCH_RATIO = 0.5
INGEST_SEED = 4242                   # seeds of their own: tweet ids never collide between the runs
BATCH1_SEED = 4343
BATCH_SIZE = DEFAULT_BATCH_SIZE      # the launcher's default batch
COPY_ID_BASE = 8_000_000_000_000_000_000
WRK_ARGS = ("-t2", "-c32", "-d10s")
CONCURRENCY, LOAD_SECONDS = 32, 10
POLL_SECONDS = 0.05                  # the ingest's poll of its run's ledger (the clock's resolution)
CPU_SAMPLE_SECONDS = 0.5
STORE_ID_BASE = 7_000_000_000_000_000_000   # the store limit's tweets: ids no source gives
UNCACHED = "STATISTICS_FRESH_FOR=0"
CONCURRENT_SEEDS = (4444, 4545, 4646, 4747)   # the four runs at once: a quarter of BENCH_TWEETS each
CONCURRENT_RATIO_GOAL = 0.90
FEW_RUNS, MANY_RUNS = 10, 1_000      # runs in the table for /statistics' latency
# /statistics' p95 with MANY_RUNS may exceed that with FEW_RUNS by the larger of these (timings vary here)
RUNS_P95_FACTOR, RUNS_P95_SLACK_MS = 1.5, 2.0
STATISTICS_ROUNDS = 4                # the two measured alternately, FEW_RUNS then MANY_RUNS in each round

# what the issue asks of each figure
GOALS = {
    "ingest_tweets_per_s >= 20000": lambda r: r["ingest_tweets_per_s"] >= 20_000,
    "ingest_tweets_per_s >= 6000 (floor)": lambda r: r["ingest_tweets_per_s"] >= 6_000,
    "every ingest verified (ledger, rows, rollups)": lambda r: r["ingest"]["verified"] and r["ingest_batch1"]["verified"]
    and r["ingest_concurrent"]["verified"],
    f"ingest_concurrent_ratio >= {CONCURRENT_RATIO_GOAL:.2f} ({len(CONCURRENT_SEEDS)} runs at once / one run)":
        lambda r: r["ingest_concurrent_ratio"] is not None and r["ingest_concurrent_ratio"] >= CONCURRENT_RATIO_GOAL,
    "ingest >= 35% of the slowest limit": lambda r: r["slowest_limit_tweets_per_s"] is not None
    and r["ingest_tweets_per_s"] >= 0.35 * r["slowest_limit_tweets_per_s"],
    "ingest >= 20x one-tweet-per-message": lambda r: r["ingest_tweets_per_s"] >= 20 * r["ingest_batch1_tweets_per_s"],
    "every view p95 <= 20 ms, none failed": lambda r: not any(r["views_failures"].values())
    and all(p95 is not None and p95 <= 20 for p95 in r["views_p95_ms"].values()),
    "statistics_rps >= 50% of bare_http_rps, none failed": lambda r: r["statistics_rps"] >= 0.5 * r["bare_http_rps"]
    and r["throughput"]["statistics"]["failed"] == 0 and r["throughput"]["bare_http"]["failed"] == 0,
    # the uncached path (the gateway with STATISTICS_FRESH_FOR=0), MANY_RUNS runs in the table against FEW_RUNS
    f"/statistics p95, {MANY_RUNS:,} runs <= max({RUNS_P95_FACTOR}x, +{RUNS_P95_SLACK_MS:g} ms) of {FEW_RUNS}, none failed":
        lambda r: runs_latency_held(r["statistics_many_runs"][str(FEW_RUNS)], r["statistics_many_runs"][str(MANY_RUNS)]),
    "every service peak RSS <= 300 MB": lambda r: all(v <= 300 for v in r["peak_rss_mb"].values()),
}


def say(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def setting(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)



# -- infrastructure ------------------------------------------------------------------------------

def bench_db_uri() -> str:
    base = urlparse(os.environ.get("DB_URI") or "postgresql://postgres@localhost:5432/tweets")
    return base._replace(path=f"/{BENCH_NAME}").geturl()


def bench_amqp_uri() -> str:
    base = urlparse(os.environ.get("AMQP_URI") or "pyamqp://guest:guest@localhost:5672/")
    return base._replace(path="/" + quote(BENCH_NAME, safe="")).geturl()


def recreate_database(uri: str) -> None:
    parts = urlparse(uri)
    name = parts.path.lstrip("/")
    admin = psycopg2.connect(parts._replace(path="/postgres").geturl())
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    finally:
        admin.close()
    create_database(uri)
    migrate(uri)


def rabbitmqctl(*args: str, check: bool = True) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=check, capture_output=True)


def recreate_vhost() -> None:
    rabbitmqctl("delete_vhost", BENCH_NAME, check=False)
    rabbitmqctl("add_vhost", BENCH_NAME)
    user = urlparse(bench_amqp_uri()).username or "guest"
    rabbitmqctl("set_permissions", "-p", BENCH_NAME, user, ".*", ".*", ".*")


def ensure_wrk() -> str | None:
    """wrk when installed or installable (root on a Debian-like machine); None: Python load generator."""
    if shutil.which("wrk") is None and shutil.which("apt-get") and os.geteuid() == 0:
        say("installing wrk from the distribution")
        subprocess.run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk",
                       shell=True, check=False, capture_output=True)
    return shutil.which("wrk")


def other_services_running() -> int:
    """`nameko run` processes not started by this bench (tests, soak runs): they share the CPUs."""
    mine = {str(os.getpid())}
    count = 0
    for process in Path("/proc").glob("[0-9]*"):
        try:
            command = (process / "cmdline").read_bytes().split(b"\0")
            ours = BENCH_NAME.encode() in (process / "environ").read_bytes()
        except OSError:  # gone, or not ours to read
            continue
        if b"nameko" in command and b"run" in command and not ours and process.name not in mine:
            count += 1
    return count


def read_cpu(pid: int, ticks: int) -> tuple[int, float] | None:
    """(start time in ticks since boot, CPU seconds used: utime + stime) of a process; None when gone."""
    try:
        return stat_cpu(Path(f"/proc/{pid}/stat").read_text(), ticks)
    except OSError:
        return None


def stat_cpu(stat: str, ticks: int) -> tuple[int, float]:
    """(starttime, utime + stime in seconds) from the text of /proc/<pid>/stat (the command may hold
    spaces and parentheses: the fields are counted after its last ')')."""
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19]), (int(fields[11]) + int(fields[12])) / ticks


class CpuLedger:
    """CPU seconds used by each part, summed over every process ever seen in it: a process is
    known by (pid, start time), so a reused pid is another process; one that ended keeps its last
    reading, one seen for the first time counts from its start. The difference of two totals() is
    what the part used in between."""

    def __init__(self):
        self.last: dict[tuple[str, int, int], float] = {}

    def record(self, part: str, pid: int, started: int, cpu: float) -> None:
        key = (part, pid, started)
        self.last[key] = max(cpu, self.last.get(key, 0.0))

    def totals(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for (part, _pid, _started), cpu in self.last.items():
            totals[part] = totals.get(part, 0.0) + cpu
        return totals


def listening_pids(port: int) -> list[int]:
    """The processes holding a socket that listens on ``port`` (TCP, IPv4 or IPv6), from /proc."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":   # 0A: LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    pids = []
    for process in Path("/proc").glob("[0-9]*"):
        try:
            if any(os.readlink(fd) in inodes for fd in (process / "fd").iterdir()):
                pids.append(int(process.name))
        except OSError:   # gone, or not ours to read
            continue
    return sorted(pids)


# PostgreSQL processes by part: backends of the bench's database (client backends, autovacuum and
# parallel workers on it), and the postmaster's background processes, which have no database
PG_PROCESSES_SQL = (
    "SELECT pid, CASE WHEN datname IS NULL THEN 'postgresql_background' ELSE 'postgresql_backends' END"
    "  FROM pg_stat_activity"
    " WHERE (datname = current_database() AND pid <> pg_backend_pid())"
    "    OR (datname IS NULL AND backend_type <> 'client backend')")
SHARED_PARTS = ("postgresql_background",)   # serve every database of the cluster: reported apart


class CpuAccount:
    """The CPU the processes serving this bench used (see the module's docstring for what is counted),
    sampled every CPU_SAMPLE_SECONDS by a thread of its own and at every totals()."""

    def __init__(self, services: "Services", db_uri: str, broker_port: int):
        self.services = services
        self.ticks = os.sysconf("SC_CLK_TCK")
        self.ledger = CpuLedger()
        self.ignored: set[int] = set()   # backends of the bench's own measuring (its ledger poller)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.connection = psycopg2.connect(db_uri)
        self.connection.autocommit = True
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            own_backend = cursor.fetchone()[0]
        self.broker_pids = listening_pids(broker_port)
        broker = (f"pid {', '.join(map(str, self.broker_pids))}, listening on port {broker_port}"
                  if self.broker_pids else f"nothing found listening on port {broker_port}: not counted")
        postgresql = ("backends of the bench database (pg_stat_activity), the sampler's own left out"
                      if read_cpu(own_backend, self.ticks) else
                      "not counted: PostgreSQL's pids are not visible in this machine's /proc")
        self.counted = {"services": "each service process the bench started", "postgresql_backends": postgresql,
                        "rabbitmq": broker, "postgresql_background": "the postmaster's background processes "
                        "(no database): shared by the cluster, reported apart"}
        self.thread = threading.Thread(target=self._sample_until_stopped, daemon=True)
        self.thread.start()

    def _sample_until_stopped(self) -> None:
        while not self.stopping.wait(CPU_SAMPLE_SECONDS):
            try:
                self.sample()
            except (OSError, psycopg2.Error) as error:
                say(f"CPU sampler: {error}")

    def processes(self) -> dict[str, list[int]]:
        """The pids counted now, by part."""
        # a copy in one step: the main thread starts processes while this one samples
        parts = {name: [process.pid] for name, process in list(self.services.processes.items())}
        parts["rabbitmq"] = list(self.broker_pids)
        with self.connection.cursor() as cursor:
            cursor.execute(PG_PROCESSES_SQL)
            for pid, part in cursor.fetchall():
                if pid not in self.ignored:
                    parts.setdefault(part, []).append(pid)
        return parts

    def sample(self) -> None:
        with self.lock:
            for part, pids in self.processes().items():
                for pid in pids:
                    if (reading := read_cpu(pid, self.ticks)) is not None:
                        self.ledger.record(part, pid, *reading)

    def ignore(self, backend_pid: int) -> None:
        with self.lock:
            self.ignored.add(backend_pid)

    def unignore(self, backend_pid: int) -> None:
        """Once that backend has ended: its pid may be given to another."""
        with self.lock:
            self.ignored.discard(backend_pid)

    def totals(self) -> dict[str, float]:
        self.sample()
        with self.lock:
            return self.ledger.totals()

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.connection.close()


def own_parts(cores: dict) -> dict:
    """A phase's figures without the shared parts (SHARED_PARTS), which are reported apart."""
    return {part: value for part, value in cores.items() if part not in SHARED_PARTS}


def shared_parts(cores: dict) -> dict:
    return {part: value for part, value in cores.items() if part in SHARED_PARTS}


def cpu_us_per_item(before: dict, after: dict, items: int) -> dict:
    """Microseconds of CPU each part used per item over a phase (parts that used none left out)."""
    return {part: round((after[part] - before.get(part, 0.0)) / max(1, items) * 1e6, 1) for part in after
            if after[part] - before.get(part, 0.0) > 0}


def cpu_share(before: dict, after: dict, seconds: float) -> dict:
    """Cores used by each part over a phase (1.0 = one core busy all along)."""
    return {name: round((after[name] - before.get(name, 0.0)) / seconds, 2) for name in after
            if after[name] - before.get(name, 0.0) > 0.01 * seconds}


def machine_cpu() -> tuple[int, int]:
    """(all ticks, ticks stolen) of the machine's cores so far, from /proc/stat's first line."""
    ticks = [int(field) for field in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(ticks), ticks[7]   # user nice system idle iowait irq softirq steal


def stolen_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of the cores' time that the hypervisor gave to other machines over a phase.
    Runs of the same code differed by half on this kind of machine: steal is the reason a
    reader can see (vmstat's st column read 40-68% in a slow stretch, 0-5% in a quiet one)."""
    total = after[0] - before[0]
    return round((after[1] - before[1]) / total, 3) if total > 0 else 0.0


def contention() -> dict:
    return {"loadavg_1m": round(os.getloadavg()[0], 2), "other_nameko_processes": other_services_running()}


def python_speed() -> float:
    """Seconds for ten million additions in a CPython loop: how fast this machine's cores are today,
    to compare runs made on different machines (or on the same one under other loads)."""
    began, total = time.perf_counter(), 0
    for number in range(10_000_000):
        total += number
    return round(time.perf_counter() - began, 2)


def machine_facts() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    with psycopg2.connect(bench_db_uri()) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version'), current_setting('shared_buffers')")
        pg_version, shared_buffers = cursor.fetchone()
    return {"nproc": os.cpu_count(), "memory_mb": memory_kb // 1024, "cpu_model": cpu,
            "python_loop_10m_s": python_speed(),
            "python": platform.python_version(), "postgresql": pg_version,
            "postgresql_shared_buffers": shared_buffers}


# -- the services ----------------------------------------------------------------------------------

class Services(ServiceProcesses):
    """One `python -m nameko run` process per service, as make run starts them, logs in build/bench-logs."""

    def __init__(self, env: dict):
        super().__init__(env, LOG_DIR)
        # no API tokens: stage stays open, the bench measures the pipeline, not its callers' secrets
        for secret in ("API_TOKENS", "API_TOKENS_FILE"):
            self.env.pop(secret, None)

    def check_alive(self) -> None:
        if self.exited():
            raise RuntimeError(f"service process(es) exited: {self.exited()}; see {LOG_DIR}")

    def peak_rss_mb(self, keys) -> dict:
        """The high-water mark of each process's resident memory so far (VmHWM), in MB."""
        peaks = {}
        for name, process in self.processes.items():
            if name not in keys:
                continue
            status = Path(f"/proc/{process.pid}/status").read_text()
            peaks[name] = round(int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024, 1)
        return peaks


# -- track terms -----------------------------------------------------------------------------------

def choose_track_terms(seed: int, sample: int = 5_000) -> tuple[list[str], float]:
    """50 phrases matching about half of the tweets: the rarest single words while the union stays
    under half, the remaining slots filled with two-word phrases of rare words (which add little)."""
    source = SyntheticSource(seed=seed, rate=0)
    parsed = parse_documents([source.item(position) for position in range(sample)])
    tokens = [tokens_of(tweet) for tweet in parsed.tweets]
    frequency = {word: sum(word in t for t in tokens) for word in set(WORDS)}
    rarest = sorted(frequency, key=lambda word: (frequency[word], word))
    covered: set[int] = set()
    terms: list[str] = []
    for word in rarest:
        hits = {i for i, t in enumerate(tokens) if word in t}
        if len(terms) < TRACK_TERMS and len(covered | hits) <= TARGET_MATCH_RATIO * len(tokens):
            terms.append(word)
            covered |= hits
    unused = [word for word in rarest if word not in terms]
    pairs = (f"{a} {b}" for i, a in enumerate(unused) for b in unused[i + 1:])
    while len(terms) < TRACK_TERMS:
        terms.append(next(pairs))
    matcher = TrackMatcher(terms)
    ratio = sum(matcher.matches(t) for t in parsed.tweets) / len(parsed.tweets)
    return terms, ratio


# -- 1, 2: ingest through the running system --------------------------------------------------------

def ledger_problems(expected: int, ledger: dict, tweets_in_table: int) -> list[str]:
    """What a run's ledger and rows say it did not do: store what it was sent, each tweet once.
    ``ledger`` holds the run's sums (received, matched, bad, stored, items: sum of end - start) and
    its failed batches and items."""
    problems = []
    if ledger["received"] != expected:
        problems.append(f"received {ledger['received']:,} of {expected:,} tweets")
    if ledger["items"] != expected:
        problems.append(f"the ledger's batches cover {ledger['items']:,} of {expected:,} positions")
    if ledger["bad"]:
        problems.append(f"{ledger['bad']:,} bad items")
    if ledger["failed_batches"]:
        problems.append(f"{ledger['failed_batches']:,} failed batches ({ledger['failed_items']:,} items)")
    if not tweets_in_table == ledger["matched"] == ledger["stored"]:
        problems.append(f"matched {ledger['matched']:,}, stored {ledger['stored']:,}, "
                        f"{tweets_in_table:,} rows of the run in tweets")
    return problems


def rollup_problems(differing_rollup_rows: dict[str, int]) -> list[str]:
    return [f"{table}: {rows:,} rows differ from the GROUP BY over the stored rows"
            for table, rows in differing_rollup_rows.items() if rows]


def verification(expected: int, ledger: dict, tweets_in_table: int, differing_rollup_rows: dict[str, int]) -> dict:
    """Whether a run stored what it was sent, each tweet once (ledger_problems), and left every
    rollup equal to its GROUP BY."""
    problems = ledger_problems(expected, ledger, tweets_in_table) + rollup_problems(differing_rollup_rows)
    return {"verified": not problems, "problems": problems}


LEDGER_KEYS = ("received", "matched", "bad", "stored", "items", "failed_batches", "failed_items")


def combined_ledger(ledgers) -> dict:
    """The sums of several runs' ledgers."""
    ledgers = list(ledgers)
    return {key: sum(ledger[key] for ledger in ledgers) for key in LEDGER_KEYS}


def runs_verification(expected: dict[int, int], ledgers: dict[int, dict], tweets_in_table: dict[int, int],
                      differing_rollup_rows: dict[str, int]) -> dict:
    """``verification`` of runs streamed side by side: each run's ledger and rows on their own (its
    problems named by its id), the runs' totals together, and every rollup once (a rollup holds
    every run's rows)."""
    problems = []
    for run_id, count in expected.items():
        problems += [f"run {run_id}: {problem}"
                     for problem in ledger_problems(count, ledgers[run_id], tweets_in_table[run_id])]
    problems += [f"the runs together: {problem}" for problem in ledger_problems(
        sum(expected.values()), combined_ledger(ledgers[run_id] for run_id in expected),
        sum(tweets_in_table[run_id] for run_id in expected))]
    problems += rollup_problems(differing_rollup_rows)
    return {"verified": not problems, "problems": problems}


def settled(status: str, position: int, committed_items: int, failed_items: int) -> bool:
    """A run is over when the launcher has stopped it and every item it dispatched is committed or kept
    as failed (as the statistics service's "draining" says)."""
    return status != "active" and committed_items + failed_items >= position


def all_settled(states: list[tuple], run_ids: list[int]) -> bool:
    """Every one of ``run_ids`` is over (``settled``), from one poll's rows (run_id, status, position,
    committed items, failed items); a run the poll did not return is not."""
    over = {run_id: settled(status, int(position), int(committed), int(failed))
            for run_id, status, position, committed, failed in states}
    return bool(run_ids) and all(over.get(run_id, False) for run_id in run_ids)


def completion_window(launched_at: float, last_unseen_poll_began: float, seen_poll_ended: float) -> dict:
    """The ingest's clock. The last commit was not yet visible to the poll that began at
    ``last_unseen_poll_began`` (its snapshot was taken after it began), and was to the one that ended at
    ``seen_poll_ended``: it happened in between. ``seconds`` is the window's upper end (its rate a lower
    bound), ``seconds_at_least`` the lower end, ``seconds_error`` their difference."""
    return {"seconds": round(seen_poll_ended - launched_at, 3),
            "seconds_at_least": round(last_unseen_poll_began - launched_at, 3),
            "seconds_error": round(seen_poll_ended - last_unseen_poll_began, 3)}


def concurrent_window(sent: list[float], last_unseen_poll_began: float, seen_poll_ended: float) -> dict:
    """The clock over runs launched at once: completion_window from the first launch request sent
    (``sent``: the moment each was sent) to the poll that saw every run's last commit (the last
    poll that did not see them all began at ``last_unseen_poll_began``)."""
    return completion_window(min(sent), last_unseen_poll_began, seen_poll_ended)


def split_evenly(total: int, parts: int) -> list[int]:
    """``total`` (tweets, requests) in ``parts`` parts of (nearly) equal size: the first ones take the remainder."""
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


def ingest_ratio(concurrent: float | None, single: float | None) -> float | None:
    """Tweets/s of the runs at once over tweets/s of the one run; none when either has no figure."""
    if concurrent is None or not single:
        return None
    return round(concurrent / single, 3)


RUNS_STATE_SQL = (
    "SELECT r.id, r.status, r.position, coalesce((SELECT items FROM run_totals WHERE run_id = r.id), 0),"
    "       coalesce((SELECT sum(end_pos - start_pos) FROM failed_batches WHERE run_id = r.id), 0)"
    "  FROM runs r WHERE r.id = ANY(%s)")


def launch_body(track: list[str], count: int, seed: int, batch_size: int) -> dict:
    return {"track": track, "source": "synthetic", "rate": 0, "limit": count, "seed": seed, "batch_size": batch_size}


def stop_runs(base_url: str, run_ids: list[int], label: str) -> dict[int, str]:
    """POST /stop {"run_id": n} for each run the bench launched, when a phase fails before they are
    over: what each answer said (409: it had ended already)."""
    outcome = {}
    for run_id in run_ids:
        try:
            answer = requests.post(base_url + "/stop", json={"run_id": run_id}, timeout=120)
        except requests.RequestException as error:
            outcome[run_id] = f"not stopped: {error}"
            continue
        outcome[run_id] = {200: "stopped", 409: "had ended"}.get(answer.status_code,
                                                                 f"not stopped: HTTP {answer.status_code}")
    say(f"{label}: failed; the runs it launched: {outcome}")
    return outcome


def launch_runs(base_url: str, bodies: list[dict], label: str) -> tuple[list[float], list[int]]:
    """POST /launch of every body at once, a thread each: (the moment each request was sent, the run
    ids), in the order of ``bodies``. When a launch fails, the runs the others launched are stopped."""
    def send(body: dict) -> tuple[float, int]:
        sent = time.monotonic()
        answer = requests.post(base_url + "/launch", json=body, timeout=60)
        answer.raise_for_status()
        return sent, answer.json()["run_id"]

    with ThreadPoolExecutor(len(bodies)) as pool:
        futures = [pool.submit(send, body) for body in bodies]
        outcomes, errors = [], []
        for future in futures:
            try:
                outcomes.append(future.result())
            except Exception as error:  # noqa: BLE001 - raised below, once the others are stopped
                errors.append(error)
    if errors:
        stop_runs(base_url, [run_id for _sent, run_id in outcomes], label)
        raise errors[0]
    return [sent for sent, _ in outcomes], [run_id for _, run_id in outcomes]


def stream_runs(services: Services, cpu: CpuAccount, db_uri: str, bodies: list[dict], label: str) -> dict:
    """Launch the runs of ``bodies`` at once and poll their state in the database every POLL_SECONDS
    (one statement, one snapshot, for all of them) until every one is over: the clock
    (concurrent_window), the run ids, and the CPU readings around it. The runs launched are stopped
    when anything fails before they are all over."""
    count = sum(body["limit"] for body in bodies)
    poller = psycopg2.connect(db_uri)
    poller.autocommit = True   # each poll a statement, and a snapshot, of its own
    poller_pid, run_ids = None, []
    try:
        with poller.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            poller_pid = cursor.fetchone()[0]
            cpu.ignore(poller_pid)
            cpu_before, machine_before = cpu.totals(), machine_cpu()
            sent, run_ids = launch_runs(services.base_url, bodies, label)
            first = min(sent)
            say(f"{label}: run(s) {', '.join(map(str, run_ids))} launched: "
                + ", ".join(f"{body['limit']:,} tweets (seed {body['seed']})" for body in bodies)
                + f", batch_size {bodies[0]['batch_size']}")
            last_report, last_unseen = first, first
            deadline = first + max(600, count / 100)
            while True:
                began = time.monotonic()
                cursor.execute(RUNS_STATE_SQL, (run_ids,))
                states = cursor.fetchall()
                ended = time.monotonic()
                if all_settled(states, run_ids):
                    break
                last_unseen = began
                services.check_alive()
                committed = sum(int(state[3]) for state in states)
                if ended > deadline:
                    raise TimeoutError(f"{label}: not over in time: {committed:,} of {count:,} committed; "
                                       f"{[state[:2] for state in states]}")
                if ended - last_report >= 5:
                    say(f"{label}: {committed:,} / {count:,} committed "
                        f"({committed / (ended - first):,.0f} tweets/s so far)")
                    last_report = ended
                time.sleep(POLL_SECONDS)
            cpu_after, machine_after = cpu.totals(), machine_cpu()
    except BaseException:
        if run_ids:
            stop_runs(services.base_url, run_ids, label)
        raise
    finally:
        poller.close()
        if poller_pid is not None:
            cpu.unignore(poller_pid)
    return {"run_ids": run_ids, "sent": sent, "window": concurrent_window(sent, last_unseen, ended),
            "cpu_before": cpu_before, "cpu_after": cpu_after, "stolen": stolen_share(machine_before, machine_after)}


def read_ledgers(db_uri: str, run_ids: list[int]) -> tuple[dict[int, dict], dict[str, int]]:
    """Each run's ledger (its sums, failed batches, rows in tweets, status, ledger_seconds, batches),
    and the rows in which each rollup differs from its GROUP BY."""
    found = {}
    with psycopg2.connect(db_uri) as connection, connection.cursor() as cursor:
        for run_id in run_ids:
            cursor.execute(
                "SELECT extract(epoch FROM max(b.processed_at) - r.started_at), coalesce(sum(b.received), 0),"
                "       coalesce(sum(b.matched), 0), coalesce(sum(b.bad), 0), coalesce(sum(b.stored), 0),"
                "       coalesce(sum(b.end_pos - b.start_pos), 0), count(b.run_id), r.status"
                "  FROM runs r LEFT JOIN run_batches b ON b.run_id = r.id WHERE r.id = %s GROUP BY r.id", (run_id,))
            ledger_seconds, received, matched, bad, stored, items, batches, status = cursor.fetchone()
            cursor.execute("SELECT count(*), coalesce(sum(end_pos - start_pos), 0) FROM failed_batches"
                           " WHERE run_id = %s", (run_id,))
            failed_batches, failed_items = cursor.fetchone()
            cursor.execute("SELECT count(*) FROM tweets WHERE first_run_id = %s", (run_id,))
            in_table = cursor.fetchone()[0]
            found[run_id] = {
                "ledger": {"received": int(received), "matched": int(matched), "bad": int(bad),
                           "stored": int(stored), "items": int(items), "failed_batches": int(failed_batches),
                           "failed_items": int(failed_items)},
                "tweets_in_table": in_table, "batches": batches, "status": status,
                "ledger_seconds": round(float(ledger_seconds), 2) if ledger_seconds is not None else None}
        differing = rollup_differences(cursor)
    return found, differing


def timing_figures(received: int, window: dict) -> dict:
    seconds = window["seconds"]
    return {**window, "poll_seconds": POLL_SECONDS, "tweets_per_s": round(received / seconds, 1),
            "tweets_per_s_at_most": round(received / window["seconds_at_least"], 1)
            if window["seconds_at_least"] > 0 else None}


def cpu_figures(streamed: dict, received: int) -> dict:
    cores = cpu_share(streamed["cpu_before"], streamed["cpu_after"], streamed["window"]["seconds"])
    cpu_us = cpu_us_per_item(streamed["cpu_before"], streamed["cpu_after"], received)  # per tweet received
    return {"cores_used": own_parts(cores), "shared_cores_used": shared_parts(cores), "cpu_stolen": streamed["stolen"],
            # where the time goes, whatever the overlap of the parts (it still moves with the machine's speed)
            "cpu_us_per_tweet": own_parts(cpu_us), "shared_cpu_us_per_tweet": shared_parts(cpu_us)}


def ingest(services: Services, cpu: CpuAccount, db_uri: str, track: list[str], count: int, seed: int,
           batch_size: int, label: str) -> dict:
    streamed = stream_runs(services, cpu, db_uri, [launch_body(track, count, seed, batch_size)], label)
    (run_id,) = streamed["run_ids"]
    ledgers, differing = read_ledgers(db_uri, [run_id])
    run = ledgers[run_id]
    ledger, in_table = run["ledger"], run["tweets_in_table"]
    checked = verification(count, ledger, in_table, differing)
    received = ledger["received"]
    result = {
        "run_id": run_id, "status": run["status"], "tweets": count, **ledger, "tweets_in_table": in_table,
        "batches": run["batches"], **timing_figures(received, streamed["window"]),
        "ledger_seconds": run["ledger_seconds"],
        "match_ratio": round(ledger["matched"] / max(1, received), 4),
        **checked, "rollup_rows_differing": differing, **cpu_figures(streamed, received),
    }
    say(f"{label}: {received:,} received, {ledger['matched']:,} matched, {in_table:,} in the tweets table, "
        f"{result['tweets_per_s']:,.0f} tweets/s over {result['seconds']} s (launch sent to the last commit seen, "
        f"the commit within the last {result['seconds_error']} s); verified: {result['verified']}"
        + (f" ({'; '.join(checked['problems'])})" if checked["problems"] else ""))
    say(f"{label}: cores used, from launch to the last commit: {result['cores_used']}; "
        f"{result['cpu_stolen']:.0%} of the machine's CPU time stolen by the hypervisor")
    return result


def ingest_concurrent(services: Services, cpu: CpuAccount, db_uri: str, track: list[str], total: int,
                      seeds: tuple[int, ...], label: str) -> dict:
    """``total`` tweets in len(``seeds``) runs launched at once (one seed each, the same track, rate 0,
    the launcher's default batches): tweets/s over all of them from the first launch request sent to
    the last commit of the last run, verified run by run, together and rollup by rollup."""
    counts = split_evenly(total, len(seeds))
    bodies = [launch_body(track, count, seed, BATCH_SIZE) for count, seed in zip(counts, seeds, strict=True)]
    streamed = stream_runs(services, cpu, db_uri, bodies, label)
    run_ids = streamed["run_ids"]
    ledgers, differing = read_ledgers(db_uri, run_ids)
    expected = dict(zip(run_ids, counts, strict=True))
    checked = runs_verification(expected, {run_id: ledgers[run_id]["ledger"] for run_id in run_ids},
                                {run_id: ledgers[run_id]["tweets_in_table"] for run_id in run_ids}, differing)
    together = combined_ledger(ledgers[run_id]["ledger"] for run_id in run_ids)
    received = together["received"]
    result = {
        "run_ids": run_ids, "tweets": total,
        "runs": {str(run_id): {"seed": body["seed"], "tweets": count, "status": ledgers[run_id]["status"],
                               **ledgers[run_id]["ledger"], "tweets_in_table": ledgers[run_id]["tweets_in_table"],
                               "batches": ledgers[run_id]["batches"], "ledger_seconds": ledgers[run_id]["ledger_seconds"],
                               "launch_sent_after_s": round(sent - min(streamed["sent"]), 3),
                               "problems": ledger_problems(count, ledgers[run_id]["ledger"],
                                                           ledgers[run_id]["tweets_in_table"])}
                 for run_id, body, count, sent in zip(run_ids, bodies, counts, streamed["sent"], strict=True)},
        **together, "tweets_in_table": sum(ledgers[run_id]["tweets_in_table"] for run_id in run_ids),
        **timing_figures(received, streamed["window"]),
        "match_ratio": round(together["matched"] / max(1, received), 4),
        **checked, "rollup_rows_differing": differing, **cpu_figures(streamed, received),
    }
    say(f"{label}: {received:,} received in {len(run_ids)} runs, {together['matched']:,} matched, "
        f"{result['tweets_per_s']:,.0f} tweets/s over {result['seconds']} s (the first launch sent to the last "
        f"run's last commit seen, within the last {result['seconds_error']} s); verified: {result['verified']}"
        + (f" ({'; '.join(checked['problems'])})" if checked["problems"] else ""))
    say(f"{label}: cores used: {result['cores_used']}; {result['cpu_stolen']:.0%} stolen by the hypervisor")
    return result


# -- 3: the limits of the parts ----------------------------------------------------------------------

def limit_orjson_loads(items: list[bytes]) -> dict:
    """orjson.loads of each item: a JSON decoder's speed on these payloads, not the filter's parser."""
    began = time.perf_counter()
    for item in items:
        orjson.loads(item)
    parse_seconds = time.perf_counter() - began
    return {"tweets_per_s": round(len(items) / parse_seconds, 1)}


def limit_filter_prepare(items: list[bytes], track: list[str]) -> tuple[dict, list[PreparedBatch]]:
    """What one filter worker spends per tweet before the database, on one core: the filter's own
    parse and match (pipeline.prepare) of the same batches. Returns the prepared batches too."""
    began = time.perf_counter()
    prepared = [prepare({"run_id": 0, "start": start, "end": start + len(items[start:start + BATCH_SIZE]),
                         "track": track, "items": items[start:start + BATCH_SIZE]})
                for start in range(0, len(items), BATCH_SIZE)]
    seconds = time.perf_counter() - began
    return {"tweets_per_s": round(len(items) / seconds, 1), "batches": len(prepared)}, prepared


def store_groups(batches: list, max_tweets: int = MAX_GROUP_TWEETS) -> list[list]:
    """The batches in the groups the filter's group committer forms when it finds them all waiting:
    a batch is added while the group holds fewer than ``max_tweets`` matched tweets."""
    groups: list[list] = []
    size = max_tweets
    for batch in batches:
        if size >= max_tweets:
            groups.append([])
            size = 0
        groups[-1].append(batch)
        size += len(batch.matched)
    return groups


def limit_store(db_uri: str, prepared: list[PreparedBatch], track: list[str]) -> dict:
    """The filter's write path (pipeline.commit_batches: ledger, store_tweets with tags, authors, places
    and rollups) over prepared batches given fresh tweet ids, in a run of its own, groups as the group
    committer forms them at most, on one connection in sequence. Reports a figure only when every
    tweet was stored."""
    # make_engine lets psycopg2 wait through eventlet's hub, as in the filter, for the whole process:
    # the bench's own COPYs (limit_copy_tweets_only, the bulk load) cannot run that way, so it is undone
    wait_callback = psycopg2.extensions.get_wait_callback()
    engine = make_engine(db_uri, pool_size=1)
    try:
        with engine.begin() as conn:
            run_id = conn.execute(text(
                "INSERT INTO runs (track, source, status, position, stopped_at)"
                " VALUES (CAST(:track AS jsonb), 'bench-limit', 'finished', :position, now()) RETURNING id"),
                {"track": orjson.dumps(track).decode(), "position": prepared[-1].end if prepared else 0}).scalar_one()
        fresh, next_id = [], STORE_ID_BASE
        for batch in prepared:
            matched = [replace(tweet, id=next_id + n) for n, tweet in enumerate(batch.matched)]
            next_id += len(matched)
            fresh.append(replace(batch, run_id=run_id, matched=matched))
        groups = store_groups(fresh)
        began = time.perf_counter()
        stored = sum(n or 0 for group in groups for n in commit_batches(engine, group))
        seconds = time.perf_counter() - began
    finally:
        engine.dispose()
        psycopg2.extensions.set_wait_callback(wait_callback)
    received = sum(b.counts.received for b in fresh)
    matched = sum(len(b.matched) for b in fresh)
    complete = stored == matched
    return {"completed": complete, "problems": [] if complete else [f"stored {stored:,} of {matched:,} tweets"],
            "tweets_per_s": round(received / seconds, 1) if complete else None,
            "stored_tweets_per_s": round(matched / seconds, 1) if complete else None,
            "tweets": received, "stored": stored, "transactions": len(groups), "run_id": run_id}


def broker_outcome(published_batches: int, published_items: int, consumed_batches: int, consumed_items: int, *,
                   consumer_ready: bool, consumer_done: bool, failure: BaseException | None,
                   seconds: float, publish_seconds: float | None) -> dict:
    """The broker limit's figures, or none when it did not complete: the consumer was not ready,
    did not finish in time, failed, or did not get every batch and item that was published."""
    problems = []
    if not consumer_ready:
        problems.append("the consumer was not ready within 30 s")
    if failure is not None:
        problems.append(f"failed: {failure!r}")
    if consumer_ready and not consumer_done:
        problems.append("the consumer had not finished within 600 s")
    if (consumed_batches, consumed_items) != (published_batches, published_items):
        problems.append(f"consumed {consumed_batches:,} of {published_batches:,} batches "
                        f"({consumed_items:,} of {published_items:,} items)")
    complete = not problems
    return {"completed": complete, "problems": problems, "batches": published_batches,
            "consumed_batches": consumed_batches, "consumed_items": consumed_items,
            "tweets_per_s": round(consumed_items / seconds, 1) if complete else None,
            "publish_only_tweets_per_s": round(published_items / publish_seconds, 1) if complete else None}


def limit_broker(amqp_uri: str, items: list[bytes], track: list[str]) -> dict:
    """Publish the batches as the launcher does (the same encoding and compression, persistent,
    confirmed) and consume and decode them concurrently (prefetch as nameko's default max_workers); tweets/s
    from the first publish to the last ack."""
    exchange = Exchange("bench.events", type="topic", durable=True)
    queue = Queue("bench-tweet-batches", exchange=exchange, routing_key="tweet_batch", durable=True)
    compression = batch_compression(os.environ)   # as config.yml gives it to the launcher
    slices = [items[s:s + BATCH_SIZE] for s in range(0, len(items), BATCH_SIZE)]
    bodies = [wire.dumps({"run_id": 0, "start": n * BATCH_SIZE, "end": n * BATCH_SIZE + len(part),
                          "source": "synthetic", "track": track, "items": wire.RawLines(part)})
              for n, part in enumerate(slices)]
    consumed = {"items": 0, "batches": 0}
    ready, done = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def consume():
        try:
            with Connection(amqp_uri) as connection:
                def on_message(message):
                    consumed["items"] += len(wire.loads(message.body)["items"])
                    consumed["batches"] += 1
                    message.ack()
                with connection.Consumer(queue, on_message=on_message, prefetch_count=10):
                    ready.set()
                    while consumed["batches"] < len(bodies):
                        connection.drain_events(timeout=60)
        except BaseException as error:  # noqa: BLE001 - reported by the publishing thread
            failure.append(error)
        finally:
            done.set()

    published = {"batches": 0, "items": 0}
    publish_seconds = None
    consumer_ready = consumer_done = False
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as connection:
        queue(connection.default_channel).declare()
        consumer = threading.Thread(target=consume, daemon=True)
        consumer.start()
        consumer_ready = ready.wait(30) and not failure
        began = time.perf_counter()
        if consumer_ready:
            producer = connection.Producer(exchange=exchange)
            try:
                for body, part in zip(bodies, slices, strict=True):
                    producer.publish(body, routing_key="tweet_batch", delivery_mode=2, compression=compression,
                                     content_type="application/x-tweetstream", content_encoding="binary")
                    published["batches"] += 1
                    published["items"] += len(part)
                publish_seconds = time.perf_counter() - began
            except Exception as error:  # noqa: BLE001 - the limit reports it and gives no figure; the bench goes on
                failure.append(error)
            consumer_done = done.wait(600)
        seconds = time.perf_counter() - began
        queue(connection.default_channel).delete()
        exchange(connection.default_channel).delete()
    return broker_outcome(len(bodies), len(items), consumed["batches"], consumed["items"],
                          consumer_ready=consumer_ready, consumer_done=consumer_done,
                          failure=failure[0] if failure else None, seconds=seconds, publish_seconds=publish_seconds)


def limit_copy_tweets_only(db_uri: str, items: list[bytes]) -> dict:
    """COPY the tweets rows the filter would build from these items (fresh ids), then remove them: the
    tweets table alone, without tags, users, places, rollups or the ledger."""
    parsed = parse_documents(items)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for index, tweet in enumerate(parsed.tweets):
        place = parsed.places.get(tweet.place_id) if tweet.place_id else None
        writer.writerow((COPY_ID_BASE + index, tweet.author_id, tweet.text, tweet.created_at.isoformat(),
                         tweet.lang, tweet.place_id, place.country_code if place else None,
                         orjson.dumps(list(tweet.hashtags)).decode(), None))
    with psycopg2.connect(db_uri) as connection, connection.cursor() as cursor:
        buffer.seek(0)
        began = time.perf_counter()
        cursor.copy_expert(
            "COPY tweets (id, author_id, text, created_at, lang, place_id, country_code, hashtags, first_run_id)"
            " FROM STDIN WITH (FORMAT csv)", buffer)
        connection.commit()
        seconds = time.perf_counter() - began
        cursor.execute("DELETE FROM tweets WHERE id >= %s", (COPY_ID_BASE,))
        connection.commit()
    return {"rows_per_s": round(len(parsed.tweets) / seconds, 1), "rows": len(parsed.tweets)}


# the limits the pipeline's parts set: the slowest is the ceiling ingest is compared with
PIPELINE_LIMITS = ("filter_prepare", "store", "broker")


def slowest_limit(limits: dict) -> tuple[str | None, float | None]:
    """(name, tweets/s) of the slowest of PIPELINE_LIMITS; (None, None) when one of them has no figure
    (it did not complete): the slowest is then unknown."""
    figures = {name: limits[name]["tweets_per_s"] for name in PIPELINE_LIMITS}
    if any(value is None for value in figures.values()):
        return None, None
    name = min(figures, key=figures.get)
    return name, figures[name]


# -- 4: views ----------------------------------------------------------------------------------------

def view_calls(parameters: dict) -> dict:
    """What each measured view runs, called as its service calls it: the EXPLAIN of a slow view is
    of the statements the view really sends, and its SQL stays in one place."""
    now = datetime.now(timezone.utc)
    top = validate(TopHashtagsRequest, {})
    wanted = validate(UserTweetsRequest, {"username": parameters["username"]})
    return {
        "/statistics": runs.overall_figures,
        "/statistics/runs": lambda conn: runs.list_run_figures(conn, limit=validate(RunsQuery, {}).limit),
        "/api/v1/users": views.top_users,
        "/api/v1/hour": views.tweets_per_hour,
        "/api/v1/hour?by=hour_of_day": views.tweets_per_hour_of_day,
        "/api/v1/tags": lambda conn: views.tag_counts(conn, validate(TagsQuery, {}).limit),
        "/api/v1/hashtags/top": lambda conn: analytics.top_hashtags(conn, *top.minute_range(now), top.limit),
        "/api/v1/aggregates": lambda conn: analytics.minute_aggregates(conn, parameters["first"], parameters["last"]),
        "/api/v1/users/<username>/tweets": lambda conn: analytics.user_tweets(conn, wanted.username, wanted.limit),
    }


def busiest_author(db_uri: str) -> tuple[int, str, int]:
    with psycopg2.connect(db_uri) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT t.author_id, u.username, t.n FROM (SELECT author_id, count(*) AS n FROM tweets"
                       " GROUP BY author_id ORDER BY n DESC LIMIT 1) t JOIN users u ON u.id = t.author_id")
        return cursor.fetchone()


def view_urls(db_uri: str) -> tuple[dict, dict]:
    author_id, username, tweets = busiest_author(db_uri)
    # a closed hour an hour ago: 60 minutes of minute_counts
    last = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(hours=1)
    first = last - timedelta(hours=1)
    window = f"from={first.strftime('%Y-%m-%dT%H:%M:%SZ')}&to={last.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    urls = {
        "/statistics": "/statistics",
        "/statistics/runs": "/statistics/runs",
        "/api/v1/users": "/api/v1/users",
        "/api/v1/hour": "/api/v1/hour",
        "/api/v1/hour?by=hour_of_day": "/api/v1/hour?by=hour_of_day",
        "/api/v1/tags": "/api/v1/tags",
        "/api/v1/hashtags/top": "/api/v1/hashtags/top",
        "/api/v1/aggregates": f"/api/v1/aggregates?{window}",
        "/api/v1/users/<username>/tweets": f"/api/v1/users/{username}/tweets",
    }
    parameters = {"first": first, "last": last - timedelta(minutes=1), "username": username, "author": author_id,
                  "author_tweets": tweets}
    return urls, parameters


def percentile(sorted_values: list[float], share: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(share * len(sorted_values)) - 1))
    return sorted_values[index]


def view_figures(samples: list[tuple[float, bool]]) -> dict:
    """A view's latency from (milliseconds, answered 200) samples: percentiles and mean over the
    successful requests only (a fast error must not pass for a fast view), failures counted apart;
    no percentile at all when none succeeded."""
    timings = sorted(ms for ms, ok in samples if ok)
    figures = {"requests": len(samples), "failures": len(samples) - len(timings), "successful": len(timings),
               "p50_ms": None, "p95_ms": None, "p99_ms": None, "mean_ms": None}
    if timings:
        figures.update(p50_ms=round(percentile(timings, 0.50), 2), p95_ms=round(percentile(timings, 0.95), 2),
                       p99_ms=round(percentile(timings, 0.99), 2), mean_ms=round(statistics.mean(timings), 2))
    return figures


def timed_get(session: requests.Session, url: str) -> tuple[float, bool, int]:
    """(milliseconds, answered 200, body bytes) of one request; a request that raised is a failure."""
    began = time.perf_counter()
    try:
        answer = session.get(url, timeout=60)
    except requests.RequestException:
        return (time.perf_counter() - began) * 1000, False, 0
    return (time.perf_counter() - began) * 1000, answer.status_code == 200, len(answer.content)


def measure_views(targets: dict, count: int) -> dict:
    """``count`` sequential requests to each view's URL (``targets``: view -> URL), after ten to warm up."""
    session = requests.Session()
    results = {}
    for view, url in targets.items():
        for _ in range(10):  # warm the connection pools and caches first
            timed_get(session, url)
        samples, size = [], 0
        for _ in range(count):
            ms, ok, size = timed_get(session, url)
            samples.append((ms, ok))
        results[view] = {"url": urlparse(url).path + (f"?{urlparse(url).query}" if urlparse(url).query else ""),
                         **view_figures(samples), "bytes": size}
        figures = results[view]
        say(f"view {view}: p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, p99 {figures['p99_ms']} ms "
            f"over {figures['successful']} successful requests ({figures['failures']} failed)")
    return results


def explain_slow_views(db_uri: str, measured: dict, parameters: dict, budget_ms: float = 20) -> dict:
    """EXPLAIN ANALYZE of the statements of every view whose p95 was over the budget."""
    calls, plans = view_calls(parameters), {}
    engine = make_engine(db_uri, pool_size=1)
    try:
        with engine.connect() as conn:
            for view, figures in measured.items():
                # a view none of whose requests succeeded has no latency to explain: its failures show
                if figures["p95_ms"] is None or figures["p95_ms"] <= budget_ms or view not in calls:
                    continue
                sent: list[tuple[str, dict]] = []

                def record(_conn, _cursor, statement, statement_parameters, _context, _many, sent=sent):
                    sent.append((statement, statement_parameters))

                event.listen(conn, "before_cursor_execute", record)
                try:
                    calls[view](conn)
                finally:
                    event.remove(conn, "before_cursor_execute", record)
                texts = []
                for statement, statement_parameters in sent:
                    plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, statement_parameters)
                    lines = [statement, f"parameters: {statement_parameters}", *(row[0] for row in plan)]
                    texts.append("\n".join(lines))
                plans[view] = "\n\n".join(texts)
                conn.rollback()
    finally:
        engine.dispose()
    return plans


def wrk_figures(output: str) -> dict:
    """requests/s as wrk reports it (every answer, failed or not), and the failures: answers other
    than 2xx/3xx plus socket errors (connect, read, write, timeout)."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    requests_done = re.search(r"(\d+) requests in", output)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors:.*", output)
    non_2xx = int(errors.group(1)) if errors else 0
    socket_failures = sum(map(int, re.findall(r"\d+", socket_errors.group(0)))) if socket_errors else 0
    return {"rps": rps, "requests": int(requests_done.group(1)) if requests_done else None, "non_2xx": non_2xx,
            "socket_errors": socket_errors.group(0) if socket_errors else None, "failed": non_2xx + socket_failures}


def load_with_wrk(wrk: str, url: str) -> dict:
    return wrk_figures(subprocess.run([wrk, *WRK_ARGS, url], capture_output=True, text=True, check=True).stdout)


def load_with_threads(url: str) -> dict:
    """The fallback generator: 32 threads, keep-alive sessions, 10 s."""
    stop_at = time.monotonic() + LOAD_SECONDS
    local = threading.local()

    def hammer(_):
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        done = failed = 0
        while time.monotonic() < stop_at:
            try:
                failed += session.get(url, timeout=30).status_code != 200
            except requests.RequestException:
                failed += 1
            done += 1
        return done, failed

    began = time.monotonic()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        totals = list(pool.map(hammer, range(CONCURRENCY)))
    seconds = time.monotonic() - began
    failed = sum(f for _, f in totals)
    return {"rps": round(sum(d for d, _ in totals) / seconds, 1), "requests": sum(d for d, _ in totals),
            "non_2xx": failed, "socket_errors": None, "failed": failed}


def rpc_calls(metrics: str, service: str, entrypoint: str) -> int:
    """How many times a service's entrypoint ran, from its Prometheus text (EntrypointMetrics' count)."""
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("tweetstream_entrypoint_duration_seconds_count{") and \
                f'service="{service}"' in line and f'entrypoint="{entrypoint}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def statistics_rpc_calls(services: "Services") -> int | None:
    """get_statistics calls the statistics service has served so far; None when its metrics do not answer."""
    try:
        answer = requests.get(f"http://127.0.0.1:{services.metrics_ports['statistics']}/metrics", timeout=10)
    except requests.RequestException:
        return None
    return rpc_calls(answer.text, "statistics", "get_statistics") if answer.status_code == 200 else None


def wait_answering(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {timeout} s; see {LOG_DIR}")


# -- 4b: /statistics with many runs in the table ------------------------------------------------------

ADDED_RUNS_SOURCE = "bench-runs"
ADDED_RUN_ITEMS = 1_000

# finished runs of ADDED_RUNS_SOURCE, numbered first..last: run n started 2 days ago + n x 2 minutes
# and lasted 30 to 210 s (so some overlap the next and some do not, as the union has to merge), with
# one ledger row and its run_totals row each: every item received, none matched (no tweet rows),
# so the rollup check (run_totals = GROUP BY over run_batches) holds
ADD_FINISHED_RUNS_SQL = """
WITH added AS (
    INSERT INTO runs (track, source, options, status, started_at, stopped_at, position, batch_start)
    SELECT '["bench"]'::jsonb, %(source)s, '{}'::jsonb, 'finished', started,
           started + make_interval(secs => 30 + n %% 7 * 30), %(items)s, 0
      FROM (SELECT n, now() - interval '2 days' + n * interval '2 minutes' AS started
              FROM generate_series(%(first)s, %(last)s) AS n) AS numbered
    RETURNING id, stopped_at),
ledger AS (
    INSERT INTO run_batches (run_id, start_pos, end_pos, received, matched, bad, stored, processed_at)
    SELECT id, 0, %(items)s, %(items)s, 0, 0, 0, stopped_at FROM added
    RETURNING run_id)
INSERT INTO run_totals (run_id, items, received, matched, bad, stored)
SELECT run_id, %(items)s, %(items)s, 0, 0, 0 FROM ledger
"""


def runs_change(present: int, added: int, wanted: int) -> int:
    """How many runs to insert (> 0) or to delete (< 0) for the runs table to hold ``wanted``: only
    runs the bench added (``added`` of the ``present``) are deleted, so it may stay above."""
    return max(wanted - present, -added)


def set_runs(db_uri: str, wanted: int) -> int:
    """Finished runs of ADDED_RUNS_SOURCE (with their ledger and run_totals rows) inserted, or the last
    ones deleted, until the runs table holds ``wanted`` runs, then the three tables vacuumed and
    analyzed, as autovacuum would have after they changed: the runs in the table."""
    connection = psycopg2.connect(db_uri)
    connection.autocommit = True   # VACUUM runs outside a transaction
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*), count(*) FILTER (WHERE source = %s) FROM runs", (ADDED_RUNS_SOURCE,))
            present, added = cursor.fetchone()
            change = runs_change(present, added, wanted)
            if change > 0:   # one statement: the runs, their ledger rows and run_totals rows in one transaction
                cursor.execute(ADD_FINISHED_RUNS_SQL, {"source": ADDED_RUNS_SOURCE, "items": ADDED_RUN_ITEMS,
                                                       "first": added + 1, "last": added + change})
            elif change < 0:   # their ledger and run_totals rows go with them (ON DELETE CASCADE)
                cursor.execute("DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE source = %s"
                               " ORDER BY id DESC LIMIT %s)", (ADDED_RUNS_SOURCE, -change))
            if change:
                cursor.execute("VACUUM ANALYZE runs, run_batches, run_totals")
            cursor.execute("SELECT count(*) FROM runs")
            return cursor.fetchone()[0]
    finally:
        connection.close()


def statistics_with_runs(db_uri: str, url: str, count: int, rounds: int = STATISTICS_ROUNDS) -> dict:
    """The uncached /statistics (``url``: the gateway with STATISTICS_FRESH_FOR=0) with FEW_RUNS runs in
    the table and with MANY_RUNS, interleaved: in each of ``rounds`` rounds, FEW_RUNS then MANY_RUNS,
    ten requests to warm up and then a share of ``count`` sequential requests; the figures of each
    over all its rounds (view_figures), so a change of the machine's load during the phase falls on
    both alike."""
    session = requests.Session()
    samples: dict[int, list[tuple[float, bool]]] = {FEW_RUNS: [], MANY_RUNS: []}
    in_table: dict[int, set[int]] = {FEW_RUNS: set(), MANY_RUNS: set()}
    for share in split_evenly(count, rounds):
        for wanted in (FEW_RUNS, MANY_RUNS):
            in_table[wanted].add(set_runs(db_uri, wanted))
            for _ in range(10):
                timed_get(session, url)
            for _ in range(share):
                milliseconds, ok, _size = timed_get(session, url)
                samples[wanted].append((milliseconds, ok))
    results = {}
    for wanted in (FEW_RUNS, MANY_RUNS):
        figures = results[str(wanted)] = {"runs_in_table": max(in_table[wanted]), "rounds": rounds,
                                          **view_figures(samples[wanted])}
        say(f"/statistics ({UNCACHED}) with {figures['runs_in_table']:,} runs in the table: p50 {figures['p50_ms']} "
            f"ms, p95 {figures['p95_ms']} ms, p99 {figures['p99_ms']} ms over {figures['successful']} successful "
            f"requests in {rounds} rounds ({figures['failures']} failed)")
    return results


def runs_latency_held(few: dict, many: dict) -> bool:
    """The uncached /statistics p95 with MANY_RUNS runs is no worse than with FEW_RUNS, within the
    larger of RUNS_P95_FACTOR times it and it plus RUNS_P95_SLACK_MS; no request failed in either."""
    if few["failures"] or many["failures"] or few["p95_ms"] is None or many["p95_ms"] is None:
        return False
    return many["p95_ms"] <= max(RUNS_P95_FACTOR * few["p95_ms"], few["p95_ms"] + RUNS_P95_SLACK_MS)


# -- the report -------------------------------------------------------------------------------------

def rate(value: float | None, unit: str) -> str:
    return f"{value:,.0f} {unit}" if value is not None else "no figure"


def ratio(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "no figure"


def ms(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "-"


def by_size(figures: dict) -> str:
    return ", ".join(f"{part} {value}" for part, value in sorted(figures.items(), key=lambda kv: -kv[1]))


def table(report: dict) -> str:
    limits = report["limits"]
    ingest, concurrent = report["ingest"], report["ingest_concurrent"]
    rows = [
        (f"ingest (batches of {BATCH_SIZE})", rate(report["ingest_tweets_per_s"], "tweets/s"),
         f"{ingest['received']:,} tweets in {ingest['seconds']} s (launch sent to the last commit seen; the commit "
         f"within its last {ingest['seconds_error']} s), match ratio {report['match_ratio']:.3f}, "
         f"verified {ingest['verified']}" + (f": {'; '.join(ingest['problems'])}" if ingest["problems"] else "")),
        (f"ingest ({len(concurrent['run_ids'])} runs at once)", rate(report["ingest_concurrent_tweets_per_s"], "tweets/s"),
         f"{concurrent['received']:,} tweets in runs of "
         f"{', '.join(format(run['tweets'], ',') for run in concurrent['runs'].values())} in {concurrent['seconds']} s "
         f"(the first launch sent to the last run's last commit seen), verified {concurrent['verified']}"
         + (f": {'; '.join(concurrent['problems'])}" if concurrent["problems"] else "")),
        ("ingest: runs at once / one run", ratio(report["ingest_concurrent_ratio"]),
         f"the same {concurrent['tweets']:,} tweets in {len(concurrent['run_ids'])} runs against in one"),
        ("ingest (1 tweet/message)", rate(report["ingest_batch1_tweets_per_s"], "tweets/s"),
         f"{report['ingest_batch1']['received']:,} tweets, verified {report['ingest_batch1']['verified']}"
         + (f": {'; '.join(report['ingest_batch1']['problems'])}" if report["ingest_batch1"]["problems"] else "")),
        ("limit: filter parse+match", rate(report["limit_filter_prepare_tweets_per_s"], "tweets/s"),
         "pipeline.prepare, one core, no database"),
        ("limit: store (filter's write path)", rate(report["limit_store_tweets_per_s"], "tweets/s"),
         f"{rate(limits['store']['stored_tweets_per_s'], 'rows/s')} stored; transactions of up to "
         f"{MAX_GROUP_TWEETS:,} matched tweets: {limits['store']['transactions']}; one connection"
         + (f"; {'; '.join(limits['store']['problems'])}" if limits["store"]["problems"] else "")),
        ("limit: broker pub+consume", rate(report["limit_broker_tweets_per_s"], "tweets/s"),
         f"{limits['broker']['batches']} batches of {BATCH_SIZE}"
         + (f"; {'; '.join(limits['broker']['problems'])}" if limits["broker"]["problems"] else "")),
        ("slowest limit", rate(report["slowest_limit_tweets_per_s"], "tweets/s"),
         report["slowest_limit"] or "unknown: a limit did not complete"),
        ("(orjson.loads alone)", rate(report["limit_orjson_loads_tweets_per_s"], "tweets/s"), "not the filter's parser"),
        ("(COPY into tweets alone)", rate(report["limit_copy_tweets_only_rows_per_s"], "rows/s"),
         "no tags, users, rollups or ledger"),
        ("tweets loaded", f"{report['tweets_loaded']:,}", f"bulk {report['bulk']['seconds']} s; "
                                                           f"{report['tweets_in_database']:,} tweets in the db"),
    ]
    views = dict(report["views"], **{f"/statistics ({UNCACHED})": report["statistics_uncached_view"]})
    for view, figures in views.items():
        rows.append((f"view {view}", f"p95 {ms(figures['p95_ms'])} ms",
                     f"p50 {ms(figures['p50_ms'])}, p99 {ms(figures['p99_ms'])} ms over {figures['successful']} "
                     f"successful of {figures['requests']} req, {figures['failures']} failed"))
    for wanted, figures in report["statistics_many_runs"].items():
        rows.append((f"/statistics ({UNCACHED}), {int(wanted):,} runs", f"p95 {ms(figures['p95_ms'])} ms",
                     f"p50 {ms(figures['p50_ms'])}, p99 {ms(figures['p99_ms'])} ms over {figures['successful']} "
                     f"successful of {figures['requests']} req, {figures['failures']} failed; "
                     f"{figures['runs_in_table']:,} runs in the table; {figures['rounds']} rounds, "
                     f"alternating with {FEW_RUNS if int(wanted) == MANY_RUNS else MANY_RUNS:,} runs"))
    rows.append(("cores used during ingest", "", by_size(ingest["cores_used"])
                 + f" (shared: {by_size(ingest['shared_cores_used']) or 'none'})"))
    cpu = ingest["cpu_us_per_tweet"]
    rows.append(("CPU per tweet during ingest", f"{sum(cpu.values()):.0f} us",
                 by_size(cpu) + " (process CPU, us; shared: " + (by_size(ingest["shared_cpu_us_per_tweet"]) or "none") + ")"))
    rows.append(("filter CPU per tweet (ingest)", f"{report['filter_cpu_us_per_tweet']} us", "the filter process"))
    rows.append(("machine speed", f"{report['machine']['python_loop_10m_s']} s", "10M-step CPython loop"))
    rows.append(("CPU stolen by the hypervisor", f"{report['cpu_stolen']['ingest']:.0%}",
                 f"during ingest; runs at once {report['cpu_stolen']['ingest_concurrent']:.0%}, "
                 f"batch 1 {report['cpu_stolen']['ingest_batch1']:.0%}, views "
                 f"{report['cpu_stolen']['views']:.0%}, 32 conn {report['cpu_stolen']['throughput']:.0%}"))
    for target, label in (("statistics", "/statistics at 32 conn"), ("statistics_uncached", f"/statistics, {UNCACHED}"),
                          ("bare_http", "bare nameko @http at 32 conn")):
        figures = report["throughput"][target]
        calls = figures.get("rpc_calls")
        rows.append((label, f"{figures['rps']:,.0f} req/s", f"{figures['failed']} failed"
                     + (f", {calls:,} get_statistics RPCs" if calls is not None else "")
                     + (", answer shared for 0.25 s" if target == "statistics" else "")))
    rows.append(("cores used at 32 conn", "", "; ".join(
        f"{target}: {by_size(report['throughput'][target]['cores_used'])}"
        for target in ("statistics", "statistics_uncached", "bare_http"))))
    for service, mb in report["peak_rss_mb"].items():
        rows.append((f"peak RSS {service}", f"{mb:.0f} MB", "VmHWM at the end of the bench"))
    worst = max(report["contention"].values(), key=lambda c: c["other_nameko_processes"])
    rows.append(("other nameko processes", f"{worst['other_nameko_processes']}",
                 f"not the bench's (tests of others); load average up to "
                 f"{max(c['loadavg_1m'] for c in report['contention'].values())}"))
    for goal, met in report["goals"].items():
        rows.append((f"goal: {goal}", "MET" if met else "NOT MET", ""))
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    return "\n".join(f"{name:<{width}}  {value:>{value_width}}  {note}".rstrip() for name, value, note in rows)


def figures_of(report: dict) -> dict:
    """The top-level figures the table and the goals read, from the phases' results."""
    limits = report["limits"]
    slowest_name, slowest = slowest_limit(limits)
    return {
        "ingest_tweets_per_s": report["ingest"]["tweets_per_s"],
        "ingest_batch1_tweets_per_s": report["ingest_batch1"]["tweets_per_s"],
        "ingest_concurrent_tweets_per_s": report["ingest_concurrent"]["tweets_per_s"],
        "ingest_concurrent_ratio": ingest_ratio(report["ingest_concurrent"]["tweets_per_s"],
                                                report["ingest"]["tweets_per_s"]),
        "match_ratio": report["ingest"]["match_ratio"],
        "filter_cpu_us_per_tweet": report["ingest"]["cpu_us_per_tweet"].get("filter"),
        "filter_cpu_tweets_per_s": limits["filter_prepare"]["tweets_per_s"],
        "limit_filter_prepare_tweets_per_s": limits["filter_prepare"]["tweets_per_s"],
        "limit_store_tweets_per_s": limits["store"]["tweets_per_s"],
        "limit_broker_tweets_per_s": limits["broker"]["tweets_per_s"],
        "limit_orjson_loads_tweets_per_s": limits["orjson_loads"]["tweets_per_s"],
        "limit_copy_tweets_only_rows_per_s": limits["copy_tweets_only"]["rows_per_s"],
        "slowest_limit": slowest_name, "slowest_limit_tweets_per_s": slowest,
        "views_p50_ms": {view: f["p50_ms"] for view, f in report["views"].items()},
        "views_p95_ms": {view: f["p95_ms"] for view, f in report["views"].items()},
        "views_p99_ms": {view: f["p99_ms"] for view, f in report["views"].items()},
        "views_failures": {view: f["failures"] for view, f in report["views"].items()},
        "statistics_rps": report["throughput"]["statistics"]["rps"],
        "statistics_uncached_rps": report["throughput"]["statistics_uncached"]["rps"],
        "bare_http_rps": report["throughput"]["bare_http"]["rps"],
        # the uncached /statistics by the runs in the table (FEW_RUNS, MANY_RUNS)
        "statistics_runs_p50_ms": {wanted: f["p50_ms"] for wanted, f in report["statistics_many_runs"].items()},
        "statistics_runs_p95_ms": {wanted: f["p95_ms"] for wanted, f in report["statistics_many_runs"].items()},
    }


def main() -> int:
    tweets = setting("BENCH_TWEETS", 200_000)
    batch1_tweets = setting("BENCH_BATCH1_TWEETS", 5_000)
    load_count = setting("BENCH_LOAD", 10_000_000)
    view_requests = setting("BENCH_VIEW_REQUESTS", 200)
    db_uri, amqp_uri = bench_db_uri(), bench_amqp_uri()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    say(f"commit {commit}{' (with uncommitted changes in the work tree)' if dirty else ''}")

    say(f"database {BENCH_NAME}: dropped and recreated; vhost {BENCH_NAME}: recreated")
    recreate_database(db_uri)
    recreate_vhost()
    wrk = ensure_wrk()
    track, sample_ratio = choose_track_terms(INGEST_SEED)
    say(f"{len(track)} track terms, matching {sample_ratio:.3f} of a 5,000-tweet sample")

    services = Services({"DB_URI": db_uri, "AMQP_URI": amqp_uri, "FLAVOR": "stage"})
    report: dict = {"commit": commit, "work_tree_dirty": bool(dirty), "started_at": datetime.now(timezone.utc).isoformat(),
                    "machine": machine_facts(), "track": track, "sample_match_ratio": round(sample_ratio, 4),
                    "settings": {"BENCH_TWEETS": tweets, "BENCH_BATCH1_TWEETS": batch1_tweets,
                                 "BENCH_LOAD": load_count, "BENCH_VIEW_REQUESTS": view_requests,
                                 "batch_size": BATCH_SIZE, "batch_compression": batch_compression(os.environ)},
                    "ingest_rate_timing": "tweets received / seconds, seconds from the launch request sent to the end of "
                                          f"the first poll (every {POLL_SECONDS} s, in the database) that saw the last "
                                          "batch committed; the commit happened within seconds_error before that "
                                          "(seconds_at_least: the window's lower end)",
                    "database_kept": BENCH_NAME}
    cpu = None
    try:
        say(f"starting {', '.join(services.available())} (one nameko run process each); logs in {LOG_DIR}")
        services.start_all(timeout=90)
        cpu = CpuAccount(services, db_uri, urlparse(amqp_uri).port or 5672)
        report["cpu_counted"] = cpu.counted

        report["contention"] = {"before_ingest": contention()}
        report["ingest"] = ingest(services, cpu, db_uri, track, tweets, INGEST_SEED, BATCH_SIZE, "ingest")
        report["ingest_concurrent"] = ingest_concurrent(services, cpu, db_uri, track, tweets, CONCURRENT_SEEDS,
                                                        f"ingest, {len(CONCURRENT_SEEDS)} runs at once")
        report["ingest_batch1"] = ingest(services, cpu, db_uri, track, batch1_tweets, BATCH1_SEED, 1,
                                         "ingest batch_size 1")
        report["contention"]["after_ingest"] = contention()

        say(f"limits: generating the same {tweets:,} items (seed {INGEST_SEED})")
        source = SyntheticSource(seed=INGEST_SEED, rate=0, run_id=report["ingest"]["run_id"])
        now = datetime.now(timezone.utc)
        items = [source.item(position, now) for position in range(tweets)]
        report["limits"] = {"orjson_loads": limit_orjson_loads(items)}
        report["limits"]["filter_prepare"], prepared = limit_filter_prepare(items, track)
        say(f"limit filter prepare: {report['limits']['filter_prepare']['tweets_per_s']:,.0f} tweets/s")
        report["limits"]["store"] = limit_store(db_uri, prepared, track)
        say(f"limit store: {rate(report['limits']['store']['tweets_per_s'], 'tweets/s')}")
        del prepared
        report["limits"]["broker"] = limit_broker(amqp_uri, items, track)
        say(f"limit broker: {rate(report['limits']['broker']['tweets_per_s'], 'tweets/s')}"
            + (f" ({'; '.join(report['limits']['broker']['problems'])})" if report["limits"]["broker"]["problems"] else ""))
        report["limits"]["copy_tweets_only"] = limit_copy_tweets_only(db_uri, items)
        del items

        say(f"bulk loading {load_count:,} tweets")
        report["bulk"] = bulk_load(db_uri, load_count, progress=say) if load_count else {"seconds": 0}
        with psycopg2.connect(db_uri) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM tweets")
            report["tweets_in_database"] = cursor.fetchone()[0]

        # a second gateway whose /statistics answer is never reused: every request not arriving while
        # another's call is in flight makes the statistics RPC and its query
        uncached_port = free_port()
        services.start("gateway", replica="uncached", WEB_SERVER_ADDRESS=f"127.0.0.1:{uncached_port}",
                       STATISTICS_FRESH_FOR="0")
        uncached_url = f"http://127.0.0.1:{uncached_port}/statistics"
        wait_answering(uncached_url)

        report["contention"]["before_views"] = contention()
        urls, parameters = view_urls(db_uri)
        say(f"views: {view_requests} sequential requests each (user view: {parameters['username']}, "
            f"the busiest author, {parameters['author_tweets']} tweets)")
        machine_before = machine_cpu()
        report["views"] = measure_views({view: services.base_url + path for view, path in urls.items()}, view_requests)
        report["statistics_uncached_view"] = measure_views({f"/statistics ({UNCACHED})": uncached_url},
                                                           view_requests)[f"/statistics ({UNCACHED})"]
        stolen_views = stolen_share(machine_before, machine_cpu())
        report["slow_view_plans"] = explain_slow_views(db_uri, report["views"], parameters)

        bare_port = free_port()
        services.start("bare_http", module="tools.bare_http", WEB_SERVER_ADDRESS=f"127.0.0.1:{bare_port}")
        bare_url = f"http://127.0.0.1:{bare_port}/bare"
        wait_answering(bare_url)
        report["load_generator"] = (f"wrk {' '.join(WRK_ARGS)}" if wrk else
                                    f"python thread pool, {CONCURRENCY} connections, {LOAD_SECONDS} s")
        say(f"throughput at 32 connections with {report['load_generator']}")
        generate = (lambda url: load_with_wrk(wrk, url)) if wrk else load_with_threads

        def load(url: str, count_rpcs: bool) -> dict:
            # the cores each process used under the load: a gateway short of a full core was
            # waiting (for the statistics service, the broker), not working
            before, calls_before, began = cpu.totals(), statistics_rpc_calls(services), time.monotonic()
            result = generate(url)
            after, calls_after = cpu.totals(), statistics_rpc_calls(services)
            cores = cpu_share(before, after, time.monotonic() - began)
            result.update(cores_used=own_parts(cores), shared_cores_used=shared_parts(cores))
            if count_rpcs:
                result["rpc_calls"] = (calls_after - calls_before
                                       if calls_before is not None and calls_after is not None else None)
            return result

        machine_before = machine_cpu()
        report["throughput"] = {"statistics": load(services.base_url + "/statistics", True),
                                "statistics_uncached": load(uncached_url, True),
                                "bare_http": load(bare_url, False)}
        stolen_throughput = stolen_share(machine_before, machine_cpu())
        say(f"throughput: {report['throughput']}")
        report["statistics_many_runs"] = statistics_with_runs(db_uri, uncached_url, view_requests)
        report["contention"]["after_views"] = contention()
        say(f"other load on the machine: {report['contention']}")
        # read last: a process's high-water mark covers every phase before (the views and loads too)
        report["peak_rss_mb"] = services.peak_rss_mb([key for key in services.processes if key != "bare_http"])
        report["peak_rss_mb_bare_http"] = services.peak_rss_mb(["bare_http"]).get("bare_http")
        say(f"peak RSS (MB): {report['peak_rss_mb']}")
    finally:
        if cpu is not None:
            cpu.close()
        services.stop_all()
        rabbitmqctl("delete_vhost", BENCH_NAME, check=False)
        say(f"every process stopped, vhost {BENCH_NAME} deleted; database {BENCH_NAME} kept for inspection")

    report.update(figures_of(report))
    report["tweets_loaded"] = load_count
    report["cpu_stolen"] = {"ingest": report["ingest"]["cpu_stolen"],
                            "ingest_concurrent": report["ingest_concurrent"]["cpu_stolen"],
                            "ingest_batch1": report["ingest_batch1"]["cpu_stolen"],
                            "views": stolen_views, "throughput": stolen_throughput}
    report["goals"] = {goal: bool(check(report)) for goal, check in GOALS.items()}
    BUILD.mkdir(exist_ok=True)
    (BUILD / "bench.json").write_text(json.dumps(report, indent=2, default=str))
    print()
    print(table(report))
    for view, plan in report["slow_view_plans"].items():
        print(f"\nEXPLAIN ANALYZE for {view} (p95 over 20 ms):\n{plan}")
    print(f"\nwritten: {BUILD / 'bench.json'}; commit {commit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
