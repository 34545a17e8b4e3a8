"""The five REST views and populate (/api/v1/...), answered by the query service."""


class ViewRoutes:
    pass
