"""Launching and stopping runs, and the statistics across them."""

from services.contracts.requests import LaunchRequest, OwnerQuery, RunsQuery, StopRequest, validate
from services.gateway.coalesce import CoalescedStatistics
from services.gateway.http import caller_of, http, json_endpoint, query_parameters, read_json
from services.gateway.services import CalledServices


class StreamRoutes(CalledServices):
    overall_statistics = CoalescedStatistics()

    @http("POST", "/launch")
    @json_endpoint("/launch")
    def launch(self, request):
        launch = validate(LaunchRequest, read_json(request))
        answer = self.launcher.launch(launch.model_dump(exclude_none=True), caller_of(request).as_rpc())
        self.overall_statistics.forget()
        return answer

    @http("POST", "/stop")
    @json_endpoint("/stop")
    def stop(self, request):
        stop = validate(StopRequest, read_json(request, required=False))
        figures = self.launcher.stop(stop.model_dump(exclude_none=True), caller_of(request).as_rpc())
        self.overall_statistics.forget()
        return figures

    @http("GET", "/api/me")
    @json_endpoint("/api/me")
    def who_am_i(self, request):
        """The caller's role and name, so that the dashboard shows Stop on the runs the caller may stop."""
        return caller_of(request).as_rpc()

    @http("GET", "/statistics")
    @json_endpoint("/statistics")
    def get_statistics(self, request):
        query = query_parameters(request)
        if query:  # one user's figures: asked for rarely, never shared
            validate(OwnerQuery, query)
            return self.statistics.get_statistics(query)
        return self.overall_statistics.get(self.statistics.get_statistics)

    @http("GET", "/statistics/budget")
    @json_endpoint("/statistics/budget")
    def get_budget(self, request):
        return self.statistics.get_budget()

    @http("GET", "/statistics/runs")
    @json_endpoint("/statistics/runs")
    def list_runs(self, request):
        query = query_parameters(request)
        validate(RunsQuery, query)
        return self.statistics.list_runs(query)

    @http("GET", "/statistics/runs/<int:run_id>")
    @json_endpoint("/statistics/runs/<run_id>")
    def get_run(self, request, run_id):
        return self.statistics.get_run(run_id)

    @http("POST", "/statistics/runs/<int:run_id>/retry")
    @json_endpoint("/statistics/runs/<run_id>/retry")
    def retry_failed(self, request, run_id):
        answer = self.launcher.retry_failed(run_id, caller_of(request).as_rpc())
        self.overall_statistics.forget()
        return answer
