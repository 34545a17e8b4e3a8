"""The gateway's @http entrypoint: Nameko's signature check, run once per shape of arguments."""
import inspect

import pytest
from nameko.containers import ServiceContainer
from nameko.exceptions import IncorrectSignature
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.test import Client

from services.gateway.http import UNMATCHED, JsonRoutingErrors, RouteTable, UnmatchedRoutes, http


class Pages(UnmatchedRoutes):
    name = "pages"

    @http("GET", "/")
    def home(self, request):
        return {"home": True}

    @http("GET", "/pages/<int:page_id>")
    def page(self, request, page_id):
        return {"page": page_id}


def endpoint_of(container, method_name):
    [endpoint] = [e for e in container.entrypoints if e.method_name == method_name]
    endpoint.setup()
    return endpoint


def test_a_route_checks_each_shape_of_arguments_once_and_keeps_refusing_a_wrong_one(monkeypatch):
    container = ServiceContainer(Pages, {})   # extensions hold their container weakly
    endpoint = endpoint_of(container, "page")
    checks = []
    real_check = inspect.getcallargs
    monkeypatch.setattr(inspect, "getcallargs", lambda *args, **kwargs: checks.append(1) or real_check(*args, **kwargs))

    for page_id in (1, 2, 3):
        endpoint.check_signature((object(),), {"page_id": page_id})
    assert len(checks) == 1

    for _ in range(2):   # a refused shape is not remembered: refused every time
        with pytest.raises(IncorrectSignature):
            endpoint.check_signature((object(),), {"chapter": 1})
    assert len(checks) == 3


def test_the_route_table_is_bound_once_and_tells_404_from_405():
    container = ServiceContainer(Pages, {})
    [table] = [d for d in container.dependencies if isinstance(d, RouteTable)]
    table.setup()
    adapter = table.get_dependency(None)
    assert table.get_dependency(None) is adapter

    assert adapter.match("/pages/4", "GET")[1] == {"page_id": 4}
    with pytest.raises(MethodNotAllowed):
        adapter.match("/pages/4", "POST")
    with pytest.raises(NotFound):
        adapter.match("/chapters/4", "GET")


def test_the_catch_all_takes_any_method_after_every_route_and_routing_errors_are_json():
    container = ServiceContainer(Pages, {})
    for endpoint in container.entrypoints:
        endpoint.setup()
    app = JsonRoutingErrors(next(iter(container.entrypoints)).server)
    adapter = app.url_map.bind("gateway")

    assert adapter.match("/", "GET")[0].method_name == "home"   # not the catch-all's "/" of any method
    for method in ("POST", "TRACE", "PROPFIND"):
        assert adapter.match("/", method)[0].method_name == UNMATCHED
        assert adapter.match("/pages/4", method)[0].method_name == UNMATCHED
    # over a bigint: the converter refuses what its pattern took, and werkzeug skips the catch-all
    answer = Client(app).get("/pages/99999999999999999999")
    assert answer.status_code == 404 and answer.json == {"error": "no route /pages/99999999999999999999"}
    assert adapter.match("/pages/9223372036854775807", "GET")[1] == {"page_id": 2**63 - 1}
