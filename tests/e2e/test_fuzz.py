"""Schemathesis against the running gateway's own /openapi.json: generated requests, valid and invalid,
for every documented operation. Each answer must not be a 5xx and must conform to the document
(status code, content type, headers and body schema).

`make test` runs a small deterministic sample (FUZZ_EXAMPLES, 6 per operation); `make fuzz` a long one.
"""
import os

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

from services.gateway.openapi import openapi_document
from services.sources.synthetic import MAX_POSITIONS
from tests.e2e.test_http_errors import WIRED

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
# fuzzed runs stay small, so a generated `rate`/`limit` cannot keep the machine busy for the rest of the session
LAUNCH_LIMIT = 200


# The document as the gateway builds it (loaded at collection, before any process runs; schemathesis'
# lazy fixture loader does not work under pytest 9); the first test checks the served one is the same.
schema = schemathesis.openapi.from_dict(openapi_document())


@pytest.fixture(scope="module")
def gateway(system):
    yield system
    system.post("/stop")


def test_the_gateway_serves_the_document_being_fuzzed(gateway):
    assert gateway.get("/openapi.json").json() == openapi_document()


def bounded(case) -> None:
    """A launch body with an acceptable limit (or none) gets a small one; an unacceptable one is kept as is."""
    body = case.body
    if case.operation.path == "/launch" and isinstance(body, dict):
        limit = body.get("limit")
        if limit is None or (isinstance(limit, int) and not isinstance(limit, bool) and 1 <= limit <= MAX_POSITIONS):
            body["limit"] = min(limit or LAUNCH_LIMIT, LAUNCH_LIMIT)


@schema.parametrize()
@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_answer_is_documented_and_none_is_a_server_error(case, gateway):
    bounded(case)
    response = case.call(base_url=gateway.base_url, timeout=60)
    if not WIRED and response.status_code == 404 and not response.text.lstrip().startswith("{"):
        # a path parameter werkzeug cannot route (e.g. run_id "null,null") gets nameko's HTML 404
        pytest.xfail("JSON 404 needs UnmatchedRoutes in GatewayService (issue 6 report)")
    case.validate_response(response, checks=CHECKS)
    if case.operation.path == "/launch":
        # the next generated launch must not only ever meet 409: end whatever this one started
        requests.post(gateway.base_url + "/stop", timeout=60)
