"""One network interface: its VRRP and GARP sockets, the receive path, and the instances (by family and VRID).

Where a received advert goes: the socket's reader (`kernel.vrrp_socket`) hands each datagram to
`Interface.datagram`, which asks `protocol.admission` whether its sender is within budget, decodes it
(`protocol.packet`, through the decode cache) and passes it to the `Instance` owning its VRID. Drops
before an instance is known (malformed, unknown VRID, rate-limited) are counted here, per interface.

IPv6 (VRRPv3, RFC 5798): an interface with an IPv6 instance also has the IPv6 socket pair
(`kernel.vrrp_socket6`, sending from the link-local address) and a Neighbor Advertisement sender
(`kernel.ndisc`), opened with the first such instance; its datagrams (IPv6 header rebuilt by the
socket) take the same path. A transport call picks the family by its address: a VIP or destination
that is IPv6 goes out through the IPv6 pieces, an unsolicited NA standing in for gratuitous ARP.
VRIDs are one space per address family (RFC 5798 §1: an IPv4 and an IPv6 virtual router with the
same VRID are separate routers): a datagram goes to the instance of its own family with its VRID. Each
family's sockets are opened with its first instance, so an IPv6-only interface needs no IPv4 address.

IPv4 instances of one interface may advertise from different sources (unicast_src_ip, mcast_src_ip, or
the interface's own primary address): each family has one socket, bound to the first instance's source,
and every send names the instance's own (`Source`; the socket puts another one in IP_PKTINFO), as
keepalived writes each instance's source into its own IP header.

It also lends its sockets and the netlink handle to its instances (the `Transport` they send and
install VIPs through). It makes no protocol decision and knows nothing of the daemon's lifecycle: the
daemon opens, closes and re-opens it.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import math
import socket
import time
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from typing import TYPE_CHECKING, TypeVar

from vrrpd import logs
from vrrpd.kernel import ebpf
from vrrpd.kernel.bpf import Steady
from vrrpd.kernel.doorbell import Doorbell
from vrrpd.kernel.garp import GarpSender
from vrrpd.kernel.ndisc import NaSender
from vrrpd.kernel.netlink import LinkInfo, Netlink
from vrrpd.kernel.vrrp_socket import VrrpSocket
from vrrpd.kernel.vrrp_socket6 import Vrrp6Socket
from vrrpd.protocol.admission import SenderAdmission
from vrrpd.protocol.fsm import State
from vrrpd.protocol.packet import DecodeCache, DropReason, Received, decode_key
from vrrpd.runtime.instance import PREWAKE, Instance

if TYPE_CHECKING:
    from vrrpd.runtime.ah import AhReceiver

_Vip = TypeVar("_Vip", bound=IPv4Interface | IPv6Interface)


_IPV6_HEADER = 40
log = logs.get_logger("vrrpd.runtime.interface")
# Lazy reading (issue 17, see `_update_mode`): each family's socket is drained once per period, with a
# doorbell socket (`kernel.doorbell`) waking the loop at once for whatever is not a routine repeat. The
# period is the shortest Skew_Time or Master_Adver_Interval of the backups less LAZY_MARGIN (so even
# without the doorbell a priority-0 advert is read, with its arrival time, well before the Skew_Time it
# starts runs out), at most LAZY_MAX; below LAZY_MIN the socket is read per datagram as before.
LAZY_MARGIN = 0.1
LAZY_MAX = 1.0
LAZY_MIN = 0.05
# Lazy reading where a doorbell could be opened (measured in the lab: tests/runtime/test_lazy_netns.py).
LAZY = True
# After a lazy drain found that the kernel dropped datagrams (the receive queue overflowed: a flood, or more
# adverts than the buffer was sized for), the socket is read per datagram this long before trying again.
LAZY_BACKOFF = 10.0
# A doorbell ring whose drain found nothing: its copy woke us before the main socket queued the original
# (see `kernel.doorbell`); drained again this much later.
RING_RETRY = 0.001
# A new steady advert (fewer adverts urgent: only wake-ups saved) reprograms the doorbells at most this
# late, batching a start-up's or a reload's changes; a state change (more urgent) reprograms at once.
PROGRAM_BATCH = 0.1
_IPV6_FIRST = b"\x60"  # the first byte of the header the IPv6 socket rebuilds (version 6, class 0)
# The eBPF swallower (issue 17, `kernel.ebpf`), where the kernel lets us load it (CAP_BPF): an armed backup's
# routine repeats are counted and dropped in the kernel, everything else is read per datagram, and a
# backup's timer takes the swallowed repeats (`catch_up`) before it could declare its master down. Refused
# (no CAP_BPF, an old kernel): the lazy drain with its doorbell, as before.
EBPF = True
_modes_logged: set[str] = set()


def _reading_mode(mode: str, **fields: object) -> None:
    """One log line per process and mode: how routine repeats are read, and why."""
    if mode in _modes_logged:
        return
    _modes_logged.add(mode)
    if mode == "ebpf":
        log.info("receive_mode", mode=mode, detail="routine repeats dropped and counted in the kernel")
    else:
        log.warning("receive_mode", mode=mode, **fields)


@dataclasses.dataclass(slots=True)
class _Armed:
    """One armed VRID of a swallower: the backup, the advert its repeats are taken as, the kernel's count
    when they were last taken (`seen`) and last added to the backup's counters (`counted`; also `tally`)."""

    instance: Instance
    received: Received
    steady: Steady
    seen: int
    counted: int
    # While the interface's sweep stands in for the backup's own timer (`Interface.defer`): the deadline
    # its router had then, and the Master_Down_Interval a swallowed repeat's arrival is moved on by.
    deferred: float | None = None
    interval: float = 0.0


