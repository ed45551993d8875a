"""Metrics read at scrape time, and the HTTP listener's routes (/metrics, /healthz, /readyz) over real TCP."""

from __future__ import annotations

import asyncio
import socket
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from ipaddress import IPv4Address

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import exposition
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
    StateSetMetricFamily,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector, CollectorRegistry

from tests.support.fakes import STATUS_CONFIG as CONFIG
from tests.support.fakes import FakeTransport, instance_config
from vrrpd.config import parse_config
from vrrpd.ops.metrics import (
    CONTENT_TYPE,
    DaemonCollector,
    HttpServer,
    Route,
    generate_latest,
    iter_latest,
    make_registry,
    routes,
)
from vrrpd.runtime.daemon import Daemon
from vrrpd.runtime.instance import Instance


def get(url: str, method: str = "GET") -> tuple[int, str, str]:
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.headers["Content-Type"], r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read().decode()


def test_metrics_and_probes_over_http() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        daemon = Daemon(parse_config(CONFIG, "test.toml", env={}))
        inst = Instance(instance_config(), IPv4Address("192.0.2.11"), FakeTransport(), lambda *a: None, loop)
        daemon.instances.append(inst)
        server = HttpServer("127.0.0.1", 0, routes(daemon, make_registry(daemon)))
        await server.start()
        base = f"http://127.0.0.1:{server.bound_port}"
        try:
            # Before start: alive, not ready.
            assert await asyncio.to_thread(get, base + "/healthz") == (
                200,
                "text/plain; charset=utf-8",
                "ok\n",
            )
            code, _, body = await asyncio.to_thread(get, base + "/readyz")
            assert code == 503 and "VI_1 INIT" in body
            daemon._running = True
            inst.start()
            await inst.drain(1.0)
            code, _, body = await asyncio.to_thread(get, base + "/readyz")
            assert (code, body) == (200, "ready: VI_1 MASTER\n")

            code, ctype, text = await asyncio.to_thread(get, base + "/metrics")
            assert code == 200 and ctype == CONTENT_TYPE
            samples = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
            }
            lbl = (("interface", "eth0"), ("vrid", "51"), ("vrrp_instance", "VI_1"))
            assert samples[("vrrpd_instance_state", (lbl[0], ("state", "MASTER"), *lbl[1:]))] == 1
            assert samples[("vrrpd_instance_priority", lbl)] == 255
            assert samples[("vrrpd_instance_adverts_sent_total", lbl)] >= 1
            assert samples[("vrrpd_instance_vips_held", lbl)] == 1
            assert samples[("vrrpd_ready", ())] == 1
            assert ("vrrpd_instance_check_up", lbl) not in samples  # no check configured
            assert any(name == "process_cpu_seconds_total" for name, _ in samples)

            assert (await asyncio.to_thread(get, base + "/metrics", "HEAD"))[:2] == (200, CONTENT_TYPE)
            assert (await asyncio.to_thread(get, base + "/metrics", "POST"))[0] == 405
            assert (await asyncio.to_thread(get, base + "/"))[0] == 404

            # A dead long-running task makes the liveness probe fail, naming it.
            async def crash() -> None:
                raise RuntimeError("boom")

            task = loop.create_task(crash(), name="recv-eth0")
            await asyncio.gather(task, return_exceptions=True)
            daemon._tasks.append(task)
            code, _, body = await asyncio.to_thread(get, base + "/healthz")
            assert code == 503 and "recv-eth0" in body
        finally:
            await inst.stop(1.0)
            await server.close()

    asyncio.run(main())


def test_slow_or_garbage_clients_do_not_hurt() -> None:
    async def main() -> None:
        daemon = Daemon(parse_config(CONFIG, "test.toml", env={}))
        server = HttpServer("127.0.0.1", 0, routes(daemon, make_registry(daemon)))
        await server.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
            writer.write(b"\x00\x01garbage\r\n\r\n")
            await writer.drain()
            assert (await reader.read()).startswith(b"HTTP/1.1 400")
            writer.close()
            # A client that sends nothing is dropped after the read timeout; meanwhile others are served.
            _idle = await asyncio.open_connection("127.0.0.1", server.bound_port)
            code, _, _ = await asyncio.to_thread(get, f"http://127.0.0.1:{server.bound_port}/healthz")
            assert code == 200
            _idle[1].close()
        finally:
            await server.close()

    asyncio.run(main())


def test_idle_connections_are_bounded_and_never_starve_a_scrape() -> None:
    # 1,100 idle connections used to hold 1,100 descriptors for READ_TIMEOUT each (EMFILE for the TCP
    # check, then FAULT). Now at most max_connections are open; the oldest idle one makes room.
    async def main() -> tuple[int, int, int]:
        daemon = Daemon(parse_config(CONFIG, "test.toml", env={}))
        server = HttpServer("127.0.0.1", 0, routes(daemon, make_registry(daemon)), max_connections=8)
        await server.start()
        idle: list[socket.socket] = []
        most = 0
        try:
            for _ in range(200):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", server.bound_port))
                idle.append(s)
                await asyncio.sleep(0)
                most = max(most, server.open_connections)
            await asyncio.sleep(0.2)
            most = max(most, server.open_connections)
            code, _, body = await asyncio.to_thread(get, f"http://127.0.0.1:{server.bound_port}/healthz")
            assert (code, body) == (200, "ok\n")
            return most, server.evicted, server.open_connections
        finally:
            for s in idle:
                s.close()
            await server.close()

    most, evicted, still_open = asyncio.run(main())
    assert most <= 8
    assert evicted >= 190  # the idle ones made room for each other, and for the scrape
    assert still_open <= 8


