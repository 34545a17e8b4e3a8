"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 12:52:25.756591
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('failed_batches',
    sa.Column('run_id', sa.BigInteger(), nullable=False),
    sa.Column('start_pos', sa.BigInteger(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('failed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('run_id', 'start_pos')
    )
    op.create_table('hour_counts',
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('hour')
    )
    op.create_table('minute_counts',
    sa.Column('minute', sa.DateTime(timezone=True), nullable=False),
    sa.Column('run_id', sa.BigInteger(), nullable=False),
    sa.Column('lang', sa.Text(), nullable=False),
    sa.Column('country', sa.Text(), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('minute', 'run_id', 'lang', 'country')
    )
    op.create_table('minute_tag_counts',
    sa.Column('minute', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tag', sa.Text(), nullable=False),
    sa.Column('run_id', sa.BigInteger(), nullable=False),
    sa.Column('lang', sa.Text(), nullable=False),
    sa.Column('country', sa.Text(), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('minute', 'tag', 'run_id', 'lang', 'country')
    )
    op.create_index('minute_tag_counts_by_tag', 'minute_tag_counts', ['tag', 'minute'], unique=False)
    op.create_table('places',
    sa.Column('id', sa.Text(), nullable=False),
    sa.Column('country_code', sa.Text(), nullable=True),
    sa.Column('full_name', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('runs',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('track', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('options', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('owner', sa.Text(), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('position', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('batch_start', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('one_active_run', 'runs', [sa.literal_column('(true)')], unique=True, postgresql_where=sa.text("status = 'active'"))
    op.create_table('tag_counts',
    sa.Column('tag', sa.Text(), nullable=False),
    sa.Column('country', sa.Text(), nullable=False),
    sa.Column('lang', sa.Text(), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('tag', 'country', 'lang')
    )
    op.create_index('tag_counts_by_count', 'tag_counts', [sa.literal_column('count DESC')], unique=False)
    op.create_table('tweet_tags',
    sa.Column('tweet_id', sa.BigInteger(), nullable=False),
    sa.Column('tag', sa.Text(), nullable=False),
    sa.Column('populated', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.PrimaryKeyConstraint('tweet_id', 'tag')
    )
    op.create_table('tweets',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('author_id', sa.BigInteger(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lang', sa.Text(), nullable=False),
    sa.Column('place_id', sa.Text(), nullable=True),
    sa.Column('country_code', sa.Text(), nullable=True),
    sa.Column('hashtags', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('first_run_id', sa.BigInteger(), nullable=True),
    sa.Column('stored_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('tweets_by_author', 'tweets', ['author_id', sa.literal_column('created_at DESC')], unique=False)
    op.create_table('users',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('username', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), server_default='', nullable=False),
    sa.Column('followers', sa.BigInteger(), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('users_by_followers', 'users', [sa.literal_column('followers DESC'), 'username'], unique=False)
    op.create_index('users_by_username', 'users', [sa.literal_column('lower(username)')], unique=False)
    op.create_table('run_batches',
    sa.Column('run_id', sa.BigInteger(), nullable=False),
    sa.Column('start_pos', sa.BigInteger(), nullable=False),
    sa.Column('end_pos', sa.BigInteger(), nullable=False),
    sa.Column('received', sa.Integer(), nullable=False),
    sa.Column('matched', sa.Integer(), nullable=False),
    sa.Column('bad', sa.Integer(), nullable=False),
    sa.Column('stored', sa.Integer(), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'start_pos')
    )


def downgrade():
    op.drop_table('run_batches')
    op.drop_index('users_by_username', table_name='users')
    op.drop_index('users_by_followers', table_name='users')
    op.drop_table('users')
    op.drop_index('tweets_by_author', table_name='tweets')
    op.drop_table('tweets')
    op.drop_table('tweet_tags')
    op.drop_index('tag_counts_by_count', table_name='tag_counts')
    op.drop_table('tag_counts')
    op.drop_index('one_active_run', table_name='runs', postgresql_where=sa.text("status = 'active'"))
    op.drop_table('runs')
    op.drop_table('places')
    op.drop_index('minute_tag_counts_by_tag', table_name='minute_tag_counts')
    op.drop_table('minute_tag_counts')
    op.drop_table('minute_counts')
    op.drop_table('hour_counts')
    op.drop_table('failed_batches')
