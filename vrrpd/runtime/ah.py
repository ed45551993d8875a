"""keepalived's `auth_type AH` in the daemon: the protocol-51 socket of an interface and its AH instances.

An AH instance's adverts are IPv4 protocol 51, not 112 (RFC 2338 §5.3.6.3; `vrrpd.protocol.ah`), so they
need a socket of their own (`vrrpd.kernel.ah_socket`), opened on an interface with its first AH instance.

* Receiving (`AhReceiver`): a datagram is admitted per sender (as the VRRP socket's are), given to the AH
  instance of its VRID, which checks the ICV, SPI and sequence number with its key and counter
  (`AhLink.open`), then — stripped of the AH — takes the interface's usual path (`Interface.datagram`:
  decoding, §7.1, the router). A datagram for a VRID without AH is keepalived's auth type mismatch.
* Sending (`AhLink`, the instance's transport): each VRRP message is wrapped into a whole IPv4 datagram with
  the next sequence number and Identification and sent with IP_HDRINCL; GARPs and VIPs go through the
  transport it wraps.

The sequence counter is the instance's, shared by both directions (keepalived's `ipsecah_counter`): it
lives as long as the instance object (a reload that keeps the instance keeps it, as keepalived does).
Makes no protocol decision: what the counter does on each event is `protocol.ah.SequenceCounter`'s; this
module tells it the router's state and the advert's priority.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING

from vrrpd import logs
from vrrpd.kernel.ah_socket import AhSocket
from vrrpd.kernel.netlink import LinkInfo
from vrrpd.protocol import ah
from vrrpd.protocol.admission import SenderAdmission
from vrrpd.protocol.fsm import IPInterface, State
from vrrpd.protocol.packet import DropReason

if TYPE_CHECKING:
    from vrrpd.config.schema import InstanceConfig
    from vrrpd.runtime.instance import Instance, Transport
    from vrrpd.runtime.interface import Interface

_PRIORITY = 1  # the Priority byte's offset in a VRRP header

_drop_log = logs.RateLimitedLog(logs.get_logger("vrrpd.drops"), "advert_dropped")


class AhLink:
    """One AH instance's transport: VRRP messages go out inside an AH; everything else through `inner`."""

    def __init__(self, inner: Transport, receiver: AhReceiver, unicast: bool) -> None:
        self.inner = inner
        self.receiver = receiver
        self.unicast = unicast  # keepalived zeroes the TTL in the ICV input in unicast mode only
        self.counter = ah.SequenceCounter()
        self._ident = ah.Identification()
        self._instance: Instance | None = None
        self._was_master = False
        self._key_for: tuple[object, bytes] | None = None
        # The advert being sent: its message, sequence number, Identification and the peers it went to.
        self._round: tuple[bytes, int, int, set[IPv4Address]] | None = None

    @property
    def ifindex(self) -> int:
        """Transport: the interface the VIPs live on (the wrapped transport's)."""
        return self.inner.ifindex

    @ifindex.setter
    def ifindex(self, value: int) -> None:
        self.inner.ifindex = value

    def bind(self, instance: Instance) -> None:
        """The instance this link serves (its router gives the key, the state and the priority); from now
        on the AH datagrams of its VRID reach it."""
        self._instance = instance
        self.receiver.links[instance.router.config.vrid] = self

    @property
    def key(self) -> bytes:
        """The HMAC key: the router's auth_pass, zero-padded (read afresh after a live reload)."""
        inst = self.instance
        config = inst.router.config
        if self._key_for is None or self._key_for[0] is not config:
            self._key_for = (config, ah.ah_key(config.auth_pass or ""))
        return self._key_for[1]

    @property
    def instance(self) -> Instance:
        """The instance this link serves; RuntimeError before `bind` (our bug)."""
        if self._instance is None:
            raise RuntimeError("AhLink used before bind()")
        return self._instance

    def _wrap(self, payload: bytes, dst: IPv4Address | IPv6Address) -> tuple[bytes, IPv4Address]:
        if not isinstance(dst, IPv4Address):
            raise OSError("auth_type AH is IPv4 only")  # the config refuses it; counted as a send error
        inst = self.instance
        router = inst.router
        master = router.state is State.MASTER
        if master and not self._was_master:
            self.counter.became_master()
        self._was_master = master
        source = router.config.primary_address
        assert isinstance(source, IPv4Address)  # an AH router is IPv4 (RouterConfig: v2 only)
        # keepalived sends one advert to all its unicast peers under one sequence number and Identification
        # (vrrp_send_adv: the counter moves once per advert, the ICV is computed per peer): the same message
        # to a peer not yet served continues the round, anything else starts the next.
        last = self._round
        if last is not None and last[0] == payload and dst not in last[3]:
            seq, ident = last[1], last[2]
            last[3].add(dst)
        else:
            seq, ident = self.counter.next(), self._ident.next()
            self._round = (payload, seq, ident, {dst})
        datagram = ah.wrap(
            payload, source=source, destination=dst, key=self.key, seq=seq, ident=ident, unicast=self.unicast
        )
        return datagram, dst

    async def send_vrrp(
        self, payload: bytes, dst: IPv4Address | IPv6Address, src: IPv4Address | IPv6Address
    ) -> None:
        """Transport: send one VRRP message inside an AH (its own IP header names the router's source)."""
        await self.receiver.sock.send(*self._wrap(payload, dst))

    def send_vrrp_now(
        self, payload: bytes, dst: IPv4Address | IPv6Address, src: IPv4Address | IPv6Address
    ) -> None:
        """Transport: send one VRRP message inside an AH without waiting (BlockingIOError: buffer full).

        A refused send has used its sequence number: harmless, receivers only need numbers to grow.
        """
        self.receiver.sock.send_now(*self._wrap(payload, dst))

    def send_garp(self, vip: IPv4Address | IPv6Address, count: int) -> None:
        """Transport: gratuitous ARPs through the wrapped transport."""
        self.inner.send_garp(vip, count)

    async def add_vips(self, vips: Sequence[IPInterface]) -> dict[IPInterface, int]:
        """Transport: install VIPs through the wrapped transport."""
        return await self.inner.add_vips(vips)

    async def remove_vips(self, vips: Sequence[IPInterface]) -> dict[IPInterface, int]:
        """Transport: remove VIPs through the wrapped transport."""
        return await self.inner.remove_vips(vips)

    def open(self, datagram: bytes) -> bytes | DropReason:
        """Check one received AH datagram for this instance; the datagram without its AH, or why not.

        The counter hears what keepalived's does: the replay check in every state, then — for an advert
        that passed — a backup clears the cycle, and a master hearing lower priority (or equal priority
        from a lower address, §6.4.3's tie-break) continues past its number.
        """
        inst = self.instance
        router = inst.router
        backup = router.state is State.BACKUP
        opened = ah.verify(datagram, self.key, self.counter, unicast=self.unicast, backup=backup)
        if isinstance(opened, DropReason):
            return opened
        if router.state is State.MASTER and len(opened.datagram) > 21:
            ihl = (opened.datagram[0] & 0x0F) * 4
            priority = opened.datagram[ihl + _PRIORITY]
            source, ours = int.from_bytes(opened.datagram[12:16], "big"), int(router.config.primary_address)
            if priority < router.priority or (priority == router.priority and source < ours):
                self.counter.lower_priority_heard(opened.seq)
            elif priority > router.priority or source > ours:
                self.counter.higher_priority_heard()
        return opened.datagram

    def detach(self) -> None:
        """The instance is gone: its VRID no longer reaches it."""
        links = self.receiver.links
        if self._instance is not None and links.get(self._instance.router.config.vrid) is self:
            del links[self._instance.router.config.vrid]


