"""run_totals: the batch ledger summed per run, kept in the same transaction as its rows

/statistics and /statistics/runs summed the whole ledger on every answer (20,000 rows after a
10M-tweet load: 8 ms before any RPC); they now read one row per run.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 16:40:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'run_totals',
        sa.Column('run_id', sa.BigInteger(), sa.ForeignKey('runs.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('items', sa.BigInteger(), nullable=False),
        sa.Column('received', sa.BigInteger(), nullable=False),
        sa.Column('matched', sa.BigInteger(), nullable=False),
        sa.Column('bad', sa.BigInteger(), nullable=False),
        sa.Column('stored', sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO run_totals (run_id, items, received, matched, bad, stored)"
               " SELECT run_id, sum(end_pos - start_pos), sum(received), sum(matched), sum(bad), sum(stored)"
               "   FROM run_batches GROUP BY run_id")


def downgrade():
    op.drop_table('run_totals')
