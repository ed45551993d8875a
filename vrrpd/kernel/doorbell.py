"""The doorbell: a second raw VRRP socket whose classic BPF filter lets through only urgent adverts.

Owns: opening the socket (IPv4 or IPv6, protocol 112, device-bound, joined to the VRRP group like the main
read socket), attaching `bpf.doorbell_program` for what the caller says is steady (re-attached only when the
program changes), and turning its readability into one call of `ring()` — after discarding the copies it
holds.

Must not: deliver datagrams. The main read socket (`vrrpd.kernel.vrrp_socket`, read lazily) receives every
advert and stays the only source of truth: `ring()` is the caller's cue to drain it at once, so adverts are
handled in their arrival order, each once, with its kernel arrival time. A copy here is only a wake-up;
losing one (this socket's queue full) costs nothing but that wake-up, and the next lazy drain reads the
original anyway.

Rate limit (issue 17: "rate-limit a flood of non-routine adverts"): after a ring the socket is not listened
to for `GAP` seconds, so a flood of urgent-looking adverts wakes the process at most 1/GAP times a second,
each wake-up draining everything queued — the same bound as the main socket's read coalescing (`LINGER`). A
lone urgent advert (the common case: a priority-0 advert, a new master) rings at once.

The kernel hands a datagram to every matching raw socket from one softirq, socket after socket, so the
process may wake on this copy a moment before the main socket has queued its original. The caller handles
that (a drain that finds nothing is repeated shortly: `vrrpd.runtime.interface`).
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable, Mapping
from ipaddress import IPv6Address
from typing import Final

from vrrpd.kernel import bpf
from vrrpd.kernel.bpf import Steady
from vrrpd.kernel.vrrp_socket import ensure_rcvbuf
from vrrpd.protocol.packet import VRRP_MULTICAST, VRRP_MULTICAST_V6, VRRP_PROTOCOL

GAP: Final = 0.002  # after a ring, the socket is not listened to for this long (the flood bound)
DISCARD_LIMIT: Final = 256  # copies discarded per ring at most (the rest waits for the next one)
# Copies only, and drops here cost nothing but a wake-up; but a master's burst of 250 adverts, all urgent
# before the backups' steady adverts are known (start-up), should not show as socket drops either.
_RCVBUF: Final = 512 * 1024
_IP_MULTICAST_ALL: Final = 49
_IPV6_MULTICAST_ALL: Final = 29
_IP_MREQN: Final = struct.Struct("=4s4si")


def _ignore() -> None:
    pass


class Doorbell:
    """One interface's doorbell socket for one address family; see the module docstring."""

    def __init__(self, sock: socket.socket, family: int, ifname: str) -> None:
        self._sock = sock
        self.family = family
        self.ifname = ifname
        self._program: bytes | None = None  # what is attached (None: nothing yet, everything passes)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ring: Callable[[], None] = _ignore
        self._listening = False
        self._resume: asyncio.TimerHandle | None = None
        self.rings = 0  # wake-ups so far (each one drained the main socket)
        self.programs = 0  # filters attached so far

    @classmethod
    def open(cls, family: int, ifname: str, ifindex: int) -> Doorbell:
        """Open the doorbell socket of `family` (AF_INET or AF_INET6) on `ifname`, joined to the VRRP group.

        Until `program` is called every advert passes (rings). Raises OSError as the main socket's open.
        """
        sock = socket.socket(family, socket.SOCK_RAW, VRRP_PROTOCOL)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
            ensure_rcvbuf(sock, _RCVBUF)
            if family == socket.AF_INET:
                sock.setsockopt(socket.IPPROTO_IP, _IP_MULTICAST_ALL, 0)
                mreqn = _IP_MREQN.pack(VRRP_MULTICAST.packed, bytes(4), ifindex)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
            elif family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_MULTICAST_ALL, 0)
                group: IPv6Address = VRRP_MULTICAST_V6
                sock.setsockopt(
                    socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group.packed + struct.pack("@I", ifindex)
                )
            else:
                raise ValueError(f"address family {family}: not IPv4 or IPv6")
        except BaseException:
            sock.close()
            raise
        return cls(sock, family, ifname)

    def fileno(self) -> int:
        return self._sock.fileno()

    def program(self, vrids: Mapping[int, Steady | None]) -> bool:
        """Let through only what is urgent given `vrids` (each configured VRID → the steady advert a backup
        follows, or None: all of it is urgent); VRIDs not listed are not urgent. True if a new filter was
        attached (the same program is not attached again: the kernel converts it, ≈1 ms per 250 VRIDs).

        Raises OSError if the kernel refuses it (the previous filter then stays).
        """
        code = bpf.doorbell_program(self.family, vrids, foreign_urgent=False)
        if code == self._program:
            return False
        bpf.attach(self._sock, code)
        self._program = code
        self.programs += 1
        return True

    @property
    def started(self) -> bool:
        """Whether `start` was called and `stop` not since."""
        return self._loop is not None

    def start(self, loop: asyncio.AbstractEventLoop, ring: Callable[[], None]) -> None:
        """Call `ring()` from the loop whenever an urgent advert arrived (at most once per GAP)."""
        if self._loop is not None:
            raise RuntimeError(f"{self!r} is already started")
        self._loop, self._ring = loop, ring
        self._discard()  # copies queued before anyone listened would ring for nothing
        self._listen()

    def stop(self) -> None:
        """Stop listening (idempotent); `ring` is not called after."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        if self._listening:
            loop.remove_reader(self._sock.fileno())
            self._listening = False
        self._ring = _ignore

    def close(self) -> None:
        self.stop()
        self._sock.close()

    def _listen(self) -> None:
        assert self._loop is not None
        self._resume = None
        self._loop.add_reader(self._sock.fileno(), self._readable)
        self._listening = True

    def _readable(self) -> None:
        loop = self._loop
        assert loop is not None
        # Quiet for GAP: a flood rings at most 1/GAP times a second (its copies wait here meanwhile).
        loop.remove_reader(self._sock.fileno())
        self._listening = False
        self._resume = loop.call_later(GAP, self._listen)
        self._discard()
        self.rings += 1
        self._ring()

    def _discard(self) -> None:
        recv = self._sock.recv
        for _ in range(DISCARD_LIMIT):
            try:
                recv(1)
            except BlockingIOError:
                return
            except OSError:  # e.g. ENETDOWN: nothing to discard; the main socket reports errors
                return

    def __repr__(self) -> str:
        return f"Doorbell({self.ifname!r}, family={self.family})"
