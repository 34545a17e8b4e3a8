"""failed_batches.end_pos and failed_at's index; run_bad_reasons

A run's figures say how many items its failed batches hold (end_pos - start_pos), and the health
check reads the batches that failed lately. Items counted bad are counted by reason per run.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('failed_batches', sa.Column('end_pos', sa.BigInteger(), nullable=True))
    op.execute("UPDATE failed_batches SET end_pos = coalesce((payload->>'end')::bigint, start_pos)")
    op.alter_column('failed_batches', 'end_pos', nullable=False)
    op.create_index('failed_batches_by_failed_at', 'failed_batches', ['failed_at'])
    op.create_table(
        'run_bad_reasons',
        sa.Column('run_id', sa.BigInteger(), sa.ForeignKey('runs.id', ondelete='CASCADE'), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('run_id', 'reason'),
    )


def downgrade():
    op.drop_table('run_bad_reasons')
    op.drop_index('failed_batches_by_failed_at', table_name='failed_batches')
    op.drop_column('failed_batches', 'end_pos')
