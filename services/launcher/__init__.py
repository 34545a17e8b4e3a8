from services.launcher.service import LauncherService

__all__ = ["LauncherService"]
