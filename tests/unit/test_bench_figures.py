"""The bench's arithmetic, from timestamps and samples given as arguments (no running system): each
figure measures what its name says, and a figure that could not be measured is not reported."""
import os
import re
import socket
from types import SimpleNamespace

import pytest

from services.storage.ingest import ROLLUPS_SQL
from services.storage.recount import ROLLUP_CHECKS
from tools import bench
from tools.bench import (
    GOALS,
    CpuLedger,
    broker_outcome,
    completion_window,
    cpu_share,
    cpu_us_per_item,
    figures_of,
    listening_pids,
    own_parts,
    rpc_calls,
    settled,
    shared_parts,
    slowest_limit,
    stat_cpu,
    store_groups,
    table,
    verification,
    view_figures,
    wrk_figures,
)

# -- 1: the ingest's clock ---------------------------------------------------------------------------


def test_the_clock_runs_from_the_launch_to_the_poll_that_saw_the_last_commit():
    # launch sent at 100.0; the poll that began at 112.30 did not see the last commit, the one that
    # ended at 112.38 did: the commit happened in (112.30, 112.38]
    window = completion_window(100.0, 112.30, 112.38)
    assert window == {"seconds": 12.38, "seconds_at_least": 12.3, "seconds_error": 0.08}


def test_a_commit_seen_by_the_first_poll_is_bounded_by_the_launch():
    assert completion_window(50.0, 50.0, 50.5) == {"seconds": 0.5, "seconds_at_least": 0.0, "seconds_error": 0.5}


def test_a_run_is_settled_once_stopped_and_every_dispatched_item_committed_or_failed():
    assert not settled("active", 200_000, 200_000, 0)          # still dispatching
    assert not settled("finished", 200_000, 199_000, 0)        # the last group not committed yet
    assert settled("finished", 200_000, 200_000, 0)
    assert settled("finished", 200_000, 199_000, 1_000)        # one batch kept as failed: over, not verified


# -- 2: verified -------------------------------------------------------------------------------------

LEDGER = {"received": 1_000, "matched": 480, "bad": 0, "stored": 480, "items": 1_000,
          "failed_batches": 0, "failed_items": 0}
EQUAL = dict.fromkeys(ROLLUP_CHECKS, 0)


def test_a_run_whose_ledger_rows_and_rollups_agree_is_verified():
    assert verification(1_000, LEDGER, 480, EQUAL) == {"verified": True, "problems": []}


def test_a_wrong_rollup_makes_verified_false():
    checked = verification(1_000, LEDGER, 480, dict(EQUAL, minute_tag_counts=3))
    assert checked["verified"] is False
    assert checked["problems"] == ["minute_tag_counts: 3 rows differ from the GROUP BY over the stored rows"]


@pytest.mark.parametrize("change, expected, in_table", [
    ({"received": 999}, 1_000, 480),                             # a tweet never received
    ({"items": 999}, 1_000, 480),                                # a position no batch accounts for
    ({"bad": 1}, 1_000, 480),
    ({"failed_batches": 1, "failed_items": 1}, 1_000, 480),
    ({"stored": 479}, 1_000, 480),
    ({}, 1_000, 479),                                            # a matched tweet not in the table
])
def test_a_ledger_that_does_not_account_for_every_tweet_once_is_not_verified(change, expected, in_table):
    checked = verification(expected, dict(LEDGER, **change), in_table, EQUAL)
    assert checked["verified"] is False and len(checked["problems"]) == 1


def test_every_table_the_write_path_counts_into_is_checked_against_a_group_by():
    rollups = set(re.findall(r"INSERT INTO (\w+) \(", ROLLUPS_SQL)) - {"batch_tag_rows"}
    assert rollups == {"hour_counts", "minute_counts", "minute_tag_counts", "minute_tag_totals", "tag_counts"}
    # run_totals (the ledger's sums, record_committed) and the authors' tweet counts too
    assert set(ROLLUP_CHECKS) == rollups | {"run_totals", "users.tweet_count"}


# -- 3: the views ------------------------------------------------------------------------------------


