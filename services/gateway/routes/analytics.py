"""Live analytics: top hashtags, minute aggregates, user profiles (/api/v1/...)."""

from services.gateway.http import http, json_endpoint
from services.gateway.rpc import TimedRpcProxy
from services.query.analytics_requests import (
    AggregatesRequest, TopHashtagsRequest, UserTweetsRequest, validate_query,
)


def query_parameters(request) -> dict:
    """The query string as a dict (the first value of a repeated parameter)."""
    return request.args.to_dict()


class AnalyticsRoutes:
    query = TimedRpcProxy("query")

    @http("GET", "/api/v1/hashtags/top")
    @json_endpoint("/api/v1/hashtags/top")
    def get_top_hashtags(self, request):
        top = validate_query(TopHashtagsRequest, query_parameters(request))
        return self.query.top_hashtags(top.for_rpc())

    @http("GET", "/api/v1/aggregates")
    @json_endpoint("/api/v1/aggregates")
    def get_minute_aggregates(self, request):
        aggregates = validate_query(AggregatesRequest, query_parameters(request))
        return self.query.minute_aggregates(aggregates.for_rpc())

    @http("GET", "/api/v1/users/<username>/tweets")
    @json_endpoint("/api/v1/users/<username>/tweets")
    def get_user_tweets(self, request, username):
        wanted = validate_query(UserTweetsRequest, {**query_parameters(request), "username": username})
        return self.query.user_tweets(wanted.model_dump())
