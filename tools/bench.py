"""make bench: the system as deployed (one `nameko run` process per service) against the local
RabbitMQ and PostgreSQL, measured in one run; prints a table and writes build/bench.json.

Phases:
 1. ingest: the synthetic source at full speed through launcher -> broker -> filter -> PostgreSQL,
    BENCH_TWEETS tweets (default 200,000) in the launcher's default batches (1,000), 50 track terms
    matching about half; then every matched tweet is counted in the database.
 2. ingest with one tweet per message (BENCH_BATCH1_TWEETS, default 5,000), for the ratio.
 3. the limits of the parts on the same payloads: orjson parsing, RabbitMQ publish+consume of the
    same batches (kombu, no Nameko), PostgreSQL COPY of the same rows into tweets.
 4. the views at scale: BENCH_LOAD tweets (default 10,000,000) bulk loaded (tools.bulk_load),
    then latency of every view through the gateway (sequential requests), and requests/s of
    /statistics beside a bare Nameko @http endpoint at 32 connections.
 5. memory: the peak RSS (VmHWM) of each service process after the ingest phases.

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
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote, urlparse

import orjson
import psycopg2
import requests
from kombu import Connection, Exchange, Queue
from psycopg2 import sql
from sqlalchemy import event

from services import wire
from services.events import batch_compression
from services.filter.pipeline import prepare
from services.launcher.batching import DEFAULT_BATCH_SIZE
from tools.bulk_load import load as bulk_load
from tools.infra import create_database, migrate
from tools.processes import ServiceProcesses, free_port
from services.query import analytics, views
from services.query.analytics_requests import TopHashtagsRequest, UserTweetsRequest, validate_query
from services.query.requests import TagsQuery
from services.schemas import validate
from services.sources.synthetic import WORDS, SyntheticSource
from services.storage import runs
from services.storage.database import make_engine
from services.tweets.parse import parse_documents
from services.tweets.track import TrackMatcher, tokens_of

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

# what the issue asks of each figure
GOALS = {
    "ingest_tweets_per_s >= 20000": lambda r: r["ingest_tweets_per_s"] >= 20_000,
    "ingest_tweets_per_s >= 6000 (floor)": lambda r: r["ingest_tweets_per_s"] >= 6_000,
    "ingest >= 35% of the slowest limit": lambda r: r["ingest_tweets_per_s"] >= 0.35 * r["slowest_limit_tweets_per_s"],
    "ingest >= 20x one-tweet-per-message": lambda r: r["ingest_tweets_per_s"] >= 20 * r["ingest_batch1_tweets_per_s"],
    "every view p95 <= 20 ms": lambda r: all(v <= 20 for v in r["views_p95_ms"].values()),
    "statistics_rps >= 50% of bare_http_rps": lambda r: r["statistics_rps"] >= 0.5 * r["bare_http_rps"],
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


def cpu_seconds(services: "Services") -> dict:
    """CPU time used so far by each service process, by PostgreSQL's and by RabbitMQ's processes:
    the difference over a phase shows which stage the machine's cores went to."""
    ticks = os.sysconf("SC_CLK_TCK")

    def used(pid) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / ticks   # utime + stime

    totals = {name: used(process.pid) for name, process in services.processes.items()}
    for process in Path("/proc").glob("[0-9]*"):
        try:
            name = (process / "comm").read_text().strip()
        except OSError:
            continue
        part = "postgresql" if name.startswith("postgres") else "rabbitmq" if name == "beam.smp" else None
        if part:
            totals[part] = totals.get(part, 0.0) + used(process.name)
    return totals


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

    def peak_rss_mb(self) -> dict:
        peaks = {}
        for name, process in self.processes.items():
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

