"""Live analytics: top hashtags, minute aggregates, user profiles (/api/v1/...)."""


class AnalyticsRoutes:
    pass
