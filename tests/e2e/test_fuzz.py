"""Schemathesis against the running gateway's own /openapi.json: generated requests, valid and invalid,
for every documented operation. Each answer must not be a 5xx and must conform to the document
(status code, content type, headers and body schema).

`make test` runs a deterministic sample of FUZZ_EXAMPLES per operation, 100 by default, for this module
to stay within about 2 minutes here: on 2 cores shared with other work, 100 took 68 to 100 s, 150 took
116 s and 200 took 152 s (the services' start included), so 150 would leave no room for a busier
machine. `make fuzz` runs a longer one.
Launches and populates that would be accepted are shrunk first (see ``bounded``), or the populates
alone took half the time.
"""
import os

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.contracts.errors import BadRequest
from services.contracts.requests import PopulateRequest, validate
from services.gateway.openapi import openapi_document
from services.sources.synthetic import MAX_POSITIONS

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
# fuzzed runs stay small, so a generated `rate`/`limit` cannot keep the machine busy for the rest of the session
LAUNCH_LIMIT = 200
# and so do populates: up to 50 tags x 1000 tweets each took half the module's time at 100 examples
POPULATE_TAGS, POPULATE_PER_TAG = 3, 10


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
    """A launch body with an acceptable limit (or none) gets a small one, an acceptable populate body
    few tags and tweets; an unacceptable one is kept as is."""
    body = case.body
    if case.operation.path == "/launch" and isinstance(body, dict):
        limit = body.get("limit")
        if limit is None or (isinstance(limit, int) and not isinstance(limit, bool) and 1 <= limit <= MAX_POSITIONS):
            body["limit"] = min(limit or LAUNCH_LIMIT, LAUNCH_LIMIT)
    if case.operation.path == "/api/v1/populate" and isinstance(body, dict):
        try:
            validate(PopulateRequest, body)
        except BadRequest:
            return
        body["per_tag"] = POPULATE_PER_TAG
        if "tags" in body:
            body["tags"] = body["tags"][:POPULATE_TAGS]


@schema.parametrize()
@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_answer_is_documented_and_none_is_a_server_error(case, gateway):
    bounded(case)
    response = case.call(base_url=gateway.base_url, timeout=60)
    case.validate_response(response, checks=CHECKS)
    if case.operation.path == "/launch":
        # the next generated launch must not only ever meet 409: end whatever this one started
        requests.post(gateway.base_url + "/stop", timeout=60)