def test_listener_is_alive_until_closed() -> None:
    async def main() -> list[bool]:
        daemon = Daemon(parse_config(CONFIG, "test.toml", env={}))
        server = HttpServer("127.0.0.1", 0, routes(daemon, make_registry(daemon)))
        seen = [server.alive]
        await server.start()
        seen.append(server.alive)
        server._accepting[0].cancel()  # as an exception escaping the accept loop would end it
        await asyncio.sleep(0)
        seen.append(server.alive)
        await server.close()
        return seen

    assert asyncio.run(main()) == [False, True, False]


class _Fixed(Collector):
    """Families of every type the text format knows, with the characters it escapes."""

    def __init__(self, text: str) -> None:
        self.text = text

    def collect(self) -> Iterable[Metric]:
        counter = CounterMetricFamily(
            "vrrpd_test_events", f"Events {self.text}", labels=["why"], created=None
        )
        counter.add_metric([self.text], 3, created=1.7e9)
        counter.add_metric(["plain"], 0.5)
        yield counter
        gauge = GaugeMetricFamily("vrrpd_test_level", "A level\\ with a backslash\nand a newline")
        gauge.add_metric([], 1e-7, timestamp=1.5)
        yield gauge
        yield GaugeMetricFamily("vrrpd_test_big", "large numbers", value=123456789.0)
        yield InfoMetricFamily("vrrpd_test_build", "build", value={"version": self.text})
        yield Metric("vrrpd_test_other", "untyped", "unknown")
        yield StateSetMetricFamily("vrrpd_test_state", "a state set", value={"a": True, "b": False})


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=12))
def test_text_format_is_prometheus_clients_byte_for_byte(text: str) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(text))
    assert generate_latest(registry) == exposition.generate_latest(registry)


def test_daemon_metrics_are_prometheus_clients_byte_for_byte() -> None:
    async def main() -> tuple[bytes, bytes]:
        loop = asyncio.get_running_loop()
        daemon = Daemon(parse_config(CONFIG, "test.toml", env={}))
        inst = Instance(instance_config(), IPv4Address("192.0.2.11"), FakeTransport(), lambda *a: None, loop)
        daemon.instances.append(inst)
        inst.start()
        await inst.drain(1.0)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(DaemonCollector(daemon))
        try:
            return generate_latest(registry), exposition.generate_latest(registry)
        finally:
            await inst.stop(1.0)

    ours, theirs = asyncio.run(main())
    assert b"vrrpd_instance_adverts_sent_total{" in ours
    assert ours == theirs


def _raw_get(port: int, path: str) -> bytes:
    """The whole answer as sent, headers and framing included (read until the server closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    return data


def test_a_chunked_body_is_framed_and_a_failure_in_it_leaves_it_unterminated() -> None:
    def chunks(fail_after: int | None) -> Iterator[bytes]:
        for n in range(3):
            if n == fail_after:
                raise RuntimeError("collector broke")
            yield f"line {n}\n".encode()

    pages: dict[str, Route] = {
        "/ok": lambda: (200, CONTENT_TYPE, chunks(None)),
        "/late": lambda: (200, CONTENT_TYPE, chunks(2)),
        "/early": lambda: (200, CONTENT_TYPE, chunks(0)),
    }

    async def main() -> tuple[bytes, bytes, bytes, bool]:
        server = HttpServer("127.0.0.1", 0, pages)
        await server.start()
        try:
            port = server.bound_port
            ok = await asyncio.to_thread(_raw_get, port, "/ok")
            late = await asyncio.to_thread(_raw_get, port, "/late")
            early = await asyncio.to_thread(_raw_get, port, "/early")
            return ok, late, early, server.alive
        finally:
            await server.close()

    ok, late, early, alive = asyncio.run(main())
    head, body = ok.split(b"\r\n\r\n", 1)
    assert b"Transfer-Encoding: chunked" in head and b"Content-Length" not in head
    assert body == b"7\r\nline 0\n\r\n7\r\nline 1\n\r\n7\r\nline 2\n\r\n0\r\n\r\n"
    # Broken after the headers: no last chunk, so a client knows the body is incomplete.
    assert late.endswith(b"7\r\nline 1\n\r\n") and not late.endswith(b"0\r\n\r\n")
    # Broken before anything was sent: an error status, as for a route that raises.
    assert early.startswith(b"HTTP/1.1 503 ")
    assert alive


class _Big(Collector):
    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily("vrrpd_test_many", "Many series", labels=["n"])
        for n in range(1000):
            family.add_metric([str(n)], n)
        yield family


def test_a_large_family_goes_out_in_pieces_that_add_up_to_prometheus_clients_text() -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Big())
    pieces = list(iter_latest(registry))
    assert len(pieces) > 3  # 1,000 lines: never one ~50 kB string
    assert b"".join(pieces) == generate_latest(registry) == exposition.generate_latest(registry)


def test_an_address_literal_is_resolved_without_the_resolver_thread_a_name_with_it() -> None:
    from vrrpd.ops.metrics import _numeric_addresses

    for host in ("127.0.0.1", "::1", "0.0.0.0"):
        want = socket.getaddrinfo(host, 9650, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        assert _numeric_addresses(host, 9650) == want
    assert _numeric_addresses("localhost", 9650) is None  # a name: the loop's getaddrinfo, as before

    async def main() -> int:
        server = HttpServer("localhost", 0, {})
        await server.start()
        try:
            return len(server._sockets)
        finally:
            await server.close()

    assert asyncio.run(main()) >= 1