class AhReceiver:
    """One interface's AH socket: reads protocol 51 and hands each datagram to the AH instance of its VRID."""

    def __init__(self, iface: Interface, sock: AhSocket) -> None:
        self.iface = iface
        self.sock = sock
        self.links: dict[int, AhLink] = {}  # VRID -> the AH instance's link
        self._admission = SenderAdmission()
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def open(cls, iface: Interface, loop: asyncio.AbstractEventLoop) -> AhReceiver:
        """Open the AH socket on `iface` and start reading it. Raises OSError."""
        receiver = cls(iface, AhSocket.open(iface.name, iface.ifindex))
        receiver.start(loop)
        return receiver

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read the socket from `loop` until `close`."""
        self._loop = loop
        self.sock.start_reading(loop, self.datagram, self._error)

    def link(self, inner: Transport, unicast: bool) -> AhLink:
        """The transport of a new AH instance on this interface (its VRID is read once `bind` is called)."""
        return AhLink(inner, self, unicast)

    def _drop(self, reason: str, now: float, **fields: object) -> None:
        self.iface.drops[reason] += 1
        _drop_log.hit(f"{self.iface.name}:{reason}", now, interface=self.iface.name, reason=reason, **fields)

    def _error(self, exc: OSError) -> None:
        self._drop("recv_error", time.monotonic(), error=str(exc))

    def datagram(self, datagram: bytes, now: float) -> None:
        """One AH datagram from the socket: admission, the instance's AH checks, then the usual path."""
        if not self._admission.admit(ah.admission_key(datagram), now):
            self._drop("rate_limited", now)
            return
        vrid = ah.vrid_of(datagram)
        if vrid is None:
            self._drop(DropReason.TRUNCATED.value, now)
            return
        link = self.links.get(vrid)
        if link is None:
            other = self.iface.instance(4, vrid)
            if other is not None:
                # keepalived: "Received AH header but auth type not AH".
                other.count_drop(DropReason.AUTH_TYPE_MISMATCH)
                return
            self._drop(DropReason.UNKNOWN_VRID.value, now, vrid=vrid)
            return
        opened = link.open(datagram)
        if isinstance(opened, DropReason):
            inst = link.instance
            inst.count_drop(opened)
            _drop_log.hit(
                f"{inst.name}:{opened.value}",
                now,
                reason=opened.value,
                source=str(IPv4Address(datagram[12:16])) if len(datagram) >= 20 else "",
                instance=inst.name,
            )
            return
        self.iface.datagram(opened, now)

    def reopen(self, link: LinkInfo) -> None:
        """The interface was re-created: the socket follows it (reading resumes if it was reading)."""
        sock = AhSocket.open(link.name, link.ifindex)
        self.sock.close()
        self.sock = sock
        if self._loop is not None:
            sock.start_reading(self._loop, self.datagram, self._error)

    def close(self) -> None:
        """Stop reading and close the socket. The interface may come back (`reopen` reads the new one)."""
        self.sock.close()


def ah_link(iface: Interface, inner: Transport, config: InstanceConfig) -> AhLink:
    """The transport of a new AH instance on `iface`, opening the interface's AH socket with the first.

    Raises StartupError when the socket cannot be opened.
    """
    from vrrpd.runtime.interface import StartupError  # noqa: PLC0415 - interface imports this module's types

    if iface.ah is None:
        try:
            iface.ah = AhReceiver.open(iface, asyncio.get_running_loop())
        except OSError as exc:
            raise StartupError(f"interface {iface.name}: cannot open the AH socket: {exc}") from exc
    return iface.ah.link(inner, unicast=bool(config.unicast_peer))


def unwrap(transport: object) -> object:
    """The transport an `AhLink` wraps, or `transport` itself."""
    return transport.inner if isinstance(transport, AhLink) else transport
