from services.query.service import QueryService

__all__ = ["QueryService"]
