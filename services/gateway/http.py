"""JSON in, JSON out for the gateway: bodies, errors and their status codes in one place."""
import functools
import logging
import socket
import time

import orjson
from nameko.exceptions import RemoteError
from nameko.extensions import DependencyProvider
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer, WsgiApp
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.exceptions import NotFound as NoRoute
from werkzeug.routing import IntegerConverter, Map, RequestRedirect, Rule
from werkzeug.wrappers import Request, Response

from services.contracts.errors import HTTP_STATUS, BadRequest, SourceUnavailable
from services.gateway.auth import OPEN, Caller, TokenTable, bearer_token, required_role
from services.gateway.rpc import RpcTimeout
from services.observability.metrics import HTTP_REQUESTS, HTTP_SECONDS

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024


# Every method, those no route knows too (TRACE, PROPFIND...): the catch-all's ``@http`` method.
ANY_METHOD = "*"
# The largest id a route's <int:...> takes: ids are PostgreSQL bigints, and an RPC message (orjson)
# cannot carry a larger int; such a path matched no route but failed the request with a 500.
MAX_PATH_INT = 2**63 - 1


class PathInt(IntegerConverter):
    """werkzeug's ``int`` converter (digits only, no sign) up to MAX_PATH_INT: above it the path
    matches no route (a JSON 404 from JsonRoutingErrors)."""

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_PATH_INT, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


CONVERTERS = {"int": PathInt}


class JsonRoutingErrors(WsgiApp):
    """Nameko's WSGI app, whose routing errors are JSON too. The catch-all (UnmatchedRoutes) takes
    what no rule's pattern matches; but a converter that refuses a value its pattern took (PathInt
    above MAX_PATH_INT) makes werkzeug raise NotFound at once, without trying the catch-all, and
    Nameko answered that with werkzeug's HTML page."""

    def __call__(self, environ, start_response):
        request = Request(environ, shallow=True)   # as Nameko's: the body is read by the entrypoint
        adapter = self.url_map.bind_to_environ(environ)
        try:
            provider, request.path_values = adapter.match()
            response = provider.handle_request(request)
        except RequestRedirect as redirect:   # a redirect (e.g. to the path with its slash) stays one
            response = redirect
        except MethodNotAllowed as error:
            response = error_response(405, *not_allowed(request, error))
        except NoRoute:
            response = error_response(404, f"no route {request.path}")
        except HTTPException as error:
            response = error_response(error.code or 500, error.description or error.name)
        return response(environ, start_response)


class NoDelayWebServer(WebServer):
    """Nameko's web server with Nagle's algorithm off on its connections (inherited from the
    listening socket). eventlet writes a response's headers and body in two sends: on a
    kept-alive connection the body then waited for the client's delayed ACK, 40 ms a response.
    Its URL map takes ``int`` as PathInt, the catch-all's rules after every route's; its routing
    errors are JSON."""

    def get_wsgi_server(self, sock, wsgi_app, *args, **kwargs):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return super().get_wsgi_server(sock, wsgi_app, *args, **kwargs)

    def get_wsgi_app(self):
        return JsonRoutingErrors(self)

    def make_url_map(self):
        url_map = Map(converters=CONVERTERS)
        # werkzeug tries rules for the same path in the order they were added: "/" of any method
        # must not shadow the dashboard's GET "/" (the providers are a set, in no set order)
        for provider in sorted(self._providers, key=lambda provider: getattr(provider, "method", "") == ANY_METHOD):
            rule = provider.get_url_rule()
            rule.endpoint = provider
            url_map.add(rule)
        return url_map


class HttpEndpoint(HttpRequestHandler):
    server = NoDelayWebServer()

    def setup(self):
        super().setup()
        self.checked_shapes: set[tuple[int, frozenset]] = set()

    def get_url_rule(self):
        if self.method == ANY_METHOD:
            return Rule(self.url, methods=None)  # werkzeug: every method
        return super().get_url_rule()

    def check_signature(self, args, kwargs):
        # A route hands its method the same argument names on every request, so the answer of
        # Nameko's check (inspect.getcallargs, 5% of the gateway's CPU under load) never changes:
        # each shape of arguments is checked once.
        shape = (len(args), frozenset(kwargs))
        if shape not in self.checked_shapes:
            super().check_signature(args, kwargs)
            self.checked_shapes.add(shape)


http = HttpEndpoint.decorator


# Every answer of the gateway carries these (json_endpoint adds them): the page and Swagger UI load
# only their own files (no inline script, no other origin; Swagger UI's icons are data: images),
# no other site may frame them, and a browser never guesses a type nor sends the page's address away.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def json_response(status: int, body) -> Response:
    return Response(orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS), status=status,
                    mimetype="application/json")


def error_response(status: int, message: str, headers: dict | None = None, **extra) -> Response:
    response = json_response(status, {"error": message, **extra})
    response.headers.update(headers or {})
    return response


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def read_json(request: Request, required: bool = True):
    """The request's JSON body (None when empty and not required)."""
    if request.content_length and request.content_length > MAX_BODY_BYTES:
        raise HttpError(413, f"body is larger than {MAX_BODY_BYTES} bytes")
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY_BYTES:
        raise HttpError(413, f"body is larger than {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        if required:
            raise BadRequest("body: a JSON object is required")
        return None
    mimetype = request.mimetype
    # curl -d sends form-urlencoded by default; the JSON is still the body, so accept it
    if mimetype not in ("", "application/json", "application/x-www-form-urlencoded", "text/plain"):
        raise HttpError(415, f"content type {mimetype!r} is not supported; send application/json")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"body: not valid JSON ({error})") from None


