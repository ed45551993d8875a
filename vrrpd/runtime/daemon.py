"""`vrrpd run`: the asyncio daemon that wires configuration, interfaces and instances together.

Owns process-level concerns: opening one VRRP socket and one GARP socket per interface, the netlink
handle and its event stream (link tracking, VIPs deleted behind our back), removing stale VIPs left by a
crashed run, signals (SIGTERM/SIGINT: graceful priority-0 handover; SIGHUP: reload), systemd
notification, the receive loop that decodes datagrams and hands each to the instance owning its VRID,
and the operator-facing listeners: the control socket (`vrrpd.ops.control`, answering `vrrpd status` and
`vrrpd reload`), the metrics/health HTTP listener (`vrrpd.ops.metrics`) and the notify FIFO.

Reload: the new file is validated first (an invalid one changes nothing), then `vrrpd.config.diff.plan`
decides per instance; unchanged instances are not touched at all. Protocol decisions are not made here:
they are `vrrpd.protocol.fsm`'s.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import stat
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vrrpd import logs
from vrrpd.config import (
    FROM_ENVIRONMENT,
    Config,
    ConfigError,
    InstanceConfig,
    ListenAddress,
    check_interfaces,
    load_config,
)
from vrrpd.config.diff import Change, InstanceKey, InstancePlan, ReloadPlan, key_of, plan
from vrrpd.kernel.garp import GarpSender
from vrrpd.kernel.netlink import AddressRemoved, EventsLost, InterfaceNotFound, LinkChanged, LinkInfo, Netlink
from vrrpd.kernel.vrrp_socket import VrrpSocket
from vrrpd.ops import status
from vrrpd.ops.control import CommandError, ControlError, ControlServer
from vrrpd.protocol import fsm
from vrrpd.protocol.packet import DecodeCache, DropReason
from vrrpd.runtime.healthcheck import HealthCheck, ProbeResult, script_probe, tcp_probe
from vrrpd.runtime.instance import Instance
from vrrpd.runtime.notify import Notifier, NotifyFifo
from vrrpd.runtime.sdnotify import SdNotifier, watchdog_interval

if TYPE_CHECKING:
    from vrrpd.ops import metrics

log = logs.get_logger("vrrpd.runtime.daemon")

# Bound on one instance's shutdown. The priority-0 advert leaves at once; removing VIPs must finish even
# when there are hundreds (a VIP left on a stopped node duplicates the new master's), so the bound is
# generous: with a handful of VIPs the whole stop takes milliseconds and SIGTERM exits well within 1 s.
STOP_TIMEOUT = 10.0
NOTIFY_DRAIN_TIMEOUT = 0.3


class StartupError(Exception):
    """The daemon cannot start on this host as configured; str() is one line for the operator."""


class SenderAdmission:
    """Token buckets per (source address, VRID byte), judged on raw bytes before anything is decoded.

    Why: decoding and judging one advert costs tens of microseconds in Python, so a 10,000 pkt/s flood
    would take most of a core, and whatever the daemon cannot read in time the kernel drops from the socket
    buffer — the real master's adverts included, until a backup declares it dead (measured: two extra
    masters within 10 s, tests/runtime/test_hostile_wire.py). A legitimate sender needs at most 1/advert_int
    adverts plus answers rate-limited to 10/s per VRID (`fsm.ANSWER_MIN_GAP`); a flooding sender gets
    `rate` per second and the rest costs a dict lookup each. At most `max_keys` senders are tracked (a
    spoofed-source flood must not grow memory); past that, new senders share one bucket, and keys quiet
    for `idle` seconds are forgotten at most once a second.
    """

    OVERFLOW = b"other"

    def __init__(
        self, rate: float = 25.0, burst: float = 50.0, max_keys: int = 4096, idle: float = 10.0
    ) -> None:
        self.rate, self.burst, self.max_keys, self.idle = rate, burst, max_keys, idle
        self._buckets: dict[bytes, list[float]] = {}  # key -> [tokens, last refill]
        self._last_purge = 0.0

    @staticmethod
    def key(datagram: bytes) -> bytes:
        """IPv4 source and the VRID byte, unparsed (a short or odd datagram gets a shorter key)."""
        ihl = (datagram[0] & 0x0F) * 4 if datagram else 0
        return datagram[12:16] + datagram[ihl + 1 : ihl + 2]

    def admit(self, key: bytes, now: float) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._purge(now)
                if len(self._buckets) >= self.max_keys:
                    key = self.OVERFLOW
                    bucket = self._buckets.get(key)
            if bucket is None:
                self._buckets[key] = [self.burst - 1, now]
                return True
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens < 1:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1
        return True

    def _purge(self, now: float) -> None:
        if now - self._last_purge < 1.0:
            return
        self._last_purge = now
        for key in [k for k, (_t, last) in self._buckets.items() if now - last >= self.idle]:
            del self._buckets[key]


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


@dataclass
class ReloadStats:
    """Reload outcomes, for status and metrics."""

    succeeded: int = 0
    failed: int = 0
    last_at: float | None = None  # wall clock
    last_ok: bool | None = None
    last_error: str | None = None
    last_changes: dict[str, list[str]] = field(default_factory=dict)


class Daemon:
    """The running daemon; `run()` returns the process exit code."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.interfaces: dict[str, Interface] = {}
        self.instances: list[Instance] = []
        self.started_at = time.time()
        self.reloads = ReloadStats()
        self.fifo: NotifyFifo | None = None
        self._fifo_created: Path | None = None  # a FIFO we made, removed again at exit
        self._checks: dict[InstanceKey, HealthCheck] = {}
        self._notifiers: dict[InstanceKey, Notifier] = {}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._netlink: Netlink | None = None
        self._sd: SdNotifier | None = None
        self._control: ControlServer | None = None
        self._http: metrics.HttpServer | None = None
        self._running = False
        self._reload_lock = asyncio.Lock()
        self._reload_waiting = False
        self._reload_tasks: set[asyncio.Task[None]] = set()
        self._gone: set[str] = set()  # interfaces deleted under us, waiting to come back by name

    # -- what status, metrics and probes read ------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Every instance has left INIT, and the daemon is not shutting down (/readyz)."""
        return self._running and all(i.router.state is not fsm.State.INIT for i in self.instances)

    def dead_tasks(self) -> list[str]:
        """Names of long-running tasks that ended: the process lives but no longer does its job (/healthz)."""
        return [t.get_name() for t in self._tasks if t.done()]

    # -- lifecycle -----------------------------------------------------------------------------------------

    async def run(self) -> int:
        """Start everything, wait for SIGTERM/SIGINT (reloading on SIGHUP), hand over gracefully."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self._reload_signal)
        try:
            async with Netlink() as netlink:
                self._netlink = netlink
                g = self.config.global_
                # Listeners first: a socket in use is a start-up error before anything touches the network.
                await self._start_control(g.control_socket)
                await self._start_http(g.metrics_listen)
                self._open_fifo(g.notify_fifo)
                await self._setup(netlink, loop)
                sd = self._sd = await SdNotifier.from_env()
                self._running = True
                for inst in self.instances:
                    inst.start()
                for check in self._checks.values():
                    check.start()
                log.info(
                    "started",
                    router_id=g.router_id,
                    instances=len(self.instances),
                    interfaces=sorted(self.interfaces),
                    control_socket=str(g.control_socket),
                    metrics_listen=str(g.metrics_listen) if g.metrics_listen else None,
                )
                if sd is not None:
                    await sd.ready(self._summary())
                    interval = watchdog_interval()
                    if interval:
                        self._tasks.append(
                            loop.create_task(self._watchdog(sd, interval / 2), name="sd-watchdog")
                        )
                await self._stop.wait()
                log.info("stopping", reason="signal")
                self._running = False
                if sd is not None:
                    await sd.stopping()
                await self._shutdown()
        finally:
            await self._close_listeners()
        return 0

    async def _setup(self, netlink: Netlink, loop: asyncio.AbstractEventLoop) -> None:
        for inst_cfg in self.config.vrrp_instance:
            await self._add_instance(inst_cfg)
        self._tasks.append(loop.create_task(self._watch_netlink(netlink), name="netlink-events"))

    async def _open_interface(self, inst_cfg: InstanceConfig) -> Interface:
        assert self._netlink is not None  # set in run() before any instance is added
        link = await self._netlink.link(inst_cfg.interface)
        src = inst_cfg.unicast_src_ip or link.primary
        if src is None:
            raise StartupError(
                f"interface {link.name} has no IPv4 address: VRRP adverts need one as their source"
                " (add an address, or set unicast_src_ip)"
            )
        try:
            iface = Interface(link, src, self._netlink)
        except OSError as exc:
            raise StartupError(f"interface {link.name}: cannot open raw sockets: {exc}") from exc
        self.interfaces[link.name] = iface
        task = asyncio.get_running_loop().create_task(iface.receive_loop(), name=f"recv-{link.name}")
        iface.recv_task = task
        self._tasks.append(task)
        return iface

    async def _close_interface(self, iface: Interface) -> None:
        task = iface.recv_task
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self._tasks.remove(task)
        iface.close()
        del self.interfaces[iface.name]
        self._gone.discard(iface.name)  # a later reload may open it afresh: no reopen pending for it
        log.info("interface_closed", interface=iface.name, reason="no instance left on it")

    async def _add_instance(self, inst_cfg: InstanceConfig) -> Instance:
        """Create (not start) an instance, opening its interface if this is the first one on it."""
        assert self._netlink is not None
        iface = self.interfaces.get(inst_cfg.interface)
        if iface is None:
            iface = await self._open_interface(inst_cfg)
        await self._remove_stale_vips(self._netlink, iface, inst_cfg)
        key = key_of(inst_cfg)
        notifier = Notifier(str(inst_cfg.notify) if inst_cfg.notify else None, inst_cfg.notify_timeout)
        notifier.start()
        self._notifiers[key] = notifier
        inst = Instance(inst_cfg, iface.src, iface, self._notify_for(key), asyncio.get_running_loop())
        iface.instances[inst_cfg.virtual_router_id] = inst
        self.instances.append(inst)
        if not iface.link.up:
            inst.link_changed(False)  # recorded before start: start() then goes to FAULT
        if inst_cfg.check is not None:
            check = self._make_check(inst, inst_cfg, iface)
            # A check starts down and needs `rise` successes (the ipfailover image's behaviour): the
            # instance starts in FAULT (weight 0) or at its lowered priority until the service is seen.
            inst.check = check
            inst.check_changed(check.up, "not checked yet")
            self._checks[key] = check
        return inst

    async def _remove_instance(self, inst: Instance) -> None:
        """Stop one instance gracefully (priority 0 if MASTER) and forget it."""
        key = inst.key
        check = self._checks.pop(key, None)
        if check is not None:
            await check.stop()
        await inst.stop(STOP_TIMEOUT)
        iface = self.interfaces.get(inst.config.interface)
        if iface is not None and iface.instances.get(inst.config.virtual_router_id) is inst:
            del iface.instances[inst.config.virtual_router_id]
        self.instances.remove(inst)
        notifier = self._notifiers.pop(key, None)
        if notifier is not None:
            await notifier.drain(NOTIFY_DRAIN_TIMEOUT)  # deliver its STOP before the notifier goes
            await notifier.close()

    def _notify_for(self, key: InstanceKey) -> Callable[[str, str, int], None]:
        # Looked up at call time: a reload may replace the instance's notifier (a new notify path).
        def notify(name: str, state: str, priority: int) -> None:
            notifier = self._notifiers.get(key)
            if notifier is not None:
                notifier.notify(name, state, priority)
            if self.fifo is not None:
                self.fifo.write(name, state, priority)

        return notify

    async def _remove_stale_vips(self, netlink: Netlink, iface: Interface, cfg: InstanceConfig) -> None:
        # A crashed or SIGKILLed run leaves its VIPs behind; a node that is not master must not keep them
        # (the ipfailover image's duplicate-VIP fault). The election re-adds them where they belong.
        present = {a.ip for a in await netlink.addresses(iface.ifindex)}
        for vip in cfg.vips:
            if vip.ip in present and vip.ip != iface.src:
                await netlink.remove_address(iface.ifindex, vip)
                log.warning("stale_vip_removed", instance=cfg.name, interface=iface.name, vip=str(vip))

    def _make_check(
        self, inst: Instance, cfg: InstanceConfig, iface: Interface, initial_up: bool = False
    ) -> HealthCheck:
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

        return HealthCheck(
            probe,
            check.interval,
            check.rise,
            check.fall,
            inst.check_changed,
            initial_up=initial_up,
            name=cfg.name,
        )

    async def _watch_netlink(self, netlink: Netlink) -> None:
        async for event in netlink.events():
            if isinstance(event, EventsLost):
                # The monitor overflowed: re-read the link state rather than trust what we last saw.
                log.warning("netlink_events_lost", reason=event.reason)
                for known in list(self.interfaces.values()):
                    await self._refresh_link(netlink, known)
                continue
            # Looked up per event: a reload may have opened or closed interfaces.
            target = next((i for i in self.interfaces.values() if i.ifindex == event.ifindex), None)
            if target is None:
                # An interface we lost may be back under a new ifindex (deleted and created again):
                # its link and address events are what make it usable.
                for name in list(self._gone):
                    gone = self.interfaces.get(name)
                    if gone is not None:
                        await self._refresh_link(netlink, gone)
                continue
            if isinstance(event, LinkChanged) and event.removed:
                await self._interface_gone(target)
            elif isinstance(event, LinkChanged):
                self._link_state(target, event.up)
            elif isinstance(event, AddressRemoved):
                for inst in list(target.instances.values()):
                    inst.vip_removed(event.addr)

    async def _interface_gone(self, iface: Interface) -> None:
        """RTM_DELLINK: FAULT (the VIPs went with the interface), sockets closed until it comes back."""
        log.warning("interface_removed", interface=iface.name, ifindex=iface.ifindex)
        self._gone.add(iface.name)
        self._link_state(iface, False)
        task, iface.recv_task = iface.recv_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self._tasks.remove(task)
        iface.close()

    async def _refresh_link(self, netlink: Netlink, iface: Interface) -> None:
        """Re-read the link: gone → FAULT; back under a new ifindex → reopen the sockets there, then
        apply its state (a BACKUP again once it is up: the usual election follows)."""
        try:
            link = await netlink.link(iface.name)
        except InterfaceNotFound:
            if iface.name not in self._gone:
                await self._interface_gone(iface)
            return
        if link.ifindex != iface.ifindex or iface.name in self._gone:
            if iface.name not in self._gone:
                await self._interface_gone(iface)  # replaced while we were not listening
            try:
                iface.reopen(link)
            except OSError as exc:  # e.g. our source address is not on it yet: the next event retries
                log.info(
                    "interface_reopen_waiting", interface=iface.name, ifindex=link.ifindex, error=str(exc)
                )
                return
            self._gone.discard(iface.name)
            task = asyncio.get_running_loop().create_task(iface.receive_loop(), name=f"recv-{iface.name}")
            iface.recv_task = task
            self._tasks.append(task)
            log.warning("interface_recreated", interface=iface.name, ifindex=link.ifindex)
        self._link_state(iface, link.up)

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
        for task in self._reload_tasks:
            task.cancel()
        await asyncio.gather(*self._reload_tasks, return_exceptions=True)
        # Instances first: their priority-0 adverts are what lets the backups take over after Skew_Time.
        await asyncio.gather(*(i.stop(STOP_TIMEOUT) for i in self.instances))
        await asyncio.gather(*(c.stop() for c in self._checks.values()), return_exceptions=True)
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

    # -- control socket, HTTP listener, notify FIFO ---------------------------------------------------------

    async def _start_control(self, path: Path) -> None:
        server = ControlServer(path, self._control_command)
        try:
            await server.start()
        except ControlError as exc:
            raise StartupError(str(exc)) from exc
        self._control = server

    async def _control_command(self, request: dict[str, Any]) -> Any:
        command = request["command"]
        if command == "status":
            return status.snapshot(self, asyncio.get_running_loop().time())
        if command == "reload":
            return {"changes": await self.reload()}
        raise CommandError(f"unknown command {command!r} (known: reload, status)")

    async def _start_http(self, listen: ListenAddress | None) -> None:
        if listen is None:
            return
        # Imported here: prometheus-client is start-up time that daemons without metrics need not pay.
        from vrrpd.ops.metrics import HttpServer, make_registry, routes  # noqa: PLC0415

        server = HttpServer(listen.host, listen.port, routes(self, make_registry(self)))
        try:
            await server.start()
        except OSError as exc:
            raise StartupError(f"metrics_listen {listen}: cannot listen: {exc.strerror or exc}") from exc
        self._http = server

    def _open_fifo(self, path: Path | None) -> None:
        if path is None:
            return
        try:
            st = os.stat(path)
        except FileNotFoundError:
            # keepalived creates its notify FIFO too; a consumer may then open it at any time.
            try:
                path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                os.mkfifo(path, 0o600)
            except OSError as exc:
                raise StartupError(
                    f"notify_fifo {path}: cannot create the FIFO: {exc.strerror or exc}"
                ) from exc
            self._fifo_created = path
        else:
            if not stat.S_ISFIFO(st.st_mode):
                raise StartupError(f"notify_fifo {path}: exists and is not a FIFO")
        self.fifo = NotifyFifo(str(path))

    def _close_fifo(self) -> None:
        if self.fifo is not None:
            self.fifo.close()
            self.fifo = None
        if self._fifo_created is not None:
            with contextlib.suppress(OSError):
                self._fifo_created.unlink()
            self._fifo_created = None

    async def _close_listeners(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._control is not None:
            await self._control.close()
            self._control = None
        self._close_fifo()

    # -- reload ----------------------------------------------------------------------------------------------

    def _reload_signal(self) -> None:
        if self._reload_waiting:
            log.info("reload_coalesced", detail="a reload is already waiting to run")
            return
        log.info("reload_requested", signal="SIGHUP")
        self._reload_waiting = True
        task = asyncio.get_running_loop().create_task(self._reload_quietly(), name="reload")
        self._reload_tasks.add(task)
        task.add_done_callback(self._reload_tasks.discard)

    async def _reload_quietly(self) -> None:
        with contextlib.suppress(CommandError):  # already logged; a signal has nobody to answer
            await self.reload()

    async def reload(self) -> dict[str, list[str]]:
        """Re-read the configuration file and apply it with the least disruption; returns what changed.

        An invalid file (or one naming a missing interface) changes nothing: logged, counted, and raised
        as CommandError for the control socket's client.
        """
        async with self._reload_lock:
            self._reload_waiting = False
            if not self._running:
                log.warning("reload_refused", reason="the daemon is starting or stopping")
                raise CommandError("the daemon is starting or stopping; reload refused")
            sd = self._sd
            if sd is not None:
                usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
                await sd.send("RELOADING=1", f"MONOTONIC_USEC={usec}", "STATUS=reloading")
            try:
                return await self._reload_file()
            finally:
                if sd is not None:
                    await sd.ready(self._summary())

    async def _reload_file(self) -> dict[str, list[str]]:
        source = self.config.source
        self.reloads.last_at = time.time()
        if source == FROM_ENVIRONMENT:
            # A running process cannot see a changed pod environment: the pod must be restarted.
            self.reloads.failed += 1
            self.reloads.last_ok, self.reloads.last_error = False, "reload needs a config file"
            log.warning("reload_unavailable", config=source, detail="--openshift: restart the pod to apply")
            raise CommandError("reload is not available with --openshift: restart the pod to apply changes")
        try:
            new = load_config(source)
            check_interfaces(new)
        except ConfigError as exc:
            self.reloads.failed += 1
            self.reloads.last_ok, self.reloads.last_error = False, str(exc)
            log.error(
                "reload_failed", config=source, error=str(exc), detail="the running configuration is kept"
            )
            raise CommandError(f"{exc} (the running configuration is kept)") from None
        changes = plan(self.config, new)
        errors = await self._apply(changes, new)
        summary = changes.summary()
        if errors:
            summary["failed"] = errors
        self.reloads.succeeded += 1
        self.reloads.last_ok = not errors
        self.reloads.last_error = "; ".join(errors) or None
        self.reloads.last_changes = summary
        log.info("reloaded", config=source, **summary)
        return summary

    async def _apply(self, changes: ReloadPlan, new: Config) -> list[str]:
        """Carry out a reload plan; returns one line per part that could not be applied."""
        errors: list[str] = []
        old_global = self.config.global_
        if new.global_.log_format != old_global.log_format:
            logs.configure(new.global_.log_format)
        by_key = {inst.key: inst for inst in self.instances}
        # 1. Everything that gives up addresses goes first (a VIP may move to another instance): removed
        #    and restarted instances stop (priority 0 when MASTER), live ones drop VIPs no longer listed.
        leaving = [by_key[p.key] for p in changes.instances if p.change in (Change.REMOVED, Change.RESTART)]
        await asyncio.gather(*(self._remove_instance(inst) for inst in leaving))
        live = [(p, by_key[p.key]) for p in changes.by_change(Change.LIVE)]
        for p, inst in live:
            await self._reconfigure(p, inst)
        await asyncio.gather(*(inst.drain(STOP_TIMEOUT) for _, inst in live))
        for iface in [i for i in self.interfaces.values() if not i.instances]:
            await self._close_interface(iface)  # reopened below if needed, e.g. with a new source address
        # 2. Then what takes addresses.
        self.config = new
        for _, inst in live:
            inst.install_vips()
        for p in changes.instances:
            if p.change not in (Change.ADDED, Change.RESTART):
                continue
            assert p.new is not None
            try:
                inst = await self._add_instance(p.new)
            except (StartupError, OSError) as exc:
                errors.append(f"{p.name}: {exc}")
                log.error("reload_instance_failed", instance=p.name, error=str(exc))
                continue
            inst.start()
            check = self._checks.get(inst.key)
            if check is not None:
                check.start()
        order = {key_of(c): n for n, c in enumerate(new.vrrp_instance)}
        self.instances.sort(key=lambda i: order.get(i.key, len(order)))
        errors += await self._apply_global(
            old_global.control_socket, old_global.metrics_listen, old_global.notify_fifo
        )
        return errors

    async def _reconfigure(self, p: InstancePlan, inst: Instance) -> None:
        assert p.old is not None and p.new is not None
        old, new = p.old, p.new
        prev = self._checks.pop(inst.key, None) if old.check != new.check else None
        if prev is not None:
            await prev.stop()
        inst.reconfigure(new)
        if old.check != new.check and new.check is not None:
            # The router keeps a changed check's verdict and starts a new one up (a reload must not put a
            # serving master in FAULT for rise × interval); the new checker starts from that verdict and
            # then judges the service as usual (fall failures to go down).
            iface = self.interfaces[new.interface]
            check = self._make_check(inst, new, iface, initial_up=inst.check_up is not False)
            inst.check = check
            self._checks[inst.key] = check
            check.start()
        elif new.check is None:
            inst.check = None
        if (old.notify, old.notify_timeout) != (new.notify, new.notify_timeout):
            replaced = self._notifiers.get(inst.key)
            notifier = Notifier(str(new.notify) if new.notify else None, new.notify_timeout)
            notifier.start()
            self._notifiers[inst.key] = notifier
            if replaced is not None:
                await replaced.drain(NOTIFY_DRAIN_TIMEOUT)
                await replaced.close()
        log.info(
            "instance_reconfigured", instance=inst.name, vrid=new.virtual_router_id, changed=list(p.fields)
        )

    async def _apply_global(
        self, old_socket: Path, old_listen: ListenAddress | None, old_fifo: Path | None
    ) -> list[str]:
        errors: list[str] = []
        g = self.config.global_
        if g.control_socket != old_socket:
            previous = self._control
            try:
                await self._start_control(g.control_socket)
            except StartupError as exc:
                errors.append(str(exc))
                self._control = previous
            else:
                if previous is not None:
                    await previous.close()
        if g.metrics_listen != old_listen:
            previous_http, self._http = self._http, None
            if previous_http is not None:
                await previous_http.close()  # first: the new address may be the same port on another host
            try:
                await self._start_http(g.metrics_listen)
            except StartupError as exc:
                errors.append(str(exc))
        if g.notify_fifo != old_fifo:
            self._close_fifo()
            try:
                self._open_fifo(g.notify_fifo)
            except StartupError as exc:
                errors.append(str(exc))
        for error in errors:
            log.error("reload_global_failed", error=error)
        return errors


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
