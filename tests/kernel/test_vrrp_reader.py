"""The receive path without namespaces: `VrrpSocket`'s draining reader and `Interface.datagram`.

UDP sockets on 127.0.0.1 stand in for the raw sockets (the reader only calls `recv` and `sendto` on them);
the raw-socket behaviour itself is tests/kernel/test_io_adapters.py's. Every wait is bounded
(`tests.support.aio.run`).
"""

from __future__ import annotations

import asyncio
import collections
import socket
import time
import types
from collections.abc import Iterator
from ipaddress import IPv4Address
from typing import Any

import pytest

from tests.support.aio import run
from tests.support.hostile import vrrp_frame
from vrrpd import logs
from vrrpd.kernel import vrrp_socket
from vrrpd.kernel.vrrp_socket import DRAIN_LIMIT, VrrpSocket
from vrrpd.protocol.admission import SenderAdmission
from vrrpd.protocol.fsm import State
from vrrpd.protocol.packet import DecodeCache, Received
from vrrpd.runtime.interface import Interface

SRC = IPv4Address("127.0.0.1")


class Pair:
    """A VrrpSocket reading a UDP socket, and a peer socket that sends to it."""

    def __init__(self) -> None:
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind(("127.0.0.1", 0))
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        rx.setblocking(False)
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tx.setblocking(False)
        self.port = rx.getsockname()[1]
        self.sock = VrrpSocket(rx, tx, "lo", 1, SRC)
        self.peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rx = rx

    def send(self, *payloads: bytes) -> None:
        for p in payloads:
            self.peer.sendto(p, ("127.0.0.1", self.port))

    def close(self) -> None:
        self.sock.close()
        self.peer.close()


@pytest.fixture
def pair() -> Iterator[Pair]:
    p = Pair()
    try:
        yield p
    finally:
        p.close()


class Sink:
    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.errors: list[OSError] = []
        self.wakeups = 0
        self.times: list[float] = []

    def deliver(self, data: bytes, now: float) -> None:
        self.data.append(data)
        self.times.append(now)


def _registered(fd: int) -> bool:
    """Whether the running loop's selector watches `fd` (i.e. a reader is installed)."""
    selector = asyncio.get_running_loop()._selector  # type: ignore[attr-defined]
    return fd in selector.get_map()


def _pending(sock: VrrpSocket) -> asyncio.TimerHandle | None:
    return sock._resume


async def _until(pred: Any, limit: int = 200) -> None:
    for _ in range(limit):
        if pred():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


def test_reader_drains_every_queued_datagram_in_one_wakeup(pair: Pair) -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        sink = Sink()
        pair.send(*(bytes([i]) * 8 for i in range(10)))
        pair.sock.start_reading(loop, sink.deliver, sink.errors.append)
        await _until(lambda: sink.data)
        assert sink.data == [bytes([i]) * 8 for i in range(10)]  # all ten, in order, in one callback
        assert len(set(sink.times)) == 1 and sink.times[0] <= loop.time()  # one wake-up, one clock read
        pair.send(b"later")
        await _until(lambda: len(sink.data) == 11)
        assert sink.errors == []

    run(body())


def test_reader_is_bounded_per_wakeup_so_other_callbacks_run(pair: Pair) -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        seen: list[int] = []
        batches: list[int] = []

        def deliver(data: bytes, now: float) -> None:
            seen.append(len(seen))
            if len(seen) == DRAIN_LIMIT:
                # A callback queued now runs before the reader is called again.
                loop.call_soon(lambda: batches.append(len(seen)))

        pair.send(*([b"x"] * (DRAIN_LIMIT + 10)))
        pair.sock.start_reading(loop, deliver, lambda exc: None)
        await _until(lambda: len(seen) == DRAIN_LIMIT + 10)
        assert batches == [DRAIN_LIMIT]

    run(body())


