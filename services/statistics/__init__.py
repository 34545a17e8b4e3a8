from services.statistics.service import StatisticsService

__all__ = ["StatisticsService"]
