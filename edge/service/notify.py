"""systemd's notify protocol (sd_notify): one datagram per state change to $NOTIFY_SOCKET.

A service started with ``Type=notify`` and ``WatchdogSec=`` gets $NOTIFY_SOCKET and
$WATCHDOG_USEC; it says READY=1 once it serves and WATCHDOG=1 more often than every
WatchdogSec, or systemd kills and restarts it. The long-running commands call ``kick()`` from
their own main loop (not from a helper thread), so a loop that hangs stops feeding and is
restarted. Outside systemd every call is a no-op.
"""

from __future__ import annotations

import os
import socket
import time


def _address(raw: str) -> str | bytes:
    # "@name" is a socket in the abstract namespace: a leading NUL byte on the wire.
    return b"\0" + raw[1:].encode() if raw.startswith("@") else raw


class Notifier:
    """Talks to the service manager named by the environment (or to nobody)."""

    def __init__(self, environ: dict[str, str] | None = None, clock=time.monotonic):
        env = os.environ if environ is None else environ
        self.socket_path = env.get("NOTIFY_SOCKET") or None
        self._clock = clock
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        # $WATCHDOG_PID, when set, names the process the watchdog is for (not a child we started).
        mine = not pid or (pid.isdigit() and int(pid) == os.getpid())
        self.watchdog_s = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 and mine else None
        self._last_kick = float("-inf")

    @property
    def active(self) -> bool:
        return self.socket_path is not None

    def send(self, *states: str) -> bool:
        """Send ``KEY=value`` lines; False when there is no manager or it cannot be reached."""
        if not self.socket_path:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.sendto("\n".join(states).encode(), _address(self.socket_path))
            return True
        except OSError:
            return False

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1", *((f"STATUS={status}",) if status else ()))

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def kick(self) -> bool:
        """Feed the watchdog, at most three times per watchdog period (cheap to call per loop)."""
        if self.watchdog_s is None:
            return False
        now = self._clock()
        if now - self._last_kick < self.watchdog_s / 3:
            return False
        self._last_kick = now
        return self.send("WATCHDOG=1")


__all__ = ["Notifier"]
