"""tweetstream_reader: a read-only role for what only reads (the query service's views, statistics, Grafana)

NOLOGIN until a deployment gives it a password (migrations/reader_login.py, which docker-compose's
migrate service runs after this). SELECT on exactly the tables and columns the views, the statistics
and the dashboards read: not runs.options (it may name private files), not failed_batches.payload
(whole batches), not places, and nothing it could change. Roles belong to the PostgreSQL cluster, so
the role is created once and each database grants its own.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 14:00:00
"""
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

READER = "tweetstream_reader"
TABLES = ("tweets", "tweet_tags", "users", "hour_counts", "minute_counts", "tag_counts", "minute_tag_counts",
          "minute_tag_totals", "run_totals", "run_batches", "run_bad_reasons", "x_post_reads")
COLUMNS = {
    "runs": ("id", "track", "source", "status", "started_at", "stopped_at", "error", "position", "launched_by"),
    "failed_batches": ("run_id", "start_pos", "end_pos", "error", "failed_at"),
}


def upgrade():
    op.execute(f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{READER}') THEN"
               f" CREATE ROLE {READER} NOLOGIN; END IF; END $$")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {READER}")
    op.execute(f"GRANT SELECT ON {', '.join(TABLES)} TO {READER}")
    for table, columns in COLUMNS.items():
        op.execute(f"GRANT SELECT ({', '.join(columns)}) ON {table} TO {READER}")


def downgrade():
    for table, columns in COLUMNS.items():
        op.execute(f"REVOKE SELECT ({', '.join(columns)}) ON {table} FROM {READER}")
    op.execute(f"REVOKE SELECT ON {', '.join(TABLES)} FROM {READER}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {READER}")
