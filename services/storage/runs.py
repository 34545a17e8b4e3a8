"""Stream runs: their lifecycle rows and the figures computed from the batch ledger."""
import orjson
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

ACTIVE, STOPPED, FINISHED, FAILED = "active", "stopped", "finished", "failed"
DRAINING = "draining"   # never stored: how a finished run reads while its last batches are committed


class RunAlreadyActive(Exception):
    def __init__(self, run_id):
        super().__init__(f"run {run_id} is active; stop it first")
        self.run_id = run_id


def create_run(conn: Connection, track: list[str], source: str, options: dict, owner: str) -> int:
    try:
        with conn.begin_nested():
            return conn.exec_driver_sql(
                "INSERT INTO runs (track, source, options, status, owner, heartbeat_at)"
                " VALUES (CAST(%(track)s AS jsonb), %(source)s, CAST(%(options)s AS jsonb), 'active', %(owner)s, now())"
                " RETURNING id",
                {"track": orjson.dumps(track).decode(), "source": source,
                 "options": orjson.dumps(options).decode(), "owner": owner},
            ).scalar_one()
    except IntegrityError:
        raise RunAlreadyActive(active_run_id(conn)) from None


def active_run_id(conn: Connection) -> int | None:
    return conn.exec_driver_sql("SELECT id FROM runs WHERE status = 'active'").scalar()


def get_run(conn: Connection, run_id: int) -> dict | None:
    row = conn.exec_driver_sql("SELECT * FROM runs WHERE id = %(id)s", {"id": run_id}).mappings().first()
    return dict(row) if row else None


def announce_batch(conn: Connection, run_id: int, owner: str, start: int, end: int) -> bool:
    """Write ahead: the batch [start, end) is about to be sent. False when this owner lost the run
    (stopped by someone, or taken over), which tells the streamer to stop."""
    return conn.exec_driver_sql(
        "UPDATE runs SET batch_start = %(start)s, position = %(end)s, heartbeat_at = now()"
        " WHERE id = %(id)s AND status = 'active' AND owner = %(owner)s RETURNING id",
        {"start": start, "end": end, "id": run_id, "owner": owner},
    ).first() is not None


def heartbeat(conn: Connection, owner: str, run_ids: list[int]) -> None:
    """Only runs this replica really streams get a heartbeat: a dead stream thread must let go."""
    conn.exec_driver_sql(
        "UPDATE runs SET heartbeat_at = now() WHERE status = 'active' AND owner = %(owner)s"
        " AND id = ANY(%(ids)s)",
        {"owner": owner, "ids": list(run_ids)},
    )


def give_up(conn: Connection, owner: str, run_ids: list[int]) -> None:
    """This replica stops streaming these runs: another one may take them over at once."""
    conn.exec_driver_sql("UPDATE runs SET owner = NULL WHERE owner = %(owner)s AND id = ANY(%(ids)s)",
                         {"owner": owner, "ids": list(run_ids)})


def take_over_orphan(conn: Connection, owner: str, stale_after: float) -> dict | None:
    """Claim the active run whose owner stopped sending heartbeats."""
    row = conn.exec_driver_sql(
        "UPDATE runs SET owner = %(owner)s, heartbeat_at = now()"
        " WHERE status = 'active' AND (owner IS NULL OR heartbeat_at < now() - make_interval(secs => %(stale)s))"
        " RETURNING *",
        {"owner": owner, "stale": stale_after},
    ).mappings().first()
    return dict(row) if row else None


def end_run(conn: Connection, run_id: int, status: str, error: str | None = None) -> bool:
    return conn.exec_driver_sql(
        "UPDATE runs SET status = %(status)s, stopped_at = now(), error = %(error)s"
        " WHERE id = %(id)s AND status = 'active' RETURNING id",
        {"status": status, "error": error, "id": run_id},
    ).first() is not None


def _speed(amount: int, elapsed: float) -> float:
    return round(amount / elapsed, 3) if elapsed > 0 else 0.0


