"""Prometheus metrics and the Kubernetes probes, on one small HTTP listener (``[global] metrics_listen``).

Owns: `DaemonCollector`, which reads the daemon's live state and counters *at scrape time* (nothing is
updated on the packet path for metrics' sake), the registry it lives in (with the standard process and
platform collectors), and `HttpServer`, an asyncio HTTP/1.1 listener without a framework serving:

* ``GET /metrics`` — Prometheus text format 0.0.4 (`prometheus_client.generate_latest`);
* ``GET /healthz`` — 200 while the event loop answers and the daemon's long-running tasks (receive
  loops, netlink watcher) are alive; 503 naming the dead task otherwise (liveness probe);
* ``GET /readyz`` — 200 once every instance has left INIT (BACKUP, MASTER or FAULT), 503 before that
  and while shutting down (readiness probe).

Metric names and labels are documented in docs/operations.md.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Sequence

from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry

from vrrpd import __version__, logs
from vrrpd.ops.view import DaemonView
from vrrpd.protocol import fsm
from vrrpd.protocol.conflicts import ConflictKind
from vrrpd.protocol.packet import DropReason

log = logs.get_logger("vrrpd.ops.metrics")

# Our names are all legacy-valid, so the classic text format is exact and every Prometheus parses it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_REQUEST_HEAD = 8192
READ_TIMEOUT = 5.0
# Not "instance": Prometheus sets that label on every scraped series (the target) and would rename ours.
_INSTANCE_LABELS = ["vrrp_instance", "interface", "vrid"]


class DaemonCollector(Collector):
    """Turns the daemon's state into metric families on every scrape."""

    def __init__(self, daemon: DaemonView) -> None:
        self._daemon = daemon

    def collect(self) -> Iterable[Metric]:
        d = self._daemon
        yield _gauge("vrrpd_build_info", "vrrpd version (always 1)", ["version"], [([__version__], 1)])
        yield _gauge("vrrpd_ready", "1 once every instance has left INIT (as /readyz)", [], [([], d.ready)])
        reload_ok = [(["success"], d.reloads.succeeded), (["failure"], d.reloads.failed)]
        yield _counter("vrrpd_config_reloads", "Configuration reloads by result", ["result"], reload_ok)
        last_ok: list[tuple[list[str], float]] = []
        if d.reloads.last_ok is not None:
            last_ok.append(([], int(d.reloads.last_ok)))
        yield _gauge("vrrpd_config_last_reload_successful", "1 if the last reload applied", [], last_ok)
        if d.fifo is not None:
            yield _counter(
                "vrrpd_notify_fifo_lines", "Lines written to the notify FIFO", [], [([], d.fifo.written)]
            )
            yield _counter(
                "vrrpd_notify_fifo_dropped",
                "Notify FIFO lines dropped (no reader, full)",
                [],
                [([], d.fifo.dropped)],
            )

        state = GaugeMetricFamily(
            "vrrpd_instance_state", "1 for the instance's current state", labels=[*_INSTANCE_LABELS, "state"]
        )
        prio = GaugeMetricFamily("vrrpd_instance_priority", "Effective priority", labels=_INSTANCE_LABELS)
        base = GaugeMetricFamily(
            "vrrpd_instance_base_priority", "Configured priority", labels=_INSTANCE_LABELS
        )
        master = GaugeMetricFamily("vrrpd_instance_is_master", "1 while MASTER", labels=_INSTANCE_LABELS)
        transitions = CounterMetricFamily(
            "vrrpd_instance_transitions", "State transitions", labels=_INSTANCE_LABELS
        )
        sent = CounterMetricFamily(
            "vrrpd_instance_adverts_sent", "Advertisements sent", labels=_INSTANCE_LABELS
        )
        received = CounterMetricFamily(
            "vrrpd_instance_adverts_received",
            "Advertisements received for this VRID",
            labels=_INSTANCE_LABELS,
        )
        drops = CounterMetricFamily(
            "vrrpd_instance_drops",
            "Received advertisements dropped, by RFC 3768 section 7.1 reason",
            labels=[*_INSTANCE_LABELS, "reason"],
        )
        garps = CounterMetricFamily(
            "vrrpd_instance_garps_sent", "Gratuitous ARPs sent", labels=_INSTANCE_LABELS
        )
        errors = CounterMetricFamily(
            "vrrpd_instance_errors", "Send and netlink failures", labels=[*_INSTANCE_LABELS, "kind"]
        )
        restored = CounterMetricFamily(
            "vrrpd_instance_vips_restored",
            "VIPs deleted behind our back and put back",
            labels=_INSTANCE_LABELS,
        )
        held = GaugeMetricFamily(
            "vrrpd_instance_vips_held", "VIPs installed by this instance", labels=_INSTANCE_LABELS
        )
        configured = GaugeMetricFamily(
            "vrrpd_instance_vips_configured", "VIPs configured for this instance", labels=_INSTANCE_LABELS
        )
        check_up = GaugeMetricFamily(
            "vrrpd_instance_check_up",
            "1 if the health check is up (absent without a check)",
            labels=_INSTANCE_LABELS,
        )
        detected = CounterMetricFamily(
            "vrrpd_instance_conflicts_detected",
            "VRID conflicts detected (episodes), by kind",
            labels=[*_INSTANCE_LABELS, "kind"],
        )
        active = GaugeMetricFamily(
            "vrrpd_instance_conflicts_active",
            "Sources currently in conflict with this instance, by kind",
            labels=[*_INSTANCE_LABELS, "kind"],
        )
        last_change = GaugeMetricFamily(
            "vrrpd_instance_last_transition_timestamp_seconds",
            "Unix time of the last state transition",
            labels=_INSTANCE_LABELS,
        )
        for inst in d.instances:
            cfg, c = inst.config, inst.counters
            lab = [inst.name, cfg.interface, str(cfg.virtual_router_id)]
            for s in fsm.State:
                state.add_metric([*lab, s.value], int(inst.state is s))
            prio.add_metric(lab, inst.priority)
            base.add_metric(lab, cfg.priority)
            master.add_metric(lab, int(inst.state is fsm.State.MASTER))
            transitions.add_metric(lab, c.transitions)
            sent.add_metric(lab, c.adverts_sent)
            received.add_metric(lab, c.adverts_received)
            # Every reason, zeros included: rate() and alerts need the series to exist before the first drop.
            for drop in DropReason:
                drops.add_metric([*lab, drop.value], c.drops.get(drop.value, 0))
            garps.add_metric(lab, c.garps_sent)
            errors.add_metric([*lab, "send"], c.send_errors)
            errors.add_metric([*lab, "netlink"], c.netlink_errors)
            restored.add_metric(lab, c.vips_restored)
            held.add_metric(lab, len(inst.vips_held))
            configured.add_metric(lab, len(cfg.vips))
            if cfg.check is not None:
                check_up.add_metric(lab, int(inst.check_up is True))
            now_active = inst.conflicts.active()
            for kind in ConflictKind:
                detected.add_metric([*lab, kind.value], inst.conflicts.detected.get(kind.value, 0))
                active.add_metric([*lab, kind.value], sum(1 for x in now_active if x.kind is kind))
            if inst.last_transition is not None:
                last_change.add_metric(lab, inst.last_transition.wall_time)
        yield from (state, prio, base, master, transitions, sent, received, drops, garps, errors, restored)
        yield from (held, configured, check_up, detected, active, last_change)

        iface_up = GaugeMetricFamily(
            "vrrpd_interface_up", "1 if the interface is usable", labels=["interface"]
        )
        iface_drops = CounterMetricFamily(
            "vrrpd_interface_drops",
            "Packets dropped before reaching an instance (malformed, unknown VRID), by reason",
            labels=["interface", "reason"],
        )
        for iface in d.interfaces.values():
            iface_up.add_metric([iface.name], int(iface.up))
            for reason, n in sorted(iface.drops.items()):
                iface_drops.add_metric([iface.name, reason], n)
        yield iface_up
        yield iface_drops