# json_endpoint's role when none is named: derived from the route and the HTTP method (auth.required_role)
BY_METHOD = object()


@functools.cache
def environment_tokens() -> TokenTable:
    """The tokens for a service class that does not declare ``api_tokens = ApiTokens()``: the same
    rules, read from the environment on first use, so access control never silently disappears."""
    return TokenTable.load({})


def check_access(tokens: TokenTable, request: Request, required: str) -> Caller:
    """The caller; 401 without a known token, 403 when its role may not do this."""
    if tokens.open:
        return OPEN
    if not tokens.configured:
        raise HttpError(503, "no API tokens are configured; this gateway serves only public routes")
    token = bearer_token(request.headers.get("Authorization"))
    caller = tokens.caller_of(token)
    if caller is None:
        problem = "an API token is required" if token is None else "the API token is not valid"
        raise HttpError(401, f"{problem}: send 'Authorization: Bearer <token>'",
                        {"WWW-Authenticate": 'Bearer realm="tweetstream"'})
    if not tokens.may(caller.role, required):
        raise HttpError(403, f"the {caller.role} role may not do this; it needs the {required} role")
    return caller


_CALLER = "tweetstream.caller"


def caller_of(request: Request) -> Caller:
    """Who sent this request, as json_endpoint's access check found out (a route that needs a role)."""
    return request.environ[_CALLER]


def query_parameters(request) -> dict:
    """The query string as a dict of text, the first value of a repeated parameter (the request
    models read integers from it: services.contracts.requests)."""
    return request.args.to_dict()


def json_endpoint(route: str, role=BY_METHOD):
    """Wrap an @http method: check the caller's role, map errors to JSON answers and record the
    request's metrics. ``role``: "admin", "viewer", None (public), or by default from the method."""
    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, request, *args, **kwargs):
            began = time.perf_counter()
            try:
                needed = required_role(route, request.method) if role is BY_METHOD else role
                if needed is not None:
                    request.environ[_CALLER] = check_access(
                        getattr(self, "api_tokens", None) or environment_tokens(), request, needed)
                response = method(self, request, *args, **kwargs)
                if not isinstance(response, Response):
                    status, body = response if isinstance(response, tuple) else (200, response)
                    response = json_response(status, body)
            except HttpError as error:
                response = error_response(error.status, str(error), error.headers)
            except BadRequest as error:
                response = error_response(400, str(error))
            except SourceUnavailable as error:  # rebuilt from the RPC reply (deserialize_to_instance)
                response = error_response(HTTP_STATUS["SourceUnavailable"], error.describe(),
                                          available_sources=error.offered)
            except RpcTimeout as error:
                log.warning("%s: %s", route, error)
                response = error_response(504, str(error))
            except RemoteError as error:
                status = HTTP_STATUS.get(error.exc_type, 500)
                if status == 500 and error.exc_type not in HTTP_STATUS:
                    log.error("%s failed: %s", route, error)
                    response = error_response(500, f"internal error in a service ({error.exc_type})")
                else:
                    response = error_response(status, str(error.value))
            except Exception:  # noqa: BLE001 - a bug must still answer in JSON
                log.exception("%s failed", route)
                response = error_response(500, "internal error")
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            HTTP_REQUESTS.labels(route=route, method=request.method, status=str(response.status_code)).inc()
            HTTP_SECONDS.labels(route=route, method=request.method).observe(time.perf_counter() - began)
            return response
        return wrapper
    return decorate


# -- unknown routes and wrong methods -------------------------------------------------------------
# Nameko's WsgiApp answers them itself with werkzeug's HTML pages. A catch-all rule takes every
# request no other rule matches, of any method (werkzeug prefers any matching rule over reporting a
# wrong method), and RouteTable tells which it was: a path no route has (404), a path whose
# converter refused its value (e.g. /statistics/runs/abc: 404 too) or a method the path lacks (405).

UNMATCHED = "unmatched_route"


def not_allowed(request: Request, error: MethodNotAllowed) -> tuple[str, dict]:
    """A 405's message and its Allow header."""
    allowed = ", ".join(sorted(error.valid_methods or ()))
    return f"{request.method} is not allowed on {request.path}; use {allowed}", {"Allow": allowed}


class RouteTable(DependencyProvider):
    """The service's own URL rules (without the catch-all), to classify an unmatched request."""

    def setup(self):
        rules = [entrypoint.get_url_rule()
                 for entrypoint in self.container.entrypoints
                 if isinstance(entrypoint, HttpRequestHandler) and entrypoint.method_name != UNMATCHED]
        # bound once: matching only reads the adapter, so every request can share it
        self.adapter = Map(rules, converters=CONVERTERS).bind("gateway")

    def get_dependency(self, worker_ctx):
        return self.adapter


class UnmatchedRoutes:
    """Answers, in JSON, every request that no route of the service takes."""
    routes = RouteTable()

    # "/<path:...>" needs one character at least, so "/" has its own rule (after the dashboard's GET /)
    @http(ANY_METHOD, "/")
    @http(ANY_METHOD, "/<path:anything>")
    @json_endpoint("<unmatched>", role=None)
    def unmatched_route(self, request, anything=""):
        try:
            self.routes.match(request.path, request.method)
        except MethodNotAllowed as error:
            raise HttpError(405, *not_allowed(request, error)) from None
        except (NoRoute, RequestRedirect):
            pass
        raise HttpError(404, f"no route {request.path}")