# A run that ended by itself is "draining" until every item it dispatched is committed or kept
# as failed: only then are its figures (and /statistics) final.
_RUN_FIGURES = f"""
    SELECT r.id, r.track, r.source, r.started_at, r.stopped_at, r.position,
           CASE WHEN r.status = '{FINISHED}'
                 AND coalesce(b.items, 0) + coalesce(f.items, 0) < r.position THEN '{DRAINING}'
                ELSE r.status END AS status,
           coalesce(r.error, f.first_error) AS error,
           coalesce(b.received, 0) AS received, coalesce(b.matched, 0) AS matched,
           coalesce(b.bad, 0) AS bad, coalesce(b.stored, 0) AS stored,
           coalesce(b.items, 0) AS committed_items,
           coalesce(f.batches, 0) AS failed_batches, coalesce(f.items, 0) AS failed_items,
           coalesce(reasons.counts, '{{}}'::jsonb) AS bad_reasons,
           extract(epoch FROM coalesce(r.stopped_at, now()) - r.started_at) AS elapsed
      FROM runs r
      LEFT JOIN run_totals b ON b.run_id = r.id
      LEFT JOIN LATERAL (SELECT count(*) AS batches, sum(end_pos - start_pos) AS items,
                                (array_agg(error ORDER BY failed_at, start_pos))[1] AS first_error
                           FROM failed_batches WHERE failed_batches.run_id = r.id) f ON true
      LEFT JOIN LATERAL (SELECT jsonb_object_agg(reason, count) AS counts
                           FROM run_bad_reasons WHERE run_bad_reasons.run_id = r.id) reasons ON true
"""


def _run_dict(row) -> dict:
    elapsed = float(row["elapsed"] or 0)
    amount = int(row["matched"])
    return {
        "run_id": row["id"], "track": row["track"], "source": row["source"], "status": row["status"],
        "started_at": row["started_at"].isoformat(),
        "stopped_at": row["stopped_at"].isoformat() if row["stopped_at"] else None,
        "received": int(row["received"]), "matched": amount, "bad": int(row["bad"]),
        "bad_reasons": row["bad_reasons"],
        "stored": int(row["stored"]), "amount": amount, "elapsed_time": int(elapsed),
        "speed": _speed(amount, elapsed), "dispatched_items": int(row["position"]),
        "committed_items": int(row["committed_items"]), "failed_batches": int(row["failed_batches"]),
        "failed_items": int(row["failed_items"]), "error": row["error"],
    }


def run_figures(conn: Connection, run_id: int) -> dict | None:
    row = conn.exec_driver_sql(_RUN_FIGURES + " WHERE r.id = %(id)s", {"id": run_id}).mappings().first()
    return _run_dict(row) if row else None


def all_run_figures(conn: Connection) -> list[dict]:
    return [_run_dict(r) for r in conn.exec_driver_sql(_RUN_FIGURES + " ORDER BY r.id").mappings()]


def overall_figures(conn: Connection) -> dict:
    """amount, speed and elapsed_time over every run ever made (a running run counts up to now)."""
    row = conn.exec_driver_sql(
        "SELECT (SELECT coalesce(sum(matched), 0) FROM run_totals) AS amount,"
        "       (SELECT coalesce(sum(extract(epoch FROM coalesce(stopped_at, now()) - started_at)), 0)"
        "          FROM runs) AS elapsed"
    ).mappings().one()
    amount, elapsed = int(row["amount"]), float(row["elapsed"])
    return {"amount": amount, "speed": _speed(amount, elapsed), "elapsed_time": int(elapsed)}


def recent_failures(conn: Connection, minutes: int) -> list[dict]:
    """Runs with batches that failed in the last ``minutes``: run_id, how many, and the newest cause."""
    rows = conn.exec_driver_sql(
        "SELECT run_id, count(*) AS batches, (array_agg(error ORDER BY failed_at DESC))[1] AS error"
        "  FROM failed_batches WHERE failed_at > now() - make_interval(mins => %(minutes)s)"
        " GROUP BY run_id ORDER BY run_id", {"minutes": minutes}).mappings()
    return [dict(row) for row in rows]