def test_receive_error_is_reported_then_reading_pauses_and_resumes(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vrrp_socket, "ERROR_PAUSE", 0.05)

    async def body() -> None:
        loop = asyncio.get_running_loop()
        sink = Sink()
        # A connected UDP socket that sent to a closed port: the ICMP error is its next recv's OSError.
        dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        dead.bind(("127.0.0.1", 0))
        dead_port = dead.getsockname()[1]
        dead.close()
        pair.rx.connect(("127.0.0.1", dead_port))
        pair.rx.send(b"ping")
        pair.sock.start_reading(loop, sink.deliver, sink.errors.append)
        await _until(lambda: sink.errors)
        assert isinstance(sink.errors[0], ConnectionRefusedError)
        # Paused: the reader is not registered, a restart is pending.
        assert pair.sock._resume is not None
        assert not _registered(pair.rx.fileno())
        await _until(lambda: pair.sock._resume is None)  # reading again after ERROR_PAUSE
        assert _registered(pair.rx.fileno())
        assert len(sink.errors) == 1  # the error was reported once, not spun on

    run(body())


def test_stop_reading_removes_the_reader_and_cancels_a_pending_restart(pair: Pair) -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        sink = Sink()
        pair.sock.start_reading(loop, sink.deliver, sink.errors.append)
        with pytest.raises(RuntimeError, match="already being read"):
            pair.sock.start_reading(loop, sink.deliver, sink.errors.append)
        pair.sock.stop_reading()
        pair.sock.stop_reading()  # idempotent
        pair.send(b"unread")
        await asyncio.sleep(0.05)
        assert sink.data == []
        # Reading again works (e.g. the receive task restarted on the same socket) ...
        pair.sock.start_reading(loop, sink.deliver, sink.errors.append)
        await _until(lambda: sink.data == [b"unread"])
        # ... and a pause pending when reading stops is cancelled with it.
        pair.sock._pause()
        assert pair.sock._resume is not None
        pair.sock.stop_reading()
        assert _pending(pair.sock) is None
        pair.sock._restart()  # a stale restart does nothing once stopped
        assert not _registered(pair.rx.fileno())

    run(body())


def test_close_removes_the_reader_before_closing(pair: Pair) -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        fd = pair.rx.fileno()
        pair.sock.start_reading(loop, lambda d, t: None, lambda e: None)
        assert _registered(fd)
        pair.sock.close()
        assert not _registered(fd)

    run(body())


def test_a_callback_that_stops_the_reader_ends_the_drain(pair: Pair) -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        seen: list[bytes] = []

        def deliver(data: bytes, now: float) -> None:
            seen.append(data)
            pair.sock.stop_reading()

        pair.send(b"a", b"b", b"c")
        pair.sock.start_reading(loop, deliver, lambda exc: None)
        await _until(lambda: seen)
        await asyncio.sleep(0.02)
        assert seen == [b"a"]

    run(body())


# -- adaptive read coalescing (LINGER) ----------------------------------------------------------------


def _burst(pair: Pair, sink: Sink) -> Any:
    """Two wake-ups in a row within LINGER: the reader steps aside and a linger read is pending."""

    async def body() -> None:
        pair.send(b"1")
        await _until(lambda: len(sink.data) == 1)
        pair.send(b"2")
        await _until(lambda: len(sink.data) == 2)
        assert sink.times[1] - sink.times[0] < vrrp_socket.LINGER

    return body()


def test_a_lone_datagram_is_read_at_once_and_the_reader_stays(pair: Pair) -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        sink = Sink()
        pair.sock.start_reading(loop, sink.deliver, sink.errors.append)
        pair.send(b"alone")
        await _until(lambda: sink.data)
        assert _registered(pair.rx.fileno()) and _pending(pair.sock) is None
        await asyncio.sleep(vrrp_socket.LINGER * 2)
        pair.send(b"later, also alone")
        await _until(lambda: len(sink.data) == 2)
        assert _registered(pair.rx.fileno()) and _pending(pair.sock) is None

    run(body())


