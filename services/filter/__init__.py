from services.filter.service import FilterService

__all__ = ["FilterService"]
