"""The web dashboard (/), the OpenAPI document (/openapi.json) and Swagger UI (/docs)."""


class SiteRoutes:
    pass
