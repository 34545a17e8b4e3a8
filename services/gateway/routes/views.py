"""The five REST views and populate (/api/v1/...), answered by the query service."""

from services.contracts.requests import HourQuery, PopulateRequest, TagsQuery, validate
from services.gateway.http import http, json_endpoint, query_parameters, read_json
from services.gateway.services import CalledServices


class ViewRoutes(CalledServices):

    @http("POST", "/api/v1/populate")
    @json_endpoint("/api/v1/populate")
    def populate_tags(self, request):
        wanted = validate(PopulateRequest, read_json(request, required=False))
        return 201, self.query.populate(wanted.model_dump())

    @http("GET", "/api/v1/users")
    @json_endpoint("/api/v1/users")
    def view_top_users(self, request):
        return self.query.top_users()

    @http("GET", "/api/v1/hour")
    @json_endpoint("/api/v1/hour")
    def view_tweets_per_hour(self, request):
        return self.query.tweets_per_hour(validate(HourQuery, query_parameters(request)).model_dump())

    @http("GET", "/api/v1/tags")
    @json_endpoint("/api/v1/tags")
    def view_tag_counts(self, request):
        return self.query.tag_counts(validate(TagsQuery, query_parameters(request)).model_dump())
