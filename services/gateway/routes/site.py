"""The web dashboard (/), the OpenAPI document (/openapi.json) and Swagger UI (/docs)."""
from pathlib import Path

from werkzeug.exceptions import NotFound as FileNotFound
from werkzeug.utils import send_from_directory
from werkzeug.wrappers import Response

from services.gateway.http import HttpError, http, json_endpoint
from services.gateway.openapi import openapi_document

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"


def swagger_ui_dir() -> Path | None:
    """Swagger UI's files as the swagger-ui-bundle package installs them (none vendored here)."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    return Path(swagger_ui_path)


def file_response(request, directory: Path | None, path: str, missing: str = "no such file") -> Response:
    """A file below ``directory`` (never outside it), revalidated by ETag on every load:
    no build step puts versions in the names, so a browser must not keep a stale copy."""
    if directory is None:
        raise HttpError(404, missing)
    try:
        return send_from_directory(directory, path, request.environ, max_age=0)
    except FileNotFound:
        raise HttpError(404, f"{missing}: {path}") from None


class SiteRoutes:

    @http("GET", "/")
    @json_endpoint("/")
    def dashboard(self, request):
        return file_response(request, STATIC_DIR, "index.html")

    @http("GET", "/static/<path:path>")
    @json_endpoint("/static")
    def static_file(self, request, path):
        return file_response(request, STATIC_DIR, path)

    @http("GET", "/openapi.json")
    @json_endpoint("/openapi.json")
    def openapi(self, request):
        return openapi_document()

    @http("GET", "/docs")
    @json_endpoint("/docs")
    def swagger_ui(self, request):
        return file_response(request, STATIC_DIR, "docs.html")

    @http("GET", "/docs/assets/<path:path>")
    @json_endpoint("/docs/assets")
    def swagger_ui_asset(self, request, path):
        return file_response(request, swagger_ui_dir(), path,
                             missing="Swagger UI is not installed (pip install swagger-ui-bundle)")
