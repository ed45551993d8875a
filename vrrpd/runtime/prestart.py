"""RFC 3768 §6.4.1 Startup before the daemon's imports (issue 17): the first advert, or BACKUP, at once.

`vrrpd run` spends most of its start-up importing what the steady state needs (asyncio, structlog, the
runtime's modules: ~80 ms of ~180). The Startup event itself needs only the configuration, the raw
sockets, the sans-I/O `Router` and a few netlink messages, so `prestart` carries it out first, blocking
and in the standard library, for every instance simple enough (`eligible`), then the daemon imports its
modules and adopts what was started:

- the interface's raw VRRP sockets (open, joined to 224.0.0.18: adverts queue for the daemon's reader)
  and its GARP socket (`Prestart.take_interface`);
- each instance's `Router`, already in BACKUP (its Master_Down_Timer an absolute `time.monotonic()`
  deadline, the clock of asyncio's loop) or MASTER (the address owner: advert sent, VIPs added, GARPs
  sent, Adver_Timer set), with its VRID lock and what is left for the daemon: the `StateChanged` (log
  line carrying the transition's own time, notify programs, counters) (`Prestart.take`).

Done exactly as the daemon would: the VRID lock before anything is touched, VIPs a crashed run left
behind removed before the start, then `Router.start` and its actions in their order (advert, addresses,
GARPs). An instance that needs more (a health check waits in INIT for its verdict, tracking, sync
groups, virtual MACs, AH, per-VIP options, routes, a source address of its own choosing, unicast peers,
IPv6, a link that is down...) is left to the daemon, which starts it as before; so is everything when
anything here fails (the daemon then reports it). What the daemon does not adopt, because it stopped
before (a start-up error: a control socket in use...), `Prestart.close` shuts down as a daemon would
(§6.4.3: a master's priority-0 advert, its VIPs removed).

Must not: import asyncio, structlog or anything else of the steady state (`tests/runtime/test_prestart.py`
pins it), decide anything (the `Router` does).
"""

from __future__ import annotations

import errno
import socket
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface

from vrrpd.config import Config, InstanceConfig
from vrrpd.kernel import rtnl
from vrrpd.kernel.garp import GarpSender
from vrrpd.kernel.vrrp_socket import VrrpSocket
from vrrpd.protocol import fsm
from vrrpd.protocol.fsm import IPInterface
from vrrpd.protocol.packet import VRRP_MULTICAST, encode
from vrrpd.runtime import preflight
from vrrpd.runtime.routerconfig import router_config
from vrrpd.runtime.vrid_lock import VridLock, VridLocked

__all__ = ["Opened", "Prestart", "Started", "eligible", "prestart"]

_ADD_OK = frozenset({0, errno.EEXIST})  # as `runtime.instance`: the VIP is where it should be

Key = tuple[str, int, int]  # (interface, VRID, family), as `config.diff.key_of`


@dataclass
class Opened:
    """An interface's IPv4 sockets, opened for the daemon's `Interface` to adopt."""

    ifindex: int
    src: IPv4Address  # the interface's primary address: the adverts' source (§5.2.1)
    sock: VrrpSocket
    garp: GarpSender

    def close(self) -> None:
        self.sock.close()
        self.garp.close()


@dataclass
class Started:
    """An instance whose §6.4.1 Startup was carried out, for the daemon's `Instance` to adopt."""

    config: InstanceConfig
    router: fsm.Router
    lock: VridLock
    opened: Opened
    at: float  # time.time() of the transition: its log line and status carry it
    pending: list[fsm.Action]  # what is left: the StateChanged (log, notify, counters)
    held: frozenset[IPInterface] = frozenset()  # the VIPs the kernel accepted
    failed: dict[IPInterface, int] = field(default_factory=dict)  # VIPs refused: errno
    stale: tuple[IPInterface, ...] = ()  # left by a crashed run, removed before the start
    adverts_sent: int = 0
    garps_sent: int = 0
    send_errors: list[str] = field(default_factory=list)


