from services.health.service import HealthService

__all__ = ["HealthService"]
