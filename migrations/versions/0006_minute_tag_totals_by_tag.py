"""minute_tag_totals_by_tag: each tag's minutes, for the top-hashtags window's candidates

The top-hashtags view sums only the tags that can reach the top (services.storage.analytics.
top_hashtags); it reads each candidate's minutes of the window through this index instead of
grouping every tag of the window. A new (minute, tag) row adds an entry, and so does an update
of a count that cannot be HOT (no room on its page); a HOT update leaves it alone.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 07:20:00
"""
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('minute_tag_totals_by_tag', 'minute_tag_totals', ['tag', 'minute'])


def downgrade():
    op.drop_index('minute_tag_totals_by_tag', table_name='minute_tag_totals')
