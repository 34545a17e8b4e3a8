"""The gateway: the only HTTP surface. Each area's routes live in services/gateway/routes/."""
from services.gateway.routes.streams import StreamRoutes
from services.observability.metrics import EntrypointMetrics


class GatewayService(StreamRoutes):
    name = "gateway"

    entrypoint_metrics = EntrypointMetrics()
