"""The query service: populate, and the analytic views over the rollups."""
from datetime import datetime, timezone

from nameko.dependency_providers import Config
from nameko.rpc import rpc

from services.contracts.errors import ANSWERS, BudgetExhausted, NotFound, SourceFailed
from services.contracts.requests import (
    AggregatesRequest, HourQuery, PopulateRequest, TagsQuery, TopHashtagsRequest, UserTweetsRequest, validate,
)
from services.observability.metrics import POPULATE_FAILURES, EntrypointMetrics, MetricsServer
from services.settings import setting
from services.storage import analytics, budget, views
from services.query.populate import populate_tags
from services.sources import SourceCredentials, TweetSource, default_source_name, make_source
from services.storage.database import Database, ReadOnlyDatabase


class QueryService:
    name = "query"

    db = Database()              # populate writes in transactions
    reads = ReadOnlyDatabase()   # the views: one autocommit round trip per statement
    config = Config()
    source_credentials = SourceCredentials()
    metrics = MetricsServer()
    entrypoint_metrics = EntrypointMetrics()

    @rpc(expected_exceptions=ANSWERS)
    def populate(self, request: dict | None = None) -> dict:
        """Fetch and store recent tweets per tag; ``{"stored": {tag: n}, "total": n, ...}``."""
        wanted = validate(PopulateRequest, request)
        source = populate_source(self.config)
        try:
            count_reads = None
            if source.name == "x":
                count_reads = within_budget(self.db, int(setting(self.config, "X_MONTHLY_POST_BUDGET")),
                                            len(wanted.tags) * wanted.per_tag)
            return populate_tags(self.db, source, wanted.tags, wanted.per_tag, count_reads).as_answer()
        finally:
            source.close()

    @rpc(expected_exceptions=ANSWERS)
    def top_users(self) -> list[dict]:
        return self.reads.read(views.top_users)

    @rpc(expected_exceptions=ANSWERS)
    def tweets_per_hour(self, query: dict | None = None) -> list[dict]:
        by = validate(HourQuery, query).by
        return self.reads.read(views.tweets_per_hour_of_day if by == "hour_of_day" else views.tweets_per_hour)

    @rpc(expected_exceptions=ANSWERS)
    def tag_counts(self, query: dict | None = None) -> list[dict]:
        limit = validate(TagsQuery, query).limit
        return self.reads.read(views.tag_counts, limit)

    @rpc(expected_exceptions=ANSWERS)
    def top_hashtags(self, request: dict | None = None) -> list[dict]:
        query = validate(TopHashtagsRequest, request)
        first, last = query.minute_range(datetime.now(timezone.utc))
        return self.reads.read(analytics.top_hashtags, first, last, query.limit)

    @rpc(expected_exceptions=ANSWERS)
    def minute_aggregates(self, request: dict | None = None) -> list[dict]:
        query = validate(AggregatesRequest, request)
        first, last = query.minute_range(datetime.now(timezone.utc))
        return self.reads.read(analytics.minute_aggregates, first, last, tag=query.tag, lang=query.lang,
                               country=query.country, run_id=query.run_id)

    @rpc(expected_exceptions=ANSWERS)
    def user_tweets(self, request: dict) -> dict:
        query = validate(UserTweetsRequest, request)
        profile = self.reads.read(analytics.user_tweets, query.username, query.limit)
        if profile is None:
            raise NotFound(f"user {query.username!r} is not known")
        return profile


def within_budget(engine, monthly_budget: int, asked: int):
    """Refuse a populate from the X API that could read more posts than the month has left (429);
    else what counts the posts each page brought."""
    with engine.connect() as conn:
        left = monthly_budget - budget.month_reads(conn)
    if asked > left:
        raise BudgetExhausted(f"populate may read up to {asked} posts from the X API; {max(left, 0)} of this "
                              f"month's X_MONTHLY_POST_BUDGET ({monthly_budget}) are left")

    def count_reads(posts: int) -> None:
        with engine.begin() as conn:
            budget.record_reads(conn, posts)
    return count_reads


def populate_source(config: dict) -> TweetSource:
    """The flavor's source (stage: synthetic, production: the X API); a source that cannot be
    built (no bearer token, unknown name) is a source failure, reported with its reason."""
    name = default_source_name(config)
    try:
        return make_source(name, config)
    except Exception as error:  # noqa: BLE001 - SourceError, ValueError, BadRequest: all say why
        POPULATE_FAILURES.labels(reason="source").inc()
        raise SourceFailed(f"the {name} source cannot be used: {error}") from None
