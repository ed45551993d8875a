"""Prometheus metrics and the Kubernetes probes, on one small HTTP listener (``[global] metrics_listen``).

Owns: `DaemonCollector`, which reads the daemon's live state and counters *at scrape time* (nothing is
updated on the packet path for metrics' sake), the registry it lives in (with the standard process and
platform collectors), and `HttpServer`, an asyncio HTTP/1.1 listener without a framework serving:

* ``GET /metrics`` — Prometheus text format 0.0.4 (`generate_latest`, prometheus_client's own encoding of
  it: its module `prometheus_client.exposition` also loads http.server, urllib.request and ssl, ≈8 MiB that
  a daemon serving metrics would otherwise carry — the package's other modules are light);
* ``GET /healthz`` — 200 while the event loop answers and the daemon's long-running tasks (receive
  loops, netlink watcher) are alive; 503 naming the dead task otherwise (liveness probe);
* ``GET /readyz`` — 200 once every instance has left INIT (BACKUP, MASTER or FAULT), 503 before that,
  while shutting down, and while an instance cannot serve its VIPs (FAULT because the interface has no
  address of its own) (readiness probe).

Metric names and labels are documented in docs/operations.md.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from vrrpd import __version__, logs
from vrrpd.ops.view import DaemonView, InstanceView
from vrrpd.protocol import fsm
from vrrpd.protocol.conflicts import ConflictKind
from vrrpd.protocol.packet import DropReason

log = logs.get_logger("vrrpd.ops.metrics")

# Our names are all legacy-valid, so the classic text format is exact and every Prometheus parses it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_REQUEST_HEAD = 8192
# An idle client is dropped after READ_TIMEOUT; a scraper sends its request at once.
READ_TIMEOUT = 5.0
WRITE_TIMEOUT = 10.0
# Scrapes and probes are a handful at a time; 32 descriptors is a bounded share of even a 1024 limit.
MAX_CONNECTIONS = 32
LISTEN_BACKLOG = 128
ACCEPT_BACKOFF = 0.1
# Not "instance": Prometheus sets that label on every scraped series (the target) and would rename ours.
_INSTANCE_LABELS = ["vrrp_instance", "interface", "vrid"]


class DaemonCollector(Collector):
    """Turns the daemon's state into metric families on every scrape."""

    def __init__(self, daemon: DaemonView) -> None:
        self._daemon = daemon

    def collect(self) -> Iterable[Metric]:
        d = self._daemon
        for iface in d.interfaces.values():
            iface.tally()  # adverts the kernel counted (the eBPF filter) into the instances' counters
        yield _gauge("vrrpd_build_info", "vrrpd version (always 1)", ["version"], [([__version__], 1)])
        yield _gauge("vrrpd_ready", "1 once every instance has left INIT (as /readyz)", [], [([], d.ready)])
        reload_ok = [(["success"], d.reloads.succeeded), (["failure"], d.reloads.failed)]
        yield _counter("vrrpd_config_reloads", "Configuration reloads by result", ["result"], reload_ok)
        last_ok: list[tuple[list[str], float]] = []
        if d.reloads.last_ok is not None:
            last_ok.append(([], int(d.reloads.last_ok)))
        yield _gauge("vrrpd_config_last_reload_successful", "1 if the last reload applied", [], last_ok)
        lost = [([reason], n) for reason, n in sorted(logs.write_failures().items())]
        yield _counter(
            "vrrpd_log_write_failures",
            "Log lines lost because the log stream refused them (EPIPE: reader gone, ENOSPC: disk full)",
            ["reason"],
            lost,
        )
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

        # One family at a time, each series made as it is written out (`_Family`); read at scrape time.
        fam = _instance_families(d.instances)
        yield fam("vrrpd_instance_state", "1 for the instance's current state", "gauge", ["state"], _states)
        yield fam("vrrpd_instance_priority", "Effective priority", "gauge", [], lambda i: [([], i.priority)])
        yield fam(
            "vrrpd_instance_base_priority",
            "Configured priority",
            "gauge",
            [],
            lambda i: [([], i.config.priority)],
        )
        yield fam("vrrpd_instance_is_master", "1 while MASTER", "gauge", [], _is_master)
        yield fam(
            "vrrpd_instance_fault",
            "1 for each fault source holding the instance in FAULT",
            "gauge",
            ["fault"],
            lambda i: (([f.value], int(f in i.faults)) for f in fsm.Fault),
        )
        yield fam(
            "vrrpd_instance_transitions",
            "State transitions",
            "counter",
            [],
            lambda i: [([], i.counters.transitions)],
        )
        yield fam(
            "vrrpd_instance_adverts_sent",
            "Advertisements sent",
            "counter",
            [],
            lambda i: [([], i.counters.adverts_sent)],
        )
        yield fam(
            "vrrpd_instance_adverts_received",
            "Advertisements received for this VRID",
            "counter",
            [],
            lambda i: [([], i.counters.adverts_received)],
        )
        # Every reason, zeros included: rate() and alerts need the series to exist before the first drop.
        yield fam(
            "vrrpd_instance_drops",
            "Received advertisements dropped, by RFC 3768 section 7.1 reason",
            "counter",
            ["reason"],
            lambda i: (([r.value], i.counters.drops.get(r.value, 0)) for r in DropReason),
        )
        yield fam(
            "vrrpd_instance_garps_sent",
            "Gratuitous ARPs sent",
            "counter",
            [],
            lambda i: [([], i.counters.garps_sent)],
        )
        yield fam(
            "vrrpd_instance_errors",
            "Send and netlink failures",
            "counter",
            ["kind"],
            lambda i: [(["send"], i.counters.send_errors), (["netlink"], i.counters.netlink_errors)],
        )
        yield fam(
            "vrrpd_instance_vips_restored",
            "VIPs deleted behind our back and put back",
            "counter",
            [],
            lambda i: [([], i.counters.vips_restored)],
        )
        yield fam(
            "vrrpd_instance_vips_unexpected_removed",
            "VIPs found on the interface while not MASTER (a duplicate of the master's) and removed",
            "counter",
            [],
            lambda i: [([], i.counters.vips_unexpected_removed)],
        )
        yield fam(
            "vrrpd_instance_vips_held",
            "VIPs installed by this instance",
            "gauge",
            [],
            lambda i: [([], len(i.vips_held))],
        )
        yield fam(
            "vrrpd_instance_vips_configured",
            "VIPs configured for this instance",
            "gauge",
            [],
            lambda i: [([], len(i.config.vips))],
        )
        yield fam(
            "vrrpd_instance_check_up",
            "1 if the health check is up (absent without a check)",
            "gauge",
            [],
            lambda i: [([], int(i.health is True))] if i.config.check is not None else [],
        )
        yield fam(
            "vrrpd_instance_conflicts_detected",
            "VRID conflicts detected (episodes), by kind",
            "counter",
            ["kind"],
            lambda i: (([k.value], i.conflicts.detected.get(k.value, 0)) for k in ConflictKind),
        )
        yield fam(
            "vrrpd_instance_conflicts_active",
            "Sources currently in conflict with this instance, by kind",
            "gauge",
            ["kind"],
            _conflicts_active,
        )
        yield fam(
            "vrrpd_instance_last_transition_timestamp_seconds",
            "Unix time of the last state transition",
            "gauge",
            [],
            lambda i: [([], i.last_transition.wall_time)] if i.last_transition is not None else [],
        )

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