def test_a_burst_is_read_in_linger_wakeups_then_the_reader_returns(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vrrp_socket, "LINGER", 0.2)  # long enough to observe on a busy machine

    async def body() -> None:
        loop = asyncio.get_running_loop()
        sink = Sink()
        pair.sock.start_reading(loop, sink.deliver, sink.errors.append)
        await _burst(pair, sink)
        # The second wake-up came within LINGER of the first: the reader stepped aside.
        assert not _registered(pair.rx.fileno()) and _pending(pair.sock) is not None
        sent = loop.time()
        pair.send(*(bytes([i]) for i in range(5)))
        await asyncio.sleep(0.02)
        assert len(sink.data) == 2  # queued in the socket until the linger read
        await _until(lambda: len(sink.data) == 7)
        woke = sink.times[2]
        assert sink.times[2:] == [woke] * 5  # one wake-up read them all, stamped with its time ...
        assert sent < woke <= loop.time()  # ... which is never later than the callback's own time
        assert woke - sink.times[1] >= 0.2  # and was LINGER after the last read
        # Still lingering (that read found datagrams); the next one finds none: the reader is back.
        assert _pending(pair.sock) is not None
        await _until(lambda: _registered(pair.rx.fileno()))
        assert _pending(pair.sock) is None and len(sink.data) == 7

    run(body())


def test_a_linger_read_that_reaches_the_drain_limit_hands_back_to_the_reader(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vrrp_socket, "LINGER", 0.2)

    async def body() -> None:
        loop = asyncio.get_running_loop()
        sink = Sink()
        pair.sock.start_reading(loop, sink.deliver, sink.errors.append)
        await _burst(pair, sink)
        pair.send(*([b"x"] * (DRAIN_LIMIT + 3)))
        await _until(lambda: len(sink.data) >= 2 + DRAIN_LIMIT, limit=400)
        # A flood is read as without lingering: the reader takes the rest on the loop's next iteration.
        await _until(lambda: len(sink.data) == 2 + DRAIN_LIMIT + 3)
        assert sink.times[-1] - sink.times[2] < 0.2

    run(body())


def test_stop_and_close_cancel_a_pending_linger(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vrrp_socket, "LINGER", 0.2)

    async def body() -> None:
        loop = asyncio.get_running_loop()
        sink = Sink()
        pair.sock.start_reading(loop, sink.deliver, sink.errors.append)
        await _burst(pair, sink)
        linger = _pending(pair.sock)
        assert linger is not None
        pair.send(b"unread")
        pair.sock.stop_reading()
        assert linger.cancelled() and _pending(pair.sock) is None
        assert not _registered(pair.rx.fileno())
        await asyncio.sleep(0.3)
        assert sink.data == [b"1", b"2"]
        # Reading again starts afresh: the queued datagram is read at once by the reader.
        pair.sock.start_reading(loop, sink.deliver, sink.errors.append)
        await _until(lambda: sink.data[-1:] == [b"unread"])
        await asyncio.sleep(0.25)  # let that burst's linger run out
        pair.send(b"3")
        await _until(lambda: sink.data[-1:] == [b"3"])
        assert _pending(pair.sock) is None  # a lone datagram
        pair.send(b"4")  # and one right after it: a burst
        await _until(lambda: sink.data[-1:] == [b"4"])
        linger = _pending(pair.sock)
        assert linger is not None
        fd = pair.rx.fileno()
        pair.sock.close()  # an interface closed or re-created while lingering
        assert linger.cancelled() and not _registered(fd)

    run(body())


def test_a_receive_error_in_a_linger_read_pauses_then_the_reader_returns(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vrrp_socket, "LINGER", 0.2)
    monkeypatch.setattr(vrrp_socket, "ERROR_PAUSE", 0.05)

    async def body() -> None:
        loop = asyncio.get_running_loop()
        sink = Sink()
        pair.sock.start_reading(loop, sink.deliver, sink.errors.append)
        await _burst(pair, sink)
        assert _pending(pair.sock) is not None
        calls = 0

        def failing() -> bytes:
            nonlocal calls
            calls += 1
            raise OSError(100, "Network is down")

        # What the reader calls for each datagram (the first of a wake-up through the stamped read).
        working, stamped = pair.sock._recv_one, pair.sock._recv_stamped
        pair.sock._recv_one, pair.sock._recv_stamped = failing, None
        await _until(lambda: sink.errors)
        pair.sock._recv_one, pair.sock._recv_stamped = working, stamped
        assert calls == 1 and not _registered(pair.rx.fileno())
        await _until(lambda: _registered(pair.rx.fileno()))
        pair.send(b"after")
        await _until(lambda: sink.data[-1:] == [b"after"])
        assert len(sink.errors) == 1

    run(body())


