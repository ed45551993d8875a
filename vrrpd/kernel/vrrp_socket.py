"""Raw IPv4 sockets for IP protocol 112 (VRRP) on one interface, driven by asyncio.

Owns: opening and configuring the kernel sockets (multicast membership, TTL, TOS, device binding,
source address) and moving whole datagrams in and out: `start_reading` installs one permanent reader
that drains the socket and hands each datagram, with the wake-up time, to a callback (the daemon's
receive path); `send_now` is a plain non-blocking `sendto`, `send` its awaitable form; `recv` awaits a
single datagram (tools, tests). The reader (`DatagramReader`) is shared with the IPv6 transport,
`vrrpd.kernel.vrrp_socket6`. VRRPv3 over IPv4 (RFC 5798 §5.1.1) uses these same sockets: only the
payload differs, and the codec computes its checksum over the IPv4 pseudo-header.

Must not: parse or build VRRP payloads, validate TTL/checksums, or decide anything about the
protocol (that is `vrrpd.protocol.packet` / `vrrpd.protocol.fsm`). It deals in bytes and addresses only,
and it lets the kernel build the IPv4 header (no IP_HDRINCL).

One socket pair serves every IPv4 instance of the interface, yet each instance advertises from its own
source (keepalived writes each one's into its own IP header): a send whose source is not the one the
socket is bound to carries it in an IP_PKTINFO control message (`ipi_spec_dst`, which the kernel's
raw_sendmsg takes as the datagram's source address, checked as local unless the socket is transparent).

Two sockets, like keepalived (`open_vrrp_send_socket` / `open_vrrp_read_socket`): a raw socket bound
to an address only receives datagrams whose *destination* is that address, so the socket bound to
the primary address (the RFC 3768 §5.2.1 source) cannot also receive 224.0.0.18. The send socket is
bound to `src` and drops everything it would receive; the read socket is unbound, device-bound and
joined to the group.
"""

from __future__ import annotations

import ctypes
import functools
import socket
import struct
import time
from collections.abc import Callable
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Final

from vrrpd.protocol.packet import VRRP_MULTICAST, VRRP_PROTOCOL, VRRP_TTL

if TYPE_CHECKING:  # asyncio is imported where it is used: `vrrpd.runtime.prestart` opens these sockets
    import asyncio  # before the daemon's imports (issue 17)

VRRP_TOS: Final = 0xC0  # DSCP CS6 (network control), as keepalived sets IP_TOS
_RECV_SIZE: Final = 65535
# At most this many datagrams per wake-up of the reader: a flooded interface must not starve the loop
# (the other interfaces, the timers); the rest is read on the loop's next iteration.
DRAIN_LIMIT: Final = 256
# Adaptive read coalescing. A wake-up of the event loop (epoll_wait, the loop's bookkeeping, the callback)
# costs about as much CPU in CPython as handling the advert itself, and a master of 200 instances sends its
# 200 adverts back to back every interval. When the socket becomes readable within LINGER of the previous
# read, a burst is arriving: the reader then steps aside and the socket is read once per LINGER until it is
# found empty, so one wake-up takes many adverts (docs/benchmarks.md, "read coalescing", has the per-datagram
# cost before and after). Cost: an advert inside a burst is handled up to LINGER later (plus the timer's ~0.1
# ms lateness), and is stamped with the wake-up that read it, so a Master_Down deadline moves by at most as
# much — 0.06 % of the shortest (~3.6 s). A lone advert (no burst: a priority-0 handover, a deployment of a
# few instances) is read at once, as without lingering.
LINGER: Final = 0.002
# After a receive error (e.g. ENETDOWN while the link is cut) the reader pauses this long before
# reading again, so a persistent error cannot spin the loop.
ERROR_PAUSE: Final = 0.05
# Lazy reading (`set_lazy`): the most datagrams one drain delivers before it yields to the loop and
# continues on its next iteration (a drain of a quiet period holds one advert per instance per period, at
# most 255 on an interface): a long drain is split so a doorbell or a timer waits at most ~3 ms for it.
LAZY_LIMIT: Final = 1024
# What the kernel charges a socket's receive buffer per queued VRRP datagram (skb truesize): measured
# 768–1,280 bytes for a 40–60-byte raw IPv4 datagram; taken with room to spare for sizing SO_RCVBUF.
TRUESIZE: Final = 2048