def test_percentiles_are_over_the_successful_requests_and_failures_are_counted_apart():
    # 50 answers at 10-14 ms and 50 fast 500s at 1 ms: the errors must not pull the percentiles down
    samples = [(10.0 + n % 5, True) for n in range(50)] + [(1.0, False)] * 50
    figures = view_figures(samples)
    assert figures["requests"] == 100 and figures["successful"] == 50 and figures["failures"] == 50
    assert (figures["p50_ms"], figures["p95_ms"], figures["p99_ms"], figures["mean_ms"]) == (12.0, 14.0, 14.0, 12.0)
    everything = sorted(ms for ms, _ in samples)   # what the figures were once taken over
    assert bench.percentile(everything, 0.50) == 1.0


def test_a_view_none_of_whose_requests_succeeded_has_no_percentiles():
    figures = view_figures([(0.5, False)] * 20)
    assert (figures["failures"], figures["p50_ms"], figures["p95_ms"], figures["mean_ms"]) == (20, None, None, None)


VIEW_GOAL = "every view p95 <= 20 ms, none failed"


def test_the_view_goal_fails_when_any_request_failed_however_fast():
    fast_and_clean = {"views_p95_ms": {"/a": 3.0, "/b": 19.9}, "views_failures": {"/a": 0, "/b": 0}}
    assert GOALS[VIEW_GOAL](fast_and_clean)
    assert not GOALS[VIEW_GOAL](dict(fast_and_clean, views_failures={"/a": 0, "/b": 1}))
    assert not GOALS[VIEW_GOAL]({"views_p95_ms": {"/a": None}, "views_failures": {"/a": 0}})
    assert not GOALS[VIEW_GOAL](dict(fast_and_clean, views_p95_ms={"/a": 3.0, "/b": 20.1}))


# -- 4: /statistics under load ---------------------------------------------------------------------

WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:8004/statistics
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    11.81ms    2.10ms  40.23ms   89.12%
    Req/Sec     1.36k    99.61     1.55k    71.50%
  27010 requests in 10.01s, 5.79MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 12