# -- Interface: admission, decoding, dispatch, the reader's lifetime -------------------------------------


class FakeInstance:
    # A master's interface reads each datagram as it comes (`Interface._update_mode`).
    router = types.SimpleNamespace(state=State.MASTER)

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.times: list[float | None] = []

    def receive(self, received: Received, now: float | None = None) -> None:
        self.received.append(received)
        self.times.append(now)


def _interface(pair: Pair, vrids: tuple[int, ...] = (51,)) -> tuple[Interface, dict[int, FakeInstance]]:
    # Interface.__init__ opens raw sockets (root): build one around the UDP stand-in instead.
    iface = Interface.__new__(Interface)
    iface.name = "lo"
    iface.sock = pair.sock
    fakes = {v: FakeInstance() for v in vrids}
    iface.routers = {4: fakes, 6: {}}  # type: ignore[dict-item]
    iface.drops = collections.Counter()
    iface._drop_log = logs.RateLimitedLog(logs.get_logger("vrrpd.drops"), "packet_dropped")
    iface._admission = SenderAdmission()
    iface._decoder = DecodeCache()
    iface._routine = {}
    iface.bells = {}  # no doorbell (it needs a raw socket): the UDP stand-in is read per datagram
    iface._steady = {4: {}, 6: {}}
    iface._program_soon = iface._program_later = iface._mode_soon = None
    iface._eager_until = 0.0
    iface.swallowers, iface._armed = {}, {4: {}, 6: {}}  # no eBPF swallower (it needs a raw socket)
    iface._sweeps = {}
    iface.lazy = {4: None, 6: None}
    return iface, fakes


def _datagram(src: str = "192.0.2.12", vrid: int = 51, ident: int = 0) -> bytes:
    ip = bytearray(vrrp_frame(src, vrid=vrid)[14:])
    ip[4:6] = ident.to_bytes(2, "big")  # the kernel numbers each datagram; decoding ignores it
    return bytes(ip)


