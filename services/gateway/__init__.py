from services.gateway.service import GatewayService

__all__ = ["GatewayService"]
