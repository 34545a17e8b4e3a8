"""JSON in, JSON out for the gateway: bodies, errors and their status codes in one place."""
import functools
import logging
import time

import orjson
from nameko.exceptions import RemoteError
from werkzeug.wrappers import Request, Response

from services.errors import HTTP_STATUS, BadRequest
from services.observability.metrics import HTTP_REQUESTS, HTTP_SECONDS

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024


def json_response(status: int, body) -> Response:
    return Response(orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS), status=status,
                    mimetype="application/json")


def error_response(status: int, message: str, **extra) -> Response:
    return json_response(status, {"error": message, **extra})


class HttpError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


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


def json_endpoint(route: str):
    """Wrap an @http method: map errors to JSON answers and record the request's metrics."""
    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, request, *args, **kwargs):
            began = time.perf_counter()
            try:
                response = method(self, request, *args, **kwargs)
                if not isinstance(response, Response):
                    status, body = response if isinstance(response, tuple) else (200, response)
                    response = json_response(status, body)
            except HttpError as error:
                response = error_response(error.status, str(error))
            except BadRequest as error:
                response = error_response(400, str(error))
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
            HTTP_REQUESTS.labels(route=route, method=request.method, status=str(response.status_code)).inc()
            HTTP_SECONDS.labels(route=route, method=request.method).observe(time.perf_counter() - began)
            return response
        return wrapper
    return decorate
