"""`vrrpd run`: the asyncio daemon that wires configuration, interfaces and instances together.

Owns process-level concerns: opening one VRRP socket and one GARP socket per interface, the netlink
handle and its event stream (link tracking, VIPs deleted behind our back), removing stale VIPs left by a
crashed run, signals (SIGTERM/SIGINT: graceful priority-0 handover), systemd notification, and the
receive loop that decodes datagrams and hands each to the instance owning its VRID. Protocol decisions
are not made here: they are `vrrpd.fsm`'s.
"""

from __future__ import annotations

import asyncio
import collections
import signal
import sys
import time
from ipaddress import IPv4Address, IPv4Interface

from vrrpd import logs
from vrrpd.checks import HealthCheck, ProbeResult, script_probe, tcp_probe
from vrrpd.config import Config, InstanceConfig
from vrrpd.garp import GarpSender
from vrrpd.instance import Instance
from vrrpd.netlink import AddressRemoved, EventsLost, LinkChanged, LinkInfo, Netlink
from vrrpd.notify import Notifier
from vrrpd.packet import DropReason, decode_ipv4
from vrrpd.sdnotify import SdNotifier, watchdog_interval
from vrrpd.vrrp_socket import VrrpSocket

log = logs.get_logger("vrrpd.daemon")

STOP_TIMEOUT = 0.6  # SIGTERM → exit within 1 s: the instances' handover must fit well inside it
NOTIFY_DRAIN_TIMEOUT = 0.3


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
        self._drop_log = logs.RateLimitedLog(logs.get_logger("vrrpd.drops"), "packet_dropped")

    async def send_vrrp(self, payload: bytes, dst: IPv4Address) -> None:
        """Transport: send one VRRP message."""
        await self.sock.send(payload, dst)

    def send_garp(self, vip: IPv4Address, count: int) -> None:
        """Transport: broadcast gratuitous ARPs for `vip`."""
        self.garp.send(vip, count)

    async def add_vip(self, vip: IPv4Interface, label: str | None) -> bool:
        """Transport: install a VIP (idempotent)."""
        return await self._netlink.add_address(self.ifindex, vip, label)

    async def remove_vip(self, vip: IPv4Interface) -> bool:
        """Transport: remove a VIP (idempotent)."""
        return await self._netlink.remove_address(self.ifindex, vip)

    async def receive_loop(self) -> None:
        """Decode every datagram; drops are counted and logged at a limited rate, never raised."""
        while True:
            try:
                datagram, _ = await self.sock.recv()
            except OSError as exc:  # e.g. ENETDOWN while the link is cut: keep listening
                self._drop("recv_error", error=str(exc))
                await asyncio.sleep(0.05)
                continue
            decoded = decode_ipv4(datagram)
            if isinstance(decoded, DropReason):
                self._drop(decoded.value)
                continue
            instance = self.instances.get(decoded.advert.vrid)
            if instance is None:
                self._drop(
                    DropReason.UNKNOWN_VRID.value, vrid=decoded.advert.vrid, source=str(decoded.source)
                )
                continue
            instance.receive(decoded)

    def _drop(self, reason: str, **fields: object) -> None:
        self.drops[reason] += 1
        self._drop_log.hit(
            f"{self.name}:{reason}", time.monotonic(), interface=self.name, reason=reason, **fields
        )

    def close(self) -> None:
        """Close the sockets."""
        self.sock.close()
        self.garp.close()