SourceKey = tuple[IPv4Address | None, bool]  # (configured address, None: the interface's own; mcast_src_ip)


@dataclasses.dataclass(slots=True, eq=False)
class Source:
    """One IPv4 advert source of the interface's instances (RFC 3768 §5.2.1) and how it is kept: the
    interface's own primary address, followed when it changes (not `configured`); a configured address
    (unicast_src_ip, a virtual MAC's lower address), FAULT while the interface lacks it; or an
    mcast_src_ip (`anywhere`), sent from whether or not the interface holds it, as keepalived does."""

    address: IPv4Address
    configured: bool
    anywhere: bool
    vrids: set[int] = dataclasses.field(default_factory=set)  # the IPv4 instances sending from it
    present: bool = True  # False: its instances are in FAULT (no_address) until it is back


class StartupError(Exception):
    """The daemon cannot start on this host as configured; str() is one line for the operator."""


class Interface:
    """One network interface: its sockets, and the instances (by address family and VRID) that run on it.

    The sockets of each family are opened with the first instance of that family (`open_ipv4`,
    `open_ipv6`): an interface with only IPv6 instances needs no IPv4 address, one with only IPv4
    instances no link-local address.
    """

    # The IPv4 pieces, opened by `open_ipv4` with the first IPv4 instance (class defaults: none); `src`
    # is the address the socket is bound to (the first instance's source), a plain `sendto`'s source.
    sock: VrrpSocket | None = None
    garp: GarpSender | None = None
    src: IPv4Address | None = None
    # The IPv6 pieces, opened by `open_ipv6` with the first IPv6 instance.
    sock6: Vrrp6Socket | None = None
    nd: NaSender | None = None
    ah: AhReceiver | None = None  # auth_type AH: the protocol-51 socket (`runtime.ah`), with the first

    def __init__(self, link: LinkInfo, netlink: Netlink) -> None:
        self.link = link
        self.ifindex = link.ifindex
        self.name = link.name
        # The IPv4 instances' sources, by (configured address or None, mcast_src_ip).
        self.sources: dict[SourceKey, Source] = {}
        self.fixed_src6 = False  # an IPv6 mcast_src_ip: that link-local address and no other
        self.has_address6 = True  # `src6` is on the interface (False: its IPv6 instances are in FAULT)
        self._netlink = netlink
        # RFC 5798 §1: the IPv4 and the IPv6 virtual routers are "a domain unto themselves".
        self.routers: dict[int, dict[int, Instance]] = {4: {}, 6: {}}  # family -> VRID -> instance
        self.drops: collections.Counter[str] = collections.Counter()
        self.recv_task: asyncio.Task[None] | None = None
        self._drop_log = logs.RateLimitedLog(logs.get_logger("vrrpd.drops"), "packet_dropped")
        self._admission = SenderAdmission()
        self._decoder = DecodeCache()
        # The routine repeats' bytes (IPv4: `decode_key`; IPv6: the rebuilt datagram) → who took them.
        self._routine: dict[bytes, tuple[Instance, Received]] = {}
        self._reader_loop: asyncio.AbstractEventLoop | None = None  # while receive_loop runs
        # Lazy reading: each family's doorbell, the steady advert each of its backups follows (VRID →
        # what the doorbell filters out), pending reprogramming and mode updates, the per-datagram backoff.
        self.bells: dict[int, Doorbell] = {}
        self._steady: dict[int, dict[int, Steady]] = {4: {}, 6: {}}
        self._program_soon: asyncio.Handle | None = None
        self._program_later: asyncio.TimerHandle | None = None
        self._mode_soon: asyncio.Handle | None = None
        self._eager_until = 0.0  # loop time: read per datagram until then (a lazy drain saw drops)
        self.lazy: dict[int, float | None] = {4: None, 6: None}  # each family's drain period (None: eager)
        # The eBPF swallower of each family's socket (then no doorbell), and its armed VRIDs.
        self.swallowers: dict[int, ebpf.Swallower] = {}
        self._armed: dict[int, dict[int, _Armed]] = {4: {}, 6: {}}
        self._sweeps: dict[int, asyncio.TimerHandle] = {}  # each family's wake-up for its deferred backups

    @property
    def up(self) -> bool:
        """The link's carrier, as the daemon last saw it."""
        return self.link.up

    @property
    def instances(self) -> list[Instance]:
        """Every instance on the interface, IPv4 ones first."""
        return [*self.routers[4].values(), *self.routers[6].values()]

    def instance(self, family: int, vrid: int) -> Instance | None:
        """The instance of that address family and VRID, if one runs here."""
        return self.routers[family].get(vrid)

    def open_ipv4(
        self, src: IPv4Address | None = None, any_source: bool = False, vrid: int | None = None
    ) -> IPv4Address:
        """Open the IPv4 VRRP and GARP sockets (idempotent) for the instance `vrid`, which sends from `src`
        (else the interface's primary address) — with `any_source` (mcast_src_ip) whether or not it is a
        local address; the source it uses (`Source`), to pass with each of its sends.

        The sockets open with the first IPv4 instance, bound to its source; a later instance with
        another source shares them (its sends carry its own).
        Raises StartupError: no source address, or the raw sockets cannot be opened (not root, no
        CAP_NET_RAW).
        """
        link = self.link
        key = (src, src is not None and any_source)
        source = self.sources.get(key)
        if source is None:
            own = self.sources.get((None, False))
            address = src or (own.address if own is not None else link.primary)
            if address is None:
                raise StartupError(
                    f"interface {link.name} has no IPv4 address: VRRP adverts need one as their source"
                    " (add an address, or set unicast_src_ip)"
                )
            try:
                if self.sock is None:
                    sock = VrrpSocket.open(link.name, link.ifindex, address, any_source=key[1])
                    try:
                        garp = GarpSender.open(link.name, link.ifindex, link.mac)
                    except BaseException:
                        sock.close()
                        raise
                    self.sock, self.garp, self.src = sock, garp, address
                    self._open_bell(4, link.name, link.ifindex)
                    if self._reader_loop is not None:  # the receive loop is running: read it too
                        sock.start_reading(self._reader_loop, self.datagram, self._recv_error)
                        self._schedule_mode()
                elif key[1]:
                    self.sock.allow_any_source()
            except OSError as exc:
                raise StartupError(f"interface {link.name}: cannot open raw sockets: {exc}") from exc
            if address == self.src:
                address = self.src  # the socket's own object: its sends are a plain `sendto`
            source = self.sources[key] = Source(address, configured=src is not None, anywhere=key[1])
        if vrid is not None:
            for other in self.sources.values():
                other.vrids.discard(vrid)  # a reload may have moved the VRID to another source
            source.vrids.add(vrid)
        return source.address

    def adopt_ipv4(self, sock: VrrpSocket, garp: GarpSender, src: IPv4Address) -> None:
        """Take the IPv4 sockets `runtime.prestart` opened on this interface from its primary address `src`
        (as `open_ipv4()` opens them), before the receive loop starts."""
        self.sock, self.garp, self.src = sock, garp, src
        self.sources[(None, False)] = Source(src, configured=False, anywhere=False)
        self._open_bell(4, self.link.name, self.link.ifindex)

    def source_of(self, vrid: int) -> Source | None:
        """The source the IPv4 instance `vrid` sends from."""
        return next((s for s in self.sources.values() if vrid in s.vrids), None)

    @property
    def src6(self) -> IPv6Address | None:
        """The IPv6 source (the link-local address) once the IPv6 socket is open."""
        return self.sock6.src if self.sock6 is not None else None

    def open_ipv6(self, src: IPv6Address | None = None) -> IPv6Address:
        """Open the IPv6 socket pair and the NA sender (idempotent); the link-local source they use: `src`
        (an IPv6 mcast_src_ip), else the link's link-local address.

        Raises StartupError: no IPv6 link-local address on the interface (IPv6 disabled, or
        addr_gen_mode none), or the sockets cannot be opened.
        """
        if self.sock6 is not None:
            return self.sock6.src
        link = self.link
        source = src or link.link_local
        if source is None:
            raise StartupError(
                f"interface {link.name} has no IPv6 link-local address: VRRPv3 over IPv6 sends from it"
                " (RFC 5798 §5.1.2.1); is IPv6 disabled on it?"
            )
        try:
            sock6 = Vrrp6Socket.open(link.name, link.ifindex, source)
            try:
                nd = NaSender.open(link.name, link.ifindex, link.mac)
            except BaseException:
                sock6.close()
                raise
        except OSError as exc:
            raise StartupError(f"interface {link.name}: cannot open IPv6 raw sockets: {exc}") from exc
        self.sock6, self.nd, self.fixed_src6 = sock6, nd, src is not None
        self._open_bell(6, link.name, link.ifindex)
        if self._reader_loop is not None:  # the receive loop is running: read the new socket too
            sock6.start_reading(self._reader_loop, self.datagram, self._recv_error)
            self._schedule_mode()
        return sock6.src

    def _open_bell(self, family: int, name: str, ifindex: int) -> None:
        """Attach the family's eBPF swallower to its (new) socket; where the kernel refuses it, open the
        family's doorbell (lazy reading needs it); without either the socket is read per datagram."""
        sock = self._socket(family)
        if EBPF and sock is not None and family not in self.bells:
            swallower = self.swallowers.get(family)
            try:
                if swallower is None:
                    swallower = ebpf.Swallower.open(socket.AF_INET if family == 4 else socket.AF_INET6)
                swallower.attach(sock.rx)
            except OSError as exc:
                if swallower is not None and family not in self.swallowers:
                    swallower.close()
                _reading_mode("lazy", reason=str(exc), detail="no eBPF (CAP_BPF?): lazy drain and doorbell")
            else:
                self.swallowers[family] = swallower
                for vrid in list(self._armed[family]):  # a new socket: what its backups follow is re-learnt
                    self._disarm(family, vrid)
                _reading_mode("ebpf")
                return
        if not LAZY or family in self.bells:
            return
        try:
            self.bells[family] = Doorbell.open(
                socket.AF_INET if family == 4 else socket.AF_INET6, name, ifindex
            )
        except OSError as exc:
            log.warning("doorbell_unavailable", interface=name, family=family, error=str(exc))

    def allow_rate(self, adverts_per_second: float) -> None:
        """Let each sender send at least this many adverts per second before admission drops them.

        A VRRPv3 master at advert_int 0.01 s sends 100 per second per VRID, four times the default budget.
        """
        self._admission.rate = max(self._admission.rate, adverts_per_second)
        self._admission.burst = max(self._admission.burst, 2 * adverts_per_second)

    async def send_vrrp(
        self, payload: bytes, dst: IPv4Address | IPv6Address, src: IPv4Address | IPv6Address
    ) -> None:
        """Transport: send one VRRP message from the instance's source `src` (IPv6: the interface's one)."""
        if isinstance(dst, IPv6Address):
            await self._ipv6().send(payload, dst)
        else:
            await self._ipv4().send(payload, dst, src if isinstance(src, IPv4Address) else None)

    def send_vrrp_now(
        self, payload: bytes, dst: IPv4Address | IPv6Address, src: IPv4Address | IPv6Address
    ) -> None:
        """Transport: send one VRRP message from the instance's source `src` without waiting
        (BlockingIOError if the buffer is full)."""
        if isinstance(dst, IPv6Address):
            self._ipv6().send_now(payload, dst)
        else:
            self._ipv4().send_now(payload, dst, src if isinstance(src, IPv4Address) else None)

    def send_garp(self, vip: IPv4Address | IPv6Address, count: int) -> None:
        """Transport: announce `vip` — gratuitous ARPs for IPv4, unsolicited NAs for IPv6."""
        if isinstance(vip, IPv6Address):
            if self.nd is None:
                raise OSError(f"{self.name}: IPv6 is not open on this interface")
            self.nd.send(vip, count)
        else:
            if self.garp is None:
                raise OSError(f"{self.name}: IPv4 is not open on this interface")
            self.garp.send(vip, count)

    def _ipv4(self) -> VrrpSocket:
        if self.sock is None:
            # An IPv4 instance always opens it first (`open_ipv4`): as `_ipv6`.
            raise OSError(f"{self.name}: IPv4 is not open on this interface")
        return self.sock

    def _ipv6(self) -> Vrrp6Socket:
        if self.sock6 is None:
            # An IPv6 instance always opens it first (`open_ipv6`): a raise here is our bug, counted
            # by the caller as a send error rather than crashing the instance.
            raise OSError(f"{self.name}: IPv6 is not open on this interface")
        return self.sock6

    async def add_vips(self, vips: Sequence[_Vip]) -> dict[_Vip, int]:
        """Transport: install many VIPs in batches; errno per VIP (0 added, EEXIST already there)."""
        return await self._netlink.add_addresses(self.ifindex, vips)

    async def remove_vips(self, vips: Sequence[_Vip]) -> dict[_Vip, int]:
        """Transport: remove many VIPs in batches; errno per VIP (0 removed, EADDRNOTAVAIL not there)."""
        return await self._netlink.remove_addresses(self.ifindex, vips)

    async def receive_loop(self) -> None:
        """Receive until cancelled: the socket's reader calls `datagram` for every datagram it drains.

        A task only to tie the reader's lifetime to the daemon's task bookkeeping: cancelling it (link
        gone, interface closed, shutdown) removes the reader before the socket can be closed or reopened.
        """
        loop = asyncio.get_running_loop()
        if self.sock is not None:
            self.sock.start_reading(loop, self.datagram, self._recv_error)
        if self.sock6 is not None:
            self.sock6.start_reading(loop, self.datagram, self._recv_error)
        self._reader_loop = loop
        try:
            self._program()
            self._update_mode()
            await loop.create_future()  # never resolved: ends by cancellation
        finally:
            self._reader_loop = None
            self._hand_back()
            for handle in (self._program_soon, self._program_later, self._mode_soon):
                if handle is not None:
                    handle.cancel()
            self._program_soon = self._program_later = self._mode_soon = None
            for bell in self.bells.values():
                bell.stop()
            if self.sock is not None:
                self.sock.stop_reading()
            if self.sock6 is not None:
                self.sock6.stop_reading()
            self.lazy = {4: None, 6: None}

    def drain(self) -> None:
        """Reader: deliver what is queued but unread, now (before an instance acts on its deadline; the
        hook for a doorbell saying an urgent datagram arrived)."""
        if self.sock is not None:
            self.sock.drain()
        if self.sock6 is not None:
            self.sock6.drain()

    def state_changed(self) -> None:
        """Reader: an instance changed state. Its VRID's adverts become urgent or routine for the doorbell
        (reprogrammed at once, after the callback that sent the new state's first advert), and the drain
        period may change."""
        for family, steady in self._steady.items():
            routers = self.routers[family]
            for vrid in [
                v for v in steady if (i := routers.get(v)) is None or i.router.state is not State.BACKUP
            ]:
                del steady[vrid]
        for family, armed in self._armed.items():
            routers = self.routers[family]
            for vrid in [
                v
                for v, e in armed.items()
                if routers.get(v) is not e.instance or e.instance.router.state is not State.BACKUP
            ]:
                self._disarm(family, vrid)  # before the new state's first advert is read or sent
        self._schedule_program(at_once=True)
        self._schedule_mode()

    def _socket(self, family: int) -> VrrpSocket | Vrrp6Socket | None:
        return self.sock if family == 4 else self.sock6

    # -- the eBPF swallower ---------------------------------------------------------------------------

    def catch_up(self, instance: Instance) -> None:
        """Reader: take the routine repeats the kernel swallowed for `instance` as received, at the last
        one's arrival (before it acts on its timer, and before any other advert of its VRID is handled)."""
        family = instance.router.config.family
        entry = self._armed[family].get(instance.router.config.vrid)
        if entry is not None and entry.instance is instance:
            self._collect(family, instance.router.config.vrid, entry)

    def defer(self, instance: Instance, deadline: float) -> bool:
        """Reader: stand in for an armed backup's own timer (True), whose Master_Down_Timer then runs out at
        `deadline` or, once the kernel swallowed repeats of its master, at the last one's arrival +
        Master_Down_Interval — what taking it (`catch_up`) would set (`Router.takes_repeat`).

        With the eBPF swallower, a backup's only periodic work is to check that its master was heard
        before the timer runs out. Done per backup, that is a loop wake-up and the router, timer and
        conflict-detector path per backup every ~2.6 intervals, on cold caches (most of a backup's CPU).
        Here one timer per family covers every deferred backup: it wakes at the earliest of their
        deadlines less PREWAKE, reads each one's arrival stamp from the map, and hands only the backups
        whose deadline is that near back to their own timers (`Instance.resume`), which take the repeats
        and act on the deadline to the microsecond as before (§6.4.2). The others' routers are left as
        they are: status counts their adverts (`tally`), and anything else they are asked first takes the
        repeats (`catch_up`).
        """
        family = instance.router.config.family
        entry = self._armed[family].get(instance.router.config.vrid)
        loop = self._reader_loop
        if entry is None or entry.instance is not instance or loop is None:
            return False
        router = instance.router
        if not router.takes_repeat(entry.received):
            entry.deferred = None
            return False
        entry.deferred, entry.interval = deadline, router.master_down_interval
        self._sweep_by(loop, family, deadline - PREWAKE)
        return True

    def _sweep_by(self, loop: asyncio.AbstractEventLoop, family: int, wake: float) -> None:
        """Have the family's sweep run at `wake` at the latest."""
        handle = self._sweeps.get(family)
        if handle is None or handle.when() > wake:
            if handle is not None:
                handle.cancel()
            self._sweeps[family] = loop.call_at(wake, self._sweep, family)

    def _sweep(self, family: int) -> None:
        """The deferred backups' wake-up: hand back those whose Master_Down_Timer is within PREWAKE, re-arm
        for the earliest of the others'."""
        self._sweeps.pop(family, None)
        loop, swallower = self._reader_loop, self.swallowers.get(family)
        if loop is None or swallower is None:
            return
        armed, read = self._armed[family], swallower.read
        horizon = loop.time() + PREWAKE
        earliest = math.inf
        due: list[tuple[int, _Armed]] = []
        for vrid, entry in armed.items():
            at = entry.deferred
            if at is None:
                continue
            count, last_ns = read(vrid)
            if count != entry.seen:
                at = last_ns * 1e-9 + entry.interval  # as `_collect` would set it (`Router.takes_repeat`)
            if at <= horizon:
                due.append((vrid, entry))
            elif at < earliest:
                earliest = at
        for vrid, entry in due:
            self._take_back(family, vrid, entry)
        if earliest < math.inf:
            self._sweep_by(loop, family, earliest - PREWAKE)

    def _hand_back(self) -> None:
        """Every deferred backup arms its own timer again (the receive loop ended)."""
        for handle in self._sweeps.values():
            handle.cancel()
        self._sweeps = {}
        for family, armed in self._armed.items():
            for vrid, entry in list(armed.items()):
                self._take_back(family, vrid, entry)

    def _take_back(self, family: int, vrid: int, entry: _Armed) -> None:
        """A deferred backup (still armed, not taken back meanwhile) takes its repeats and arms its own
        timer again."""
        if entry.deferred is not None and self._armed[family].get(vrid) is entry:
            entry.deferred = None
            self._collect(family, vrid, entry)
            entry.instance.resume()

    def release(self, instance: Instance) -> None:
        """Reader: as `catch_up`, then swallow nothing more for `instance` until it accepts an advert again
        (a reload changes what its router accepts)."""
        family, vrid = instance.router.config.family, instance.router.config.vrid
        entry = self._armed[family].get(vrid)
        if entry is not None and entry.instance is instance:
            self._collect(family, vrid, entry)
            self._disarm(family, vrid)

    def tally(self) -> None:
        """Add what the kernel swallowed since to the backups' `adverts_received` (status asks first), without
        taking the repeats (their timers do)."""
        for family, armed in self._armed.items():
            swallower = self.swallowers.get(family)
            if swallower is None:
                continue
            for vrid, entry in armed.items():
                count = swallower.read(vrid)[0]
                entry.instance.counters.adverts_received += count - entry.counted  # only grows
                entry.counted = count

    def _collect(self, family: int, vrid: int, entry: _Armed) -> bool:
        """Whether the instance took swallowed repeats as routine (its Master_Down_Timer moved on)."""
        count, last_ns = self.swallowers[family].read(vrid)
        if count == entry.seen:
            return False
        inst = entry.instance
        inst.counters.adverts_received += count - entry.counted  # the kernel's count only grows
        entry.seen = entry.counted = count
        # CLOCK_MONOTONIC, the loop's clock: the last repeat moves the Master_Down_Timer as the earlier ones
        # would have (each reset it to its own arrival + Master_Down_Interval).
        at = min(last_ns * 1e-9, time.monotonic())
        if not inst.repeated(entry.received, at):
            self._disarm(family, vrid)  # no longer routine: its adverts take the full path again
            return False
        return True

    def _arm(self, family: int, vrid: int, instance: Instance, received: Received, datagram: bytes) -> None:
        """A backup took this advert without any action: the kernel may swallow its repeats when each one
        would only reset the Master_Down_Timer (`Router.takes_repeat`), so that taking the last one stands
        for all. Never a priority-0 advert (§6.4.2: each one sets Skew_Time), nor one a backup discards or
        accepts only for a while (preempt, preempt_delay: the hold may end between two repeats)."""
        swallower = self.swallowers.get(family)
        if swallower is None:
            return
        if not instance.router.takes_repeat(received):
            self._disarm(family, vrid)  # e.g. the master is leaving: whatever it sends next is read at once
            return
        try:
            steady = Steady.of(datagram)
        except ValueError:
            return
        entry = self._armed[family].get(vrid)
        if entry is not None and entry.instance is instance and entry.steady == steady:
            entry.received = received
            return
        if entry is not None:
            self._disarm(family, vrid)
        swallower.arm(vrid, steady)
        count = swallower.read(vrid)[0]
        self._armed[family][vrid] = _Armed(instance, received, steady, count, count)
        instance.resume()  # its timer handed to the interface's (`defer`)

    def _disarm(self, family: int, vrid: int) -> None:
        """Swallow nothing more of `vrid`; what was swallowed since the last collection is counted only (the
        instance is no longer a backup following that advert)."""
        entry = self._armed[family].pop(vrid, None)
        swallower = self.swallowers.get(family)
        if swallower is None:
            return
        swallower.disarm(vrid)
        if entry is not None:
            count = swallower.read(vrid)[0]
            entry.instance.counters.adverts_received += count - entry.counted
            if entry.deferred is not None:
                entry.deferred = None
                entry.instance.resume()  # its own timer again, for the deadline its router has

    # -- lazy reading ---------------------------------------------------------------------------------

    def _schedule_mode(self) -> None:
        # Deferred: a state change may come from inside a drain (a master hearing a better one), and the
        # reader's mode must not change under its own feet.
        loop = self._reader_loop
        if loop is not None and self._mode_soon is None:
            self._mode_soon = loop.call_soon(self._update_mode)

    def _update_mode(self) -> None:
        """Read each family's socket lazily when its doorbell is open, else per datagram.

        Lazy: no wake-up per datagram; the socket is drained once per period (and whenever the doorbell
        rings, and before a backup acts on its timer), each datagram handled with its kernel arrival time.
        A backup needs no more: its master's repeats only move its Master_Down_Timer, to their arrival
        time + Master_Down_Interval. Whatever needs a prompt reaction — priority 0, another source or
        priority, any advert on a VRID we are master of — passes the doorbell's filter and rings at once.
        Per datagram instead: no backup on the family (nothing to read), no doorbell (it could not be
        opened, or was refused), adverts too frequent for a period of LAZY_MIN, or LAZY_BACKOFF after a
        drain that saw drops. The period follows state changes (a reload that changes an interval without
        one keeps the old period: still safe, the doorbell and the drain before a deadline cover it).
        """
        self._mode_soon = None
        loop = self._reader_loop
        for family in (4, 6):
            sock, bell = self._socket(family), self.bells.get(family)
            if sock is None:
                continue
            period, expected = None, 0
            if bell is not None and loop is not None and loop.time() >= self._eager_until:
                period, expected = self._period(family)
            lazy = sock.set_lazy(period, expected, functools.partial(self._drained, family))
            now = period if lazy else None
            if bell is not None and loop is not None:
                if not lazy:
                    bell.stop()  # the socket's own reader wakes for every datagram
                elif not bell.started:
                    bell.start(loop, functools.partial(self._ring, family))
            if now != self.lazy[family]:
                self.lazy[family] = now
                log.info("interface_reading", interface=self.name, family=family, lazy=now)

    def _period(self, family: int) -> tuple[float | None, int]:
        """The lazy drain period for the family's socket and the adverts it may bring; None when no
        instance is a backup (a master hears nothing in the steady state: its socket never wakes, and
        periodic drains would be all cost — measured: +15 % CPU for a master of 1,000) or the period would
        be below LAZY_MIN."""
        period, rate, backups = LAZY_MAX, 0.0, False
        for inst in self.routers[family].values():
            router = inst.router
            if router.state is State.BACKUP:
                period = min(period, router.master_adver_int, router.skew_time)
                backups = True
            rate += 1 / router.master_adver_int
        period -= LAZY_MARGIN
        if not backups or period < LAZY_MIN:
            return None, 0
        return period, math.ceil(rate * (period + LAZY_MARGIN))

    def _drained(self, family: int, now: float, lost: bool) -> None:
        """After every lazy drain: `lost` says the kernel dropped datagrams since the previous one."""
        if lost:
            # The receive queue overflowed: no backup may declare its master down on what was not read
            # (`fsm.Router.adverts_lost`), and the socket is read per datagram for a while.
            self._drop("receive_queue_overflow", family=family)
            for inst in list(self.routers[family].values()):
                inst.adverts_lost(now)
            loop = self._reader_loop
            if loop is not None:
                self._eager_until = loop.time() + LAZY_BACKOFF
                loop.call_later(LAZY_BACKOFF, self._schedule_mode)
            self._schedule_mode()

    def _ring(self, family: int) -> None:
        """The family's doorbell: an urgent advert arrived. Drain the main socket, which holds it after the
        routine repeats that came before it, so everything is handled in order and once."""
        sock, loop = self._socket(family), self._reader_loop
        if sock is not None and sock.drain() == 0 and loop is not None:
            loop.call_later(RING_RETRY, sock.drain)

    def _follow(self, family: int, vrid: int, datagram: bytes) -> None:
        """A backup took this advert without any action: its repeats need no prompt reading."""
        try:
            steady = Steady.of(datagram)
        except ValueError:
            return
        table = self._steady[family]
        if table.get(vrid) != steady:
            table[vrid] = steady
            self._schedule_program(at_once=False)

    def _schedule_program(self, at_once: bool) -> None:
        loop = self._reader_loop
        if loop is None or not self.bells:
            return  # programmed when the receive loop starts
        if at_once:
            if self._program_soon is None:
                self._program_soon = loop.call_soon(self._program)
        elif self._program_later is None and self._program_soon is None:
            self._program_later = loop.call_later(PROGRAM_BATCH, self._program)

    def _program(self) -> None:
        """Give each doorbell the VRIDs' current steady adverts (what a backup follows; nothing for a VRID
        in another state, whose every advert is urgent)."""
        for handle in (self._program_soon, self._program_later):
            if handle is not None:
                handle.cancel()
        self._program_soon = self._program_later = None
        for family, bell in list(self.bells.items()):
            steady = self._steady[family]
            vrids = {
                vrid: steady.get(vrid) if inst.router.state is State.BACKUP else None
                for vrid, inst in self.routers[family].items()
            }
            try:
                bell.program(vrids)
            except OSError as exc:  # e.g. ENOMEM (net.core.optmem_max): read per datagram instead
                log.warning("doorbell_refused", interface=self.name, family=family, error=str(exc))
                bell.close()
                del self.bells[family]
                self._schedule_mode()

    def _recv_error(self, exc: OSError) -> None:
        # e.g. ENETDOWN while the link is cut: counted; the socket pauses briefly and keeps listening.
        self._drop("recv_error", error=str(exc))

    def datagram(self, datagram: bytes, now: float | None = None) -> None:
        """Decode one datagram, hand it to the instance owning its VRID; drops are counted, never raised.

        `now` is when the reader woke up to read it (`time.monotonic()`, the event loop's clock): one
        clock read per wake-up rather than several per datagram. The current time if omitted.
        """
        if now is None:
            now = time.monotonic()
        # A routine repeat: the bytes (all that decoding reads) of an advert its instance took without
        # any action. Only its arrival is news (`Instance.repeat`); admission, decoding and the §7.1
        # checks are skipped — a flood replaying it costs less here than admission would, and changes
        # nothing the real master's adverts do not.
        key = datagram if datagram[:1] == _IPV6_FIRST else decode_key(datagram)
        routine = self._routine.get(key)
        if routine is not None:
            if self.swallowers:
                self.catch_up(routine[0])  # the swallowed repeats came first
            if routine[0].repeat(routine[1], now):
                return
        if not self._admission.admit(SenderAdmission.key(datagram), now):
            self._drop("rate_limited")  # a flooding sender: counted, never decoded
            return
        # Repeats of a known advert (the steady state) come back decoded already; see `DecodeCache`.
        if datagram[:1] and datagram[0] >> 4 == 6 and len(datagram) >= _IPV6_HEADER:
            # From the IPv6 socket: the header it rebuilt carries what the kernel reported beside the
            # payload (`kernel.vrrp_socket6`).
            routers = self.routers[6]
            received = self._decoder.decode_ipv6(
                datagram[_IPV6_HEADER:],
                routers,
                source=IPv6Address(datagram[8:24]),
                destination=IPv6Address(datagram[24:40]),
                hop_limit=datagram[7],
            )
        else:
            routers = self.routers[4]
            received = self._decoder.decode(datagram, routers)
        if isinstance(received, DropReason):
            self._drop(received.value)
            return
        vrid = received.advert.vrid
        instance = routers.get(vrid)
        if instance is None:
            self._drop(DropReason.UNKNOWN_VRID.value, vrid=vrid, source=str(received.source))
            return
        if self.swallowers:
            self.catch_up(instance)  # the swallowed repeats came first
        if instance.receive(received, now):
            # Remembered for its repeats; bounded like the decode cache (a stale entry is harmless: the
            # router only takes a repeat of the advert it last accepted).
            if len(self._routine) >= 2 * len(self.instances) + 16:
                self._routine.clear()
            self._routine[key] = (instance, received)
            if instance.router.state is State.BACKUP:
                family = 6 if routers is self.routers[6] else 4
                if family in self.swallowers:
                    self._arm(family, vrid, instance, received, datagram)
                elif self.bells:
                    self._follow(family, vrid, datagram)

    def _drop(self, reason: str, **fields: object) -> None:
        self.drops[reason] += 1
        self._drop_log.hit(
            f"{self.name}:{reason}", time.monotonic(), interface=self.name, reason=reason, **fields
        )

    def close(self) -> None:
        """Close the sockets."""
        for bell in self.bells.values():
            bell.close()
        self.bells = {}
        for family in self._armed:
            for vrid in list(self._armed[family]):
                self._disarm(family, vrid)
        for swallower in self.swallowers.values():
            swallower.close()
        self.swallowers = {}
        if self.sock is not None:
            self.sock.close()
        if self.garp is not None:
            self.garp.close()
        if self.sock6 is not None:
            self.sock6.close()
        if self.nd is not None:
            self.nd.close()
        if self.ah is not None:
            self.ah.close()

    def reopen(self, link: LinkInfo) -> None:
        """The interface was deleted and created again under the same name: open the sockets on the new one.

        The caller has stopped the receive task. Raises OSError (e.g. EADDRNOTAVAIL while our source
        address is not back yet); then nothing has changed. `link.up` is not taken over: the caller
        applies it through the usual link-state path, so the instances see the change.
        """
        opened: list[VrrpSocket | GarpSender | Vrrp6Socket | NaSender] = []
        try:
            sock, garp, sock6, nd = None, None, None, None
            if self.sock is not None and self.src is not None:  # IPv4 was open: it must be again
                sock = VrrpSocket.open(link.name, link.ifindex, self.src, any_source=self.sock.any_source)
                opened.append(sock)
                garp = GarpSender.open(link.name, link.ifindex, link.mac)
                opened.append(garp)
            if self.sock6 is not None:  # IPv6 was open: it must be again, from the new link-local address
                src6 = self.src6 if self.fixed_src6 else link.link_local
                if src6 is None:
                    raise OSError(f"interface {link.name} has no IPv6 link-local address yet")
                sock6 = Vrrp6Socket.open(link.name, link.ifindex, src6)
                opened.append(sock6)
                nd = NaSender.open(link.name, link.ifindex, link.mac)
                opened.append(nd)
            if self.ah is not None:
                self.ah.reopen(link)
        except BaseException:
            for done in opened:
                done.close()
            raise
        for old in (self.sock, self.garp, self.sock6, self.nd):
            if old is not None:
                old.close()
        self.sock, self.garp, self.sock6, self.nd, self.ifindex = sock, garp, sock6, nd, link.ifindex
        self.link = dataclasses.replace(link, up=self.link.up)
        # The doorbells are device-bound and joined by ifindex: opened again on the new interface.
        if sock is not None:
            self._open_bell(4, link.name, link.ifindex)
        if sock6 is not None:
            self._open_bell(6, link.name, link.ifindex)

    def rebind(self, src: IPv4Address) -> None:
        """Open the VRRP sockets again with `src` as the source (§5.2.1: the primary address changed).

        The caller has stopped the receive task. Raises OSError; then nothing has changed.
        """
        any_source = self.sock is not None and self.sock.any_source
        sock = VrrpSocket.open(self.name, self.ifindex, src, any_source=any_source)
        if self.sock is not None:
            self.sock.close()
        self.sock, self.src = sock, src
        if 4 in self.swallowers:
            self._open_bell(4, self.name, self.ifindex)  # the swallower onto the new socket

    def rebind6(self, src: IPv6Address) -> None:
        """Open the IPv6 socket pair again with the link-local `src` as the source (RFC 5798 §5.1.2.1:
        the link-local address changed).

        The caller has stopped the receive task. Raises OSError; then nothing has changed.
        """
        sock6 = Vrrp6Socket.open(self.name, self.ifindex, src)
        if self.sock6 is not None:
            self.sock6.close()
        self.sock6 = sock6
        if 6 in self.swallowers:
            self._open_bell(6, self.name, self.ifindex)  # the swallower onto the new socket
        self.link = dataclasses.replace(self.link, link_local=src)

    def foreign_vips(self) -> set[IPv4Address | IPv6Address]:
        """The VIPs of the instances on this interface that are not its own address (an owner's VIP is)."""
        return {v.ip for inst in self.instances if not inst.config.is_owner for v in inst.config.vips}


