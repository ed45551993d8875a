"""One network interface: its VRRP and GARP sockets, the receive path, and the instances (by VRID) on it.

Where a received advert goes: the socket's reader (`kernel.vrrp_socket`) hands each datagram to
`Interface.datagram`, which asks `protocol.admission` whether its sender is within budget, decodes it
(`protocol.packet`, through the decode cache) and passes it to the `Instance` owning its VRID. Drops
before an instance is known (malformed, unknown VRID, rate-limited) are counted here, per interface.

It also lends its sockets and the netlink handle to its instances (the `Transport` they send and
install VIPs through). It makes no protocol decision and knows nothing of the daemon's lifecycle: the
daemon opens, closes and re-opens it.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Interface

from vrrpd import logs
from vrrpd.kernel.garp import GarpSender
from vrrpd.kernel.netlink import LinkInfo, Netlink
from vrrpd.kernel.vrrp_socket import VrrpSocket
from vrrpd.protocol.admission import SenderAdmission
from vrrpd.protocol.packet import DecodeCache, DropReason
from vrrpd.runtime.instance import Instance


class StartupError(Exception):
    """The daemon cannot start on this host as configured; str() is one line for the operator."""


class Interface:
    """One network interface: its sockets, and the instances (by VRID) that run on it."""

    def __init__(self, link: LinkInfo, src: IPv4Address, netlink: Netlink) -> None:
        self.link = link
        self.ifindex = link.ifindex
        self.name = link.name
        self.src = src
        self._netlink = netlink
        self.sock = VrrpSocket.open(link.name, link.ifindex, src)
        self.garp = GarpSender.open(link.name, link.ifindex, link.mac)
        self.instances: dict[int, Instance] = {}
        self.drops: collections.Counter[str] = collections.Counter()
        self.recv_task: asyncio.Task[None] | None = None
        self._drop_log = logs.RateLimitedLog(logs.get_logger("vrrpd.drops"), "packet_dropped")
        self._admission = SenderAdmission()
        self._decoder = DecodeCache()

    @property
    def up(self) -> bool:
        """The link's carrier, as the daemon last saw it."""
        return self.link.up

    @classmethod
    def open(cls, link: LinkInfo, src: IPv4Address | None, netlink: Netlink) -> Interface:
        """Open the sockets on `link`, sending from `src` (else the link's primary address).

        Raises StartupError: no source address, or the raw sockets cannot be opened (not root, no
        CAP_NET_RAW).
        """
        src = src or link.primary
        if src is None:
            raise StartupError(
                f"interface {link.name} has no IPv4 address: VRRP adverts need one as their source"
                " (add an address, or set unicast_src_ip)"
            )
        try:
            return cls(link, src, netlink)
        except OSError as exc:
            raise StartupError(f"interface {link.name}: cannot open raw sockets: {exc}") from exc

    async def send_vrrp(self, payload: bytes, dst: IPv4Address) -> None:
        """Transport: send one VRRP message."""
        await self.sock.send(payload, dst)

    def send_vrrp_now(self, payload: bytes, dst: IPv4Address) -> None:
        """Transport: send one VRRP message without waiting (BlockingIOError if the buffer is full)."""
        self.sock.send_now(payload, dst)

    def send_garp(self, vip: IPv4Address, count: int) -> None:
        """Transport: broadcast gratuitous ARPs for `vip`."""
        self.garp.send(vip, count)

    async def add_vip(self, vip: IPv4Interface, label: str | None) -> bool:
        """Transport: install a VIP (idempotent)."""
        return await self._netlink.add_address(self.ifindex, vip, label)

    async def remove_vip(self, vip: IPv4Interface) -> bool:
        """Transport: remove a VIP (idempotent)."""
        return await self._netlink.remove_address(self.ifindex, vip)

    async def add_vips(self, vips: Sequence[IPv4Interface]) -> dict[IPv4Interface, int]:
        """Transport: install many VIPs in batches; errno per VIP (0 added, EEXIST already there)."""
        return await self._netlink.add_addresses(self.ifindex, vips)

    async def remove_vips(self, vips: Sequence[IPv4Interface]) -> dict[IPv4Interface, int]:
        """Transport: remove many VIPs in batches; errno per VIP (0 removed, EADDRNOTAVAIL not there)."""
        return await self._netlink.remove_addresses(self.ifindex, vips)

    async def receive_loop(self) -> None:
        """Receive until cancelled: the socket's reader calls `datagram` for every datagram it drains.

        A task only to tie the reader's lifetime to the daemon's task bookkeeping: cancelling it (link
        gone, interface closed, shutdown) removes the reader before the socket can be closed or reopened.
        """
        loop = asyncio.get_running_loop()
        self.sock.start_reading(loop, self.datagram, self._recv_error)
        try:
            await loop.create_future()  # never resolved: ends by cancellation
        finally:
            self.sock.stop_reading()

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
        if not self._admission.admit(SenderAdmission.key(datagram), now):
            self._drop("rate_limited")  # a flooding sender: counted, never decoded
            return
        # Repeats of a known advert (the steady state) come back decoded already; see `DecodeCache`.
        received = self._decoder.decode(datagram, self.instances)
        if isinstance(received, DropReason):
            self._drop(received.value)
            return
        instance = self.instances.get(received.advert.vrid)
        if instance is None:
            self._drop(DropReason.UNKNOWN_VRID.value, vrid=received.advert.vrid, source=str(received.source))
            return
        instance.receive(received, now)

    def _drop(self, reason: str, **fields: object) -> None:
        self.drops[reason] += 1
        self._drop_log.hit(
            f"{self.name}:{reason}", time.monotonic(), interface=self.name, reason=reason, **fields
        )

    def close(self) -> None:
        """Close the sockets."""
        self.sock.close()
        self.garp.close()

    def reopen(self, link: LinkInfo) -> None:
        """The interface was deleted and created again under the same name: open the sockets on the new one.

        The caller has stopped the receive task. Raises OSError (e.g. EADDRNOTAVAIL while our source
        address is not back yet); then nothing has changed. `link.up` is not taken over: the caller
        applies it through the usual link-state path, so the instances see the change.
        """
        sock = VrrpSocket.open(link.name, link.ifindex, self.src)
        try:
            garp = GarpSender.open(link.name, link.ifindex, link.mac)
        except BaseException:
            sock.close()
            raise
        self.close()
        self.sock, self.garp, self.ifindex = sock, garp, link.ifindex
        self.link = LinkInfo(link.ifindex, link.name, link.mac, self.link.up, link.primary)