# Not all of these are exported by the `socket` module on 3.11; values from <linux/in.h>, <asm/socket.h>.
_IP_MULTICAST_ALL: Final = 49
_IP_FREEBIND: Final = 15
_IP_TRANSPARENT: Final = 19
_SO_ATTACH_FILTER: Final = 26
_SO_TIMESTAMPNS: Final = 35  # SO_TIMESTAMPNS_OLD: a struct timespec of CLOCK_REALTIME per datagram
_SO_MEMINFO: Final = 55  # u32[SK_MEMINFO_VARS]; SK_MEMINFO_DROPS is the last
_SO_RCVBUFFORCE: Final = 33
_IP_PKTINFO: Final = 8  # not exported by the `socket` module on 3.11
_IN_PKTINFO: Final = struct.Struct("=I4s4s")  # struct in_pktinfo: ipi_ifindex, ipi_spec_dst, ipi_addr
_MEMINFO: Final = struct.Struct("=9I")
_TIMESPEC: Final = struct.Struct("@qq")
_CMSG_SPACE: Final = socket.CMSG_SPACE(_TIMESPEC.size)
_IP_MREQN: Final = struct.Struct("=4s4si")  # struct ip_mreqn: multiaddr, address, ifindex
_SOCK_FILTER: Final = struct.Struct("=HBBI")  # struct sock_filter: code, jt, jf, k
_BPF_RET_K: Final = 0x06


def _mreqn(group: IPv4Address, address: IPv4Address, ifindex: int) -> bytes:
    return _IP_MREQN.pack(group.packed, address.packed, ifindex)


def attach_drop_all(sock: socket.socket) -> None:
    """Attach the one-instruction BPF program `ret #0`: the socket never queues a datagram."""
    insn = ctypes.create_string_buffer(_SOCK_FILTER.pack(_BPF_RET_K, 0, 0, 0))
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; } with native alignment.
    prog = struct.pack("@HP", 1, ctypes.addressof(insn))
    sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, prog)


def _ignore(*_: object) -> None:
    pass


def pktinfo(src: IPv4Address) -> list[tuple[int, int, bytes]]:
    """The control message that makes one send leave from `src` (IP_PKTINFO's ipi_spec_dst); the
    interface stays the socket's (ipi_ifindex 0)."""
    return [(socket.IPPROTO_IP, _IP_PKTINFO, _IN_PKTINFO.pack(0, src.packed, bytes(4)))]


def _transparent(tx: socket.socket) -> None:
    """Let `tx` send from an address the host does not hold (keepalived's mcast_src_ip, written into its
    own IP header whether or not local): FREEBIND lets the bind through, TRANSPARENT the route lookup of
    every send (FLOWI_FLAG_ANYSRC), bound or IP_PKTINFO source alike, now and after the address goes."""
    tx.setsockopt(socket.IPPROTO_IP, _IP_FREEBIND, 1)
    tx.setsockopt(socket.IPPROTO_IP, _IP_TRANSPARENT, 1)


def enable_timestamps(sock: socket.socket) -> None:
    """Have the kernel stamp every received datagram with its arrival time (SO_TIMESTAMPNS)."""
    sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)


def recv_stamped(sock: socket.socket) -> tuple[bytes, float | None]:
    """One datagram and its kernel arrival time (CLOCK_REALTIME seconds; None without a stamp).

    BlockingIOError when none is queued, as `recv`.
    """
    data, ancdata, _flags, _addr = sock.recvmsg(_RECV_SIZE, _CMSG_SPACE)
    for level, kind, cdata in ancdata:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(cdata) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(cdata)
            return data, sec + nsec * 1e-9
    return data, None


def receive_drops(sock: socket.socket) -> int:
    """How many datagrams the kernel has dropped for this socket so far (its receive queue was full)."""
    drops: int = _MEMINFO.unpack(sock.getsockopt(socket.SOL_SOCKET, _SO_MEMINFO, _MEMINFO.size))[8]
    return drops


def ensure_rcvbuf(sock: socket.socket, size: int) -> None:
    """Let the receive queue hold at least `size` bytes (SO_RCVBUFFORCE past rmem_max when allowed)."""
    # The kernel reports (and charges against) twice what was asked.
    if sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 2 * size:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, size)
    except OSError:  # no CAP_NET_ADMIN: as much as rmem_max allows
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


