"""users.tweet_count: stored tweets per author, kept by the write path

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 14:10:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('users', sa.Column('tweet_count', sa.BigInteger(), server_default=sa.text('0'), nullable=False))
    op.execute("UPDATE users SET tweet_count = c.n FROM"
               " (SELECT author_id, count(*) AS n FROM tweets GROUP BY author_id) c WHERE c.author_id = users.id")


def downgrade():
    op.drop_column('users', 'tweet_count')