def test_interface_admits_decodes_and_dispatches_from_the_reader(pair: Pair) -> None:
    async def body() -> None:
        iface, fakes = _interface(pair)
        task = asyncio.get_running_loop().create_task(iface.receive_loop())
        pair.send(_datagram(ident=1), _datagram(ident=2), _datagram(vrid=52), b"\x45junk")
        await _until(lambda: len(fakes[51].received) == 2 and iface.drops["unknown_vrid"] == 1)
        first, second = fakes[51].received
        assert second is first  # a repeat (only the IP Identification differs) is not decoded again
        assert None not in fakes[51].times  # the reader's wake-up time is passed through
        await _until(lambda: iface.drops["truncated"] == 1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert not _registered(pair.rx.fileno())

    run(body())


def test_interface_rate_limits_before_decoding(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    iface, fakes = _interface(pair)
    decoded: list[bytes] = []
    real = iface._decoder.decode

    def decode(datagram: bytes, vrids: Any) -> Any:
        decoded.append(datagram)
        return real(datagram, vrids)

    monkeypatch.setattr(iface._decoder, "decode", decode)
    for i in range(200):
        iface.datagram(_datagram(ident=i))
    assert iface.drops["rate_limited"] > 100
    assert len(decoded) == len(fakes[51].received) == 200 - iface.drops["rate_limited"]


def test_interface_counts_a_receive_error(pair: Pair) -> None:
    iface, _ = _interface(pair)
    iface._recv_error(OSError(100, "Network is down"))
    assert iface.drops["recv_error"] == 1


class RoutineInstance(FakeInstance):
    """Takes every advert without actions (`receive` True); `repeat` as told."""

    def __init__(self, take_repeats: bool = True) -> None:
        super().__init__()
        self.take_repeats = take_repeats
        self.repeats: list[tuple[Received, float]] = []

    def receive(self, received: Received, now: float | None = None) -> bool:  # type: ignore[override]
        super().receive(received, now)
        return True

    def repeat(self, received: Received, now: float) -> bool:
        if self.take_repeats:
            self.repeats.append((received, now))
        return self.take_repeats


def test_a_routine_repeat_skips_admission_and_decoding(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    iface, _ = _interface(pair)
    inst = RoutineInstance()
    iface.routers = {4: {51: inst}, 6: {}}  # type: ignore[dict-item]
    decoded: list[bytes] = []
    real = iface._decoder.decode

    def decode(datagram: bytes, vrids: Any) -> Any:
        decoded.append(datagram)
        return real(datagram, vrids)

    monkeypatch.setattr(iface._decoder, "decode", decode)
    for ident in range(1, 4):
        iface.datagram(_datagram(ident=ident), float(ident))
    assert len(inst.received) == 1 and len(decoded) == 1
    assert inst.repeats == [(inst.received[0], 2.0), (inst.received[0], 3.0)]
    # Other bytes (another sender) take the full path; so does a repeat the instance refuses.
    iface.datagram(_datagram(src="192.0.2.13", ident=4), 4.0)
    assert len(inst.received) == 2
    inst.take_repeats = False
    iface.datagram(_datagram(ident=5), 5.0)
    assert len(inst.received) == 3 and inst.times[-1] == 5.0


# -- lazy reading with kernel timestamps ------------------------------------------------------------------


class Drains:
    def __init__(self) -> None:
        self.calls: list[tuple[float, bool]] = []

    def __call__(self, now: float, lost: bool) -> None:
        self.calls.append((now, lost))


def _stamping_on_arrival(pair: Pair) -> None:
    """Timestamps on, and wait until the kernel stamps datagrams when they arrive. The first socket that
    asks turns stamping on for the whole host through deferred work (net_enable_timestamp): until that
    ran, a datagram is stamped when it is read, which is what these tests tell apart (the daemon is only
    conservative then: a later arrival)."""
    vrrp_socket.enable_timestamps(pair.rx)
    for _ in range(100):  # bounded: ~2 s
        pair.send(b"probe")
        time.sleep(0.02)
        _, stamp = vrrp_socket.recv_stamped(pair.rx)
        if stamp is not None and time.time() - stamp >= 0.015:
            return
    raise AssertionError("the kernel does not stamp datagrams on arrival")


def test_lazy_reading_delivers_each_datagram_at_its_arrival_time(pair: Pair) -> None:
    """No wake-up per datagram; one drain per period, each datagram stamped by the kernel, not the drain."""

    async def body() -> None:
        loop = asyncio.get_running_loop()
        _stamping_on_arrival(pair)
        sink, drains = Sink(), Drains()
        assert pair.sock.set_lazy(0.3, 10, drains)
        pair.sock.start_reading(loop, sink.deliver, sink.errors.append)
        assert not _registered(pair.rx.fileno())
        sent = []
        for i in range(3):
            sent.append(loop.time())
            pair.send(bytes([i]))
            await asyncio.sleep(0.05)
        assert sink.data == []  # queued, not read yet
        await _until(lambda: len(sink.data) == 3)
        drained_at = drains.calls[0][0]
        assert drains.calls[0][1] is False
        assert sink.times == sorted(sink.times)
        for at, stamp in zip(sent, sink.times, strict=True):
            assert at <= stamp + 0.002 and stamp <= drained_at  # the arrival, not the drain
            assert stamp < at + 0.03
        assert drained_at - sink.times[0] > 0.1
        pair.sock.stop_reading()

    run(body())


def test_an_eager_read_stamps_its_first_datagram_with_the_arrival_time(pair: Pair) -> None:
    """Read as it comes, the first datagram of a wake-up carries its kernel arrival time (the wake-up may be
    late), clamped into [previous wake-up, wake-up]; the rest of the burst the wake-up's time."""

    async def body() -> None:
        loop = asyncio.get_running_loop()
        _stamping_on_arrival(pair)
        sink = Sink()
        pair.sock._last_wake = loop.time()
        sent = loop.time()
        pair.send(b"a", b"b")
        woke = loop.time() + 0.05  # the loop was busy: its wake-up came 50 ms after the datagrams
        assert pair.sock._loop is None
        pair.sock._loop, pair.sock._deliver = loop, sink.deliver
        try:
            assert pair.sock._read(woke) == 2
        finally:
            pair.sock._loop = None
        assert sink.data == [b"a", b"b"]
        assert sent - 0.002 <= sink.times[0] < sent + 0.02 and sink.times[1] == woke

    run(body())


def test_drain_reads_at_once_and_eager_mode_returns(pair: Pair) -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        vrrp_socket.enable_timestamps(pair.rx)
        sink = Sink()
        pair.sock.set_lazy(5.0, 10, Drains())
        pair.sock.start_reading(loop, sink.deliver, sink.errors.append)
        pair.send(b"a")
        await asyncio.sleep(0.02)
        assert sink.data == []
        pair.sock.drain()  # before acting on a deadline; a doorbell's hook
        assert sink.data == [b"a"]
        pair.send(b"b")
        await asyncio.sleep(0.02)
        assert not pair.sock.set_lazy(None)  # back to a wake-up per datagram: the queued one first
        assert sink.data == [b"a", b"b"] and _registered(pair.rx.fileno())
        pair.send(b"c")
        await _until(lambda: len(sink.data) == 3)
        pair.sock.stop_reading()

    run(body())


def test_a_drain_after_queue_drops_reports_them(pair: Pair) -> None:
    """The kernel's drop counter (SO_MEMINFO) moved since the last drain: `drained` hears lost=True once."""

    async def body() -> None:
        loop = asyncio.get_running_loop()
        vrrp_socket.enable_timestamps(pair.rx)
        sink, drains = Sink(), Drains()
        pair.sock.set_lazy(5.0, 1, drains)
        pair.rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)  # the minimum: a few datagrams
        pair.sock.start_reading(loop, sink.deliver, sink.errors.append)
        pair.send(*([b"x" * 64] * 200))
        await asyncio.sleep(0.02)
        assert vrrp_socket.receive_drops(pair.rx) > 0
        pair.sock.drain()
        assert 0 < len(sink.data) < 200
        assert drains.calls[-1][1] is True
        pair.sock.drain()
        assert drains.calls[-1][1] is False  # nothing new dropped
        pair.sock.stop_reading()

    run(body())


def test_a_stamp_is_clamped_into_the_drain_window(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    """A CLOCK_REALTIME step (here: the wall clock jumps an hour) cannot move a datagram's time outside
    [previous drain, now]."""

    async def body() -> None:
        loop = asyncio.get_running_loop()
        vrrp_socket.enable_timestamps(pair.rx)
        sink = Sink()
        pair.sock.set_lazy(5.0, 1, Drains())
        pair.sock.start_reading(loop, sink.deliver, sink.errors.append)
        pair.send(b"a")
        await asyncio.sleep(0.01)
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() - 3600)
        before = loop.time()
        pair.sock.drain()
        assert before <= sink.times[0] <= loop.time()  # stamp looked an hour late: clamped to now
        pair.send(b"b")
        await asyncio.sleep(0.01)
        monkeypatch.setattr(time, "time", lambda: real() + 3600)
        pair.sock.drain()
        assert sink.times[1] == pytest.approx(sink.times[0], abs=0.005)  # an hour early: the last drain
        pair.sock.stop_reading()

    run(body())


def test_a_long_drain_is_split_and_the_rest_follows_on_the_next_iteration(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A drain (a doorbell's, a timer's) delivers at most LAZY_LIMIT and says how many; the rest follows
    on the loop's next iteration rather than a period later."""
    monkeypatch.setattr(vrrp_socket, "LAZY_LIMIT", 4)

    async def body() -> None:
        loop = asyncio.get_running_loop()
        vrrp_socket.enable_timestamps(pair.rx)
        sink = Sink()
        pair.sock.set_lazy(5.0, 10, Drains())
        pair.sock.start_reading(loop, sink.deliver, sink.errors.append)
        pair.send(*(bytes([i]) for i in range(10)))
        await asyncio.sleep(0.02)
        assert pair.sock.drain() == 4 and len(sink.data) == 4
        await _until(lambda: len(sink.data) == 10)
        assert sink.data == [bytes([i]) for i in range(10)]  # in order, each once
        assert pair.sock.drain() == 0
        pair.sock.stop_reading()

    run(body())
