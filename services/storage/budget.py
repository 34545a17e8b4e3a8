"""The spending guard's counts: posts read from the X API, per calendar month (UTC) and per run.

The X API bills each post it delivers. The launcher records what each X run reads, a batch at a
time, and populate what each search page brought; both stop at X_MONTHLY_POST_BUDGET, a run also
at its own ``max_posts``. A count is one statement in autocommit: it must never wait for, nor
roll back with, anything else.
"""
from sqlalchemy.engine import Connection

_THIS_MONTH = "date_trunc('month', now() AT TIME ZONE 'UTC')::date"


def record_reads(conn: Connection, posts: int, run_id: int | None = None) -> tuple[int, int | None]:
    """Add ``posts`` read this month (and by the run): (this month's posts, the run's posts or None)."""
    month = conn.exec_driver_sql(
        f"INSERT INTO x_post_reads (month, posts) VALUES ({_THIS_MONTH}, %(posts)s)"
        " ON CONFLICT (month) DO UPDATE SET posts = x_post_reads.posts + EXCLUDED.posts RETURNING posts",
        {"posts": posts}).scalar_one()
    if run_id is None:
        return int(month), None
    run = conn.exec_driver_sql("UPDATE runs SET posts_read = posts_read + %(posts)s WHERE id = %(id)s"
                               " RETURNING posts_read", {"posts": posts, "id": run_id}).scalar_one()
    return int(month), int(run)


def month_reads(conn: Connection) -> int:
    """Posts read from the X API in this calendar month (UTC)."""
    return int(conn.exec_driver_sql(
        f"SELECT coalesce((SELECT posts FROM x_post_reads WHERE month = {_THIS_MONTH}), 0)").scalar_one())


def budget_figures(conn: Connection, budget: int, price_per_post: float) -> dict:
    """What GET /statistics/budget answers."""
    month, used = conn.exec_driver_sql(
        f"SELECT to_char({_THIS_MONTH}, 'YYYY-MM'),"
        f" coalesce((SELECT posts FROM x_post_reads WHERE month = {_THIS_MONTH}), 0)").one()
    used = int(used)
    return {"month": month, "budget": budget, "used": used, "left": max(budget - used, 0),
            "price_per_post": price_per_post, "estimated_cost": round(used * price_per_post, 2),
            "cost_at_budget": round(budget * price_per_post, 2)}
