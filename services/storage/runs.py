"""Stream runs: their lifecycle rows and the figures computed from the batch ledger.

Any number of runs stream side by side, up to a cap the launcher sets; each remembers the user who
launched it (``launched_by``, answered as ``owner``) apart from the launcher replica that streams it
(``owner``, the takeover's column)."""
import orjson
from sqlalchemy.engine import Connection

ACTIVE, STOPPED, FINISHED, FAILED = "active", "stopped", "finished", "failed"
DRAINING = "draining"   # never stored: how a finished run reads while its last batches are committed


# launches take this transaction-scoped lock, so two of them cannot both see room for one more run
_LAUNCH_LOCK = "SELECT pg_advisory_xact_lock(hashtext('tweetstream.runs.launch'))"


class TooManyActiveRuns(Exception):
    def __init__(self, limit: int, active: list[int]):
        super().__init__(f"{len(active)} runs are active, as many as MAX_ACTIVE_RUNS ({limit}) allows")
        self.limit, self.active = limit, active


def create_run(conn: Connection, track: list[str], source: str, options: dict, owner: str,
               *, launched_by: str | None = None, max_active: int | None = None) -> int:
    """A new active run streamed by the replica ``owner``; TooManyActiveRuns when ``max_active``
    runs are active already. Call it inside a transaction: the check and the insert are one."""
    if max_active is not None:
        conn.exec_driver_sql(_LAUNCH_LOCK)
        active = active_run_ids(conn)
        if len(active) >= max_active:
            raise TooManyActiveRuns(max_active, active)
    return conn.exec_driver_sql(
        "INSERT INTO runs (track, source, options, status, owner, heartbeat_at, launched_by)"
        " VALUES (CAST(%(track)s AS jsonb), %(source)s, CAST(%(options)s AS jsonb), 'active', %(owner)s, now(),"
        " %(launched_by)s) RETURNING id",
        {"track": orjson.dumps(track).decode(), "source": source,
         "options": orjson.dumps(options).decode(), "owner": owner, "launched_by": launched_by},
    ).scalar_one()


def active_run_ids(conn: Connection, launched_by=...) -> list[int]:
    """The active runs, oldest first; only those ``launched_by`` a user (None: an open gateway's) when given."""
    if launched_by is ...:
        return list(conn.exec_driver_sql("SELECT id FROM runs WHERE status = 'active' ORDER BY id").scalars())
    return list(conn.exec_driver_sql(
        "SELECT id FROM runs WHERE status = 'active' AND launched_by IS NOT DISTINCT FROM %(name)s ORDER BY id",
        {"name": launched_by}).scalars())


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


# The X API allows one filtered-stream connection per app, and a launcher process has one for all the
# X runs it streams: so every X run is streamed by the same replica. Claims and X launches take this
# lock, so two replicas never both become the one.
_X_STREAM_LOCK = "SELECT pg_advisory_xact_lock(hashtext('tweetstream.runs.x-stream'))"
_LIVE_X_HOLDER = """
    SELECT owner FROM runs
     WHERE status = 'active' AND source = 'x' AND owner IS NOT NULL AND owner <> %(owner)s
       AND heartbeat_at >= now() - make_interval(secs => %(stale)s)"""


def x_stream_holder(conn: Connection, owner: str, stale_after: float) -> str | None:
    """Another live replica that streams X runs (it holds the app's one X connection), if one does.
    Takes the X stream lock until the transaction ends: call it in the transaction that creates the run."""
    conn.exec_driver_sql(_X_STREAM_LOCK)
    return conn.exec_driver_sql(_LIVE_X_HOLDER + " ORDER BY id LIMIT 1",
                                {"owner": owner, "stale": stale_after}).scalar()


def take_over_orphans(conn: Connection, owner: str, stale_after: float) -> list[dict]:
    """Claim every active run whose streaming replica stopped sending heartbeats (or gave it up or
    handed it on); an X run only when no other live replica streams X runs."""
    conn.exec_driver_sql(_X_STREAM_LOCK)
    rows = conn.exec_driver_sql(
        "UPDATE runs SET owner = %(owner)s, heartbeat_at = now()"
        " WHERE status = 'active' AND (owner IS NULL OR heartbeat_at < now() - make_interval(secs => %(stale)s))"
        f"  AND (source <> 'x' OR NOT EXISTS ({_LIVE_X_HOLDER}))"
        " RETURNING *",
        {"owner": owner, "stale": stale_after},
    ).mappings()
    return [dict(row) for row in rows]


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
    SELECT r.id, r.track, r.source, r.started_at, r.stopped_at, r.position, r.launched_by,
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
        "run_id": row["id"], "owner": row["launched_by"], "track": row["track"], "source": row["source"],
        "status": row["status"],
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


