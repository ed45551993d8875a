"""The systemd notify protocol (sd_notify(3)) for a ``Type=notify`` service.

This module owns talking to the service manager: READY=1 once the daemon runs, STATUS= lines
for ``systemctl status``, WATCHDOG=1 pings, STOPPING=1 at shutdown, and reading the watchdog
period from the environment. It uses asyncio-dgram's ``connect``, which creates an AF_UNIX
datagram socket for any non-tuple address and passes abstract names (leading NUL) through, so
no fallback socket code is needed. Sending never raises: if systemd is gone, the daemon goes on.
It must not decide *when* to notify; the daemon does (and pings at half `watchdog_interval`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import asyncio_dgram

from vrrpd.logs import get_logger

__all__ = ["SdNotifier", "notify_address", "watchdog_interval"]

_log = get_logger(__name__)


def notify_address(env: Mapping[str, str]) -> str | None:
    """The socket address in ``NOTIFY_SOCKET``: a path, or an abstract name ("@name" → "\\0name").

    None when unset or in a form we do not speak (e.g. systemd's newer "vsock:" addresses).
    """
    raw = env.get("NOTIFY_SOCKET", "")
    if raw.startswith("@") and len(raw) > 1:
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    if raw:
        _log.warning("sd_notify_unsupported_socket", notify_socket=raw)
    return None


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """The systemd watchdog timeout in seconds from ``WATCHDOG_USEC``, or None when there is no
    watchdog for this process (unset, not a positive integer, or ``WATCHDOG_PID`` names another
    process). Ping with `SdNotifier.watchdog` at half this interval, as sd_watchdog_enabled(3)
    recommends, so one late tick does not get the daemon killed."""
    env = os.environ if env is None else env
    pid = env.get("WATCHDOG_PID")
    if pid is not None and pid.strip() != str(os.getpid()):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 1_000_000 if usec > 0 else None


class SdNotifier:
    """A connected datagram socket to the service manager's notify socket."""

    def __init__(self, stream: asyncio_dgram.DatagramClient, address: str) -> None:
        self._stream = stream
        self.address = address

    @classmethod
    async def from_env(cls, env: Mapping[str, str] | None = None) -> SdNotifier | None:
        """Connect to ``NOTIFY_SOCKET``; None when not run by systemd or the socket is unusable
        (logged: a ``Type=notify`` unit without READY=1 will be timed out by systemd)."""
        address = notify_address(os.environ if env is None else env)
        if address is None:
            return None
        try:
            stream = await asyncio_dgram.connect(address)
        except OSError as exc:
            _log.warning("sd_notify_connect_failed", address=address, error=str(exc))
            return None
        return cls(stream, address)

    async def send(self, *assignments: str) -> bool:
        """Send ``KEY=value`` assignments in one datagram; False (logged) if it could not be sent.

        Datagram errors arrive asynchronously: asyncio reports a failed send to the protocol, and
        asyncio-dgram raises it on the *next* send before sending. Collect such a stale error
        first, so it is logged against the send that caused it and does not eat this datagram.
        """
        try:
            _ = self._stream.exception
        except (OSError, asyncio_dgram.TransportClosed) as exc:
            _log.warning("sd_notify_failed", address=self.address, error=repr(exc))
        try:
            await self._stream.send("\n".join(assignments).encode())
        except (OSError, asyncio_dgram.TransportClosed) as exc:
            _log.warning("sd_notify_failed", address=self.address, error=repr(exc))
            return False
        return True

    async def ready(self, status: str) -> None:
        """Start-up is complete (systemd leaves "activating")."""
        await self.send("READY=1", f"STATUS={status}")

    async def status(self, status: str) -> None:
        """A one-line status for ``systemctl status``."""
        await self.send(f"STATUS={status}")

    async def watchdog(self) -> None:
        """A watchdog keep-alive ping."""
        await self.send("WATCHDOG=1")

    async def stopping(self) -> None:
        """Shutdown has begun."""
        await self.send("STOPPING=1")

    def close(self) -> None:
        self._stream.close()