class DatagramReader:
    """The receive side shared by the IPv4 and IPv6 transports: one permanent reader on `rx` that
    drains it, lingers during bursts and pauses after errors, delivering what `recv_one()` returns.

    `recv_one` reads one datagram without blocking (BlockingIOError when none is queued): the socket's
    own `recv` for IPv4, which hands over the IP header; `recvmsg` plus a rebuilt header for IPv6
    (`vrrpd.kernel.vrrp_socket6`).
    """

    def __init__(
        self,
        rx: socket.socket,
        recv_one: Callable[[], bytes],
        recv_stamped: Callable[[], tuple[bytes, float | None]] | None = None,
    ) -> None:
        self._rx = rx
        self._recv_one = recv_one
        # With a stamped receive (the socket has SO_TIMESTAMPNS), the reader can read lazily (`set_lazy`).
        self._recv_stamped = recv_stamped
        self._lazy: float | None = None  # the lazy drain period, None: read each datagram as it comes
        self._drained_cb: Callable[[float, bool], None] = _ignore
        self._drops = 0  # the socket's drop counter at the last lazy drain
        self._drained = 0.0  # loop time of the last lazy drain: no stamp is taken as earlier
        self._loop: asyncio.AbstractEventLoop | None = None  # while a reader is installed
        self._deliver: Callable[[bytes, float], None] = _ignore
        self._error: Callable[[OSError], None] = _ignore
        self._listening = False  # the reader is installed in the loop
        self._resume: asyncio.TimerHandle | None = None  # the next linger read, or restart after an error
        self._last_wake = -LINGER  # loop time of the last wake-up that read the socket

    def fileno(self) -> int:
        """The receiving socket's descriptor (readable when a datagram is waiting)."""
        return self._rx.fileno()

    @property
    def rx(self) -> socket.socket:
        """The receiving socket (a socket filter is attached to it: `kernel.ebpf`)."""
        return self._rx

    def start_reading(
        self,
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[bytes, float], None],
        error: Callable[[OSError], None],
    ) -> None:
        """Call `deliver(datagram, now)` for every datagram received (IPv4 header included), from the
        loop; `now` is the `loop.time()` of the wake-up that read it (one clock read per wake-up).

        One permanent reader drains the socket on each wake-up (up to DRAIN_LIMIT datagrams), instead
        of a future, two epoll_ctl calls and a task wake-up per datagram. While a burst is arriving
        (a wake-up within LINGER of the previous one) the reader steps aside and the socket is read
        every LINGER seconds instead, until a read finds it empty. A receive error is passed to
        `error`, then reading pauses for ERROR_PAUSE. Until `stop_reading` (or `close`).
        """
        if self._loop is not None:
            raise RuntimeError(f"{self!r} is already being read")
        self._loop, self._deliver, self._error = loop, deliver, error
        self._last_wake = -LINGER
        self._drained = loop.time()
        if self._lazy is not None:
            self._schedule_lazy()
        else:
            self._listen()

    @property
    def lazy(self) -> float | None:
        """The lazy drain period in seconds; None while every datagram is read as it comes."""
        return self._lazy

    def set_lazy(
        self,
        period: float | None,
        expected: int = 0,
        drained: Callable[[float, bool], None] | None = None,
    ) -> bool:
        """Read lazily: no wake-up per datagram; the socket is drained every `period` seconds (and by
        `drain`), each datagram delivered with its kernel arrival time as `now`. None: back to reading
        each datagram as it comes (with read coalescing, see `start_reading`).

        `expected` is how many datagrams a period may bring: the receive buffer is sized for twice as
        many. `drained(now, lost)` is called after every lazy drain; `lost` says the kernel dropped
        datagrams (the receive queue was full) since the previous one, so what they said is unknown.
        Whether lazy reading is on afterwards (only with a stamped receive).
        """
        if self._recv_stamped is None:
            period = None
        if drained is not None:
            self._drained_cb = drained
        if period is not None:
            ensure_rcvbuf(self._rx, 2 * max(expected, 64) * TRUESIZE)
        if period == self._lazy:
            return period is not None
        was = self._lazy
        loop = self._loop
        if loop is None:  # not reading: the mode applies at `start_reading`
            self._lazy = period
            return period is not None
        self._cancel_resume()  # a linger read, a lazy drain or an error pause: the new mode decides
        if period is None:
            if was is not None:
                self._drain_stamped(loop)  # what queued meanwhile, with its arrival times
            self._lazy = None
            if self._loop is not None and not self._listening and self._resume is None:
                self._listen()
        else:
            self._lazy = period
            if self._listening:
                loop.remove_reader(self._rx.fileno())
                self._listening = False
            if was is None:
                self._drops = receive_drops(self._rx)
                # Read what is queued at once: up to now, the wake-up time was right for it.
                self._drained = loop.time()
                self._read(self._drained)
            if self._loop is not None and self._resume is None:
                self._schedule_lazy()
        return period is not None

    def drain(self) -> int:
        """Read and deliver what is queued now, each datagram stamped with its arrival time (lazy
        mode; the wake-up time otherwise); how many were delivered. Before acting on a deadline that an
        unread advert would move, and the hook for "an urgent datagram arrived" (a doorbell socket).

        At most LAZY_LIMIT (DRAIN_LIMIT eager) at once: the rest follows on the loop's next iteration."""
        loop = self._loop
        if loop is None:
            return 0
        if self._lazy is None:
            return self._read(loop.time())
        read, more = self._drain_stamped(loop)
        if more and self._loop is not None and self._lazy is not None and not self._listening:
            # A flood: the rest on the loop's next iteration, as the periodic drain does.
            self._cancel_resume()
            self._resume = loop.call_later(0, self._lazy_tick)
        return read

    def _cancel_resume(self) -> None:
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None

    def _schedule_lazy(self) -> None:
        assert self._loop is not None and self._lazy is not None
        self._resume = self._loop.call_later(self._lazy, self._lazy_tick)

    def _lazy_tick(self) -> None:
        self._resume = None
        loop = self._loop
        if loop is None or self._lazy is None:
            return
        _read, more = self._drain_stamped(loop)
        if self._loop is None or self._resume is not None or self._lazy is None or self._listening:
            return  # stopped, paused by an error, or switched back to eager by a callback
        if more:  # LAZY_LIMIT reached (a flood): continue on the loop's next iteration
            self._resume = loop.call_later(0, self._lazy_tick)
        else:
            self._schedule_lazy()

    def _drain_stamped(self, loop: asyncio.AbstractEventLoop) -> tuple[int, bool]:
        """Deliver what is queued (up to LAZY_LIMIT) with kernel arrival times; how many, and whether
        more is left.

        A stamp (CLOCK_REALTIME) becomes the loop's monotonic clock through one offset read per drain,
        clamped into [previous drain, now]: a clock step cannot move a deadline into the past or future.
        Then `drained` hears whether the kernel counted drops since the previous drain.
        """
        recv = self._recv_stamped
        assert recv is not None
        now = loop.time()
        offset = time.time() - now
        floor, deliver = self._drained, self._deliver
        self._drained = now
        more = True
        read = 0
        for read in range(LAZY_LIMIT):
            try:
                data, stamp = recv()
            except BlockingIOError:
                more = False
                break
            except OSError as exc:
                self._pause()
                self._error(exc)
                more = False
                break
            t = now if stamp is None else stamp - offset
            deliver(data, floor if t < floor else now if t > now else t)
            if self._loop is None:  # the callback stopped the reader
                return read + 1, False
        else:
            read = LAZY_LIMIT
        drops = receive_drops(self._rx)
        lost, self._drops = drops != self._drops, drops
        self._drained_cb(now, lost)
        return read, more

    def stop_reading(self) -> None:
        """Remove the reader and any pending linger or restart (idempotent); no callback runs after."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        self._cancel_resume()
        if self._listening:
            loop.remove_reader(self._rx.fileno())
            self._listening = False
        self._deliver = self._error = self._drained_cb = _ignore

    def _listen(self) -> None:
        assert self._loop is not None
        self._loop.add_reader(self._rx.fileno(), self._drain)
        self._listening = True

    def _drain(self) -> None:
        """The reader: the socket became readable."""
        loop = self._loop
        assert loop is not None  # only called while reading
        now = loop.time()
        read = self._read(now)
        if (
            0 < read < DRAIN_LIMIT
            and now - self._last_wake < LINGER
            and self._loop is not None  # not stopped by a callback
            and self._resume is None  # nor paused by an error
        ):
            # A burst (e.g. a master's adverts for many instances, sent back to back): let the rest of
            # it queue in the socket and read it in one wake-up LINGER from now, not one per datagram.
            loop.remove_reader(self._rx.fileno())
            self._listening = False
            self._resume = loop.call_later(LINGER, self._linger)
        self._last_wake = now

    def _linger(self) -> None:
        """LINGER after a burst was seen: read what queued meanwhile, linger again while it keeps coming."""
        self._resume = None
        loop = self._loop
        if loop is None:
            return
        now = loop.time()
        read = self._read(now)
        self._last_wake = now
        if self._loop is None or self._resume is not None:  # stopped by a callback, or paused by an error
            return
        if 0 < read < DRAIN_LIMIT:
            self._resume = loop.call_later(LINGER, self._linger)
        else:
            # Quiet again: back to reading each datagram as it comes (a lone advert is handled at once).
            # Or DRAIN_LIMIT was reached: the reader runs again on the loop's next iteration, as under
            # a flood without lingering.
            self._listen()

    def _read(self, now: float) -> int:
        """Deliver up to DRAIN_LIMIT queued datagrams, stamped `now` but the first, which carries its kernel
        arrival time when the socket stamps; how many were delivered.

        The first of a wake-up is, on a quiet interface, the only one: the advert that sets a backup's
        Master_Down_Timer (a priority-0 one: Skew_Time), whose wake-up came 0.1–5 ms after it arrived on a
        busy host (issue 16). Its stamp costs one recvmsg per wake-up; the rest of a burst keeps `recv`.
        """
        recv, deliver, loop = self._recv_one, self._deliver, self._loop
        stamped = self._recv_stamped
        for n in range(DRAIN_LIMIT):
            try:
                if stamped is None:
                    data, at = recv(), now
                else:
                    data, stamp = stamped()
                    stamped = None
                    at = now
                    if stamp is not None and loop is not None:
                        # Clamped into [previous wake-up, now], as a lazy drain clamps (a clock step).
                        at = max(self._last_wake, min(now, stamp - (time.time() - loop.time())))
            except BlockingIOError:
                return n
            except OSError as exc:
                self._pause()
                self._error(exc)
                return n
            deliver(data, at)
            if self._loop is None:  # the callback stopped the reader
                return n + 1
        return DRAIN_LIMIT

    def _pause(self) -> None:
        loop = self._loop
        assert loop is not None  # only called while reading
        self._cancel_resume()
        if self._listening:
            loop.remove_reader(self._rx.fileno())
            self._listening = False
        self._resume = loop.call_later(ERROR_PAUSE, self._restart)

    def _restart(self) -> None:
        self._resume = None
        if self._loop is not None:
            if self._lazy is not None:
                self._schedule_lazy()
            else:
                self._listen()


class VrrpSocket(DatagramReader):
    """One interface's VRRP transport: `recv()` full IPv4 datagrams, `send()` payloads."""

    def __init__(
        self, rx: socket.socket, tx: socket.socket, ifname: str, ifindex: int, src: IPv4Address
    ) -> None:
        # A partial of the C method: the per-datagram cost is what it was before the reader was shared.
        super().__init__(rx, functools.partial(rx.recv, _RECV_SIZE), functools.partial(recv_stamped, rx))
        self._tx = tx
        self._to: IPv4Address | None = None  # the last destination of `send_now`, and its sockaddr
        self._to_addr: tuple[str, int] = ("", 0)
        self._from: IPv4Address | None = None  # the last other source of `send_now`, and its IP_PKTINFO
        self._from_cmsg: list[tuple[int, int, bytes]] = []
        self.ifname = ifname
        self.ifindex = ifindex
        self.src = src
        self.any_source = False  # `allow_any_source` was applied to the send socket

    @classmethod
    def open(
        cls, ifname: str, ifindex: int, src: IPv4Address, multicast: bool = True, any_source: bool = False
    ) -> VrrpSocket:
        """Open both sockets on `ifname`; `src` must be the interface's primary address, or any address
        with `any_source` (keepalived's mcast_src_ip: sent from whether or not a local address).

        Raises OSError (EPERM without CAP_NET_RAW, ENODEV, EADDRNOTAVAIL if `src` is not local).
        If the primary address changes, close and open again.
        """
        rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, VRRP_PROTOCOL)
        tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, VRRP_PROTOCOL)
        try:
            for sock in (rx, tx):
                sock.setblocking(False)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
                # Own advertisements must not come back to us (keepalived does the same).
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
                # Only groups this socket joined, on this interface (keepalived if_setsockopt_mcast_all).
                sock.setsockopt(socket.IPPROTO_IP, _IP_MULTICAST_ALL, 0)

            attach_drop_all(tx)
            if any_source:
                _transparent(tx)
            tx.bind((str(src), 0))  # RFC 3768 §5.2.1: source is the interface's primary address
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, VRRP_TTL)
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, VRRP_TTL)
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, VRRP_TOS)
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, _mreqn(VRRP_MULTICAST, src, ifindex))

            enable_timestamps(rx)
            if multicast:
                rx.setsockopt(
                    socket.IPPROTO_IP,
                    socket.IP_ADD_MEMBERSHIP,
                    _mreqn(VRRP_MULTICAST, IPv4Address(0), ifindex),
                )
        except BaseException:
            rx.close()
            tx.close()
            raise
        opened = cls(rx, tx, ifname, ifindex, src)
        opened.any_source = any_source
        return opened

    def allow_any_source(self) -> None:
        """From now on, send from any source whether or not the host holds it (an instance with an
        mcast_src_ip joined the interface after the socket was opened). Raises OSError."""
        if not self.any_source:
            _transparent(self._tx)
            self.any_source = True

    async def recv(self) -> tuple[bytes, IPv4Address]:
        """Next datagram for protocol 112 on this interface, IPv4 header included, and its source.

        One awaited datagram at a time (a future and a selector registration each): for tools and
        tests. The daemon reads with `start_reading`.
        """
        import asyncio  # noqa: PLC0415 - see the top

        loop = asyncio.get_running_loop()
        data, addr = await loop.sock_recvfrom(self._rx, _RECV_SIZE)
        return data, IPv4Address(addr[0])

    def send_now(
        self, payload: bytes, dst: IPv4Address = VRRP_MULTICAST, src: IPv4Address | None = None
    ) -> None:
        """Send one VRRP payload at once, non-blocking, from `src` (None: the socket's own source).

        The socket's own source (the same object as `self.src`) is a plain `sendto`; another one is a
        `sendmsg` carrying it in IP_PKTINFO. Raises BlockingIOError when the socket buffer is full (the
        caller may then `await send`), and OSError for any other failure, as `send` does (ENETUNREACH:
        `src` is not local and the socket does not `allow_any_source`).
        """
        if dst is not self._to:
            # A master sends to the same address object every period: its sockaddr is built once.
            self._to, self._to_addr = dst, (str(dst), 0)
        if src is None or src is self.src:
            self._tx.sendto(payload, self._to_addr)
            return
        if src is not self._from:
            self._from, self._from_cmsg = src, pktinfo(src)
        self._tx.sendmsg((payload,), self._from_cmsg, 0, self._to_addr)

    async def send(
        self, payload: bytes, dst: IPv4Address = VRRP_MULTICAST, src: IPv4Address | None = None
    ) -> None:
        """Send one VRRP payload from `src` (None: the socket's own source); the kernel prepends the
        header (TTL 255, TOS 0xc0, proto 112).

        Any failure (ENETDOWN, ENOBUFS, EPERM from a firewall, EBADF after close...) is raised as
        OSError for the caller to count; nothing here retries.
        """
        import asyncio  # noqa: PLC0415 - see the top

        loop = asyncio.get_running_loop()
        if src is None or src is self.src or src == self.src:
            await loop.sock_sendto(self._tx, payload, (str(dst), 0))
            return
        cmsg, addr = pktinfo(src), (str(dst), 0)
        while True:  # the loop has no sock_sendmsg: wait for room as sock_sendto does
            try:
                self._tx.sendmsg((payload,), cmsg, 0, addr)
                return
            except BlockingIOError:
                room = loop.create_future()
                loop.add_writer(self._tx.fileno(), room.set_result, None)
                try:
                    await room
                finally:
                    loop.remove_writer(self._tx.fileno())

    def close(self) -> None:
        """Stop reading and close both sockets."""
        self.stop_reading()
        self._rx.close()
        self._tx.close()

    def __repr__(self) -> str:
        return f"VrrpSocket({self.ifname!r}, ifindex={self.ifindex}, src={self.src})"
