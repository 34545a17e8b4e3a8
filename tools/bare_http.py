"""A bare Nameko @http service answering a tiny constant JSON: the ceiling the benchmark compares
the gateway's /statistics with (same framework, same event loop, no RPC and no database)."""
from nameko.web.handlers import http

BODY = '{"ok": true}'  # nameko's @http wants a str payload


class BareHttpService:
    name = "bare_http"

    @http("GET", "/bare")
    def bare(self, request):
        return 200, {"Content-Type": "application/json"}, BODY
