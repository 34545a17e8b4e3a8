"""The gateway: the only HTTP surface. Each area's routes live in services/gateway/routes/."""
from services.gateway.auth import ApiTokens
from services.gateway.http import UnmatchedRoutes
from services.gateway.routes.analytics import AnalyticsRoutes
from services.gateway.routes.ops import OpsRoutes
from services.gateway.routes.site import SiteRoutes
from services.gateway.routes.streams import StreamRoutes
from services.gateway.routes.views import ViewRoutes
from services.observability.metrics import EntrypointMetrics


class GatewayService(StreamRoutes, ViewRoutes, AnalyticsRoutes, OpsRoutes, SiteRoutes, UnmatchedRoutes):
    name = "gateway"

    api_tokens = ApiTokens()  # refuses to start the production flavor without tokens
    entrypoint_metrics = EntrypointMetrics()
