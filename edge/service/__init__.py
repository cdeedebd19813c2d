"""Running as a system service: systemd units for a profile and the notify/watchdog protocol."""

from .notify import Notifier
from .units import UNITS, Installed, ServiceError, install, render

__all__ = ["Installed", "Notifier", "ServiceError", "UNITS", "install", "render"]