@dataclass
class Prestart:
    """What `prestart` started; the daemon takes it over piece by piece, `close` undoes what is left."""

    interfaces: dict[str, Opened] = field(default_factory=dict)
    instances: dict[Key, Started] = field(default_factory=dict)

    def take_interface(self, name: str, ifindex: int) -> Opened | None:
        """The sockets opened on `name`, if it is still the same interface (else they are closed)."""
        opened = self.interfaces.pop(name, None)
        if opened is not None and opened.ifindex != ifindex:
            opened.close()  # deleted and created again meanwhile: the daemon opens its own
            return None
        return opened

    def take(self, key: Key) -> Started | None:
        """The started instance of `key` (interface, VRID, family), if there is one."""
        return self.instances.pop(key, None)

    def close(self) -> None:
        """Shut down whatever was not taken over (§6.4.2/§6.4.3 Shutdown: a master sends priority 0 and
        removes its VIPs), then close the sockets and release the locks."""
        if not self.instances and not self.interfaces:
            return  # all taken over
        with _netlink() as nl:
            for started in self.instances.values():
                router = started.router
                actions = router.shutdown(time.monotonic())
                _carry_out(nl, started, [a for a in actions if not isinstance(a, fsm.StateChanged)])
                started.lock.release()
        self.instances.clear()
        for opened in self.interfaces.values():
            opened.close()
        self.interfaces.clear()


def eligible(config: Config, cfg: InstanceConfig) -> bool:
    """Whether `prestart` may start the instance: nothing but an interface, a priority and plain VIPs,
    multicast over IPv4, and no [global] pause between GARPs."""
    return (
        cfg.family == 4
        and cfg.unicast_src_ip is None
        and cfg.mcast_src_ip is None
        and not cfg.unicast_peer
        and not cfg.use_vmac
        and cfg.auth_type != "AH"
        and cfg.check is None
        and not cfg.track_script
        and not cfg.tracked_interfaces
        and not cfg.track_file
        and not cfg.track_process
        and not cfg.virtual_routes
        and not cfg.virtual_rules
        and all(v.plain for v in cfg.vip_entries)
        and config.sync_group_of(cfg.name) is None
        and not (cfg.is_owner and config.global_.garp_interval)
    )


def prestart(config: Config) -> Prestart | None:
    """Start every eligible instance (see the module); None when none was (the daemon starts them all)."""
    # An interface one of whose IPv4 instances advertises from an address of its own choosing is left to
    # the daemon: its socket is bound to the first instance's source, the others' sources go with each send
    # (`Interface.open_ipv4`), and a non-local mcast_src_ip needs IP_TRANSPARENT; the early start knows
    # only the primary address.
    chosen = {
        c.interface for c in config.vrrp_instance if c.family == 4 and (c.unicast_src_ip or c.mcast_src_ip)
    }
    todo = [cfg for cfg in config.vrrp_instance if eligible(config, cfg) and cfg.interface not in chosen]
    if not todo or preflight.refusal() is not None:
        return None
    done = Prestart()
    try:
        with _netlink() as nl:
            for cfg in todo:
                _start(nl, done, cfg)
    except OSError:
        done.close()
        return None
    if not done.instances:
        done.close()
        return None
    return done


def _start(nl: socket.socket, done: Prestart, cfg: InstanceConfig) -> None:
    opened = done.interfaces.get(cfg.interface)
    if opened is None:
        facts = _link(nl, cfg.interface)
        if facts is None:
            return  # missing, down or without an IPv4 address: the daemon's rules apply
        ifindex, mac, src = facts
        sock = VrrpSocket.open(cfg.interface, ifindex, src)
        try:
            garp = GarpSender.open(cfg.interface, ifindex, mac)
        except BaseException:
            sock.close()
            raise
        opened = done.interfaces[cfg.interface] = Opened(ifindex, src, sock, garp)
    # Before anything is touched, as the daemon: a second daemon on this (interface, VRID) must not remove
    # the first one's VIPs as stale.
    try:
        lock = VridLock.acquire(cfg.interface, cfg.virtual_router_id, cfg.family)
    except VridLocked:
        return  # the daemon refuses to start, saying who holds it
    try:
        present = {a.ip for a in _addresses(nl, opened.ifindex)}
        stale = tuple(v for v in cfg.vips if v.ip in present and v.ip != opened.src)
        _request(nl, [(rtnl.RTM_DELADDR, opened.ifindex, v) for v in stale])
        router = fsm.Router(router_config(cfg, opened.src))
        actions = router.start(time.monotonic())
    except BaseException:
        lock.release()
        raise
    started = Started(cfg, router, lock, opened, time.time(), [], stale=stale)
    done.instances[(cfg.interface, cfg.virtual_router_id, cfg.family)] = started
    started.pending = [a for a in actions if isinstance(a, fsm.StateChanged)]
    _carry_out(nl, started, [a for a in actions if not isinstance(a, fsm.StateChanged)])