Requests/sec:   2698.87
Transfer/sec:    592.34KB
"""


def test_wrk_failures_are_the_non_2xx_answers_and_the_socket_errors():
    figures = wrk_figures(WRK_OUTPUT)
    assert figures["rps"] == 2698.87 and figures["requests"] == 27010
    assert figures["non_2xx"] == 12 and figures["failed"] == 17
    clean = wrk_figures("  100 requests in 1.00s, 1KB read\nRequests/sec:    100.00\n")
    assert (clean["failed"], clean["socket_errors"]) == (0, None)


def test_the_statistics_goal_fails_when_a_request_failed():
    goal = next(name for name in GOALS if name.startswith("statistics_rps"))
    report = {"statistics_rps": 3_000.0, "bare_http_rps": 3_300.0,
              "throughput": {"statistics": {"failed": 0}, "bare_http": {"failed": 0}}}
    assert GOALS[goal](report)
    report["throughput"]["statistics"]["failed"] = 5
    assert not GOALS[goal](report)


def test_the_statistics_rpcs_served_are_read_from_the_services_metrics():
    metrics = (
        '# TYPE tweetstream_entrypoint_duration_seconds histogram\n'
        'tweetstream_entrypoint_duration_seconds_bucket{entrypoint="get_statistics",kind="rpc",le="0.005",'
        'service="statistics"} 40.0\n'
        'tweetstream_entrypoint_duration_seconds_count{entrypoint="get_statistics",kind="rpc",service="statistics"} 41.0\n'
        'tweetstream_entrypoint_duration_seconds_count{entrypoint="list_runs",kind="rpc",service="statistics"} 7.0\n'
    )
    assert rpc_calls(metrics, "statistics", "get_statistics") == 41
    assert rpc_calls(metrics, "statistics", "get_run") == 0


# -- 5, 6: the limits --------------------------------------------------------------------------------


def test_a_broker_limit_that_consumed_everything_reports_its_rate():
    outcome = broker_outcome(200, 200_000, 200, 200_000, consumer_ready=True, consumer_done=True, failure=None,
                             seconds=4.0, publish_seconds=2.0)
    assert outcome["completed"] and outcome["problems"] == []
    assert (outcome["tweets_per_s"], outcome["publish_only_tweets_per_s"]) == (50_000.0, 100_000.0)


@pytest.mark.parametrize("consumed, ready, done, failure, problem", [
    ((150, 150_000), True, False, None, "had not finished"),
    ((199, 199_000), True, True, None, "consumed 199 of 200 batches (199,000 of 200,000 items)"),
    ((0, 0), False, False, None, "not ready"),
    ((200, 200_000), True, True, OSError("connection reset"), "failed: OSError('connection reset')"),
])
def test_a_broker_limit_that_did_not_complete_reports_no_figure(consumed, ready, done, failure, problem):
    outcome = broker_outcome(200, 200_000, *consumed, consumer_ready=ready, consumer_done=done, failure=failure,
                             seconds=4.0, publish_seconds=2.0)
    assert not outcome["completed"]
    assert outcome["tweets_per_s"] is None and outcome["publish_only_tweets_per_s"] is None
    assert any(problem in text for text in outcome["problems"]), outcome["problems"]


def test_the_slowest_limit_is_the_slowest_of_the_pipelines_parts_and_unknown_when_one_did_not_complete():
    limits = {"filter_prepare": {"tweets_per_s": 97_000.0}, "store": {"tweets_per_s": 41_000.0},
              "broker": {"tweets_per_s": 105_000.0},
              # not limits of the pipeline: never the slowest, however slow
              "orjson_loads": {"tweets_per_s": 1.0}, "copy_tweets_only": {"rows_per_s": 1.0}}
    assert slowest_limit(limits) == ("store", 41_000.0)
    limits["broker"] = {"tweets_per_s": None}
    assert slowest_limit(limits) == (None, None)
    goal = GOALS["ingest >= 35% of the slowest limit"]
    assert not goal({"slowest_limit_tweets_per_s": None, "ingest_tweets_per_s": 1e9})
    assert goal({"slowest_limit_tweets_per_s": 40_000.0, "ingest_tweets_per_s": 14_000.0})


def test_the_store_limit_groups_batches_as_the_group_committer_takes_them_at_most():
    batches = [SimpleNamespace(matched=[None] * size) for size in (400, 500, 300, 600, 100)]
    groups = store_groups(batches, max_tweets=1_000)
    # a batch joins while the group holds fewer than 1,000: 400+500+300, then 600+100
    assert [[len(b.matched) for b in group] for group in groups] == [[400, 500, 300], [600, 100]]
    assert store_groups([], max_tweets=1_000) == []


# -- 8: CPU of the processes serving the bench --------------------------------------------------------

STAT = ("4242 (postgres: tweets_bench (idle)) S 1 2 3 0 -1 4194304 100 0 0 0 "
        "250 50 0 0 20 0 1 0 987654 0 0 18446744073709551615")


def test_a_process_cpu_is_its_user_and_system_time_read_after_the_commands_last_parenthesis():
    assert stat_cpu(STAT, 100) == (987654, 3.0)   # (250 + 50) ticks at 100 a second


def test_the_ledger_counts_a_process_from_its_start_and_keeps_an_ended_ones_last_reading():
    ledger = CpuLedger()
    ledger.record("postgresql_backends", 10, 500, 4.0)
    ledger.record("filter", 20, 400, 9.0)
    before = ledger.totals()
    ledger.record("postgresql_backends", 10, 500, 5.5)   # 1.5 s more, then it ends
    ledger.record("postgresql_backends", 11, 900, 0.7)   # began within the phase: all of its 0.7 s
    ledger.record("postgresql_backends", 10, 950, 0.2)   # pid 10 reused by another process
    ledger.record("filter", 20, 400, 11.0)
    after = ledger.totals()
    assert {part: round(after[part] - before[part], 3) for part in after} == {"postgresql_backends": 2.4, "filter": 2.0}
    assert cpu_share(before, after, 2.0) == {"postgresql_backends": 1.2, "filter": 1.0}
    assert cpu_us_per_item(before, after, 100_000) == {"postgresql_backends": 24.0, "filter": 20.0}


def test_the_clusters_background_processes_are_reported_apart_from_the_bench_processes():
    cores = {"filter": 0.6, "postgresql_backends": 0.4, "rabbitmq": 0.1, "postgresql_background": 0.05}
    assert own_parts(cores) == {"filter": 0.6, "postgresql_backends": 0.4, "rabbitmq": 0.1}
    assert shared_parts(cores) == {"postgresql_background": 0.05}


def test_the_broker_is_found_as_the_process_listening_on_its_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert os.getpid() in listening_pids(listener.getsockname()[1])


# -- 7, 9: the report ---------------------------------------------------------------------------------

def phase(**extra):
    base = {"received": 200_000, "seconds": 8.0, "seconds_error": 0.06, "tweets_per_s": 25_000.0, "match_ratio": 0.5,
            "verified": True, "problems": [], "cores_used": {"filter": 0.9}, "shared_cores_used": {},
            "cpu_us_per_tweet": {"filter": 19.2, "launcher": 17.3, "postgresql_backends": 12.0, "rabbitmq": 2.7},
            "shared_cpu_us_per_tweet": {"postgresql_background": 1.1}, "cpu_stolen": 0.0}
    return dict(base, **extra)


def view(p95=5.0, failures=0):
    return {"p50_ms": p95 and p95 / 2, "p95_ms": p95, "p99_ms": p95, "requests": 200, "successful": 200 - failures,
            "failures": failures}


def full_report() -> dict:
    load = {"rps": 2_000.0, "failed": 0, "cores_used": {"gateway": 0.9}}
    report = {
        "ingest": phase(), "ingest_batch1": phase(received=5_000, tweets_per_s=400.0),
        "ingest_concurrent": phase(tweets=200_000, tweets_per_s=23_000.0, run_ids=[3, 4, 5, 6],
                                   runs={str(n): {"tweets": 50_000} for n in (3, 4, 5, 6)}),
        "limits": {"orjson_loads": {"tweets_per_s": 90_000.0}, "filter_prepare": {"tweets_per_s": 97_000.0},
                   "store": {"tweets_per_s": None, "stored_tweets_per_s": None, "transactions": 0,
                             "problems": ["stored 0 of 10 tweets"]},
                   "broker": {"tweets_per_s": 100_000.0, "batches": 200, "problems": []},
                   "copy_tweets_only": {"rows_per_s": 180_000.0}},
        "views": {"/statistics": view(1.2), "/api/v1/users": view(None, failures=200)},
        "statistics_uncached_view": view(6.0),
        "statistics_many_runs": {"10": dict(view(6.0), runs_in_table=10, rounds=4),
                                 "1000": dict(view(7.5), runs_in_table=1_000, rounds=4)},
        "throughput": {"statistics": dict(load, rpc_calls=80), "statistics_uncached": dict(load, rpc_calls=9_000),
                       "bare_http": dict(load, rps=3_000.0)},
        "tweets_loaded": 0, "bulk": {"seconds": 0}, "tweets_in_database": 205_000,
        "machine": {"python_loop_10m_s": 0.3},
        "cpu_stolen": {"ingest": 0.0, "ingest_concurrent": 0.0, "ingest_batch1": 0.0, "views": 0.0, "throughput": 0.0},
        "peak_rss_mb": {"gateway": 80.0, "filter": 200.0, "gateway-uncached": 81.0},
        "contention": {"before_ingest": {"loadavg_1m": 0.2, "other_nameko_processes": 0}},
    }
    report.update(figures_of(report))
    report["goals"] = {goal: bool(check(report)) for goal, check in GOALS.items()}
    return report


def test_the_filters_cpu_per_tweet_is_a_figure_of_the_report_and_a_row_of_the_table():
    report = full_report()
    assert report["filter_cpu_us_per_tweet"] == 19.2
    printed = table(report)
    assert re.search(r"filter CPU per tweet \(ingest\)\s+19\.2 us", printed)
    # the sum is over the bench's own processes; the cluster's background processes are apart
    assert re.search(r"CPU per tweet during ingest\s+51 us", printed) and "shared: postgresql_background 1.1" in printed


def test_the_table_reads_a_limit_or_a_view_without_figures_and_the_goals_say_not_met():
    report = full_report()
    printed = table(report)
    assert report["slowest_limit_tweets_per_s"] is None and "unknown: a limit did not complete" in printed
    assert re.search(r"limit: store \(filter's write path\)\s+no figure", printed)
    assert re.search(r"view /api/v1/users\s+p95 - ms .* 0 successful of 200 req, 200 failed", printed)
    assert re.search(r"view /statistics \(STATISTICS_FRESH_FOR=0\)\s+p95 6\.0 ms", printed)
    assert "9,000 get_statistics RPCs" in printed and "answer shared for 0.25 s" in printed
    assert report["goals"]["ingest >= 35% of the slowest limit"] is False
    assert report["goals"][VIEW_GOAL] is False
    assert re.search(r"peak RSS gateway-uncached\s+81 MB\s+VmHWM at the end of the bench", printed)
