"""Runs side by side, each owned by the user who launched it

Any number of runs may be active at once (the launcher caps them at MAX_ACTIVE_RUNS), so the index
that allowed only one goes. ``runs.launched_by`` is the name of the API token's user who launched
the run (NULL in an open stage gateway; answered as ``owner``); ``runs.owner`` stays the launcher
replica that streams it. Listing runs newest first by owner and status reads the new indexes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 13:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('one_active_run', table_name='runs', postgresql_where=sa.text("status = 'active'"))
    op.add_column('runs', sa.Column('launched_by', sa.Text(), nullable=True))
    op.create_index('runs_by_launched_by', 'runs', ['launched_by', sa.literal_column('id DESC')])
    op.create_index('active_runs', 'runs', ['id'], postgresql_where=sa.text("status = 'active'"))


def downgrade():
    op.drop_index('active_runs', table_name='runs', postgresql_where=sa.text("status = 'active'"))
    op.drop_index('runs_by_launched_by', table_name='runs')
    op.drop_column('runs', 'launched_by')
    # one active run again: the newest stays active, the others are stopped
    op.execute("UPDATE runs SET status = 'stopped', stopped_at = now() WHERE status = 'active'"
               " AND id <> (SELECT max(id) FROM runs WHERE status = 'active')")
    op.create_index('one_active_run', 'runs', [sa.literal_column('(true)')], unique=True,
                    postgresql_where=sa.text("status = 'active'"))
