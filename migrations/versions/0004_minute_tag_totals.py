"""minute_tag_totals: tags per minute without the run/lang/country fan-out

The top-hashtags window summed minute_tag_counts, dozens of rows per (minute, tag): 39,000 rows
for an hour at 10M tweets, 36 ms. The write path keeps this rollup in the same transaction as
the others; existing data is carried over from minute_tag_counts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 16:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'minute_tag_totals',
        sa.Column('minute', sa.DateTime(timezone=True), nullable=False),
        sa.Column('tag', sa.Text(), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('minute', 'tag'),
    )
    op.execute("INSERT INTO minute_tag_totals (minute, tag, count)"
               " SELECT minute, tag, sum(count) FROM minute_tag_counts GROUP BY 1, 2")


def downgrade():
    op.drop_table('minute_tag_totals')
