"""Real `nameko run` processes: the answers a caller gets (409, 404, 400, 422) are not logged as the
services' errors, and a stop by signal ends every service cleanly, also a second signal (make run's
Ctrl-C: the terminal's SIGINT, then the supervisor's SIGTERM) and a signal during start-up."""
import json
import os
import re
import signal
import time

import pytest

pytestmark = pytest.mark.e2e

CRASHES = re.compile(r"AssertionError|has no attribute|Traceback")


def log_entries(system) -> list[tuple[str, dict | str]]:
    """Every line of every service's log: (file, the JSON entry or the raw line)."""
    entries = []
    for path in sorted(system.log_dir.glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            try:
                entries.append((path.name, json.loads(line)))
            except ValueError:
                entries.append((path.name, line))
    return entries


def problems(entries) -> list[str]:
    """Lines at ERROR or worse, lines with a traceback, and what a crash prints outside the JSON lines."""
    found = []
    for name, entry in entries:
        if isinstance(entry, dict):
            if entry.get("level") in ("ERROR", "CRITICAL") or entry.get("exc") or CRASHES.search(entry["message"]):
                found.append(f"{name}: {entry['level']} {entry['message']} {entry.get('exc', '')}"[:2000])
        elif CRASHES.search(entry):
            found.append(f"{name}: {entry}")
    return found


def stop_by_signals(system, signals, wait: float = 30) -> dict[str, int]:
    processes = dict(system.processes)
    system.processes.clear()
    for sig in signals:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(sig)
        time.sleep(0.05)
    return {key: process.wait(timeout=wait) for key, process in processes.items()}


@pytest.mark.parametrize("signals", [(signal.SIGTERM,), (signal.SIGINT, signal.SIGTERM)],
                         ids=["sigterm", "make-run-ctrl-c"])
def test_expected_answers_and_a_stop_by_signal_leave_no_error_in_the_logs(fresh_system, signals):
    system = fresh_system
    system.start_all()
    for path in system.log_dir.glob("*.log"):
        path.write_bytes(b"")   # the module's earlier system logged into the same files

    assert system.post("/stop").status_code == 409                        # launcher: no run is active
    assert system.get("/statistics/runs/424242").status_code == 404        # statistics: no such run
    assert system.get("/api/v1/users/nobody_here/tweets").status_code == 404   # query: no such user
    assert system.post("/launch", {"track": ["x"], "source": "replay", "files": ["absent.jsonl"]}).status_code == 400
    if not os.environ.get("X_BEARER_TOKEN"):
        unavailable = system.post("/launch", {"track": ["x"], "source": "x"})
        assert unavailable.status_code == 422, unavailable.text
        assert "x" not in unavailable.json()["available_sources"]
    launched = system.post("/launch", {"track": ["the"], "rate": 50})
    assert launched.status_code == 200, launched.text
    assert system.post("/launch", {"track": ["x"], "rate": 5}).status_code == 200
    assert system.post("/stop").status_code == 409                        # launcher: two runs are active
    time.sleep(1)   # the run streams while the services stop

    exit_codes = stop_by_signals(system, signals)

    entries = log_entries(system)
    assert problems(entries) == []
    assert exit_codes == {key: 0 for key in exit_codes}
    expected = [entry["message"] for _, entry in entries
                if isinstance(entry, dict) and entry["message"].startswith("(expected)")]
    # the answers are still said, in one line each: launcher 409 x2, 400 and 422; statistics and query 404
    assert len(expected) >= 5, expected


def test_a_launcher_stopped_during_its_start_exits_cleanly(system):
    system.stop_all()
    for attempt, delay in enumerate((0, 0.01, 0.03)):
        key = f"launcher-starting{attempt}"
        process = system.start("launcher", replica=f"starting{attempt}")
        log = system.log_dir / f"{key}.log"
        deadline = time.monotonic() + 60
        while "starting services" not in log.read_text(errors="replace"):   # its extensions are being set up
            assert time.monotonic() < deadline and process.poll() is None, log.read_text(errors="replace")
            time.sleep(0.002)
        time.sleep(delay)
        # Nameko stopped extensions whose setup had not finished, and then hung until it was killed
        assert system.signal(key, signal.SIGTERM, wait=30) == 0, log.read_text(errors="replace")
        assert problems(log_entries(system)) == []
