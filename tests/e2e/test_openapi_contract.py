"""The OpenAPI document and the gateway agree.

Every @http entrypoint of GatewayService is documented and every documented operation is one of
them; the document is valid OpenAPI 3.0; and real answers of the running system, for every
documented operation, have a documented status, content type and (for JSON) a body that
validates against the documented schema.
"""
import re
from urllib.parse import urlsplit

import pytest
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from nameko.web.handlers import HttpRequestHandler
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from openapi_spec_validator import validate as validate_openapi

from services.gateway.http import UNMATCHED
from services.gateway.openapi import openapi_document
from services.gateway.service import GatewayService

pytestmark = pytest.mark.e2e

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def openapi_path(rule: str) -> str:
    """werkzeug's /statistics/runs/<int:run_id> is OpenAPI's /statistics/runs/{run_id}."""
    return re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule)


def gateway_routes() -> set[tuple[str, str]]:
    routes = set()
    for name in dir(GatewayService):
        if name == UNMATCHED:  # the catch-all answering JSON 404/405 is deliberately undocumented
            continue
        for entrypoint in getattr(getattr(GatewayService, name), ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if isinstance(entrypoint, HttpRequestHandler):
                for method in entrypoint.method.split(","):
                    routes.add((method.strip().lower(), openapi_path(entrypoint.url)))
    return routes


def documented_routes(document: dict) -> set[tuple[str, str]]:
    return {(method, path) for path, item in document["paths"].items() for method in item if method in METHODS}


def test_every_route_is_documented_and_every_documented_route_exists():
    routes, documented = gateway_routes(), documented_routes(openapi_document())
    assert len(routes) >= 19  # the introspection finds the gateway's routes, not nothing
    assert routes - documented == set(), "routes missing from the document"
    assert documented - routes == set(), "documented operations the gateway does not have"


def test_the_document_is_valid_openapi_3():
    document = openapi_document()
    validate_openapi(document)
    assert document["openapi"].startswith("3.0")
    # request bodies are the very models the gateway validates with
    launch = document["components"]["schemas"]["LaunchRequest"]
    assert launch["required"] == ["track"] and launch["properties"]["track"]["maxItems"] == 400
    parameters = {p["name"]: p for p in document["paths"]["/api/v1/aggregates"]["get"]["parameters"]}
    assert set(parameters) == {"from", "to", "minutes", "tag", "lang", "country", "run_id"}


def path_pattern(template: str) -> re.Pattern:
    """A regex for a documented path: {path} is a file path (slashes included), any other parameter one segment."""
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("^" + "".join(
        (".+" if part == "{path}" else "[^/]+") if part.startswith("{") else re.escape(part) for part in parts
    ) + "$")


class Contract:
    """Checks real answers against the document and remembers which operations it saw."""

    def __init__(self, document: dict):
        self.document = document
        self.seen: set[tuple[str, str]] = set()
        self.templates = {template: path_pattern(template) for template in document["paths"]}

    def template_of(self, path: str) -> str:
        matches = [template for template, pattern in self.templates.items() if pattern.match(path)]
        assert len(matches) == 1, f"{path} matches {matches} among the documented paths"
        return matches[0]

    def check(self, answer, status: int | None = None):
        method = answer.request.method.lower()
        template = self.template_of(urlsplit(answer.request.url).path)
        if status is not None:
            assert answer.status_code == status, f"{method} {answer.request.url}: {answer.status_code} {answer.text}"
        operation = self.document["paths"][template][method]
        documented = operation["responses"].get(str(answer.status_code))
        assert documented, f"{method} {template} answered {answer.status_code}, which is not documented"
        self.seen.add((method, template))
        content = documented.get("content")
        if not content:
            return answer
        mimetype = answer.headers["Content-Type"].split(";")[0].strip()
        assert mimetype in content, f"{method} {template}: {mimetype} is not among {list(content)}"
        if mimetype == "application/json":
            schema = {**content[mimetype]["schema"], "components": self.document["components"]}
            OAS30Validator(schema, format_checker=oas30_format_checker).validate(answer.json())
        return answer


def test_real_answers_match_the_documented_schemas(fresh_system):
    system = fresh_system
    served = system.get("/openapi.json")
    assert served.status_code == 200
    document = served.json()
    assert document == openapi_document()
    contract = Contract(document)
    check = contract.check

    # the site
    assert "<svg" not in check(system.get("/"), 200).text  # charts are drawn by script
    check(system.get("/static/app.js"), 200)
    check(system.get("/static/style.css"), 200)
    check(system.get("/static/nothing.js"), 404)
    check(system.get("/static/..%2F..%2Fopenapi.py"), 404)  # nothing outside static/ is served
    check(served, 200)
    assert "swagger-ui" in check(system.get("/docs"), 200).text
    check(system.get("/docs/assets/swagger-ui.css"), 200)
    assert "SwaggerUIBundle" in check(system.get("/docs/assets/swagger-ui-bundle.js"), 200).text

    # runs and statistics
    check(system.post("/stop"), 409)
    check(system.post("/launch", {"track": []}), 400)
    run_id = check(system.post("/launch", {"track": ["the"], "source": "synthetic", "rate": 0, "seed": 3,
                                           "limit": 600}), 200).json()["run_id"]
    system.wait_run_done(run_id)
    check(system.get("/statistics"), 200)
    assert check(system.get("/statistics/runs"), 200).json()[0]["run_id"] == run_id
    assert check(system.get(f"/statistics/runs/{run_id}"), 200).json()["amount"] > 0
    check(system.get("/statistics/runs/999999"), 404)
    assert check(system.post(f"/statistics/runs/{run_id}/retry"), 200).json()["retried"] == 0
    check(system.post("/statistics/runs/999999/retry"), 404)
    active = check(system.post("/launch", {"track": ["the"], "rate": 50, "seed": 4}), 200).json()["run_id"]
    beside = check(system.post("/launch", {"track": ["nba"]}), 200).json()["run_id"]
    check(system.post("/stop"), 409)   # two are active: name one
    check(system.post("/stop", {"run_id": 999999}), 404)
    check(system.post("/stop", {"run_id": "one"}), 400)
    assert check(system.post("/stop", {"run_id": beside}), 200).json()["run_id"] == beside
    check(system.get("/statistics/runs?status=active&limit=5"), 200)
    check(system.get("/statistics/runs?status=asleep"), 400)
    check(system.get("/statistics?owner=alice"), 200)
    assert check(system.get("/api/me"), 200).json() == {"role": "admin", "name": None}   # an open gateway
    assert check(system.get("/statistics/budget"), 200).json()["used"] == 0
    assert check(system.post("/stop"), 200).json()["run_id"] == active

    # views
    populated = check(system.post("/api/v1/populate", {"tags": ["devops"], "per_tag": 10}), 201).json()
    assert populated["total"] >= 1
    check(system.post("/api/v1/populate", {"per_tag": 1}), 400)
    users = check(system.get("/api/v1/users"), 200).json()
    assert users
    assert check(system.get("/api/v1/hour"), 200).json()
    assert len(check(system.get("/api/v1/hour", params={"by": "hour_of_day"}), 200).json()) == 24
    check(system.get("/api/v1/hour", params={"by": "week"}), 400)
    assert check(system.get("/api/v1/tags", params={"limit": 5}), 200).json()
    check(system.get("/api/v1/tags", params={"limit": 0}), 400)

    # live analytics
    assert check(system.get("/api/v1/hashtags/top", params={"limit": 5}), 200).json()
    check(system.get("/api/v1/hashtags/top", params={"limit": 0}), 400)
    minutes = check(system.get("/api/v1/aggregates", params={"minutes": 10}), 200).json()
    assert len(minutes) == 10 and sum(m["count"] for m in minutes) > 0
    check(system.get("/api/v1/aggregates", params={"from": "2024-05-02", "to": "2024-05-01"}), 400)
    profile = check(system.get(f"/api/v1/users/{users[0]['username']}/tweets", params={"limit": 3}), 200).json()
    assert 1 <= len(profile["tweets"]) <= 3
    check(system.get("/api/v1/users/no_such_user_x/tweets"), 404)
    check(system.get("/api/v1/users/bob/tweets", params={"limit": 0}), 400)

    # operations
    check(system.get("/api/health"))
    assert "# TYPE" in check(system.get("/metrics"), 200).text

    assert contract.seen == documented_routes(document), "some documented operations were never exercised"