def _carry_out(nl: socket.socket, started: Started, actions: list[fsm.Action]) -> None:
    """The actions of a start or a shutdown, in order, as `runtime.instance` carries them out."""
    opened = started.opened
    for action in actions:
        if isinstance(action, fsm.SendAdvert):
            try:
                opened.sock.send_now(encode(action.advert, source=opened.src, destination=VRRP_MULTICAST))
                started.adverts_sent += 1
            except OSError as exc:
                started.send_errors.append(str(exc))
        elif isinstance(action, fsm.AddVips):
            codes = _request(nl, [(rtnl.RTM_NEWADDR, opened.ifindex, v) for v in action.vips])
            started.held = frozenset(v for v, code in codes.items() if code in _ADD_OK)
            started.failed = {v: code for v, code in codes.items() if code not in _ADD_OK}
        elif isinstance(action, fsm.RemoveVips):
            _request(nl, [(rtnl.RTM_DELADDR, opened.ifindex, v) for v in action.vips])
            started.held = frozenset()
        elif isinstance(action, fsm.SendGarp):
            # One round over every VIP, then the repeats (keepalived's order, as `runtime.instance`).
            for _ in range(action.count):
                for addr in action.addresses:
                    try:
                        opened.garp.send(addr, 1)  # type: ignore[arg-type]  # IPv4 only (`eligible`)
                        started.garps_sent += 1
                    except OSError as exc:
                        started.send_errors.append(str(exc))


class _netlink:
    """A blocking NETLINK_ROUTE socket, dumps filtered by the kernel (strict checking)."""

    def __enter__(self) -> socket.socket:
        sock = self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC)
        try:
            sock.setsockopt(rtnl.SOL_NETLINK, rtnl.NETLINK_GET_STRICT_CHK, 1)
            sock.bind((0, 0))
        except BaseException:
            sock.close()
            raise
        return sock

    def __exit__(self, *_exc: object) -> None:
        self.sock.close()


def _link(nl: socket.socket, name: str) -> tuple[int, str, IPv4Address] | None:
    """(ifindex, MAC, primary IPv4 address) of a usable interface, as `kernel.netlink` reads them; None
    when it is missing, down or has no IPv4 address."""
    replies = rtnl.request(nl, rtnl.encode_get_link(1, ifname=name))
    link = next((m for m in replies if "index" in m), None)
    if link is None or not rtnl.link_usable(link):
        return None
    ifindex = int(link["index"])
    # The first address that is not secondary: §5.2.1's primary, as `kernel.netlink.Netlink.link`.
    primary = next((a.ip for a, secondary in _dump(nl, ifindex) if not secondary), None)
    if primary is None:
        return None
    return ifindex, str(link.get("IFLA_ADDRESS") or "00:00:00:00:00:00"), primary


def _dump(nl: socket.socket, ifindex: int) -> list[tuple[IPv4Interface, bool]]:
    out = []
    for msg in rtnl.request(nl, rtnl.encode_dump_addr(2, socket.AF_INET, ifindex)):
        if msg.get("index") != ifindex or "prefixlen" not in msg:
            continue
        out.append((rtnl.address_of(msg), rtnl.is_secondary(msg)))
    return out


def _addresses(nl: socket.socket, ifindex: int) -> list[IPv4Interface]:
    return [a for a, _secondary in _dump(nl, ifindex)]


def _request(nl: socket.socket, work: list[tuple[int, int, IPInterface]]) -> dict[IPInterface, int]:
    """RTM_NEWADDR / RTM_DELADDR requests in one datagram: errno per address (0: done)."""
    if not work:
        return {}
    data = b"".join(
        rtnl.encode_addr_request(kind, 10 + i, ifindex, v) for i, (kind, ifindex, v) in enumerate(work)
    )
    codes = {10 + i: v for i, (_kind, _ifindex, v) in enumerate(work)}
    result: dict[IPInterface, int] = {}
    for msg in rtnl.request(nl, data, seqs=len(work)):
        header = msg["header"]
        vip = codes.get(header["sequence_number"])
        if vip is not None and "error" in header:
            result[vip] = int(header["error"])
    return result