class Daemon:
    """The running daemon; `run()` returns the process exit code."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.interfaces: dict[str, Interface] = {}
        self.instances: list[Instance] = []
        self._checks: list[HealthCheck] = []
        self._notifiers: dict[str, Notifier] = {}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def run(self) -> int:
        """Start everything, wait for SIGTERM/SIGINT, hand over gracefully."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self._reload_unsupported)
        async with Netlink() as netlink:
            await self._setup(netlink, loop)
            sd = await SdNotifier.from_env()
            for inst in self.instances:
                inst.start()
            log.info(
                "started",
                router_id=self.config.global_.router_id,
                instances=len(self.instances),
                interfaces=sorted(self.interfaces),
            )
            if sd is not None:
                await sd.ready(self._summary())
                interval = watchdog_interval()
                if interval:
                    self._tasks.append(loop.create_task(self._watchdog(sd, interval / 2)))
            await self._stop.wait()
            log.info("stopping", reason="signal")
            if sd is not None:
                await sd.stopping()
            await self._shutdown()
        return 0

    async def _setup(self, netlink: Netlink, loop: asyncio.AbstractEventLoop) -> None:
        for inst_cfg in self.config.vrrp_instance:
            iface = self.interfaces.get(inst_cfg.interface)
            if iface is None:
                link = await netlink.link(inst_cfg.interface)
                src = inst_cfg.unicast_src_ip or link.primary
                if src is None:
                    raise StartupError(
                        f"interface {link.name} has no IPv4 address: VRRP adverts need one as their source"
                        " (add an address, or set unicast_src_ip)"
                    )
                try:
                    iface = Interface(link, src, netlink)
                except OSError as exc:
                    raise StartupError(f"interface {link.name}: cannot open raw sockets: {exc}") from exc
                self.interfaces[link.name] = iface
                self._tasks.append(loop.create_task(iface.receive_loop(), name=f"recv-{link.name}"))
            await self._remove_stale_vips(netlink, iface, inst_cfg)
            notifier = Notifier(str(inst_cfg.notify) if inst_cfg.notify else None, inst_cfg.notify_timeout)
            notifier.start()
            self._notifiers[inst_cfg.name] = notifier
            inst = Instance(inst_cfg, iface.src, iface, notifier.notify, loop)
            iface.instances[inst_cfg.virtual_router_id] = inst
            self.instances.append(inst)
            if not iface.link.up:
                inst.link_changed(False)  # recorded before start: start() then goes to FAULT
            if inst_cfg.check is not None:
                check = self._make_check(inst, inst_cfg, iface)
                # A check starts down and needs `rise` successes (the ipfailover image's behaviour): the
                # instance starts in FAULT (weight 0) or at its lowered priority until the service is seen.
                inst.check_changed(check.up, "not checked yet")
                self._checks.append(check)
        self._tasks.append(loop.create_task(self._watch_netlink(netlink), name="netlink-events"))
        for check in self._checks:
            check.start()

    async def _remove_stale_vips(self, netlink: Netlink, iface: Interface, cfg: InstanceConfig) -> None:
        # A crashed or SIGKILLed run leaves its VIPs behind; a node that is not master must not keep them
        # (the ipfailover image's duplicate-VIP fault). The election re-adds them where they belong.
        present = {a.ip for a in await netlink.addresses(iface.ifindex)}
        for vip in cfg.vips:
            if vip.ip in present and vip.ip != iface.src:
                await netlink.remove_address(iface.ifindex, vip)
                log.warning("stale_vip_removed", instance=cfg.name, interface=iface.name, vip=str(vip))

    def _make_check(self, inst: Instance, cfg: InstanceConfig, iface: Interface) -> HealthCheck:
        check = cfg.check
        assert check is not None  # the caller checked; narrows the type
        if check.script is not None:
            script = str(check.script)

            async def probe() -> ProbeResult:
                return await script_probe(script, check.timeout)
        else:
            host = check.host or iface.src
            port = check.tcp_port
            assert port is not None  # config validation: exactly one of tcp_port and script

            async def probe() -> ProbeResult:
                return await tcp_probe(host, port, check.timeout)

        return HealthCheck(probe, check.interval, check.rise, check.fall, inst.check_changed)

    async def _watch_netlink(self, netlink: Netlink) -> None:
        by_index = {iface.ifindex: iface for iface in self.interfaces.values()}
        async for event in netlink.events():
            if isinstance(event, EventsLost):
                # The monitor overflowed: re-read the link state rather than trust what we last saw.
                log.warning("netlink_events_lost", reason=event.reason)
                for known in self.interfaces.values():
                    link = await netlink.link(known.name)
                    self._link_state(known, link.up)
                continue
            target = by_index.get(event.ifindex)
            if target is None:
                continue
            if isinstance(event, LinkChanged):
                self._link_state(target, event.up)
            elif isinstance(event, AddressRemoved):
                for inst in target.instances.values():
                    inst.vip_removed(event.addr)

    @staticmethod
    def _link_state(iface: Interface, up: bool) -> None:
        if up == iface.link.up:
            return
        link = iface.link
        iface.link = LinkInfo(link.ifindex, link.name, link.mac, up, link.primary)
        log.warning("link_changed", interface=iface.name, up=up)
        for inst in iface.instances.values():
            inst.link_changed(up)

    async def _shutdown(self) -> None:
        await asyncio.gather(*(c.stop() for c in self._checks), return_exceptions=True)
        await asyncio.gather(*(i.stop(STOP_TIMEOUT) for i in self.instances))
        await asyncio.gather(
            *(n.drain(NOTIFY_DRAIN_TIMEOUT) for n in self._notifiers.values()), return_exceptions=True
        )
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(n.close() for n in self._notifiers.values()), return_exceptions=True)
        for iface in self.interfaces.values():
            iface.close()
        log.info("stopped")

    async def _watchdog(self, sd: SdNotifier, period: float) -> None:
        while True:
            await sd.watchdog()
            await sd.status(self._summary())
            await asyncio.sleep(period)

    def _summary(self) -> str:
        states = collections.Counter(i.router.state.value for i in self.instances)
        return ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "no instances"

    def _reload_unsupported(self) -> None:
        log.warning("reload_unsupported", detail="SIGHUP reload is not implemented yet; restart to apply")


def run(config: Config) -> int:
    """Run the daemon until SIGTERM/SIGINT; return the exit code."""
    logs.configure(config.global_.log_format)
    try:
        return asyncio.run(Daemon(config).run())
    except StartupError as exc:
        print(f"vrrpd: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # only before the signal handlers are installed
        return 130