def _gauge(name: str, doc: str, labels: list[str], values: Sequence[tuple[list[str], float]]) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for label_values, value in values:
        family.add_metric(label_values, value)
    return family


def _counter(name: str, doc: str, labels: list[str], values: Sequence[tuple[list[str], float]]) -> Metric:
    family = CounterMetricFamily(name, doc, labels=labels)
    for label_values, value in values:
        family.add_metric(label_values, value)
    return family


def make_registry(daemon: DaemonView) -> CollectorRegistry:
    """A registry of its own (not the global default) with our collector and the process metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DaemonCollector(daemon))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


Route = Callable[[], tuple[int, str, bytes]]


class HttpServer:
    """A minimal asyncio HTTP/1.1 server: GET/HEAD on a fixed set of paths, one request per connection."""

    def __init__(self, host: str, port: int, routes: dict[str, Route]) -> None:
        self.host = host
        self.port = port
        self._routes = routes
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen; raises OSError (address in use, not local...)."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=MAX_REQUEST_HEAD)

    @property
    def bound_port(self) -> int:
        """The port actually bound (useful with port 0 in tests)."""
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening (connections in flight finish on their own, bounded by READ_TIMEOUT)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            status, ctype, body, head_only = self._respond(head)
            reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}.get(
                status, "Service Unavailable"
            )
            headers = (
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
            )
            writer.write(headers.encode("ascii") + (b"" if head_only else body))
            await writer.drain()
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
            OSError,
        ):
            pass  # a slow, truncated or vanished client gets nothing more
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _respond(self, head: bytes) -> tuple[int, str, bytes, bool]:
        text = "text/plain; charset=utf-8"
        try:
            method, target, _version = head.split(b"\r\n", 1)[0].decode("ascii").split(" ")
        except (UnicodeDecodeError, ValueError):
            return 400, text, b"bad request\n", False
        path = target.split("?", 1)[0]
        route = self._routes.get(path)
        if route is None:
            return 404, text, f"not found; try {', '.join(sorted(self._routes))}\n".encode(), method == "HEAD"
        if method not in ("GET", "HEAD"):
            return 405, text, b"only GET and HEAD\n", False
        try:
            status, ctype, body = route()
        except Exception as exc:  # a scrape must never take the daemon down
            log.exception("http_route_failed", path=path)
            return 503, text, f"error: {exc!r}\n".encode(), method == "HEAD"
        return status, ctype, body, method == "HEAD"


def routes(daemon: DaemonView, registry: CollectorRegistry) -> dict[str, Route]:
    """/metrics, /healthz and /readyz for `daemon`."""
    text = "text/plain; charset=utf-8"

    def metrics() -> tuple[int, str, bytes]:
        return 200, CONTENT_TYPE, generate_latest(registry)

    def healthz() -> tuple[int, str, bytes]:
        # Answering at all proves the event loop runs; a dead receive loop or netlink watcher would
        # leave a live process that no longer does its job, which a liveness probe should restart.
        dead = daemon.dead_tasks()
        if dead:
            return 503, text, ("unhealthy: " + ", ".join(dead) + " ended\n").encode()
        return 200, text, b"ok\n"

    def readyz() -> tuple[int, str, bytes]:
        states = ", ".join(f"{i.name} {i.state.value}" for i in daemon.instances) or "no instances"
        if daemon.ready:
            return 200, text, f"ready: {states}\n".encode()
        return 503, text, f"not ready: {states}\n".encode()

    return {"/metrics": metrics, "/healthz": healthz, "/readyz": readyz}
