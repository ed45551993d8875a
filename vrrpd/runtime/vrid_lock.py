"""One daemon per (interface, VRID): a lock held for as long as the virtual router runs here.

A second daemon started on the same VIPs (another unit, a container restart overlapping the old one, a
test run by hand with another control socket) would first remove "stale" VIPs — the live ones of the
first — and then both would be master on one node. The lock is an abstract AF_UNIX socket named after the
interface and VRID: abstract names live in the network namespace, which is exactly the scope in which
two daemons can fight over one interface; the kernel releases it when the process dies, even by SIGKILL,
so there is no stale lock file to clean up; and the holder's pid can be asked for (SO_PEERCRED), so the
refusal names it. The descriptor is close-on-exec: check and notify programs never inherit the lock.
"""

from __future__ import annotations

import errno
import socket
import struct
from typing import Final

_UCRED: Final = struct.Struct("=iII")  # struct ucred: pid, uid, gid
# Connection attempts queue on the holder's listening socket (it never accepts): a few are enough.
_BACKLOG: Final = 4


class VridLocked(Exception):
    """Another process holds the lock; str() is one line for the operator."""


def lock_name(interface: str, vrid: int, family: int = 4) -> str:
    """The abstract socket name for (interface, VRID, family), as `ss -xl` shows it (with a leading @).

    An IPv6 router has its own (RFC 5798 §1: it may share its VRID with an IPv4 one); the IPv4 name is
    the one earlier versions used, so an upgraded daemon still meets an old one's lock."""
    return f"vrrpd/{interface}/vrid-{vrid}" + ("-ipv6" if family == 6 else "")


class VridLock:
    """Held from `acquire` until `release` (or the process's end)."""

    def __init__(self, interface: str, vrid: int, sock: socket.socket, family: int = 4) -> None:
        self.interface = interface
        self.vrid = vrid
        self.family = family
        self._sock: socket.socket | None = sock

    @classmethod
    def acquire(cls, interface: str, vrid: int, family: int = 4) -> VridLock:
        """Take the lock for (interface, VRID, family); VridLocked naming the holder if another process has
        it."""
        name = "\0" + lock_name(interface, vrid, family)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        try:
            sock.bind(name)
            sock.listen(_BACKLOG)
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE:
                raise
            holder = _holder_pid(name)
            who = f"pid {holder}" if holder is not None else "another process"
            what = f"VRID {vrid}" if family == 4 else f"IPv6 VRID {vrid}"
            raise VridLocked(
                f"interface {interface} {what} is already run by another vrrpd on this host ({who},"
                f" lock @{lock_name(interface, vrid, family)}): stop it first; a second daemon would remove"
                " its VIPs"
            ) from None
        return cls(interface, vrid, sock, family)

    @property
    def held(self) -> bool:
        return self._sock is not None

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _holder_pid(name: str) -> int | None:
    """The pid of the process listening on the abstract socket `name`, if it can be asked."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
    try:
        probe.connect(name)
        pid, _uid, _gid = _UCRED.unpack(probe.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
    except OSError:  # its backlog is full (EAGAIN), or it has just gone
        return None
    finally:
        probe.close()
    return pid if pid > 0 else None
