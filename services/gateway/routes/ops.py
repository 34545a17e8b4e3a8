"""Health (/api/health) and Prometheus metrics (/metrics)."""


class OpsRoutes:
    pass
