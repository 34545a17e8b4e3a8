"""Rolling upgrades: batches of every earlier version, as launchers recorded them (tests/data/batches),
are read by this filter and store the same; a newer launcher's batch is refused by name, kept as
failed (visible on its run) and stored by a retry once the filter reads its version."""
from unittest import mock

import pytest

from services.contracts import events, wire
from services.contracts.events import BATCH_VERSION, NewerBatchVersion, check_batch_version
from services.filter.pipeline import process_batch, retry_failed
from services.storage import runs
from tests.system import ROOT

RECORDED = ROOT / "tests" / "data" / "batches"


def recorded(version: int) -> dict:
    return wire.loads((RECORDED / f"v{version}.batch").read_bytes())


def stopped_run(engine) -> int:
    with engine.begin() as conn:
        run_id = runs.create_run(conn, ["the", "brexit"], "replay", {}, "replica")
        runs.end_run(conn, run_id, runs.STOPPED)
    return run_id


def figures(engine, run_id) -> dict:
    with engine.connect() as conn:
        row = runs.run_figures(conn, run_id)
    return {key: row[key] for key in ("received", "matched", "bad", "stored", "failed_batches", "error")}


def test_every_recorded_version_up_to_this_one_is_recorded_and_the_launcher_writes_the_newest():
    assert sorted(path.name for path in RECORDED.glob("v*.batch")) == [f"v{v}.batch" for v in range(1, BATCH_VERSION + 1)]
    assert "v" not in recorded(1) and recorded(BATCH_VERSION)["v"] == BATCH_VERSION


@pytest.mark.parametrize("version", range(1, BATCH_VERSION + 1))
def test_a_batch_of_each_earlier_version_stores_what_the_newest_stores(clean_db, version):
    newest = stopped_run(clean_db)
    process_batch(clean_db, dict(recorded(BATCH_VERSION), run_id=newest))
    expected = figures(clean_db, newest)
    assert expected["matched"] > 0 and expected["failed_batches"] == 0
    older = stopped_run(clean_db)
    process_batch(clean_db, dict(recorded(version), run_id=older))
    assert figures(clean_db, older) == dict(expected, stored=0)   # its tweets were stored by the first run


@pytest.mark.parametrize("version, problem", [
    (BATCH_VERSION + 1, f"batch version {BATCH_VERSION + 1} was written by a newer launcher; this filter reads versions 1 to"),
    (0, "batch version 0 is not a version this filter knows"),
    ("2", "batch version '2' is not a version this filter knows"),
    (True, "batch version True is not a version this filter knows"),
])
def test_a_version_this_filter_cannot_read_is_refused_by_name(version, problem):
    with pytest.raises(NewerBatchVersion, match=problem.replace("(", r"\(")):
        check_batch_version({"v": version})


def test_a_newer_launchers_batch_is_kept_as_failed_on_its_run_and_a_retry_after_the_upgrade_stores_it(clean_db):
    run_id = stopped_run(clean_db)
    newer = dict(recorded(BATCH_VERSION), run_id=run_id, v=BATCH_VERSION + 1)
    assert process_batch(clean_db, newer) is None
    seen = figures(clean_db, run_id)
    assert (seen["failed_batches"], seen["stored"]) == (1, 0)
    assert f"batch version {BATCH_VERSION + 1} was written by a newer launcher" in seen["error"]
    with mock.patch.object(events, "BATCH_VERSION", BATCH_VERSION + 1):   # this filter, upgraded
        answer = retry_failed(clean_db, run_id)
    assert answer["stored"] == 1
    after = figures(clean_db, run_id)
    assert after["failed_batches"] == 0 and after["matched"] > 0 and after["error"] is None
