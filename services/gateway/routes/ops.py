"""Health (/api/health) and Prometheus metrics (/metrics)."""
import eventlet
from nameko.exceptions import RemoteError, UnknownService
from werkzeug.wrappers import Response

from services.gateway.http import http, json_endpoint
from services.gateway.services import CalledServices
from services.observability.metrics import HEALTH, render_latest

# The health service answers within about 3 s even when a dependency hangs; past this
# the gateway answers 500 itself, so /api/health always answers within 5 s.
HEALTH_ANSWER_SECONDS = 4.0
CHECK_NAMES = ("database", "broker", "source", "pipeline")


def unanswered(reason: str) -> dict:
    """The health answer when the health service gave none: same shape, saying why."""
    return {"status": "failed", "error": reason,
            "checks": {name: f"unknown: {reason}" for name in CHECK_NAMES}}


def ask_health(health, timeout: float) -> tuple[int, dict]:
    try:
        # publishing can hang too (a stuck broker), so the deadline covers the whole call
        with eventlet.Timeout(timeout):
            answer = health.check.call_async().result()
    except eventlet.Timeout:
        answer = unanswered(f"the health service did not answer within {timeout:g} s")
    except UnknownService:
        answer = unanswered("the health service is not running")
    except RemoteError as error:
        answer = unanswered(f"the health service failed ({error.exc_type})")
    except Exception as error:  # noqa: BLE001 - e.g. the broker is down: still a JSON answer
        answer = unanswered(f"cannot reach the health service ({type(error).__name__})")
    for name, outcome in answer["checks"].items():
        HEALTH.labels(check=name).set(1 if outcome == "ok" else 0)
    return (200 if answer["status"] == "ok" else 500), answer


class OpsRoutes(CalledServices):

    @http("GET", "/api/health")
    @json_endpoint("/api/health")
    def health_check(self, request):
        return ask_health(self.health, HEALTH_ANSWER_SECONDS)

    @http("GET", "/metrics")
    @json_endpoint("/metrics")
    def prometheus_metrics(self, request):
        body, content_type = render_latest()
        return Response(body, status=200, content_type=content_type)