_Rows = Callable[[InstanceView], Iterable[tuple[list[str], float]]]


class _Family(Metric):
    """A counter or gauge family whose samples are made while it is written out, one at a time.

    At 200 instances the instance families have ~10,000 series: as prometheus_client families filled up
    front they were ~5 MiB of samples alive at once, the scrape's whole contribution to the peak resident
    set. Here a family holds a function of the instances, and each read of `samples` iterates them anew.
    """

    def __init__(self, name: str, doc: str, typ: str, rows: Callable[[], Iterator[Sample]]) -> None:
        super().__init__(name, doc, typ)
        self._rows = rows

    @property  # type: ignore[override]  # a fresh iterator per read, not a list
    def samples(self) -> Iterator[Sample]:
        return self._rows()

    @samples.setter
    def samples(self, _value: object) -> None:
        """`Metric.__init__` sets an empty list: ignored."""


def _instance_families(
    instances: Sequence[InstanceView],
) -> Callable[[str, str, str, list[str], _Rows], _Family]:
    """A maker of per-instance families: `rows(instance)` gives each series' extra label values and value."""

    def family(name: str, doc: str, typ: str, extra: list[str], rows: _Rows) -> _Family:
        labels = [*_INSTANCE_LABELS, *extra]
        sample = name + ("_total" if typ == "counter" else "")  # as CounterMetricFamily names its samples

        def samples() -> Iterator[Sample]:
            for inst in instances:
                lab = [inst.name, inst.config.interface, str(inst.config.virtual_router_id)]
                for values, value in rows(inst):
                    yield Sample(sample, dict(zip(labels, [*lab, *values], strict=True)), value)

        return _Family(name, doc, typ, samples)

    return family