def ingest(services: Services, db_uri: str, track: list[str], count: int, seed: int, batch_size: int,
           label: str) -> dict:
    body = {"track": track, "source": "synthetic", "rate": 0, "limit": count, "seed": seed,
            "batch_size": batch_size}
    cpu_before, machine_before = cpu_seconds(services), machine_cpu()
    launched_at = time.monotonic()
    answer = requests.post(services.base_url + "/launch", json=body, timeout=60)
    answer.raise_for_status()
    run_id = answer.json()["run_id"]
    say(f"{label}: run {run_id} launched: {count:,} tweets, batch_size {batch_size}")
    last_report = 0.0
    deadline = launched_at + max(600, count / 100)
    while True:
        services.check_alive()
        run = requests.get(f"{services.base_url}/statistics/runs/{run_id}", timeout=30).json()
        now = time.monotonic()
        if run["status"] != "active" and run["committed_items"] >= run["dispatched_items"]:
            break
        if now > deadline:
            raise TimeoutError(f"{label}: run {run_id} did not finish: {run}")
        if now - last_report >= 5:
            say(f"{label}: {run['committed_items']:,} / {count:,} committed "
                f"({run['committed_items'] / (now - launched_at):,.0f} tweets/s so far)")
            last_report = now
        time.sleep(0.5)
    polled_seconds = time.monotonic() - launched_at
    cores = cpu_share(cpu_before, cpu_seconds(services), polled_seconds)
    stolen = stolen_share(machine_before, machine_cpu())
    with psycopg2.connect(db_uri) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT extract(epoch FROM max(b.processed_at) - r.started_at), sum(b.received), sum(b.matched),"
            "       sum(b.bad), sum(b.stored), count(*), r.status"
            "  FROM runs r JOIN run_batches b ON b.run_id = r.id WHERE r.id = %s GROUP BY r.id", (run_id,))
        seconds, received, matched, bad, stored, batches, status = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM tweets WHERE first_run_id = %s", (run_id,))
        in_table = cursor.fetchone()[0]
    seconds = float(seconds)
    result = {
        "run_id": run_id, "status": status, "tweets": count, "received": int(received),
        "matched": int(matched), "bad": int(bad), "stored": int(stored), "tweets_in_table": in_table,
        "batches": batches, "seconds": round(seconds, 2), "tweets_per_s": round(int(received) / seconds, 1),
        "polled_seconds": round(polled_seconds, 2), "polled_tweets_per_s": round(int(received) / polled_seconds, 1),
        "match_ratio": round(int(matched) / max(1, int(received)), 4),
        "verified": int(received) == count and in_table == int(matched) == int(stored) and int(bad) == 0,
        "cores_used": cores,
        "cpu_stolen": stolen,
        # where the time goes, whatever the overlap of the parts (it still moves with the machine's speed)
        "cpu_us_per_tweet": {part: round(share * polled_seconds / max(1, int(received)) * 1e6, 1)
                             for part, share in cores.items()},
    }
    say(f"{label}: {result['received']:,} received, {result['matched']:,} matched, {in_table:,} in the "
        f"tweets table, {result['tweets_per_s']:,.0f} tweets/s; verified: {result['verified']}")
    say(f"{label}: cores used, from launch to the last commit: {cores}; "
        f"{stolen:.0%} of the machine's CPU time stolen by the hypervisor")
    return result


# -- 3: the limits of the parts ----------------------------------------------------------------------

def limit_parse(items: list[bytes]) -> dict:
    began = time.perf_counter()
    for item in items:
        orjson.loads(item)
    parse_seconds = time.perf_counter() - began
    return {"tweets_per_s": round(len(items) / parse_seconds, 1)}


def limit_filter_cpu(items: list[bytes], track: list[str]) -> float:
    """What one filter worker spends per tweet before the database: parse, normalise, match."""
    began = time.perf_counter()
    for start in range(0, len(items), BATCH_SIZE):
        prepare({"run_id": 0, "start": start, "end": start + BATCH_SIZE, "track": track,
                 "items": items[start:start + BATCH_SIZE]})
    return round(len(items) / (time.perf_counter() - began), 1)


def limit_broker(amqp_uri: str, items: list[bytes], track: list[str]) -> dict:
    """Publish the batches as the launcher does (the same encoding and compression, persistent,
    confirmed) and consume and decode them concurrently (prefetch as nameko's default max_workers); tweets/s
    from the first publish to the last ack."""
    exchange = Exchange("bench.events", type="topic", durable=True)
    queue = Queue("bench-tweet-batches", exchange=exchange, routing_key="tweet_batch", durable=True)
    compression = batch_compression(os.environ)   # as config.yml gives it to the launcher
    bodies = [wire.dumps({"run_id": 0, "start": s, "end": s + len(items[s:s + BATCH_SIZE]), "source": "synthetic",
                          "track": track, "items": wire.RawLines(items[s:s + BATCH_SIZE])})
              for s in range(0, len(items), BATCH_SIZE)]
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
            ready.set()
            done.set()

    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as connection:
        queue(connection.default_channel).declare()
        consumer = threading.Thread(target=consume, daemon=True)
        consumer.start()
        ready.wait(30)
        producer = connection.Producer(exchange=exchange)
        began = time.perf_counter()
        for body in bodies:
            producer.publish(body, routing_key="tweet_batch", delivery_mode=2, compression=compression,
                             content_type="application/x-tweetstream", content_encoding="binary")
        published = time.perf_counter() - began
        done.wait(600)
        seconds = time.perf_counter() - began
        queue(connection.default_channel).delete()
        exchange(connection.default_channel).delete()
    if failure:
        raise failure[0]
    return {"tweets_per_s": round(consumed["items"] / seconds, 1), "batches": len(bodies),
            "publish_only_tweets_per_s": round(len(items) / published, 1)}


