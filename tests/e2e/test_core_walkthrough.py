"""The core pipeline as a user meets it: the real processes, RabbitMQ and PostgreSQL."""
import subprocess
import sys
import time

import pytest
from sqlalchemy import text

from tests.system import ROOT


def launch(system, **body):
    answer = system.post("/launch", body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["process_started"] is True
    return answer.json()["run_id"]


def test_launch_watch_stop_with_a_second_run_side_by_side(fresh_system):
    system = fresh_system
    run_id = launch(system, track=["the"], rate=200, seed=11)
    beside = launch(system, track=["nba"], rate=20, seed=12)
    # two runs of the open gateway's caller: a stop without a body must name one
    clash = system.post("/stop")
    assert clash.status_code == 409 and f"runs {run_id}, {beside} are active" in clash.json()["error"]
    assert system.post("/stop", {"run_id": beside}).json()["status"] == "stopped"

    time.sleep(2.5)
    first = system.get("/statistics").json()
    time.sleep(1.5)
    second = system.get("/statistics").json()
    assert set(first) >= {"amount", "speed", "elapsed_time"}
    assert isinstance(first["amount"], int) and isinstance(first["speed"], float)
    assert second["amount"] > first["amount"] > 0
    assert second["elapsed_time"] >= first["elapsed_time"] >= 2

    stopped = system.post("/stop")
    assert stopped.status_code == 200
    final = stopped.json()
    assert final["run_id"] == run_id and final["status"] == "stopped"
    assert final["committed_items"] == final["dispatched_items"] == final["received"]
    after = system.get("/statistics").json()
    assert after["amount"] == final["amount"]
    time.sleep(1.5)
    assert system.get("/statistics").json()["amount"] == final["amount"]  # nothing arrives after stop
    assert system.post("/stop").status_code == 409


def test_ten_launches_without_a_seed_each_store_tweets_and_fail_no_batch(fresh_system, engine):
    # the seed is drawn from the clock: whatever it is today, the run must store what it matched
    system = fresh_system
    for _ in range(10):
        run = system.wait_run_done(launch(system, track=["the"], rate=0, limit=200))
        assert run["received"] == 200 and run["stored"] == run["matched"] > 0, run
        assert run["error"] is None
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM failed_batches")).scalar() == 0
        seeds = conn.execute(text("SELECT options->>'seed' FROM runs")).scalars().all()
    assert all(seed is not None for seed in seeds)


def test_same_seed_gives_equal_runs_and_tweets_are_kept_once(fresh_system, engine):
    system = fresh_system
    runs = [system.wait_run_done(launch(system, track=["the", "love"], rate=0, seed=5, limit=1500))
            for _ in range(2)]
    assert runs[0]["received"] == runs[1]["received"] == 1500
    assert runs[0]["amount"] == runs[1]["amount"] > 0
    assert runs[0]["stored"] == runs[0]["amount"] and runs[1]["stored"] == 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tweets")).scalar() == runs[0]["amount"]
    overall = system.get("/statistics").json()
    assert overall["amount"] == 2 * runs[0]["amount"]
    # speed is the amount over the exact time the runs took by their rows; elapsed_time is its whole seconds
    with engine.connect() as conn:
        took = dict(conn.execute(text("SELECT id, extract(epoch FROM stopped_at - started_at) FROM runs")).all())
    for run in runs:
        assert run["speed"] == round(run["amount"] / float(took[run["run_id"]]), 3), (run, took)
    elapsed = float(sum(took.values()))
    assert overall["elapsed_time"] == int(elapsed)
    assert overall["speed"] == round(overall["amount"] / elapsed, 3), (overall, elapsed)


def test_replay_of_the_real_samples_gives_exact_counts(fresh_system):
    system = fresh_system
    stream = system.wait_run_done(launch(system, track=["dogs"], source="replay",
                                         files=["streaming_output_with_error.jsonl"]))
    # 7 tweets and 1 truncated line; 6 tweets say "dogs" (one as #dogs), "Fury" does not
    assert (stream["received"], stream["bad"], stream["matched"], stream["stored"]) == (8, 1, 6, 6)

    everything = system.wait_run_done(launch(system, track=["brexit", "obama"], source="replay",
                                             files=["brexit.jsonl", "noflat.jsonl", "flat.jsonl", "geo_tweets.jsonl"]))
    assert everything["received"] == 302 and everything["bad"] == 0
    # brexit.jsonl: 61 say brexit; noflat and flat hold the same 100 tweets: 82 say obama in
    # their text, one more only in its expanded URL (bloomberg.com/...-obama-s-climate-pledge)
    assert everything["matched"] == 61 + 83 + 83
    assert everything["stored"] == 61 + 83
    again = system.wait_run_done(launch(system, track=["dogs"], source="replay",
                                        files=["streaming_output_with_error.jsonl"]))
    assert again["amount"] == stream["amount"] and again["stored"] == 0


@pytest.mark.parametrize("files, problem", [
    (["../DESIGN.md"], "outside the replay directory"),
    (["/etc/passwd"], "outside the replay directory"),
    (["missing.jsonl"], "does not exist"),
])
def test_replay_refuses_names_outside_its_directory(fresh_system, files, problem):
    answer = fresh_system.post("/launch", {"track": ["x"], "source": "replay", "files": files})
    assert answer.status_code == 400 and problem in answer.json()["error"]
    assert fresh_system.get("/statistics/runs").json() == []


@pytest.mark.parametrize("body, problem", [
    (b"not json", "not valid JSON"),
    (b"", "required"),
    (b'{"track": []}', "track"),
    (b'{"track": "bieber"}', "track"),
    (b'{"track": [3]}', "track.0"),
    (b'{"track": ["' + b"a" * 61 + b'"]}', "60 bytes"),
    (b'{"track": [' + b",".join([b'"x"'] * 401) + b"]}", "track"),
    (b'{"nope": 1}', "track"),
])
def test_bad_launch_requests_get_400_with_a_reason(fresh_system, body, problem):
    import requests
    answer = requests.post(fresh_system.base_url + "/launch", data=body, timeout=10)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/json"
    assert problem in answer.json()["error"]


def test_statistics_survive_a_restart_of_every_service(fresh_system):
    system = fresh_system
    system.wait_run_done(launch(system, track=["the"], rate=0, seed=8, limit=800))
    before = system.get("/statistics").json()
    runs_before = system.get("/statistics/runs").json()
    system.stop_all()
    system.start_all()
    assert system.get("/statistics").json() == before
    assert system.get("/statistics/runs").json() == runs_before
    added = system.wait_run_done(launch(system, track=["the"], rate=0, seed=9, limit=800))
    assert system.get("/statistics").json()["amount"] == before["amount"] + added["amount"]


def test_nameko_shell_gives_the_same_figures(fresh_system):
    system = fresh_system
    system.wait_run_done(launch(system, track=["the"], rate=0, seed=3, limit=300))
    shell = subprocess.run(
        [sys.executable, "-m", "nameko", "shell", "--config", str(ROOT / "config" / "config.yml")],
        input="print('FIGURES', n.rpc.statistics.get_statistics())\n", capture_output=True, text=True,
        env=system.env, cwd=ROOT, timeout=60,
    )
    line = next(printed for printed in shell.stdout.splitlines() if "FIGURES" in printed)
    assert line.split("FIGURES", 1)[1].strip() == str(system.get("/statistics").json())
