"""`vrrpd run`: the daemon's lifecycle — what runs, in which order it starts, and how it stops.

Owns process-level concerns: the netlink handle and its event stream (link tracking, interfaces deleted
and re-created, VIPs deleted behind our back), opening and closing interfaces (`runtime.interface`),
creating and removing instances with their health checkers and notifiers, removing stale VIPs left by a
crashed run, signals (SIGTERM/SIGINT: graceful priority-0 handover; SIGHUP: reload through
`runtime.reconfigure`), systemd notification and watchdog, and the operator-facing listeners: the
control socket (`ops.control`, answering `vrrpd status` and `vrrpd reload`), the metrics/health HTTP
listener (`ops.metrics`) and the notify FIFO. Protocol decisions are not made here: they are
`protocol.fsm`'s.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import os
import signal
import stat
import sys
import time
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from vrrpd import logs
from vrrpd.config import (
    Config,
    ConfigError,
    GlobalConfig,
    InstanceConfig,
    ListenAddress,
    VipConfig,
    VrrpScriptConfig,
    check_programs,
)
from vrrpd.config.diff import InstanceKey, key_of
from vrrpd.config.programs import ids_of
from vrrpd.kernel.netlink import (
    AddressAdded,
    AddressRemoved,
    EventsLost,
    InterfaceNotFound,
    LinkChanged,
    LinkInfo,
    Netlink,
)
from vrrpd.ops import status
from vrrpd.ops.control import CommandError, ControlError, ControlServer
from vrrpd.ops.view import ReloadStats
from vrrpd.protocol import fsm
from vrrpd.protocol.tracking import ScriptCounter
from vrrpd.runtime import preflight
from vrrpd.runtime.instance import Instance
from vrrpd.runtime.interface import Interface, Source, StartupError, XmitBaseTransport
from vrrpd.runtime.notify import FifoScript, Notifier, NotifyFifo
from vrrpd.runtime.reconfigure import Reloader
from vrrpd.runtime.routerconfig import tracked_file, tracked_interface, tracked_process
from vrrpd.runtime.vipdevices import VipDevice, VipDevices, VipTransport
from vrrpd.runtime.vrid_lock import VridLock, VridLocked

if TYPE_CHECKING:
    # Imported where the feature is configured (use_vmac, auth_type AH, checks, scripts and programs' users,
    # systemd's NOTIFY_SOCKET, sync groups, tracked files and processes): their code is memory every other
    # daemon would hold (issue 17).
    from vrrpd.kernel.vmac import Vmacs
    from vrrpd.ops import metrics
    from vrrpd.runtime.ah import AhLink
    from vrrpd.runtime.healthcheck import HealthChecker, ProbeResult, ScriptRunner
    from vrrpd.runtime.prestart import Prestart
    from vrrpd.runtime.programs import Credentials
    from vrrpd.runtime.sdnotify import SdNotifier
    from vrrpd.runtime.syncgroup import GroupLink
    from vrrpd.runtime.tracked import FileWatch, ProcessWatch

log = logs.get_logger("vrrpd.runtime.daemon")

# Bound on one instance's shutdown. The priority-0 advert leaves at once; removing VIPs must finish even
# when there are hundreds (a VIP left on a stopped node duplicates the new master's), so the bound is
# generous: with a handful of VIPs the whole stop takes milliseconds and SIGTERM exits well within 1 s.
STOP_TIMEOUT = 10.0
NOTIFY_DRAIN_TIMEOUT = 0.3
# How often the supervisor looks for dead tasks (/healthz answers at once; the log and STATUS within this).
# FAULTs that mean this node cannot serve its VIPs at all (not a link or a check): /readyz says so.
UNSERVED_FAULTS = frozenset({fsm.Fault.VIPS, fsm.Fault.NO_ADDRESS})


class Daemon:
    """The running daemon; `run()` returns the process exit code."""

    def __init__(self, config: Config, prestarted: Prestart | None = None) -> None:
        self.config = config
        # What `runtime.prestart` started before the daemon's imports: adopted by `add_instance`, the rest
        # shut down when `run` ends.
        self._prestarted = prestarted
        self.interfaces: dict[str, Interface] = {}
        self.instances: list[Instance] = []
        self.started_at = time.time()
        self.reloader = Reloader(self)
        self.fifo: NotifyFifo | None = None
        self._fifo_created: Path | None = None  # a FIFO we made, removed again at exit
        self._fifo_script: FifoScript | None = None  # notify_fifo_script, the FIFO's reader
        self._checkers: dict[InstanceKey, HealthChecker] = {}
        self._scripts: dict[str, ScriptRunner] = {}  # the [[vrrp_script]]s some instance tracks
        self._script_defs: dict[str, tuple[object, ...]] = {}  # what each runner was made from
        self._stopping: set[asyncio.Task[None]] = set()  # runners a reload replaced, still stopping
        self._notifiers: dict[InstanceKey, Notifier] = {}
        self._stop = asyncio.Event()
        self._ended = asyncio.Event()  # a task ended: the supervisor looks what died (`_watch_tasks`)
        self._tasks: list[asyncio.Task[None]] = []
        self._netlink: Netlink | None = None
        self._sd: SdNotifier | None = None
        self._control: ControlServer | None = None
        self._http: metrics.HttpServer | None = None
        self._running = False
        self._gone: set[str] = set()  # interfaces deleted under us, waiting to come back by name
        self._locks: dict[InstanceKey, VridLock] = {}  # one daemon per (interface, VRID) on this host
        self._vmacs_: Vmacs | None = None  # the use_vmac macvlans, once netlink is open
        self._vip_devs_: VipDevices | None = None  # the other interfaces VIPs live on (keepalived's dev)
        self._groups: dict[str, GroupLink] = {}  # the running vrrp_sync_groups, by name
        self._files: FileWatch | None = None  # the [[vrrp_track_file]]s some instance tracks
        self._processes: ProcessWatch | None = None  # the [[vrrp_track_process]]es some instance tracks
        self._tracker_defs: tuple[object, ...] = ((), ())  # what they were made from

    @property
    def _vmacs(self) -> Vmacs:
        if self._vmacs_ is None:
            assert self._netlink is not None  # set in run() before any instance is added
            from vrrpd.kernel.vmac import Vmacs  # noqa: PLC0415 - use_vmac only (see TYPE_CHECKING)

            self._vmacs_ = Vmacs(self._netlink)
        return self._vmacs_

    @property
    def _vip_devs(self) -> VipDevices:
        if self._vip_devs_ is None:
            assert self._netlink is not None  # set in run() before any instance is added
            self._vip_devs_ = VipDevices(self._netlink)
        return self._vip_devs_

    async def present_vips(self, cfg: InstanceConfig) -> InstanceConfig:
        """Read the other interfaces the instance's VIPs name (``dev``); a VIP whose interface does not exist
        is dropped, as keepalived drops it at start (vrrp_ipaddress.c: "interface %s for ip address %s
        doesn't exist"): the instance runs — and advertises — without it."""
        missing: set[VipConfig] = set()
        for vip in cfg.vip_entries:
            dev = cfg.vip_dev(vip)
            if dev is not None and (await self._vip_devs.get(dev)).link is None:
                missing.add(vip)
                log.warning("vip_dev_missing", instance=cfg.name, vip=str(vip.address), interface=dev)
        if not missing:
            return cfg
        return msgspec.structs.replace(
            cfg,
            virtual_ipaddress=tuple(v for v in cfg.virtual_ipaddress if v not in missing),
            virtual_ipaddress_excluded=tuple(v for v in cfg.virtual_ipaddress_excluded if v not in missing),
        )

    # -- what status, metrics and probes read ------------------------------------------------------------

    @property
    def reloads(self) -> ReloadStats:
        """Reload outcomes (`runtime.reconfigure`)."""
        return self.reloader.stats

    @property
    def running(self) -> bool:
        """Started and not stopping."""
        return self._running

    @property
    def sd(self) -> SdNotifier | None:
        """systemd's notify socket, when running under systemd."""
        return self._sd

    @property
    def ready(self) -> bool:
        """Every instance has left INIT and can serve its VIPs, and the daemon is not shutting down
        (/readyz)."""
        return self._running and all(
            i.router.state is not fsm.State.INIT and not i.router.faults & UNSERVED_FAULTS
            for i in self.instances
        )

    def dead_tasks(self) -> list[str]:
        """Names of long-running tasks that ended: the process lives but no longer does its job (/healthz,
        and the systemd watchdog pings stop). Receive loops, the netlink watcher, the supervisor, every
        health check and notify worker, the HTTP listener."""
        dead = [t.get_name() for t in self._tasks if t.done()]
        dead += [f"healthcheck:{c.name}" for c in self._checkers.values() if c.died]
        dead += [f"notify:{n.path}" for n in self._notifiers.values() if not n.alive]
        if self._http is not None and not self._http.alive:
            dead.append("http")
        return dead

    # -- lifecycle -----------------------------------------------------------------------------------------

    async def run(self) -> int:
        """Start everything, wait for SIGTERM/SIGINT (reloading on SIGHUP), hand over gracefully."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.reloader.signal)
        unwatch = self._watch_tasks(loop)
        try:
            async with Netlink() as netlink:
                self._netlink = netlink
                g = self.config.global_
                # Listeners first: a socket in use is a start-up error before anything touches the network.
                await self._start_control(g.control_socket)
                await self._start_http(g.metrics_listen)
                self._open_fifo(g.notify_fifo)
                await self._start_fifo_script()
                await self._setup(netlink, loop)
                sd = self._sd = await _sd_notifier()
                self._running = True
                for inst in self.instances:
                    inst.start()
                for check in self._checkers.values():
                    check.start()
                for runner in self._scripts.values():
                    runner.start()
                log.info(
                    "started",
                    router_id=g.router_id,
                    instances=len(self.instances),
                    interfaces=sorted(self.interfaces),
                    control_socket=str(g.control_socket),
                    metrics_listen=str(g.metrics_listen) if g.metrics_listen else None,
                )
                if sd is not None:
                    await sd.ready(self.summary())
                supervisor = self._supervise(sd, _watchdog_interval() if sd is not None else None)
                self._tasks.append(loop.create_task(supervisor, name="supervisor"))
                await self._stop.wait()
                log.info("stopping", reason="signal")
                self._running = False
                if sd is not None:
                    await sd.stopping()
                await self._shutdown()
        finally:
            if self._prestarted is not None:  # not adopted (a start-up error): shut down as a daemon does
                self._prestarted.close()
                self._prestarted = None
            await self._close_listeners()
            unwatch()
        return 0

    def _watch_tasks(self, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        """Make every task the loop creates from now on wake the supervisor when it ends (a reload's new
        checks and notifiers included); returns the undo."""
        previous = loop.get_task_factory()
        ended = self._ended

        def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
            if previous is not None:
                task = previous(loop, coro, **kwargs)
            else:
                task = asyncio.Task(coro, loop=loop, **kwargs)
            task.add_done_callback(lambda _: ended.set())
            return task

        loop.set_task_factory(factory)
        return lambda: loop.set_task_factory(previous)

    async def _setup(self, netlink: Netlink, loop: asyncio.AbstractEventLoop) -> None:
        try:
            for warning in check_programs(self.config):
                log.warning("insecure_program", detail=warning)
        except ConfigError as exc:  # checked before start (vrrpd run); the host may have changed since
            raise StartupError(str(exc)) from None
        if self._prestarted is not None:
            await self._check_prestarted(netlink)
        for inst_cfg in self.config.vrrp_instance:
            await self.add_instance(inst_cfg)
        self.sync_scripts()
        self.sync_trackers(reload=False)
        self._tasks.append(loop.create_task(self._watch_netlink(netlink), name="netlink-events"))

    async def _check_prestarted(self, netlink: Netlink) -> None:
        """Adopt what `runtime.prestart` started only where its interface is still the one it saw (same
        ifindex, same primary address); otherwise shut it all down and start as if it had not run."""
        early = self._prestarted
        assert early is not None
        for name, opened in early.interfaces.items():
            try:
                link = await netlink.link(name)
            except InterfaceNotFound:
                link = None
            if link is None or link.ifindex != opened.ifindex or link.primary != opened.src:
                log.warning("prestart_discarded", interface=name, reason="the interface changed meanwhile")
                early.close()
                self._prestarted = None
                return

    async def _open_interface(
        self, inst_cfg: InstanceConfig, link: LinkInfo | None = None, src: IPv4Address | None = None
    ) -> tuple[Interface, IPv4Address | IPv6Address]:
        """The interface the instance advertises on (or `link`), with the sockets of the instance's address
        family open; the source address its adverts leave from.

        IPv4 sends from `src`, else unicast_src_ip or mcast_src_ip, else the interface's primary address —
        each instance from its own, through the interface's one socket (`Interface.open_ipv4`);
        IPv6 from mcast_src_ip, else the link-local address (RFC 5798 §5.1.2.1). Each family's sockets
        open with its first instance: an interface with only IPv6 instances needs no IPv4 address.
        Raises StartupError.
        """
        assert self._netlink is not None  # set in run() before any instance is added
        name = link.name if link is not None else inst_cfg.interface
        iface = self.interfaces.get(name)
        fresh = iface is None
        if iface is None:
            iface = Interface(link or await self._netlink.link(name), self._netlink)
            opened = (
                None if self._prestarted is None else self._prestarted.take_interface(name, iface.ifindex)
            )
            if opened is not None:
                iface.adopt_ipv4(opened.sock, opened.garp, opened.src)
        try:
            if inst_cfg.family == 6:
                src6 = inst_cfg.mcast_src_ip if isinstance(inst_cfg.mcast_src_ip, IPv6Address) else None
                primary: IPv4Address | IPv6Address = iface.open_ipv6(src6)
            else:
                src4 = inst_cfg.src_ip if isinstance(inst_cfg.src_ip, IPv4Address) else None
                primary = iface.open_ipv4(
                    src or src4, any_source=inst_cfg.mcast_src_ip is not None, vrid=inst_cfg.virtual_router_id
                )
        except BaseException:
            if fresh:
                iface.close()
            raise
        if fresh:
            self.interfaces[iface.name] = iface
            task = asyncio.get_running_loop().create_task(iface.receive_loop(), name=f"recv-{iface.name}")
            iface.recv_task = task
            self._tasks.append(task)
        return iface, primary

    async def close_idle_interfaces(self) -> None:
        """After a reload: close the interfaces no instance uses any more."""
        for iface in [i for i in self.interfaces.values() if not i.instances]:
            await self._close_interface(iface)

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

    async def add_instance(self, inst_cfg: InstanceConfig) -> Instance:
        """Create (not start) an instance, opening its interface if this is the first one on it."""
        assert self._netlink is not None
        key = key_of(inst_cfg)
        # Before anything is touched: a second daemon on this (interface, VRID) must not remove the first
        # one's live VIPs as stale below.
        started = None if self._prestarted is None else self._prestarted.take(key)
        try:
            if started is not None:
                lock = started.lock  # taken by `runtime.prestart`, before it touched anything
            else:
                lock = VridLock.acquire(inst_cfg.interface, inst_cfg.virtual_router_id, inst_cfg.family)
        except VridLocked as exc:
            raise StartupError(str(exc)) from None
        try:
            inst_cfg = await self.present_vips(inst_cfg)
            base: Interface | XmitBaseTransport
            if inst_cfg.use_vmac:
                iface, base, primary = await self._open_vmac(inst_cfg)
            else:
                iface, primary = await self._open_interface(inst_cfg)
                base = iface
            if started is None:
                await self._remove_stale_vips(self._netlink, base, inst_cfg)
            else:  # `runtime.prestart` removed them before the start, as `_remove_stale_vips` does
                for vip in started.stale:
                    log.warning(
                        "stale_vip_removed", instance=inst_cfg.name, interface=iface.name, vip=str(vip)
                    )
                _warn_without_vips(inst_cfg)
            transport: Interface | XmitBaseTransport | VipTransport = base
            if not all(v.plain for v in inst_cfg.vip_entries):
                # keepalived's per-VIP dev, label, scope, brd, no_track (`runtime.vipdevices`).
                first = inst_cfg  # until the instance exists (then: its configuration, as reloads change it)
                transport = VipTransport(base, self._netlink, lambda: first, self._vip_devs)
        except BaseException:
            if started is not None and self._prestarted is not None:
                self._prestarted.instances[key] = started  # shut down with the rest when `run` ends
            lock.release()
            raise
        self._locks[key] = lock
        # A sub-second VRRPv3 master sends more adverts than the flood guard's default budget allows.
        iface.allow_rate(1.5 / inst_cfg.advert_int)
        notifier = self._notifier(inst_cfg)
        notifier.start()
        self._notifiers[key] = notifier
        loop = asyncio.get_running_loop()
        # keepalived auth_type AH: the adverts go inside an IPsec AH (protocol 51), through its own socket.
        link: AhLink | None = None
        if inst_cfg.auth_type == "AH":
            from vrrpd.runtime.ah import ah_link  # noqa: PLC0415 - AH instances only (see TYPE_CHECKING)

            link = ah_link(iface, transport, inst_cfg)
        inst = Instance(
            inst_cfg,
            primary,
            link or transport,  # an Interface, XmitBaseTransport or VipTransport; in an AhLink with AH
            self._notify_for(key),
            loop,
            routing=self._netlink,
            scripts=self.config.scripts,
            sync_group=self.config.sync_group_of(inst_cfg.name) is not None,
        )
        if isinstance(transport, VipTransport):
            transport.config_of = lambda: inst.config
        inst.garp_interval = self.config.global_.garp_interval
        inst.gna_interval = self.config.global_.gna_interval
        if link is not None:
            link.bind(inst)
        self._join_group(inst)
        iface.routers[inst_cfg.family][inst_cfg.virtual_router_id] = inst
        inst.reader = iface  # drained before the instance acts on its timer; told of its state changes
        inst.prestarted = started
        self.instances.append(inst)
        if not iface.link.up and not inst_cfg.dont_track_primary:
            inst.link_changed(False)  # recorded before start: start() then goes to FAULT
        if inst_cfg.family == 6 and iface.fixed_src6:
            # An IPv6 mcast_src_ip must be on the interface (keepalived's sends fail without it): FAULT
            # until it is, recorded before start as for the link.
            known_missing = not iface.has_address6  # then _follow_link_local tells nobody again
            await self._follow_link_local(self._netlink, iface)
            if known_missing and not iface.has_address6:
                inst.address_changed(False, 6)
        source = iface.source_of(inst_cfg.virtual_router_id) if inst_cfg.family == 4 else None
        if source is not None and source.configured and not source.anywhere and source.address != iface.src:
            # A unicast_src_ip beside the socket's own (which the bind checked) must be on the interface
            # too: FAULT until it is, recorded before start as for the link.
            known_missing = not source.present  # then _follow_source tells nobody again
            await self._follow_source(self._netlink, iface)
            if known_missing and not source.present:
                inst.address_changed(False)
        await self._track_interfaces(inst)
        if inst_cfg.check is not None:
            # Undecided until its first verdict (the first probe runs at once): the router waits in INIT for
            # it, then starts in BACKUP, or in FAULT / at its lowered priority if the service is not seen
            # working (`Instance.start`). Not a FAULT "not checked yet" first, and its notification.
            check = self._make_checker(inst, inst_cfg, initial_up=None)
            inst.checker = check
            self._checkers[key] = check
        return inst

    async def remove_instance(self, inst: Instance) -> None:
        """Stop one instance gracefully (priority 0 if MASTER) and forget it."""
        key = inst.key
        check = self._checkers.pop(key, None)
        if check is not None:
            await check.stop()
        await inst.stop(STOP_TIMEOUT)
        lock = self._locks.pop(key, None)
        if lock is not None:
            lock.release()  # after its VIPs are gone: a successor may now remove what is left
        for iface in self.interfaces.values():  # the instance's interface, or its virtual MAC interface
            routers = iface.routers[inst.config.family]
            if routers.get(inst.config.virtual_router_id) is inst:
                del routers[inst.config.virtual_router_id]
        self.instances.remove(inst)
        if (ah := _ah_module()) is not None and isinstance(inst.transport, ah.AhLink):
            inst.transport.detach()
        await self._close_vmac(inst)
        await self._leave_group(inst)
        notifier = self._notifiers.pop(key, None)
        if notifier is not None:
            await notifier.drain(NOTIFY_DRAIN_TIMEOUT)  # deliver its STOP before the notifier goes
            await notifier.close()

    def start_instance(self, inst: Instance) -> None:
        """Start an instance added by a reload, then its health check."""
        inst.start()
        check = self._checkers.get(inst.key)
        if check is not None:
            check.start()

    async def replace_notifier(self, inst: Instance) -> None:
        """A reload changed the instance's notify settings: a new notifier; the old one drains first."""
        cfg = inst.config
        replaced = self._notifiers.get(inst.key)
        notifier = self._notifier(cfg)
        notifier.start()
        self._notifiers[inst.key] = notifier
        if replaced is not None:
            await replaced.drain(NOTIFY_DRAIN_TIMEOUT)
            await replaced.close()

    def _notifier(self, cfg: InstanceConfig) -> Notifier:
        """keepalived's notify and notify_<state> programs of one instance, run as script_user."""
        g = self.config.global_
        states = {
            "MASTER": cfg.notify_master,
            "BACKUP": cfg.notify_backup,
            "FAULT": cfg.notify_fault,
            "STOP": cfg.notify_stop,
        }
        programs = {state: argv for state, argv in states.items() if argv}
        return Notifier(
            cfg.notify,
            cfg.notify_timeout,
            states=programs,
            credentials=_program_credentials(g, bool(cfg.notify or programs)),
        )

    def sync_scripts(self) -> list[ScriptRunner]:
        """Make the [[vrrp_script]] runners those the configuration's instances track: a script whose
        command, timing and user are unchanged keeps running (and its status); returns new runners
        (not started) and feeds the instances the status of the runners kept."""
        config = self.config
        tracked = {t.name for inst in config.vrrp_instance for t in inst.track_script}
        g = config.global_
        for name in list(self._scripts):
            script = config.scripts.get(name)
            if name in tracked and script is not None and _runner_of(script, g) == self._script_defs[name]:
                continue
            runner = self._scripts.pop(name)
            del self._script_defs[name]
            task = asyncio.get_running_loop().create_task(runner.stop(), name=f"stop-script:{name}")
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)
        started: list[ScriptRunner] = []
        for name in sorted(tracked):
            kept = self._scripts.get(name)
            if kept is not None:
                if kept.status is not None:  # an instance may have started tracking it on a reload
                    self._script_changed(name, kept.status)
                continue
            script = config.scripts[name]
            from vrrpd.runtime.healthcheck import ScriptRunner  # noqa: PLC0415 - see TYPE_CHECKING

            runner = ScriptRunner(
                name,
                script.script,
                ScriptCounter(script.rise, script.fall, init_fail=script.init_fail),
                self._script_changed,
                interval=script.interval,
                timeout=script.run_timeout,
                credentials=_credentials(*_user_of(script, g)),
            )
            self._scripts[name] = runner
            self._script_defs[name] = _runner_of(script, g)
            started.append(runner)
        return started

    def start_scripts(self) -> None:
        """After a reload: retrack every instance (a [[vrrp_script]]'s weight may have changed), then
        start the runners `sync_scripts` made."""
        for inst in self.instances:
            if inst.config.track_script:
                inst.reconfigure(inst.config, self.config.scripts)
        for runner in self.sync_scripts():
            runner.start()
        self.sync_trackers(reload=True)

    def sync_trackers(self, *, reload: bool) -> None:
        """The tracked files and processes the instances track: watched anew when their definitions
        changed (a value is read afresh, so nothing is lost), and every value given to the instances."""
        config = self.config
        files = {t.name for inst in config.vrrp_instance for t in inst.track_file}
        processes = {t.name for inst in config.vrrp_instance for t in inst.track_process}
        file_specs = tuple(f for f in config.vrrp_track_file if f.name in files)
        process_specs = tuple(p for p in config.vrrp_track_process if p.name in processes)
        loop = asyncio.get_running_loop()
        if (file_specs, process_specs) != self._tracker_defs:
            self._close_trackers()
            self._tracker_defs = (file_specs, process_specs)
            if file_specs or process_specs:
                from vrrpd.runtime.tracked import FileWatch, ProcessWatch, init_file  # noqa: PLC0415

            for spec in file_specs:
                error = init_file(spec, reload=reload)
                if error is not None:
                    log.error("track_file_init_failed", track_file=spec.name, error=error)
            if file_specs:
                self._files = FileWatch(file_specs, self._file_changed, loop)
                self._files.open()
            if process_specs:
                self._processes = ProcessWatch(process_specs, self._process_changed, loop)
                self._processes.open()
        if self._files is not None:
            for name, value in self._files.values.items():
                self._file_changed(name, value)
        if self._processes is not None:
            for name, up in self._processes.status.items():
                self._process_changed(name, up)

    def _close_trackers(self) -> None:
        if self._files is not None:
            self._files.close()
            self._files = None
        if self._processes is not None:
            self._processes.close()
            self._processes = None

    def _file_changed(self, name: str, value: int) -> None:
        for inst in self.instances:
            if any(t.name == name for t in inst.config.track_file):
                inst.tracked_changed(tracked_file(name), value)

    def _process_changed(self, name: str, up: bool) -> None:
        for inst in self.instances:
            if any(t.name == name for t in inst.config.track_process):
                inst.tracked_changed(tracked_process(name), up)

    def _script_changed(self, name: str, status: bool) -> None:
        for inst in self.instances:
            if any(t.name == name for t in inst.config.track_script):
                inst.tracked_changed(name, status)

    def _join_group(self, inst: Instance) -> None:
        """A member of a vrrp_sync_group joins its group's link (made with the first member)."""
        group = self.config.sync_group_of(inst.name)
        if group is None:
            return
        link = self._groups.get(group.name)
        if link is None:
            g = self.config.global_
            states = {
                "MASTER": group.notify_master,
                "BACKUP": group.notify_backup,
                "FAULT": group.notify_fault,
                "STOP": group.notify_stop,
            }
            programs = {state: argv for state, argv in states.items() if argv}
            notifier = Notifier(
                group.notify,
                group.notify_timeout,
                states=programs,
                credentials=_program_credentials(g, bool(group.notify or programs)),
                kind="GROUP",
            )
            notifier.start()

            def fifo(name: str, state: str) -> None:
                if self.fifo is not None:
                    self.fifo.write(name, state, 0, kind="GROUP")

            from vrrpd.runtime.syncgroup import GroupLink  # noqa: PLC0415 - sync groups only

            link = self._groups[group.name] = GroupLink(
                group.name, notifier, fifo, asyncio.get_running_loop()
            )
        link.add(inst)

    async def _leave_group(self, inst: Instance) -> None:
        """A stopped member leaves its group; the last one takes the group's notifier with it."""
        link = inst.sync
        if link is None:
            return
        from vrrpd.runtime.syncgroup import GroupLink  # noqa: PLC0415 - imported already: a member has a link

        if not isinstance(link, GroupLink):
            return
        link.remove(inst)
        if not link.members:
            del self._groups[link.name]
            await link.notifier.drain(NOTIFY_DRAIN_TIMEOUT)  # the group's STOP
            await link.notifier.close()

    def _notify_for(self, key: InstanceKey) -> Callable[[str, str, int], None]:
        # Looked up at call time: a reload may replace the instance's notifier (a new notify path).
        def notify(name: str, state: str, priority: int) -> None:
            notifier = self._notifiers.get(key)
            if notifier is not None:
                notifier.notify(name, state, priority)
            if self.fifo is not None:
                self.fifo.write(name, state, priority)

        return notify

    async def _open_vmac(
        self, cfg: InstanceConfig
    ) -> tuple[Interface, Interface | XmitBaseTransport, IPv4Address | IPv6Address]:
        """use_vmac: the macvlan with the virtual MAC, and where the adverts go (the interface it gets
        its adverts on, the instance's transport, and the adverts' source address)."""
        assert self._netlink is not None and cfg.vmac_name is not None
        lower = await self._netlink.link(cfg.interface)
        src = (cfg.src_ip if isinstance(cfg.src_ip, IPv4Address) else None) or lower.primary
        if src is None and cfg.family == 4:
            raise StartupError(
                f"interface {lower.name} has no IPv4 address: VRRP adverts need one as their source"
                " (add an address, or set unicast_src_ip)"
            )
        try:
            vmac = await self._vmacs.open(cfg.vmac_name, lower, cfg.virtual_router_id, cfg.family)
        except (ValueError, OSError) as exc:
            raise StartupError(f"use_vmac: cannot create {cfg.vmac_name} on {lower.name}: {exc}") from exc
        if cfg.vmac_xmit_base:
            base, primary = await self._open_interface(cfg, lower)
            try:
                return base, XmitBaseTransport(base, vmac, self._netlink), primary
            except OSError as exc:
                raise StartupError(f"use_vmac: cannot open {vmac.name}: {exc}") from exc
        # The adverts leave from the virtual MAC (keepalived's default), with the lower interface's
        # address as their source (§5.2.1: the macvlan has none of its own; an IPv6 one was given the
        # lower interface's link-local address by `Vmacs.open`).
        iface, primary = await self._open_interface(cfg, vmac, src)
        return iface, iface, primary

    async def _close_vmac(self, inst: Instance) -> None:
        """After its instance stopped: its virtual MAC interface goes (keepalived removes it at exit)."""
        name = inst.config.vmac_name
        if name is None:
            return
        if isinstance(transport := unwrap(inst.transport), XmitBaseTransport):
            transport.close()
        iface = self.interfaces.get(name)
        if iface is not None and not iface.instances:
            await self._close_interface(iface)
        await self._vmacs.close(name)

    async def _remove_stale_vips(
        self, netlink: Netlink, iface: Interface | XmitBaseTransport, cfg: InstanceConfig
    ) -> None:
        # A crashed or SIGKILLed run leaves its VIPs behind; a node that is not master must not keep them
        # (the ipfailover image's duplicate-VIP fault). The election re-adds them where they belong.
        present: set[IPv4Address | IPv6Address] = {a.ip for a in await netlink.addresses(iface.ifindex)}
        if cfg.family == 6:
            present |= {a.ip for a in await netlink.addresses6(iface.ifindex)}
        own = iface.src if isinstance(iface, Interface) else None
        for entry in cfg.vip_entries:
            vip, dev = entry.address, cfg.vip_dev(entry)
            if dev is not None:
                await self._remove_stale_vip(netlink, cfg, vip, self._vip_devs.devices[dev])
            elif vip.ip in present and vip.ip != own:
                await netlink.remove_address(iface.ifindex, vip)
                log.warning("stale_vip_removed", instance=cfg.name, interface=iface.name, vip=str(vip))
        # Its virtual routes and rules too (they follow the VIPs: only the master has them).
        for rule in cfg.virtual_rules:
            if await netlink.rule("del", rule) == 0:
                log.warning("stale_rule_removed", instance=cfg.name, rule=str(rule))
        for route in cfg.virtual_routes:
            if await netlink.route("del", route) == 0:
                log.warning("stale_route_removed", instance=cfg.name, route=str(route))
        _warn_without_vips(cfg)

    @staticmethod
    async def _remove_stale_vip(
        netlink: Netlink, cfg: InstanceConfig, vip: IPv4Interface | IPv6Interface, device: VipDevice
    ) -> None:
        """A VIP left on its other interface (``dev``) by a crashed run goes, as on the instance's own."""
        ifindex = device.ifindex
        if ifindex is None:
            return
        present = await (netlink.addresses(ifindex) if vip.version == 4 else netlink.addresses6(ifindex))
        if vip.ip in {a.ip for a in present}:
            await netlink.remove_address(ifindex, vip)
            log.warning("stale_vip_removed", instance=cfg.name, interface=device.name, vip=str(vip))

    def start_checker(self, inst: Instance) -> None:
        """A reload gave a running instance a new check: it starts from the router's verdict."""
        check = self._make_checker(inst, inst.config, initial_up=inst.health is not False)
        inst.checker = check
        self._checkers[inst.key] = check
        check.start()

    async def stop_checker(self, inst: Instance) -> None:
        """A reload changed or removed the instance's check: the running one stops."""
        check = self._checkers.pop(inst.key, None)
        inst.checker = None
        if check is not None:
            await check.stop()

    def _make_checker(self, inst: Instance, cfg: InstanceConfig, initial_up: bool | None) -> HealthChecker:
        from vrrpd.runtime.healthcheck import (  # noqa: PLC0415 - see TYPE_CHECKING
            HealthChecker,
            script_probe,
            tcp_probe,
            tcp_target,
        )

        check = cfg.check
        assert check is not None  # the caller checked; narrows the type
        if check.script is not None:
            script = str(check.script)

            async def probe() -> ProbeResult:
                return await script_probe(script, check.timeout)

            target = script
        else:
            host = check.host or self._check_host(inst)
            port = check.tcp_port
            assert port is not None  # config validation: exactly one of tcp_port and script
            # Where an IPv6 link-local target is: the one configured, on the instance's interface; the
            # default (the adverts' source), on the interface the adverts leave from.
            vmac = cfg.vmac_name if cfg.use_vmac and not cfg.vmac_xmit_base else None
            scope = cfg.interface if check.host is not None else vmac or cfg.interface

            async def probe() -> ProbeResult:
                return await tcp_probe(host, port, check.timeout, scope)

            target = tcp_target(host, port, scope)

        return HealthChecker(
            probe,
            check.interval,
            check.rise,
            check.fall,
            inst.health_changed,
            initial_up=initial_up,
            name=cfg.name,
            target=target,
        )

    def _check_host(self, inst: Instance) -> IPv4Address | IPv6Address:
        """A TCP check's default target: the interface's own IPv4 address (an IPv4 instance's source),
        else — an interface without IPv4 — its IPv6 link-local address."""
        if isinstance(inst.primary, IPv4Address):
            return inst.primary
        iface = self.interfaces.get(inst.config.interface)
        src4 = None if iface is None else iface.src or iface.link.primary
        return src4 or inst.primary

    async def _watch_netlink(self, netlink: Netlink) -> None:
        async for event in netlink.events():
            if isinstance(event, EventsLost):
                # The monitor overflowed: re-read the link state rather than trust what we last saw.
                log.warning("netlink_events_lost", reason=event.reason)
                for known in list(self.interfaces.values()):
                    await self._refresh_link(netlink, known)
                    if known.name not in self._gone:
                        await self._follow_source(netlink, known)
                        await self._follow_link_local(netlink, known)
                continue
            if isinstance(event, LinkChanged):
                self._tracked_link(event)
                if self._vip_devs_ is not None:
                    await self._vip_devs_.link_changed(event.name, event.ifindex, event.removed)
            # Looked up per event: a reload may have opened or closed interfaces.
            target = next((i for i in self.interfaces.values() if i.ifindex == event.ifindex), None)
            if isinstance(event, AddressAdded | AddressRemoved):
                self._vip_device_event(event)
            if target is None:
                # An interface we lost may be back under a new ifindex (deleted and created again):
                # its link and address events are what make it usable.
                for name in list(self._gone):
                    gone = self.interfaces.get(name)
                    if gone is not None:
                        if isinstance(event, LinkChanged):  # e.g. the interface below a vmac is back
                            await self._recreate_vmac(netlink, gone)
                        await self._refresh_link(netlink, gone)
                continue
            if isinstance(event, LinkChanged) and event.removed:
                await self._interface_gone(target)
            elif isinstance(event, LinkChanged):
                self._link_state(target, event.up)
            elif isinstance(event, AddressRemoved) and isinstance(event.addr, IPv4Interface):
                instances = target.instances
                # Our source address gone, or a VIP we would put back: first see whether the interface
                # still has an address of its own. When the primary goes, the kernel deletes (or promotes)
                # its secondaries first, our VIPs among them: restoring one then would make it the
                # interface's only, primary, address.
                sources = {s.address for s in target.sources.values()}
                if event.addr.ip in sources or any(i.restores(event.addr) for i in instances):
                    await self._follow_source(netlink, target)
                for inst in instances:
                    if _concerns(inst, event.ifindex, event.addr, removed=True):
                        inst.vip_removed(event.addr)
            elif isinstance(event, AddressRemoved | AddressAdded) and isinstance(event.addr, IPv6Interface):
                # An IPv6 address came or went: only IPv6 routers are concerned — their source when it is
                # a link-local address, else their VIPs (a master puts a deleted VIP back; a backup
                # removes a duplicate added by hand) — never the IPv4 source.
                if event.addr.ip.is_link_local and event.addr.ip not in self._floating_vips():
                    await self._follow_link_local(netlink, target)
                for inst in list(target.routers[6].values()):
                    removed = isinstance(event, AddressRemoved)
                    if not _concerns(inst, event.ifindex, event.addr, removed=removed):
                        continue
                    if removed:
                        inst.vip_removed(event.addr)
                    else:
                        inst.vip_added(event.addr)
            elif isinstance(event, AddressAdded) and isinstance(event.addr, IPv4Interface):
                missing = any(not s.present for s in target.sources.values())
                if missing and event.addr.ip not in self._floating_vips():
                    await self._follow_source(netlink, target)
                for inst in target.instances:
                    if _concerns(inst, event.ifindex, event.addr, removed=False):
                        inst.vip_added(event.addr)

    def _vip_device_event(self, event: AddressAdded | AddressRemoved) -> None:
        """An address came or went on another interface one of our VIPs lives on (``dev``): a master puts
        its deleted VIP back (unless ``no_track``), a backup removes a duplicate added by hand."""
        if self._vip_devs_ is None or self._vip_devs_.by_ifindex(event.ifindex) is None:
            return
        removed = isinstance(event, AddressRemoved)
        for inst in self.instances:
            transport = unwrap(inst.transport)
            if not isinstance(transport, VipTransport) or transport.ifindex == event.ifindex:
                continue  # the instance's own interface: its events go the usual way
            if _concerns(inst, event.ifindex, event.addr, removed=removed):
                if removed:
                    inst.vip_removed(event.addr)
                else:
                    inst.vip_added(event.addr)

    def _floating_vips(self) -> set[IPv4Address | IPv6Address]:
        """Every VIP of ours that moves between routers (an owner's does not), on whatever interface it
        lives (`dev`): never an advert source (RFC 3768 §5.2.1 wants the interface's own address), nor a
        link-local source's replacement, even on another instance's interface."""
        return {vip for iface in self.interfaces.values() for vip in iface.foreign_vips()}

    async def _follow_source(self, netlink: Netlink, iface: Interface) -> None:
        """Keep each IPv4 instance advertising from its own source (§5.2.1), whatever happens to it.

        Per source (`Interface.sources`), for the instances that send from it:
        * the interface's own primary address: gone with no other address of its own (a VIP never
          counts, whichever instance holds it there), its instances go FAULT (their VIPs are removed, so
          none is left as the interface's only address); replaced by another address of its own (the
          primary first), they advertise from that one; back, they leave FAULT;
        * a configured address (unicast_src_ip): only that one will do — FAULT while the interface lacks
          it, only for the instances that send from it (keepalived, without track_src_ip, goes on sending
          from an address it no longer holds and can no longer receive on);
        * mcast_src_ip: keepalived sends from it whether the interface holds it or not (its own IP
          header), and so do we: never followed.
        The socket is reopened when the address it is bound to changes or comes back.
        Only the IPv4 instances are concerned (`_follow_link_local` is the IPv6 side).
        """
        kept = [s for s in iface.sources.values() if not s.anywhere]
        if iface.sock is None or not kept:
            return
        try:
            # A virtual MAC interface has no address of its own: its adverts leave with the address of
            # the interface below (§5.2.1), so that is the one to follow.
            lower = self._vmacs.lower_of(iface.name)
            holder = iface.ifindex if lower is None else (await netlink.link(lower)).ifindex
            present = [a.ip for a in await netlink.addresses(holder)]
            wanted: dict[Source, IPv4Address | None] = {}  # `Source` hashes by identity (eq=False)
            for source in kept:
                if source.address in present:
                    wanted[source] = source.address
                elif source.configured:
                    wanted[source] = None  # unicast_src_ip: no other address will do
                else:
                    vips = self._floating_vips()
                    primaries = await netlink.addresses(holder, primary_only=True)
                    # Its primary, else a secondary of its own: one added while a VIP (put back when the
                    # primary went) was the subnet's first address is the kernel's secondary, yet ours.
                    own = [ip for ip in (*(a.ip for a in primaries), *present) if ip not in vips]
                    wanted[source] = own[0] if own else None
        except (InterfaceNotFound, OSError) as exc:  # gone: the link events handle that
            log.info("interface_address_unknown", interface=iface.name, error=str(exc))
            return
        for source in kept:
            await self._keep_source(iface, source, wanted[source])

    async def _keep_source(self, iface: Interface, source: Source, src: IPv4Address | None) -> None:
        """`source` is now `src` (None: the interface lacks it): its instances follow (`_follow_source`)."""
        instances = [i for v in sorted(source.vrids) if (i := iface.routers[4].get(v)) is not None]
        if src is None:
            if source.present:
                source.present = False
                log.warning(
                    "interface_address_lost",
                    interface=iface.name,
                    address=str(source.address),
                    instances=[i.name for i in instances],
                    detail="no IPv4 address of its own to advertise from: FAULT until one is back",
                )
                for inst in instances:
                    inst.address_changed(False)
            return
        if src == source.address and source.present:
            return
        old = source.address
        if old == iface.src:  # the socket is bound to it: bound again (a plain `sendto` sends from it)
            if not await self._rebind(iface, iface.rebind, src):
                return
            assert iface.src is not None
            src = iface.src  # the socket's own object
        source.address = src
        if src != old:
            log.warning("interface_source_changed", interface=iface.name, old=str(old), new=str(src))
            for inst in instances:
                inst.source_changed(src)
        if not source.present:
            source.present = True
            log.warning("interface_address_back", interface=iface.name, address=str(src))
            for inst in instances:
                inst.address_changed(True)

    async def _follow_link_local(self, netlink: Netlink, iface: Interface) -> None:
        """Keep advertising IPv6 from the interface's link-local address (RFC 5798 §5.1.2.1), whatever
        happens to it — the IPv6 twin of `_follow_source`.

        Gone with no other link-local address (a VIP never counts): the interface's IPv6 instances go FAULT
        (`no_address`); its IPv4 instances are not concerned. Replaced: the IPv6 sockets are reopened with
        the new one as the source. Back: the IPv6 instances leave FAULT.
        """
        if iface.sock6 is None:
            return
        try:
            vips = self._floating_vips()
            present = [
                a.ip
                for a in await netlink.addresses6(iface.ifindex)
                if a.ip.is_link_local and a.ip not in vips
            ]
        except (InterfaceNotFound, OSError) as exc:  # gone: the link events handle that
            log.info("interface_address_unknown", interface=iface.name, error=str(exc))
            return
        if iface.fixed_src6:  # mcast_src_ip: that address or none (FAULT: keepalived's sends fail then)
            src = iface.src6 if iface.src6 in present else None
        else:
            src = iface.src6 if iface.src6 in present else next(iter(present), None)
        if src is None:
            if iface.has_address6:
                iface.has_address6 = False
                log.warning(
                    "interface_address_lost",
                    interface=iface.name,
                    address=str(iface.src6),
                    detail="no IPv6 link-local address to advertise from: FAULT until one is back",
                )
                for inst in iface.routers[6].values():
                    inst.address_changed(False, 6)
            return
        old = iface.src6
        if src != old:
            if not await self._rebind(iface, iface.rebind6, src):
                return
            log.warning("interface_source_changed", interface=iface.name, old=str(old), new=str(src))
            for inst in iface.routers[6].values():
                inst.source_changed(src)
        if not iface.has_address6:
            iface.has_address6 = True
            log.warning("interface_address_back", interface=iface.name, address=str(src))
            for inst in iface.routers[6].values():
                inst.address_changed(True, 6)

    async def _rebind(
        self, iface: Interface, rebind: Callable[[Any], None], src: IPv4Address | IPv6Address
    ) -> bool:
        """Open the interface's sockets again from `src` with its receive loop paused; False (logged) when the
        kernel refused (e.g. the address went again meanwhile: the next address event retries)."""
        await self._pause_receiving(iface)
        try:
            rebind(src)
        except OSError as exc:
            log.warning("interface_rebind_failed", interface=iface.name, address=str(src), error=str(exc))
            return False
        finally:
            self._resume_receiving(iface)
        return True

    async def _pause_receiving(self, iface: Interface) -> None:
        """Stop the interface's receive task (before its sockets are closed or replaced)."""
        task, iface.recv_task = iface.recv_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self._tasks.remove(task)

    def _resume_receiving(self, iface: Interface) -> None:
        """Start the interface's receive task again (on its current sockets)."""
        task = asyncio.get_running_loop().create_task(iface.receive_loop(), name=f"recv-{iface.name}")
        iface.recv_task = task
        self._tasks.append(task)

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
        if self._netlink is not None:
            await self._recreate_vmac(self._netlink, iface)

    async def _recreate_vmac(self, netlink: Netlink, iface: Interface) -> None:
        """A virtual MAC interface of ours deleted by someone else is created again at once, as keepalived
        does ("Success creating VMAC interface"), while the interface below it exists; its link event then
        reopens the sockets (`_refresh_link`) and the usual election puts the VIPs back on it."""
        lower_name = self._vmacs.lower_of(iface.name)
        if lower_name is None or not iface.instances:
            return  # not one of our macvlans (or being closed by us)
        try:
            await netlink.link(iface.name)
            return  # it exists (already recreated, or back by other means)
        except InterfaceNotFound:
            pass
        cfg = iface.instances[0].config
        try:
            lower = await netlink.link(lower_name)
            await self._vmacs.open(iface.name, lower, cfg.virtual_router_id, cfg.family)
        except InterfaceNotFound:
            return  # the interface below went too: retried when a link comes back
        except (ValueError, OSError) as exc:
            log.warning("vmac_recreate_failed", interface=iface.name, lower=lower_name, error=str(exc))
            return
        log.warning("vmac_recreated", interface=iface.name, lower=lower_name)

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
            # Its addresses went with the old one (our instances may be in FAULT for that): read them again.
            await self._follow_source(netlink, iface)
            await self._follow_link_local(netlink, iface)
        self._link_state(iface, link.up)

    @staticmethod
    def _link_state(iface: Interface, up: bool) -> None:
        if up == iface.link.up:
            return
        link = iface.link
        iface.link = dataclasses.replace(link, up=up)
        log.warning("link_changed", interface=iface.name, up=up)
        for inst in iface.instances:
            if not inst.config.dont_track_primary:  # keepalived dont_track_primary: no FAULT for it
                inst.link_changed(up)

    async def _track_interfaces(self, inst: Instance) -> None:
        """keepalived track_interface: give the router each tracked interface's link state now (a missing
        interface counts as down); `_watch_netlink` reports the changes."""
        assert self._netlink is not None
        for track in inst.config.tracked_interfaces:  # and the VIPs' other devices (keepalived)
            try:
                up = (await self._netlink.link(track.name)).up
            except InterfaceNotFound:
                up = False
                log.warning("tracked_interface_missing", instance=inst.name, interface=track.name)
            inst.tracked_changed(tracked_interface(track.name), up)

    def _tracked_link(self, event: LinkChanged) -> None:
        for inst in self.instances:
            if any(t.name == event.name for t in inst.config.tracked_interfaces):
                inst.tracked_changed(tracked_interface(event.name), event.up and not event.removed)

    async def _shutdown(self) -> None:
        await self.reloader.cancel()
        # Instances first: their priority-0 adverts are what lets the backups take over after Skew_Time.
        await asyncio.gather(*(i.stop(STOP_TIMEOUT) for i in self.instances))
        await asyncio.gather(*(c.stop() for c in self._checkers.values()), return_exceptions=True)
        await asyncio.gather(
            *(s.stop() for s in self._scripts.values()), *self._stopping, return_exceptions=True
        )
        self._close_trackers()
        notifiers = [*self._notifiers.values(), *(link.notifier for link in self._groups.values())]
        await asyncio.gather(*(n.drain(NOTIFY_DRAIN_TIMEOUT) for n in notifiers), return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(n.close() for n in notifiers), return_exceptions=True)
        for iface in self.interfaces.values():
            iface.close()
        for inst in self.instances:
            if isinstance(transport := unwrap(inst.transport), XmitBaseTransport):
                transport.close()
        await self._vmacs.close_all()
        if self._vip_devs_ is not None:
            self._vip_devs_.close()
        log.info("stopped")

    async def _supervise(self, sd: SdNotifier | None, watchdog: float | None) -> None:
        """Whenever a task ended (`_watch_tasks`), and every half watchdog interval: log each long-running
        task that died, and ping systemd's watchdog (with the state summary) only while none has — so a
        daemon that lives on without doing its job is restarted (WatchdogSec=), not trusted.

        Without a watchdog it never wakes on its own: an idle backup's loop has nothing else to do, and a
        wake-up a second on cold caches was half of a 200-instance backup's CPU (issue 17)."""
        period = watchdog / 2 if watchdog else None
        reported: list[str] = []
        while True:
            self._ended.clear()
            dead = self.dead_tasks()
            new = [name for name in dead if name not in reported]
            for name in new:
                log.critical("task_died", task=name, error=self._task_error(name), watchdog_pings="stopped")
            reported += new
            if dead:
                if new and sd is not None:
                    await sd.status(f"unhealthy: {', '.join(dead)} ended; watchdog pings stopped")
            elif sd is not None and watchdog:
                await sd.watchdog()
                await sd.status(self.summary())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period):
                    await self._ended.wait()

    def _task_error(self, name: str) -> str | None:
        task = next((t for t in self._tasks if t.get_name() == name and t.done()), None)
        if task is None or task.cancelled():
            return None
        exc = task.exception()
        return repr(exc) if exc is not None else "returned"

    def summary(self) -> str:
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
            return status.encoded(self, asyncio.get_running_loop().time())
        if command == "reload":
            return {"changes": await self.reloader.reload()}
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

    async def _start_fifo_script(self) -> None:
        """keepalived's notify_fifo_script: started once the FIFO exists, its path the last argument."""
        g = self.config.global_
        if g.notify_fifo_script is None or g.notify_fifo is None or self.fifo is None:
            return
        script = FifoScript(
            g.notify_fifo_script, str(g.notify_fifo), _credentials(g.script_user, g.script_group)
        )
        await script.start()
        self._fifo_script = script

    async def _stop_fifo_script(self) -> None:
        script, self._fifo_script = self._fifo_script, None
        if script is not None:
            await script.stop()

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
        await self._stop_fifo_script()  # first, as keepalived's shutdown: its reader, then the FIFO
        self._close_fifo()

    async def reopen_listeners(self, old: GlobalConfig) -> list[str]:
        """After a reload: move the listeners whose [global] setting changed; one line per failure."""
        errors: list[str] = []
        g = self.config.global_
        if g.control_socket != old.control_socket:
            previous = self._control
            try:
                await self._start_control(g.control_socket)
            except StartupError as exc:
                errors.append(str(exc))
                self._control = previous
            else:
                if previous is not None:
                    await previous.close()
        if g.metrics_listen != old.metrics_listen:
            previous_http, self._http = self._http, None
            if previous_http is not None:
                await previous_http.close()  # first: the new address may be the same port on another host
            try:
                await self._start_http(g.metrics_listen)
            except StartupError as exc:
                errors.append(str(exc))
        reader = ("notify_fifo", "notify_fifo_script", "script_user", "script_group")
        restart = any(getattr(g, key) != getattr(old, key) for key in reader)
        if restart:
            await self._stop_fifo_script()
        if g.notify_fifo != old.notify_fifo:
            self._close_fifo()
            try:
                self._open_fifo(g.notify_fifo)
            except StartupError as exc:
                errors.append(str(exc))
        if restart:
            await self._start_fifo_script()
        for error in errors:
            log.error("reload_global_failed", error=error)
        return errors