def _states(inst: InstanceView) -> Iterable[tuple[list[str], float]]:
    return (([s.value], int(inst.state is s)) for s in fsm.State)


def _is_master(inst: InstanceView) -> Iterable[tuple[list[str], float]]:
    return [([], int(inst.state is fsm.State.MASTER))]


def _conflicts_active(inst: InstanceView) -> Iterable[tuple[list[str], float]]:
    now_active = inst.conflicts.active()
    return (([k.value], sum(1 for x in now_active if x.kind is k)) for k in ConflictKind)


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


# prometheus_client's munging of OpenMetrics types into the text format's (exposition.generate_latest).
_TEXT_TYPES = {"info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram", "unknown": "untyped"}
_TEXT_SUFFIXES = {"counter": "_total", "info": "_info"}
_OPENMETRICS_ONLY = ("_created", "_gsum", "_gcount")  # samples moved into gauges of their own, at the end
_CHUNK_LINES = 256  # lines per piece of /metrics (~30 kB)


def _label_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _sample_line(sample: Sample) -> str:
    labels = ",".join(f'{k}="{_label_value(v)}"' for k, v in sorted(sample.labels.items()))
    name = f"{sample.name}{{{labels}}}" if labels else sample.name
    stamp = "" if sample.timestamp is None else f" {int(float(sample.timestamp) * 1000):d}"  # milliseconds
    value: str = floatToGoString(sample.value)  # type: ignore[no-untyped-call]  # Go's float format
    return f"{name} {value}{stamp}\n"


def generate_latest(registry: Collector) -> bytes:
    """The text format 0.0.4 of everything `registry` collects, byte for byte as prometheus_client's
    `exposition.generate_latest` writes it for legacy-valid names (ours all are; tests/ops/test_metrics.py
    compares the two)."""
    return b"".join(iter_latest(registry))


def iter_latest(registry: Collector) -> Iterator[bytes]:
    """`generate_latest` in pieces of at most `_CHUNK_LINES` lines, each family collected as it is asked
    for: /metrics is sent so, and at 200 instances (~1 MB of text) only one piece exists at a time."""
    for metric in registry.collect():
        name = metric.name + _TEXT_SUFFIXES.get(metric.type, "")
        doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
        output = [f"# HELP {name} {doc}\n# TYPE {name} {_TEXT_TYPES.get(metric.type, metric.type)}\n"]
        moved: dict[str, list[str]] = {}
        for s in metric.samples:
            line = _sample_line(s)
            suffix = next((x for x in _OPENMETRICS_ONLY if s.name == metric.name + x), None)
            if suffix is None:
                output.append(line)
                if len(output) >= _CHUNK_LINES:  # a family of every instance is ~0.5 MB of text
                    yield "".join(output).encode("utf-8")
                    output = []
            else:
                moved.setdefault(suffix, []).append(line)
        for suffix, lines in sorted(moved.items()):
            output.append(f"# HELP {metric.name}{suffix} {doc}\n# TYPE {metric.name}{suffix} gauge\n")
            output.extend(lines)
        yield "".join(output).encode("utf-8")


# A route's answer: status, content type and body — bytes, or chunks sent as they are made (no
# Content-Length then: the body ends with the connection, which every answer closes).
Body = bytes | Iterator[bytes]
Route = Callable[[], tuple[int, str, Body]]


def _numeric_addresses(host: str, port: int) -> Sequence[tuple[Any, ...]] | None:
    """`getaddrinfo` of an IP literal (the usual ``metrics_listen``), None for a name.

    A literal needs no lookup (AI_NUMERICHOST: nothing can block), so it is resolved here rather than by
    the loop's resolver thread (a thread, its malloc arena and concurrent.futures: ~0.2 MiB resident), and
    passed as bytes: `socket.getaddrinfo` runs a str host through the idna codec, which loads unicodedata
    (~0.45 MiB) even for "127.0.0.1". A name goes to the loop's `getaddrinfo` as before."""
    if not host.isascii():
        return None
    flags = socket.AI_PASSIVE | socket.AI_NUMERICHOST
    try:
        return socket.getaddrinfo(host.encode(), port, type=socket.SOCK_STREAM, flags=flags)
    except socket.gaierror:
        return None


