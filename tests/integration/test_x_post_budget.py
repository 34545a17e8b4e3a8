"""The spending guard against the real PostgreSQL: posts read from the X API are counted per month
and per run; a run stops at its max_posts, every X run at X_MONTHLY_POST_BUDGET, and populate and
X launches are refused (429) when the month's posts are used up."""
from unittest import mock

import pytest

from services.contracts.errors import HTTP_STATUS, BadRequest, BudgetExhausted
from services.launcher import service as launcher_module
from services.launcher.service import keep_to_budget, launch_run
from services.launcher.streamer import RunStreamer
from services.query.service import within_budget
from services.storage import budget, runs
from services.storage.database import make_engine


class FakeXSource:
    """Stands for the X API source: ``posts`` lines, then the stream waits no more (ends)."""
    name, deterministic = "x", False

    def __init__(self, posts: int):
        self.posts, self.closed = posts, False

    def stream(self, track, start=0):
        return iter([b'{"data": {"id": "%d", "text": "a post"}}' % n for n in range(self.posts)])

    def close(self):
        self.closed = True


@pytest.fixture
def streamer(clean_db, db_uri):
    streamer = RunStreamer()
    streamer.owner, streamer.config = "replica-a", {}
    streamer.engine = clean_db
    streamer.announcing = make_engine(db_uri, pool_size=1, pre_ping=False, autocommit=True)
    streamer.batch_size, streamer.batch_max_bytes, streamer.batch_max_wait = 4, 10**6, 0.05
    streamer.monthly_post_budget = 1000
    streamer.dispatch = mock.Mock()
    yield streamer
    streamer.announcing.dispose()


def x_run(engine, **options) -> dict:
    with engine.begin() as conn:
        run_id = runs.create_run(conn, ["post"], "x", options, "replica-a", launched_by="alice")
        return runs.get_run(conn, run_id)


def month_used(engine) -> int:
    with engine.connect() as conn:
        return budget.month_reads(conn)


def test_posts_are_counted_per_month_and_per_run_and_the_budget_says_what_they_cost(clean_db):
    run = x_run(clean_db)
    with clean_db.begin() as conn:
        assert budget.record_reads(conn, 30, run["id"]) == (30, 30)
        assert budget.record_reads(conn, 12) == (42, None)
        figures = budget.budget_figures(conn, 100, 0.005)
    assert {k: figures[k] for k in ("budget", "used", "left", "estimated_cost", "cost_at_budget")} == {
        "budget": 100, "used": 42, "left": 58, "estimated_cost": 0.21, "cost_at_budget": 0.5}
    assert len(figures["month"]) == 7 and figures["month"][4] == "-"


def test_an_x_run_stops_after_the_batch_that_reaches_its_max_posts_with_the_cap_in_its_error(clean_db, streamer):
    run = x_run(clean_db, max_posts=6)
    source = FakeXSource(100)
    streamer._stream(run, source)
    with clean_db.connect() as conn:
        figures, row = runs.run_figures(conn, run["id"]), runs.get_run(conn, run["id"])
    # batches of 4: the second (posts 5-8) reaches 6; its posts were read (billed) and are sent on
    assert (figures["status"], figures["dispatched_items"], row["posts_read"]) == ("stopped", 8, 8)
    assert figures["error"] == "max_posts reached: 8 posts read from the X API, the run's cap is 6"
    assert streamer.dispatch.call_count == 2 and source.closed
    assert month_used(clean_db) == 8


def test_every_x_run_stops_at_the_monthly_budget(clean_db, streamer):
    streamer.monthly_post_budget = 10
    with clean_db.begin() as conn:
        budget.record_reads(conn, 7)
    run = x_run(clean_db)
    streamer._stream(run, FakeXSource(100))
    with clean_db.connect() as conn:
        figures = runs.run_figures(conn, run["id"])
    assert figures["status"] == "stopped" and figures["dispatched_items"] == 4
    assert figures["error"] == ("X_MONTHLY_POST_BUDGET reached: 11 posts read from the X API this month, "
                                "the budget is 10")


def test_a_quiet_x_run_is_stopped_by_the_timer_once_the_month_is_used_up_and_other_runs_go_on(clean_db):
    quiet = x_run(clean_db)
    with clean_db.begin() as conn:
        synthetic = runs.create_run(conn, ["x"], "synthetic", {}, "replica-a")
        budget.record_reads(conn, 50)
    streamer = mock.Mock(owner="replica-a")
    streamer.streaming.return_value = [quiet["id"], synthetic]
    keep_to_budget(clean_db, streamer, 60)
    streamer.halt.assert_not_called()
    keep_to_budget(clean_db, streamer, 50)
    streamer.halt.assert_called_once_with(quiet["id"])
    with clean_db.connect() as conn:
        assert runs.get_run(conn, quiet["id"])["status"] == "stopped"
        assert runs.get_run(conn, synthetic)["status"] == "active"


def test_an_x_launch_is_refused_with_429_when_the_month_is_used_up(clean_db):
    with clean_db.begin() as conn:
        budget.record_reads(conn, 5)
    config = {"FLAVOR": "stage", "X_MONTHLY_POST_BUDGET": 5}
    with mock.patch.object(launcher_module, "source_for_run"):
        with pytest.raises(BudgetExhausted, match="X_MONTHLY_POST_BUDGET reached: 5 posts .* 0 posts left"):
            launch_run(clean_db, mock.Mock(owner="r"), config, {"track": ["a"], "source": "x"})
    assert HTTP_STATUS["BudgetExhausted"] == 429


def test_max_posts_is_for_x_runs_only(clean_db):
    with mock.patch.object(launcher_module, "source_for_run"):
        with pytest.raises(BadRequest, match="max_posts: caps the posts an X run reads; a synthetic run takes limit"):
            launch_run(clean_db, mock.Mock(owner="r"), {"FLAVOR": "stage"},
                       {"track": ["a"], "source": "synthetic", "max_posts": 5})


def test_populate_from_x_is_refused_naming_what_is_left_and_else_counts_each_page(clean_db):
    with clean_db.begin() as conn:
        budget.record_reads(conn, 950)
    with pytest.raises(BudgetExhausted, match=r"up to 100 posts .*; 50 of this month's X_MONTHLY_POST_BUDGET \(1000\)"):
        within_budget(clean_db, 1000, 100)
    count = within_budget(clean_db, 1000, 50)
    count(20)
    count(30)
    assert month_used(clean_db) == 1000
