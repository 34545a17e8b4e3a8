"""The database schema, in one place. Alembic migrations are generated from it."""
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

# A stream run: what was asked, who streams it, how far it got.
runs = Table(
    "runs", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("track", JSONB, nullable=False),
    Column("source", Text, nullable=False),
    Column("options", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("status", Text, nullable=False),  # active | stopped | finished | failed
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("stopped_at", DateTime(timezone=True)),
    Column("error", Text),
    # takeover: the launcher replica streaming the run, and its last sign of life
    Column("owner", Text),
    Column("heartbeat_at", DateTime(timezone=True)),
    # source items announced so far, and where the last announced batch began:
    # a replica taking over re-sends [batch_start, position) under the same identity
    Column("position", BigInteger, nullable=False, server_default=text("0")),
    Column("batch_start", BigInteger, nullable=False, server_default=text("0")),
    # the API token's user who launched it (NULL in an open stage gateway), answered as ``owner``;
    # any number of runs may be active at once, up to the launcher's MAX_ACTIVE_RUNS
    Column("launched_by", Text),
    # posts this run read from the X API (its max_posts caps them)
    Column("posts_read", BigInteger, nullable=False, server_default=text("0")),
    Index("runs_by_launched_by", "launched_by", text("id DESC")),
    Index("active_runs", "id", postgresql_where=text("status = 'active'")),
)

# Posts read from the X API per calendar month (UTC): the spending guard's count (services/storage/budget.py).
x_post_reads = Table(
    "x_post_reads", metadata,
    Column("month", Date, primary_key=True),
    Column("posts", BigInteger, nullable=False, server_default=text("0")),
)

# The exactly-once ledger: one row per batch a filter committed, with its counts.
# Its key is the batch identity; a redelivered batch finds its row and changes nothing.
run_batches = Table(
    "run_batches", metadata,
    Column("run_id", BigInteger, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("start_pos", BigInteger, nullable=False),
    Column("end_pos", BigInteger, nullable=False),
    Column("received", Integer, nullable=False),
    Column("matched", Integer, nullable=False),
    Column("bad", Integer, nullable=False),
    Column("stored", Integer, nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("run_id", "start_pos"),
)

# The ledger summed per run, in the same transaction as its rows: the statistics read one row
# per run instead of summing the whole ledger (20,000 rows after a 10M-tweet load).
run_totals = Table(
    "run_totals", metadata,
    Column("run_id", BigInteger, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("items", BigInteger, nullable=False),       # source positions committed: sum(end - start)
    Column("received", BigInteger, nullable=False),
    Column("matched", BigInteger, nullable=False),
    Column("bad", BigInteger, nullable=False),
    Column("stored", BigInteger, nullable=False),
)

# Batches that failed for a reason other than a transient database error: kept, never dropped,
# until a retry (or a later delivery) commits them; a batch that fails again keeps its newest cause.
failed_batches = Table(
    "failed_batches", metadata,
    Column("run_id", BigInteger, nullable=False),
    Column("start_pos", BigInteger, nullable=False),
    Column("error", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("failed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("end_pos", BigInteger, nullable=False),
    PrimaryKeyConstraint("run_id", "start_pos"),
    Index("failed_batches_by_failed_at", "failed_at"),
)

# Items counted bad, by reason ("id out of range", "not JSON", ...), per run: what `bad` is made of.
run_bad_reasons = Table(
    "run_bad_reasons", metadata,
    Column("run_id", BigInteger, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("reason", Text, nullable=False),
    Column("count", BigInteger, nullable=False),
    PrimaryKeyConstraint("run_id", "reason"),
)

users = Table(
    "users", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("username", Text, nullable=False),
    Column("name", Text, nullable=False, server_default=""),
    Column("followers", BigInteger, nullable=False),
    # created_at of the newest tweet that carried this count: the newest count wins
    Column("seen_at", DateTime(timezone=True), nullable=False),
    # stored tweets by this author, kept current by the write path (a profile must not count them)
    Column("tweet_count", BigInteger, nullable=False, server_default=text("0")),
    Index("users_by_followers", text("followers DESC"), "username"),
    Index("users_by_username", func.lower(text("username"))),
)

places = Table(
    "places", metadata,
    Column("id", Text, primary_key=True),
    Column("country_code", Text),
    Column("full_name", Text),
)

tweets = Table(
    "tweets", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("author_id", BigInteger, nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("lang", Text, nullable=False),
    Column("place_id", Text),
    Column("country_code", Text),
    Column("hashtags", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("first_run_id", BigInteger),  # NULL when it came from populate
    Column("stored_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # newest first with the tie-break of the user-tweets view: a plain index scan that stops at its LIMIT
    Index("tweets_by_author_newest", "author_id", text("created_at DESC"), text("id DESC")),
)

# Every tag a tweet carries: its hashtags case-folded, and the tag it was populated for.
tweet_tags = Table(
    "tweet_tags", metadata,
    Column("tweet_id", BigInteger, nullable=False),
    Column("tag", Text, nullable=False),
    Column("populated", Boolean, nullable=False, server_default=text("false")),
    PrimaryKeyConstraint("tweet_id", "tag"),
)

# Rollups, kept current in the transaction that inserts the tweets they count.
hour_counts = Table(
    "hour_counts", metadata,
    Column("hour", DateTime(timezone=True), primary_key=True),
    Column("count", BigInteger, nullable=False),
)

tag_counts = Table(
    "tag_counts", metadata,
    Column("tag", Text, nullable=False),
    Column("country", Text, nullable=False),
    Column("lang", Text, nullable=False),
    Column("count", BigInteger, nullable=False),
    PrimaryKeyConstraint("tag", "country", "lang"),
    Index("tag_counts_by_count", text("count DESC")),
)

# run_id 0 stands for populated tweets (a primary key column cannot be NULL)
minute_counts = Table(
    "minute_counts", metadata,
    Column("minute", DateTime(timezone=True), nullable=False),
    Column("run_id", BigInteger, nullable=False),
    Column("lang", Text, nullable=False),
    Column("country", Text, nullable=False),
    Column("count", BigInteger, nullable=False),
    PrimaryKeyConstraint("minute", "run_id", "lang", "country"),
)

minute_tag_counts = Table(
    "minute_tag_counts", metadata,
    Column("minute", DateTime(timezone=True), nullable=False),
    Column("tag", Text, nullable=False),
    Column("run_id", BigInteger, nullable=False),
    Column("lang", Text, nullable=False),
    Column("country", Text, nullable=False),
    Column("count", BigInteger, nullable=False),
    PrimaryKeyConstraint("minute", "tag", "run_id", "lang", "country"),
    Index("minute_tag_counts_by_tag", "tag", "minute"),
)

# Tags per minute without the run/lang/country fan-out: the top-hashtags window reads one row
# per (minute, tag) instead of dozens (39,000 rows for an hour at 10M tweets, 36 ms).
minute_tag_totals = Table(
    "minute_tag_totals", metadata,
    Column("minute", DateTime(timezone=True), nullable=False),
    Column("tag", Text, nullable=False),
    Column("count", BigInteger, nullable=False),
    PrimaryKeyConstraint("minute", "tag"),
    # each candidate tag's minutes in the top-hashtags window (services.storage.analytics)
    Index("minute_tag_totals_by_tag", "tag", "minute"),
)

UNKNOWN_COUNTRY = "unknown"
POPULATE_RUN_ID = 0
