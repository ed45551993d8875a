"""Reload: re-read the configuration file and apply it to the running daemon with the least disruption.

Owns the reload flow and its bookkeeping: SIGHUP coalescing (one reload waiting at most), one reload at a
time, systemd's RELOADING=1 / READY=1 around it, validating the new file (an invalid one changes nothing),
the order in which `config.diff.plan`'s decisions are carried out, and the outcome counters status and
metrics report (`ReloadStats`). What changes in a live router is the router's decision
(`Router.reconfigure`); opening and closing interfaces, instances, checks, notifiers and listeners is
the daemon's, reached through `ReloadHost`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Protocol

from vrrpd import logs
from vrrpd.config import (
    FROM_ENVIRONMENT,
    Config,
    ConfigError,
    GlobalConfig,
    InstanceConfig,
    check_interfaces,
    check_programs,
    load_config,
)
from vrrpd.config.diff import Change, InstancePlan, ReloadPlan, key_of, plan
from vrrpd.ops.control import CommandError
from vrrpd.ops.view import ReloadStats
from vrrpd.runtime.instance import Instance
from vrrpd.runtime.interface import StartupError

if TYPE_CHECKING:
    # Only a type here: the daemon imports sdnotify (and asyncio_dgram) when systemd gave it a NOTIFY_SOCKET.
    from vrrpd.runtime.sdnotify import SdNotifier

log = logs.get_logger("vrrpd.runtime.reconfigure")

# The keys whose change replaces an instance's notifier.
_NOTIFY_KEYS = ("notify", "notify_timeout", "notify_master", "notify_backup", "notify_fault", "notify_stop")
# Bound on carrying out a live instance's queued removals before anything takes an address.
DRAIN_TIMEOUT = 10.0


class ReloadHost(Protocol):
    """What applying a reload needs of the running daemon; `runtime.daemon.Daemon` implements it."""

    config: Config
    instances: list[Instance]

    @property
    def running(self) -> bool:
        """Started and not stopping: a reload is refused otherwise."""
        ...

    @property
    def sd(self) -> SdNotifier | None:
        """systemd's notify socket, when running under systemd."""
        ...

    def summary(self) -> str:
        """The instances' states in one line (systemd's STATUS=)."""
        ...

    async def add_instance(self, config: InstanceConfig) -> Instance:
        """Create an instance (not started); raises StartupError or OSError."""
        ...

    def start_instance(self, inst: Instance) -> None:
        """Start an added instance and its health check."""
        ...

    async def remove_instance(self, inst: Instance) -> None:
        """Stop an instance gracefully and forget it."""
        ...

    async def stop_checker(self, inst: Instance) -> None:
        """Stop and forget the instance's health checker, if it has one."""
        ...

    def start_checker(self, inst: Instance) -> None:
        """Start a checker for the instance's configured check, from the router's current verdict."""
        ...

    async def replace_notifier(self, inst: Instance) -> None:
        """A new notifier for the instance's notify settings; the old one finishes its queue first."""
        ...

    async def present_vips(self, config: InstanceConfig) -> InstanceConfig:
        """`config` without the VIPs whose other interface (``dev``) does not exist (keepalived's rule)."""
        ...

    def start_scripts(self) -> None:
        """Run the [[vrrp_script]]s `config` tracks (unchanged ones keep running) with its weights."""
        ...

    async def close_idle_interfaces(self) -> None:
        """Close the interfaces no instance uses any more."""
        ...

    async def reopen_listeners(self, old: GlobalConfig) -> list[str]:
        """Move the control socket, metrics listener and notify FIFO where `config` now says; errors."""
        ...