def limit_copy(db_uri: str, items: list[bytes]) -> dict:
    """COPY the tweets rows the filter would build from these items (fresh ids), then remove them."""
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


# -- 4: views ----------------------------------------------------------------------------------------

def view_calls(parameters: dict) -> dict:
    """What each measured view runs, called as its service calls it: the EXPLAIN of a slow view is
    of the statements the view really sends, and its SQL stays in one place."""
    now = datetime.now(timezone.utc)
    top = validate_query(TopHashtagsRequest, {})
    wanted = validate_query(UserTweetsRequest, {"username": parameters["username"]})
    return {
        "/statistics": runs.overall_figures,
        "/statistics/runs": runs.all_run_figures,
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


def measure_views(base_url: str, urls: dict, count: int) -> dict:
    session = requests.Session()
    results = {}
    for view, path in urls.items():
        for _ in range(10):  # warm the connection pools and caches first
            session.get(base_url + path, timeout=60)
        timings, failures = [], 0
        for _ in range(count):
            began = time.perf_counter()
            answer = session.get(base_url + path, timeout=60)
            timings.append((time.perf_counter() - began) * 1000)
            failures += answer.status_code != 200
        timings.sort()
        results[view] = {"url": path, "requests": count, "failures": failures,
                         "p50_ms": round(percentile(timings, 0.50), 2), "p95_ms": round(percentile(timings, 0.95), 2),
                         "p99_ms": round(percentile(timings, 0.99), 2), "mean_ms": round(statistics.mean(timings), 2),
                         "bytes": len(answer.content)}
        say(f"view {view}: p50 {results[view]['p50_ms']} ms, p95 {results[view]['p95_ms']} ms, "
            f"p99 {results[view]['p99_ms']} ms ({failures} failed)")
    return results


def explain_slow_views(db_uri: str, measured: dict, parameters: dict, budget_ms: float = 20) -> dict:
    """EXPLAIN ANALYZE of the statements of every view whose p95 was over the budget."""
    calls, plans = view_calls(parameters), {}
    engine = make_engine(db_uri, pool_size=1)
    try:
        with engine.connect() as conn:
            for view, figures in measured.items():
                if figures["p95_ms"] <= budget_ms or view not in calls:
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


def load_with_wrk(wrk: str, url: str) -> dict:
    output = subprocess.run([wrk, *WRK_ARGS, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors:.*", output)
    return {"rps": rps, "non_2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(0) if socket_errors else None}


def load_with_threads(url: str) -> dict:
    """The fallback generator: 32 threads, keep-alive sessions, 10 s."""
    stop_at = time.monotonic() + LOAD_SECONDS
    local = threading.local()

    def hammer(_):
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        done = failed = 0
        while time.monotonic() < stop_at:
            failed += session.get(url, timeout=30).status_code != 200
            done += 1
        return done, failed

    began = time.monotonic()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        totals = list(pool.map(hammer, range(CONCURRENCY)))
    seconds = time.monotonic() - began
    return {"rps": round(sum(d for d, _ in totals) / seconds, 1), "non_2xx": sum(f for _, f in totals),
            "socket_errors": None}


# -- the report -------------------------------------------------------------------------------------

def table(report: dict) -> str:
    rows = [
        (f"ingest (batches of {BATCH_SIZE})", f"{report['ingest_tweets_per_s']:,.0f} tweets/s",
         f"{report['ingest']['received']:,} tweets, {report['ingest']['seconds']} s, match ratio "
         f"{report['match_ratio']:.3f}, verified {report['ingest']['verified']}"),
        ("ingest (1 tweet/message)", f"{report['ingest_batch1_tweets_per_s']:,.0f} tweets/s",
         f"{report['ingest_batch1']['received']:,} tweets, verified {report['ingest_batch1']['verified']}"),
        ("limit: orjson parse", f"{report['limit_parse_tweets_per_s']:,.0f} tweets/s", ""),
        ("limit: broker pub+consume", f"{report['limit_broker_tweets_per_s']:,.0f} tweets/s",
         f"{report['limits']['broker']['batches']} batches of {BATCH_SIZE}"),
        ("limit: COPY into tweets", f"{report['limit_copy_rows_per_s']:,.0f} rows/s", ""),
        ("(filter CPU: parse+match)", f"{report['filter_cpu_tweets_per_s']:,.0f} tweets/s", "one core, no DB"),
        ("tweets loaded", f"{report['tweets_loaded']:,}", f"bulk {report['bulk']['seconds']} s; "
                                                           f"{report['tweets_in_database']:,} tweets in the db"),
    ]
    for view, figures in report["views"].items():
        rows.append((f"view {view}", f"p95 {figures['p95_ms']:.1f} ms",
                     f"p50 {figures['p50_ms']:.1f}, p99 {figures['p99_ms']:.1f} ms, "
                     f"{figures['requests']} req, {figures['failures']} failed"))
    rows.append(("cores used during ingest", "", ", ".join(
        f"{part} {cores}" for part, cores in sorted(report["ingest"]["cores_used"].items(), key=lambda kv: -kv[1]))))
    cpu = report["ingest"].get("cpu_us_per_tweet", {})
    rows.append(("CPU per tweet during ingest", f"{sum(cpu.values()):.0f} us", ", ".join(
        f"{part} {us}" for part, us in sorted(cpu.items(), key=lambda kv: -kv[1])) + " (process CPU, us)"))
    rows.append(("machine speed", f"{report['machine']['python_loop_10m_s']} s", "10M-step CPython loop"))
    rows.append(("CPU stolen by the hypervisor", f"{report['cpu_stolen']['ingest']:.0%}",
                 f"during ingest; batch 1 {report['cpu_stolen']['ingest_batch1']:.0%}, views "
                 f"{report['cpu_stolen']['views']:.0%}, 32 conn {report['cpu_stolen']['throughput']:.0%}"))
    rows.append(("/statistics at 32 conn", f"{report['statistics_rps']:,.0f} req/s", report["load_generator"]))
    rows.append(("bare nameko @http at 32 conn", f"{report['bare_http_rps']:,.0f} req/s", report["load_generator"]))
    rows.append(("cores used at 32 conn", "", "; ".join(
        f"{target}: " + ", ".join(f"{part} {cores}" for part, cores in sorted(
            report["throughput"][target]["cores_used"].items(), key=lambda kv: -kv[1]))
        for target in ("statistics", "bare_http"))))
    for service, mb in report["peak_rss_mb"].items():
        rows.append((f"peak RSS {service}", f"{mb:.0f} MB", "VmHWM after the ingest phases"))
    worst = max(report["contention"].values(), key=lambda c: c["other_nameko_processes"])
    rows.append(("other nameko processes", f"{worst['other_nameko_processes']}",
                 f"not the bench's (tests of others); load average up to "
                 f"{max(c['loadavg_1m'] for c in report['contention'].values())}"))
    for goal, met in report["goals"].items():
        rows.append((f"goal: {goal}", "MET" if met else "NOT MET", ""))
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    return "\n".join(f"{name:<{width}}  {value:>{value_width}}  {note}".rstrip() for name, value, note in rows)


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
                    "ingest_rate_timing": "tweets received / (max(run_batches.processed_at) - runs.started_at);"
                                          " processed_at is the start of the last batch's transaction",
                    "database_kept": BENCH_NAME}
    try:
        say(f"starting {', '.join(services.available())} (one nameko run process each); logs in {LOG_DIR}")
        services.start_all(timeout=90)

        report["contention"] = {"before_ingest": contention()}
        report["ingest"] = ingest(services, db_uri, track, tweets, INGEST_SEED, BATCH_SIZE, "ingest")
        report["ingest_batch1"] = ingest(services, db_uri, track, batch1_tweets, BATCH1_SEED, 1, "ingest batch_size 1")
        report["contention"]["after_ingest"] = contention()
        report["peak_rss_mb"] = services.peak_rss_mb()
        say(f"peak RSS (MB): {report['peak_rss_mb']}")

        say(f"limits: generating the same {tweets:,} items (seed {INGEST_SEED})")
        source = SyntheticSource(seed=INGEST_SEED, rate=0, run_id=report["ingest"]["run_id"])
        now = datetime.now(timezone.utc)
        items = [source.item(position, now) for position in range(tweets)]
        report["limits"] = {"parse": limit_parse(items)}
        say(f"limit parse: {report['limits']['parse']['tweets_per_s']:,.0f} tweets/s")
        report["filter_cpu_tweets_per_s"] = limit_filter_cpu(items, track)
        report["limits"]["broker"] = limit_broker(amqp_uri, items, track)
        say(f"limit broker: {report['limits']['broker']['tweets_per_s']:,.0f} tweets/s")
        report["limits"]["copy"] = limit_copy(db_uri, items)
        say(f"limit COPY: {report['limits']['copy']['rows_per_s']:,.0f} rows/s")
        del items

        say(f"bulk loading {load_count:,} tweets")
        report["bulk"] = bulk_load(db_uri, load_count, progress=say) if load_count else {"seconds": 0}
        with psycopg2.connect(db_uri) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM tweets")
            report["tweets_in_database"] = cursor.fetchone()[0]

        report["contention"]["before_views"] = contention()
        urls, parameters = view_urls(db_uri)
        say(f"views: {view_requests} sequential requests each (user view: {parameters['username']}, "
            f"the busiest author, {parameters['author_tweets']} tweets)")
        machine_before = machine_cpu()
        report["views"] = measure_views(services.base_url, urls, view_requests)
        stolen_views = stolen_share(machine_before, machine_cpu())
        report["slow_view_plans"] = explain_slow_views(db_uri, report["views"], parameters)

        bare_port = free_port()
        services.start("bare_http", module="tools.bare_http", WEB_SERVER_ADDRESS=f"127.0.0.1:{bare_port}")
        bare_url = f"http://127.0.0.1:{bare_port}/bare"
        for _ in range(100):
            try:
                if requests.get(bare_url, timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        report["load_generator"] = (f"wrk {' '.join(WRK_ARGS)}" if wrk else
                                    f"python thread pool, {CONCURRENCY} connections, {LOAD_SECONDS} s")
        say(f"throughput at 32 connections with {report['load_generator']}")
        generate = (lambda url: load_with_wrk(wrk, url)) if wrk else load_with_threads

        def load(url: str) -> dict:
            # the cores each process used under the load: a gateway short of a full core was
            # waiting (for the statistics service, the broker), not working
            before, began = cpu_seconds(services), time.monotonic()
            result = generate(url)
            result["cores_used"] = cpu_share(before, cpu_seconds(services), time.monotonic() - began)
            return result

        machine_before = machine_cpu()
        report["throughput"] = {"statistics": load(services.base_url + "/statistics"),
                                "bare_http": load(bare_url)}
        stolen_throughput = stolen_share(machine_before, machine_cpu())
        say(f"throughput: {report['throughput']}")
        report["contention"]["after_views"] = contention()
        say(f"other load on the machine: {report['contention']}")
    finally:
        services.stop_all()
        rabbitmqctl("delete_vhost", BENCH_NAME, check=False)
        say(f"every process stopped, vhost {BENCH_NAME} deleted; database {BENCH_NAME} kept for inspection")

    limits = report["limits"]
    report.update({
        "ingest_tweets_per_s": report["ingest"]["tweets_per_s"],
        "ingest_batch1_tweets_per_s": report["ingest_batch1"]["tweets_per_s"],
        "match_ratio": report["ingest"]["match_ratio"],
        "limit_parse_tweets_per_s": limits["parse"]["tweets_per_s"],
        "limit_broker_tweets_per_s": limits["broker"]["tweets_per_s"],
        "limit_copy_rows_per_s": limits["copy"]["rows_per_s"],
        "views_p50_ms": {view: f["p50_ms"] for view, f in report["views"].items()},
        "views_p95_ms": {view: f["p95_ms"] for view, f in report["views"].items()},
        "views_p99_ms": {view: f["p99_ms"] for view, f in report["views"].items()},
        "statistics_rps": report["throughput"]["statistics"]["rps"],
        "bare_http_rps": report["throughput"]["bare_http"]["rps"],
        "tweets_loaded": load_count,
        "cpu_stolen": {"ingest": report["ingest"]["cpu_stolen"], "ingest_batch1": report["ingest_batch1"]["cpu_stolen"],
                       "views": stolen_views, "throughput": stolen_throughput},
    })
    report["slowest_limit_tweets_per_s"] = min(report["limit_parse_tweets_per_s"], report["limit_broker_tweets_per_s"],
                                               report["limit_copy_rows_per_s"])
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