# A start that can never work exits like a configuration error: systemd's RestartPreventExitStatus=2 then
# does not restart it in a loop.
EXIT_REFUSED = 2


# The kernel may run a sleeping thread's timers up to its timer slack late (50 µs by default) so that
# wake-ups coalesce. A backup's last sleep before its Master_Down_Timer is a plain sleep, and the takeover's
# advert waits for it: 1 ns asks for no slack (measured on a 2 ms sleep: median 88 → 36 µs late; issue 16).
# Epoll's own slack on long timeouts (0.1 % of them) is unaffected: that is what PREWAKE is for.
TIMER_SLACK_NS = 1


def set_timer_slack(ns: int = TIMER_SLACK_NS, path: str = "/proc/self/timerslack_ns") -> bool:
    """PR_SET_TIMERSLACK for the calling (main) thread, through procfs (no ctypes); threads started later
    inherit it. False where procfs refuses (hidepid, old kernel): the default slack then stays."""
    try:
        with open(path, "w", encoding="ascii") as f:
            f.write(str(ns))
    except OSError:
        return False
    return True


def run(config: Config, prestarted: Prestart | None = None) -> int:
    """Run the daemon until SIGTERM/SIGINT; return the exit code. `prestarted`: what `runtime.prestart`
    started before the daemon's imports (adopted, or shut down if the daemon does not start)."""
    refused = preflight.refusal()
    if refused is not None:
        if prestarted is not None:
            prestarted.close()
        print(f"vrrpd: {refused}", file=sys.stderr)
        return EXIT_REFUSED
    logs.configure(config.global_.log_format)
    set_timer_slack()
    try:
        return asyncio.run(Daemon(config, prestarted).run())
    except StartupError as exc:
        print(f"vrrpd: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # only before the signal handlers are installed
        return 130


def _warn_without_vips(cfg: InstanceConfig) -> None:
    if not cfg.vips:
        # keepalived warns too ("No VIP specified; at least one is sensible"): legitimate for cloud
        # failover, where the notify program moves the address, and a mistake otherwise.
        log.warning(
            "instance_without_vips",
            instance=cfg.name,
            notify=str(cfg.notify) if cfg.notify else None,
            detail="adverts carry no address; nothing is installed on becoming master",
        )


def _concerns(inst: Instance, ifindex: int, addr: IPv4Interface | IPv6Interface, *, removed: bool) -> bool:
    """Whether an address event on the interface `ifindex` is the instance's business: without VIP options,
    every event on its interface is; with them, only one of a VIP that lives on that interface — and a
    deletion only without ``no_track`` (keepalived leaves a deleted no_track VIP deleted)."""
    transport = unwrap(inst.transport)
    if not isinstance(transport, VipTransport):
        return True
    return transport.watches(ifindex, addr) and (not removed or transport.restores(addr))


def _user_of(script: VrrpScriptConfig, g: GlobalConfig) -> tuple[str | None, str | None]:
    """A script's own user (keepalived's ``user``), else the global script_user."""
    return (script.user, script.group) if script.user is not None else (g.script_user, g.script_group)


def _credentials(user: str | None, group: str | None) -> Credentials | None:
    """Who runs a program (keepalived's rules, `vrrpd.config.programs.ids_of`); None: ourselves."""
    try:
        uid, gid = ids_of(user, group)
    except LookupError as exc:  # check_programs refused it before start; the host changed since
        log.error("script_user_unknown", user=user, group=group, error=str(exc))
        return None
    if (uid, gid) == (os.geteuid(), os.getegid()):
        return None
    from vrrpd.runtime.programs import Credentials  # noqa: PLC0415 - see TYPE_CHECKING

    return Credentials(uid, gid)


async def _sd_notifier() -> SdNotifier | None:
    """systemd's notify socket (`SdNotifier.from_env`), its module and asyncio_dgram imported only when
    systemd gave us one (NOTIFY_SOCKET)."""
    if not os.environ.get("NOTIFY_SOCKET"):
        return None
    from vrrpd.runtime.sdnotify import SdNotifier  # noqa: PLC0415 - see TYPE_CHECKING

    return await SdNotifier.from_env()


def _watchdog_interval() -> float | None:
    from vrrpd.runtime.sdnotify import watchdog_interval  # noqa: PLC0415 - imported by _sd_notifier

    return watchdog_interval()


def _ah_module() -> Any:
    """`vrrpd.runtime.ah` if an AH instance loaded it: without it no transport is an `AhLink`."""
    return sys.modules.get("vrrpd.runtime.ah")


def unwrap(transport: object) -> object:
    """The transport an `AhLink` wraps (`vrrpd.runtime.ah.unwrap`), or `transport` itself."""
    ah = _ah_module()
    return transport if ah is None else ah.unwrap(transport)


def _program_credentials(g: GlobalConfig, programs: bool) -> Credentials | None:
    """Who runs a notifier's programs (script_user), looked up only when it has some: a notifier without
    programs runs nothing, and the lookup (getpwnam of keepalived_script) is one passwd read per instance
    and loads the host's NSS modules (libnss_systemd: 0.3 MiB resident) into a daemon that needs none."""
    return _credentials(g.script_user, g.script_group) if programs else None


def _runner_of(script: VrrpScriptConfig, g: GlobalConfig) -> tuple[object, ...]:
    """What a script runner is made from: a change restarts it (weights live in the routers)."""
    timing = (script.interval, script.run_timeout, script.rise, script.fall, script.init_fail)
    return (script.script, *timing, _user_of(script, g))