class Reloader:
    """Runs reloads for one daemon: from SIGHUP (`signal`) or the control socket (`reload`)."""

    def __init__(self, host: ReloadHost) -> None:
        self.stats = ReloadStats()
        self._host = host
        self._lock = asyncio.Lock()
        self._waiting = False
        self._tasks: set[asyncio.Task[None]] = set()

    def signal(self) -> None:
        """SIGHUP: reload in the background; a second signal while one waits is coalesced into it."""
        if self._waiting:
            log.info("reload_coalesced", detail="a reload is already waiting to run")
            return
        log.info("reload_requested", signal="SIGHUP")
        self._waiting = True
        task = asyncio.get_running_loop().create_task(self._reload_quietly(), name="reload")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def cancel(self) -> None:
        """Shutdown: cancel reloads in flight and wait for them to end."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _reload_quietly(self) -> None:
        with contextlib.suppress(CommandError):  # already logged; a signal has nobody to answer
            await self.reload()

    async def reload(self) -> dict[str, list[str]]:
        """Re-read the configuration file and apply it with the least disruption; returns what changed.

        An invalid file (or one naming a missing interface) changes nothing: logged, counted, and raised
        as CommandError for the control socket's client.
        """
        host = self._host
        async with self._lock:
            self._waiting = False
            if not host.running:
                log.warning("reload_refused", reason="the daemon is starting or stopping")
                raise CommandError("the daemon is starting or stopping; reload refused")
            sd = host.sd
            if sd is not None:
                usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
                await sd.send("RELOADING=1", f"MONOTONIC_USEC={usec}", "STATUS=reloading")
            try:
                return await self._reload_file()
            finally:
                if sd is not None:
                    await sd.ready(host.summary())

    async def _reload_file(self) -> dict[str, list[str]]:
        stats = self.stats
        source = self._host.config.source
        stats.last_at = time.time()
        if source == FROM_ENVIRONMENT:
            # A running process cannot see a changed pod environment: the pod must be restarted.
            stats.failed += 1
            stats.last_ok, stats.last_error = False, "reload needs a config file"
            log.warning("reload_unavailable", config=source, detail="--openshift: restart the pod to apply")
            raise CommandError("reload is not available with --openshift: restart the pod to apply changes")
        try:
            # Off the event loop: parsing is pure Python (~5 MB/s), and while it ran in the loop no advert
            # went out (a 25 MB file: 6 s without adverts, the backup took over). The file size is bounded
            # too (MAX_CONFIG_BYTES), so the thread is never busy for long.
            new = await asyncio.to_thread(_load_checked, source)
            for warning in check_programs(new):
                log.warning("insecure_program", detail=warning)
        except ConfigError as exc:
            stats.failed += 1
            stats.last_ok, stats.last_error = False, str(exc)
            log.error(
                "reload_failed", config=source, error=str(exc), detail="the running configuration is kept"
            )
            raise CommandError(f"{exc} (the running configuration is kept)") from None
        changes = plan(self._host.config, new)
        errors = await self._apply(changes, new)
        summary = changes.summary()
        if errors:
            summary["failed"] = errors
        stats.succeeded += 1
        stats.last_ok = not errors
        stats.last_error = "; ".join(errors) or None
        stats.last_changes = summary
        log.info("reloaded", config=source, **summary)
        return summary

    async def _apply(self, changes: ReloadPlan, new: Config) -> list[str]:
        """Carry out a reload plan; returns one line per part that could not be applied."""
        host = self._host
        errors: list[str] = []
        old_global = host.config.global_
        if new.global_.log_format != old_global.log_format:
            logs.configure(new.global_.log_format)
        by_key = {inst.key: inst for inst in host.instances}
        # 1. Everything that gives up addresses goes first (a VIP may move to another instance): removed
        #    and restarted instances stop (priority 0 when MASTER), live ones drop VIPs no longer listed.
        leaving = [by_key[p.key] for p in changes.instances if p.change in (Change.REMOVED, Change.RESTART)]
        await asyncio.gather(*(host.remove_instance(inst) for inst in leaving))
        live = [(p, by_key[p.key]) for p in changes.by_change(Change.LIVE)]
        for p, inst in live:
            await self._reconfigure(p, inst, new)
        await asyncio.gather(*(inst.drain(DRAIN_TIMEOUT) for _, inst in live))
        await host.close_idle_interfaces()  # reopened below if needed, e.g. with a new source address
        # 2. Then what takes addresses.
        host.config = new
        for _, inst in live:
            inst.install_vips()
        for p in changes.instances:
            if p.change not in (Change.ADDED, Change.RESTART):
                continue
            assert p.new is not None
            try:
                inst = await host.add_instance(p.new)
            except (StartupError, OSError) as exc:
                errors.append(f"{p.name}: {exc}")
                log.error("reload_instance_failed", instance=p.name, error=str(exc))
                continue
            host.start_instance(inst)
        host.start_scripts()
        order = {key_of(c): n for n, c in enumerate(new.vrrp_instance)}
        host.instances.sort(key=lambda i: order.get(i.key, len(order)))
        errors += await host.reopen_listeners(old_global)
        return errors

    async def _reconfigure(self, p: InstancePlan, inst: Instance, config: Config) -> None:
        assert p.old is not None and p.new is not None
        old, new = p.old, p.new
        if old.check != new.check:
            await self._host.stop_checker(inst)
        # keepalived re-reads its file on a reload: a VIP whose dev is (still) missing is dropped again.
        inst.reconfigure(await self._host.present_vips(new), config.scripts)
        if old.check != new.check and new.check is not None:
            # The router keeps a changed check's verdict and starts a new one up (a reload must not put a
            # serving master in FAULT for rise × interval); the new checker starts from that verdict and
            # then judges the service as usual (fall failures to go down).
            self._host.start_checker(inst)
        notify_keys = (
            "notify",
            "notify_timeout",
            "notify_master",
            "notify_backup",
            "notify_fault",
            "notify_stop",
        )
        if any(getattr(old, key) != getattr(new, key) for key in notify_keys):
            await self._host.replace_notifier(inst)
        log.info(
            "instance_reconfigured", instance=inst.name, vrid=new.virtual_router_id, changed=list(p.fields)
        )


def _load_checked(source: str) -> Config:
    """The new configuration, validated and its interfaces checked (runs in a worker thread)."""
    config = load_config(source)
    check_interfaces(config)
    check_programs(config)  # raises for what it refuses; its warnings are logged by the caller
    return config
