"""Posts read from the X API: per calendar month (UTC) for the spending guard, and per run

The X API bills every post it delivers (pay-per-use); the launcher and populate count what they
read here, in the transaction-free way of a counter (one UPDATE each batch or page), and stop at
X_MONTHLY_POST_BUDGET or at a run's own max_posts.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 13:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'x_post_reads',
        sa.Column('month', sa.Date(), primary_key=True),
        sa.Column('posts', sa.BigInteger(), nullable=False, server_default=sa.text('0')),
    )
    op.add_column('runs', sa.Column('posts_read', sa.BigInteger(), nullable=False, server_default=sa.text('0')))


def downgrade():
    op.drop_column('runs', 'posts_read')
    op.drop_table('x_post_reads')
