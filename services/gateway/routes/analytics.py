"""Live analytics: top hashtags, minute aggregates, user profiles (/api/v1/...)."""

from services.contracts.requests import (
    AggregatesRequest,
    TopHashtagsRequest,
    UserTweetsRequest,
    validate,
)
from services.gateway.http import http, json_endpoint, query_parameters
from services.gateway.services import CalledServices


class AnalyticsRoutes(CalledServices):
    @http("GET", "/api/v1/hashtags/top")
    @json_endpoint("/api/v1/hashtags/top")
    def get_top_hashtags(self, request):
        top = validate(TopHashtagsRequest, query_parameters(request))
        return self.query.top_hashtags(top.for_rpc())

    @http("GET", "/api/v1/aggregates")
    @json_endpoint("/api/v1/aggregates")
    def get_minute_aggregates(self, request):
        aggregates = validate(AggregatesRequest, query_parameters(request))
        return self.query.minute_aggregates(aggregates.for_rpc())

    @http("GET", "/api/v1/users/<username>/tweets")
    @json_endpoint("/api/v1/users/<username>/tweets")
    def get_user_tweets(self, request, username):
        wanted = validate(UserTweetsRequest, {**query_parameters(request), "username": username})
        return self.query.user_tweets(wanted.model_dump())
