"""Launching and stopping runs, and the statistics across them."""

from services.contracts.requests import LaunchRequest, validate
from services.gateway.coalesce import CoalescedStatistics
from services.gateway.http import http, json_endpoint, read_json
from services.gateway.services import CalledServices


class StreamRoutes(CalledServices):
    overall_statistics = CoalescedStatistics()

    @http("POST", "/launch")
    @json_endpoint("/launch")
    def launch(self, request):
        launch = validate(LaunchRequest, read_json(request))
        answer = self.launcher.launch(launch.model_dump(exclude_none=True))
        self.overall_statistics.forget()
        return answer

    @http("POST", "/stop")
    @json_endpoint("/stop")
    def stop(self, request):
        figures = self.launcher.stop()
        self.overall_statistics.forget()
        return figures

    @http("GET", "/statistics")
    @json_endpoint("/statistics")
    def get_statistics(self, request):
        return self.overall_statistics.get(self.statistics.get_statistics)

    @http("GET", "/statistics/runs")
    @json_endpoint("/statistics/runs")
    def list_runs(self, request):
        return self.statistics.list_runs()

    @http("GET", "/statistics/runs/<int:run_id>")
    @json_endpoint("/statistics/runs/<run_id>")
    def get_run(self, request, run_id):
        return self.statistics.get_run(run_id)

    @http("POST", "/statistics/runs/<int:run_id>/retry")
    @json_endpoint("/statistics/runs/<run_id>/retry")
    def retry_failed(self, request, run_id):
        answer = self.launcher.retry_failed(run_id)
        self.overall_statistics.forget()
        return answer