def list_run_figures(conn: Connection, *, status: str | None = None, owner=..., limit: int = 100,
                     before: int | None = None) -> list[dict]:
    """Runs newest first: of one ``status`` and one ``owner`` (None: an open gateway's) when given,
    ``limit`` of them, with ids below ``before`` (the last run_id of the page before)."""
    conditions, parameters = [], {"limit": limit}
    if status is not None:
        # a draining run is stored as finished
        conditions.append("r.status = %(stored_status)s")
        parameters["stored_status"] = FINISHED if status == DRAINING else status
    if owner is not ...:
        conditions.append("r.launched_by IS NOT DISTINCT FROM %(owner)s")
        parameters["owner"] = owner
    if before is not None:
        conditions.append("r.id < %(before)s")
        parameters["before"] = before
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    rows = conn.exec_driver_sql(_RUN_FIGURES + where + " ORDER BY r.id DESC LIMIT %(limit)s", parameters)
    found = [_run_dict(r) for r in rows.mappings()]
    if status in (FINISHED, DRAINING):
        found = [run for run in found if run["status"] == status]
    return found


# The seconds during which at least one run streamed: the runs' intervals merged where they overlap
# (a running run lasts until now), so that runs side by side count their shared time once and
# speed stays tweets per second of the system.
_STREAMED_SECONDS = """
    SELECT coalesce(sum(extract(epoch FROM island_end - island_start)), 0)
      FROM (SELECT min(started_at) AS island_start, max(ended_at) AS island_end
              FROM (SELECT started_at, ended_at,
                           count(*) FILTER (WHERE started_at > reach) OVER (ORDER BY started_at, id) AS island
                      FROM (SELECT id, started_at, coalesce(stopped_at, now()) AS ended_at,
                                   max(coalesce(stopped_at, now())) OVER (
                                       ORDER BY started_at, id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
                              FROM runs {where}) AS intervals) AS numbered
             GROUP BY island) AS islands
"""


def overall_figures(conn: Connection, owner=...) -> dict:
    """amount, speed and elapsed_time over every run ever made, or one ``owner``'s (None: an open
    gateway's): amount sums the runs' matched tweets, elapsed_time is the time at least one of them
    streamed (a running run counts up to now)."""
    if owner is ...:
        amount = conn.exec_driver_sql("SELECT coalesce(sum(matched), 0) FROM run_totals").scalar_one()
        elapsed = conn.exec_driver_sql(_STREAMED_SECONDS.format(where="")).scalar_one()
    else:
        parameters = {"owner": owner}
        amount = conn.exec_driver_sql(
            "SELECT coalesce(sum(t.matched), 0) FROM run_totals t JOIN runs r ON r.id = t.run_id"
            " WHERE r.launched_by IS NOT DISTINCT FROM %(owner)s", parameters).scalar_one()
        elapsed = conn.exec_driver_sql(_STREAMED_SECONDS.format(
            where="WHERE launched_by IS NOT DISTINCT FROM %(owner)s"), parameters).scalar_one()
    amount, elapsed = int(amount), float(elapsed)
    return {"amount": amount, "speed": _speed(amount, elapsed), "elapsed_time": int(elapsed)}


def recent_failures(conn: Connection, minutes: int) -> list[dict]:
    """Runs with batches that failed in the last ``minutes``: run_id, how many, and the newest cause."""
    rows = conn.exec_driver_sql(
        "SELECT run_id, count(*) AS batches, (array_agg(error ORDER BY failed_at DESC))[1] AS error"
        "  FROM failed_batches WHERE failed_at > now() - make_interval(mins => %(minutes)s)"
        " GROUP BY run_id ORDER BY run_id", {"minutes": minutes}).mappings()
    return [dict(row) for row in rows]