class HttpServer:
    """A minimal asyncio HTTP/1.1 server: GET/HEAD on a fixed set of paths, one request per connection.

    Bounded, so that no client can make it eat the descriptors the daemon needs (a TCP health check
    needs one to connect; systemd's default limit is 1024): at most ``max_connections`` connections are
    open at once. When a new one arrives at the limit, the oldest connection still waiting for its
    request head is dropped to make room — an idle client cannot hold a slot against a scraper that
    sends its request at once; if every slot is busy answering, accepting waits (new clients queue in
    the kernel's backlog, costing us nothing). A request head must arrive within ``READ_TIMEOUT``, the
    answer must be taken within ``WRITE_TIMEOUT``. accept() failures (EMFILE...) pause accepting for
    ``ACCEPT_BACKOFF`` and are logged at most once per key and period.
    """

    def __init__(
        self, host: str, port: int, routes: dict[str, Route], *, max_connections: int = MAX_CONNECTIONS
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections!r}")
        self.host = host
        self.port = port
        self.max_connections = max_connections
        self.accept_errors = 0
        self.evicted = 0  # idle connections dropped to make room
        self._routes = routes
        self._sockets: list[socket.socket] = []
        self._accepting: list[asyncio.Task[None]] = []
        self._connections: set[asyncio.Task[None]] = set()
        self._waiting: dict[asyncio.Task[None], None] = {}  # still reading their head, oldest first
        self._slot_freed = asyncio.Event()
        self._accept_log = logs.RateLimitedLog(log, "http_accept_failed", level="error")

    @property
    def open_connections(self) -> int:
        """Connections open right now (at most ``max_connections``)."""
        return len(self._connections)

    async def start(self) -> None:
        """Listen; raises OSError (address in use, not local...)."""
        loop = asyncio.get_running_loop()
        infos: Sequence[tuple[Any, ...]] = _numeric_addresses(self.host, self.port) or await loop.getaddrinfo(
            self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        port = self.port
        try:
            for family, kind, proto, _name, addr in dict.fromkeys(
                (i[0], i[1], i[2], "", i[4]) for i in infos
            ):
                sock = socket.socket(family, kind, proto)
                self._sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((addr[0], port, *addr[2:]))
                port = sock.getsockname()[1]  # port 0: the same ephemeral port on every address
                sock.listen(LISTEN_BACKLOG)
                sock.setblocking(False)
        except BaseException:
            self._close_sockets()
            raise
        self._accepting = [
            loop.create_task(self._accept_loop(sock), name=f"http-accept:{self.host}:{port}")
            for sock in self._sockets
        ]

    @property
    def alive(self) -> bool:
        """False once an accept loop ended on its own (a bug; reported by /healthz)."""
        return bool(self._accepting) and not any(t.done() for t in self._accepting)

    @property
    def bound_port(self) -> int:
        """The port actually bound (useful with port 0 in tests)."""
        assert self._sockets
        return int(self._sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening and drop the connections in flight."""
        tasks = [*self._accepting, *self._connections]
        self._accepting = []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._close_sockets()

    def _close_sockets(self) -> None:
        for sock in self._sockets:
            sock.close()
        self._sockets = []

    async def _accept_loop(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:  # ends by cancellation in close()
            await self._make_room()
            try:
                conn, _peer = await loop.sock_accept(listener)
            except OSError as exc:
                self.accept_errors += 1
                name = errno.errorcode.get(exc.errno or 0, "error")
                self._accept_log.hit(name, loop.time(), error=exc.strerror or str(exc))
                await asyncio.sleep(ACCEPT_BACKOFF)  # descriptors free up as connections end
                continue
            task = loop.create_task(self._handle(conn))
            self._connections.add(task)
            self._waiting[task] = None
            task.add_done_callback(self._finished)

    async def _make_room(self) -> None:
        while len(self._connections) >= self.max_connections:
            oldest = next(iter(self._waiting), None)
            if oldest is not None:
                del self._waiting[oldest]
                self.evicted += 1
                oldest.cancel()
                await asyncio.wait([oldest])  # its socket is closed before we accept another
                continue
            self._slot_freed.clear()
            await self._slot_freed.wait()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._connections.discard(task)
        self._waiting.pop(task, None)
        self._slot_freed.set()

    async def _handle(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        with conn:
            conn.setblocking(False)
            try:
                async with asyncio.timeout(READ_TIMEOUT):
                    head = await _read_head(loop, conn)
                if task is not None:
                    self._waiting.pop(task, None)  # busy now: no longer the first to be dropped
                if head is None:
                    return  # too long, or closed before the head ended: nothing to answer
                headers, body = self._response(head)
                async with asyncio.timeout(WRITE_TIMEOUT):
                    await loop.sock_sendall(conn, headers)
                    if isinstance(body, bytes):
                        await loop.sock_sendall(conn, body)
                    elif not await _send_chunked(loop, conn, body):
                        return  # cut short without the last chunk: the client sees the body is incomplete
                conn.shutdown(socket.SHUT_WR)
            except (TimeoutError, OSError):
                pass  # a slow, truncated or vanished client gets nothing more

    def _response(self, head: bytes) -> tuple[bytes, Body]:
        """The status line and headers, and the body (empty for HEAD): bytes with a Content-Length, or
        chunks sent as they are made with chunked transfer coding (RFC 9112 §7.1), whose last chunk tells
        the client the body is complete — /metrics, ~1 MB at 200 instances, never exists whole."""
        status, ctype, body, head_only = self._respond(head)
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}.get(
            status, "Service Unavailable"
        )
        length = f"Content-Length: {len(body)}" if isinstance(body, bytes) else "Transfer-Encoding: chunked"
        headers = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n{length}\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
        )
        return headers.encode("ascii"), b"" if head_only else body

    def _respond(self, head: bytes) -> tuple[int, str, Body, bool]:
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
            if not isinstance(body, bytes):  # its first chunk now: a failure at once is still a 503
                body = itertools.chain([next(body, b"")], body)
        except Exception as exc:  # a scrape must never take the daemon down
            log.exception("http_route_failed", path=path)
            return 503, text, f"error: {exc!r}\n".encode(), method == "HEAD"
        return status, ctype, body, method == "HEAD"


async def _send_chunked(
    loop: asyncio.AbstractEventLoop, conn: socket.socket, chunks: Iterator[bytes]
) -> bool:
    """Send `chunks` in chunked transfer coding, then the last chunk; False (logged) if making one failed."""
    try:
        for chunk in chunks:
            if chunk:  # an empty chunk would end the body
                await loop.sock_sendall(conn, b"%x\r\n" % len(chunk))
                await loop.sock_sendall(conn, chunk)
                await loop.sock_sendall(conn, b"\r\n")
    except Exception:  # a scrape must never take the daemon down
        log.exception("http_body_failed")
        return False
    await loop.sock_sendall(conn, b"0\r\n\r\n")
    return True


async def _read_head(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> bytes | None:
    """The request head up to its blank line; None if it exceeds MAX_REQUEST_HEAD or the peer closes."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > MAX_REQUEST_HEAD:
            return None
        chunk = await loop.sock_recv(conn, 4096)
        if not chunk:
            return None
        data += chunk
    return data


def _state_text(inst: InstanceView) -> str:
    """'VI_1 MASTER', or 'VI_1 FAULT (no_address)' naming the faults."""
    faults = ", ".join(sorted(f.value for f in inst.faults))
    return f"{inst.name} {inst.state.value}" + (f" ({faults})" if faults else "")


def routes(daemon: DaemonView, registry: CollectorRegistry) -> dict[str, Route]:
    """/metrics, /healthz and /readyz for `daemon`."""
    text = "text/plain; charset=utf-8"

    def metrics() -> tuple[int, str, Body]:
        return 200, CONTENT_TYPE, iter_latest(registry)

    def healthz() -> tuple[int, str, bytes]:
        # Answering at all proves the event loop runs; a dead receive loop or netlink watcher would
        # leave a live process that no longer does its job, which a liveness probe should restart.
        dead = daemon.dead_tasks()
        if dead:
            return 503, text, ("unhealthy: " + ", ".join(dead) + " ended\n").encode()
        return 200, text, b"ok\n"

    def readyz() -> tuple[int, str, bytes]:
        states = ", ".join(_state_text(i) for i in daemon.instances) or "no instances"
        if daemon.ready:
            return 200, text, f"ready: {states}\n".encode()
        return 503, text, f"not ready: {states}\n".encode()

    return {"/metrics": metrics, "/healthz": healthz, "/readyz": readyz}