class XmitBaseTransport:
    """`vmac_xmit_base`: adverts go out (and come in) on the instance's interface, with its own MAC, while
    the VIPs and their gratuitous ARPs (IPv6: Neighbor Advertisements) live on the virtual MAC interface
    (keepalived's layout)."""

    def __init__(self, adverts: Interface, vmac: LinkInfo, netlink: Netlink) -> None:
        self.adverts = adverts
        self.ifindex = vmac.ifindex  # where the VIPs are
        self.name = vmac.name
        self._netlink = netlink
        self.garp = GarpSender.open(vmac.name, vmac.ifindex, vmac.mac)
        try:
            self.nd = NaSender.open(vmac.name, vmac.ifindex, vmac.mac)
        except BaseException:
            self.garp.close()
            raise

    async def send_vrrp(
        self, payload: bytes, dst: IPv4Address | IPv6Address, src: IPv4Address | IPv6Address
    ) -> None:
        """Transport: send one VRRP message from the interface below, from the instance's source."""
        await self.adverts.send_vrrp(payload, dst, src)

    def send_vrrp_now(
        self, payload: bytes, dst: IPv4Address | IPv6Address, src: IPv4Address | IPv6Address
    ) -> None:
        """Transport: send one VRRP message now from the interface below, from the instance's source."""
        self.adverts.send_vrrp_now(payload, dst, src)

    def send_garp(self, vip: IPv4Address | IPv6Address, count: int) -> None:
        """Transport: gratuitous ARPs, or unsolicited NAs for IPv6, from the virtual MAC."""
        if isinstance(vip, IPv6Address):
            self.nd.send(vip, count)
        else:
            self.garp.send(vip, count)

    async def add_vip(self, vip: IPv4Interface | IPv6Interface, label: str | None) -> bool:
        """Transport: install a VIP on the virtual MAC interface."""
        return await self._netlink.add_address(self.ifindex, vip, label)

    async def remove_vip(self, vip: IPv4Interface | IPv6Interface) -> bool:
        """Transport: remove a VIP from the virtual MAC interface."""
        return await self._netlink.remove_address(self.ifindex, vip)

    async def add_vips(self, vips: Sequence[_Vip]) -> dict[_Vip, int]:
        """Transport: install VIPs on the virtual MAC interface in batches."""
        return await self._netlink.add_addresses(self.ifindex, vips)

    async def remove_vips(self, vips: Sequence[_Vip]) -> dict[_Vip, int]:
        """Transport: remove VIPs from the virtual MAC interface in batches."""
        return await self._netlink.remove_addresses(self.ifindex, vips)

    def close(self) -> None:
        """Close the GARP and NA sockets (the interface below is shared, closed by its owner)."""
        self.garp.close()
        self.nd.close()
