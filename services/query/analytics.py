"""Live analytics over the rollups: top hashtags, minute aggregates, user profiles."""


class AnalyticsQueries:
    """RPC methods mixed into QueryService."""
