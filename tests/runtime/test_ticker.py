"""`vrrpd.runtime.instance.Ticker`: masters' timers sharing wake-ups, with explicit times.

A fake loop records `call_at` and the tests fire the wake-ups themselves; the last tests run two real
`Instance`s whose deadlines are 1 ms apart: their periods held exact (RFC 3768 §6.4.3), and the steady
period's path (its Python calls counted, its full-buffer fallback).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address
from typing import Any, cast

import pytest

from tests.support.aio import run
from tests.support.fakes import FakeTransport, instance_config
from vrrpd.protocol import fsm
from vrrpd.runtime.instance import COALESCE, COALESCE_SHARE, Instance, Ticker, _Slot


class Loop:
    """The part of an event loop a `Ticker` uses: `call_at`, recorded."""

    def __init__(self) -> None:
        self.armed: list[tuple[float, Callable[..., None], tuple[Any, ...]]] = []

    def call_at(self, when: float, callback: Callable[..., None], *args: Any) -> None:
        self.armed.append((when, callback, args))

    def fire(self, index: int = 0) -> None:
        _, callback, args = self.armed.pop(index)
        callback(*args)


class Member:
    """Records the wake-ups it got; re-arms from its own deadline, drift-free, as the router does."""

    def __init__(self, ticker: Ticker, deadline: float, period: float = 1.0) -> None:
        self.ticker, self.deadline, self.period = ticker, deadline, period
        self.ticks: list[float] = []
        self.slot: _Slot | None = None

    def arm(self, early: float = COALESCE) -> None:
        self.slot = self.ticker.arm(self, self.deadline, early)

    def _tick(self, early: float) -> None:
        self.ticks.append(early)
        self.deadline += self.period
        self.arm()


def _ticker() -> tuple[Loop, Ticker]:
    loop = Loop()
    return loop, Ticker(cast(asyncio.AbstractEventLoop, loop))


def test_a_lone_master_wakes_at_its_deadline() -> None:
    loop, ticker = _ticker()
    a = Member(ticker, 10.0)
    a.arm()
    assert [when for when, _, _ in loop.armed] == [10.0]
    assert a.slot is not None and a.slot.when() == 10.0


def test_a_deadline_within_the_tolerance_after_a_wake_up_joins_it() -> None:
    loop, ticker = _ticker()
    t = 4.0  # where (t + COALESCE) - t == COALESCE in floating point (not so at 10.0)
    a, b, c = Member(ticker, t), Member(ticker, t + COALESCE), Member(ticker, t + COALESCE + 1e-4)
    for m in (a, b, c):
        m.arm()
    assert a.slot is b.slot  # COALESCE after: sent with a, COALESCE early
    assert c.slot is not a.slot  # beyond COALESCE: a wake-up of its own
    assert [when for when, _, _ in loop.armed] == [t, t + COALESCE + 1e-4]


def test_masters_started_over_200_ms_share_one_wake_up_at_a_one_second_interval() -> None:
    """A daemon starts its instances over a few hundred ms (1,000 of them: their elections end that far
    apart), so their advert deadlines spread as far: one wake-up a second for all of them."""
    loop, ticker = _ticker()
    early = min(COALESCE, COALESCE_SHARE * 1.0)  # as `Instance` computes it for advert_int 1 s
    members = [Member(ticker, 4.0 + k * 0.002) for k in range(100)]  # 100 deadlines over 198 ms
    for m in members:
        m.arm(early)
    assert len(loop.armed) == 1
    assert all(m.slot is members[0].slot for m in members)


def test_a_deadline_before_an_armed_wake_up_never_waits_for_it() -> None:
    loop, ticker = _ticker()
    late, early = Member(ticker, 10.001), Member(ticker, 10.0)
    late.arm()
    early.arm()
    assert early.slot is not late.slot  # joining would send it late
    assert sorted(when for when, _, _ in loop.armed) == [10.0, 10.001]


def test_the_tolerance_is_the_joining_members_own() -> None:
    _, ticker = _ticker()
    a, b = Member(ticker, 10.0), Member(ticker, 10.0005)
    a.arm()
    b.arm(early=0.0001)  # a short interval's share (COALESCE_SHARE) is smaller than the gap
    assert b.slot is not a.slot


def test_a_wake_up_runs_its_members_in_order_and_they_stay_together() -> None:
    loop, ticker = _ticker()
    a, b = Member(ticker, 10.0), Member(ticker, 10.001)
    a.arm()
    b.arm()
    for period in range(3):
        assert len(loop.armed) == 1 and loop.armed[0][0] == 10.0 + period
        loop.fire()
        assert a.slot is b.slot  # re-armed for the next period: one wake-up again, never the one firing
    assert a.ticks == b.ticks == [COALESCE] * 3
    assert b.deadline == 13.001  # each period from its own deadline: no drift toward the wake-up


def test_a_member_that_left_is_not_run() -> None:
    loop, ticker = _ticker()
    a, b = Member(ticker, 10.0), Member(ticker, 10.001)
    a.arm()
    b.arm()
    assert b.slot is not None
    ticker.leave(b, b.slot)
    loop.fire()
    assert len(a.ticks) == 1 and b.ticks == []


def test_a_failing_member_does_not_stop_the_others() -> None:
    loop, ticker = _ticker()
    a, b = Member(ticker, 10.0), Member(ticker, 10.001)

    def fail(early: float) -> None:
        raise RuntimeError("boom")

    a._tick = fail  # type: ignore[method-assign]
    a.arm()
    b.arm()
    loop.fire()
    assert len(b.ticks) == 1


def test_two_masters_a_millisecond_apart_send_in_one_wake_up_with_exact_periods() -> None:
    """Two owners started 1 ms apart on one loop: the second joins the first's wake-up, each router is told
    its own deadline (so its advert is due), and every later period starts from that deadline."""

    async def body() -> None:
        loop = asyncio.get_running_loop()
        transports = [FakeTransport(), FakeTransport()]
        insts, starts = [], []
        with _virtual_clock(loop) as clock:
            for n, t in enumerate(transports):
                starts.append(clock[0])
                cfg = instance_config(name=f"VI_{n}", virtual_router_id=51 + n)
                inst = Instance(cfg, IPv4Address("192.0.2.11"), t, lambda *a: None, loop)
                inst.start()
                assert inst.router.state is fsm.State.MASTER
                insts.append(inst)
                clock[0] += 0.001
            a, b = insts
            start = starts[0]  # b started 1 ms later
            assert isinstance(a._timer, _Slot) and a._timer is b._timer
            assert [t.adverts for t in transports] == [1, 1]  # the takeover adverts
            for period in range(1, 4):
                slot = a._timer
                assert isinstance(slot, _Slot) and slot.when() == pytest.approx(start + period, abs=1e-9)
                clock[0] = slot.when()  # the wake-up, on time: b's deadline is 1 ms ahead
                ticker = Ticker.of(loop)
                ticker._fire(slot)
                assert [t.adverts for t in transports] == [1 + period] * 2
                assert a.router.deadline == pytest.approx(start + period + 1.0, abs=1e-9)
                assert b.router.deadline == pytest.approx(starts[1] + period + 1.0, abs=1e-9)
                assert a._timer is b._timer
        for inst in insts:
            await inst.stop(1.0)

    run(body())


@contextlib.contextmanager
def _virtual_clock(loop: asyncio.AbstractEventLoop) -> Iterator[list[float]]:
    """The loop's clock as the test sets it (`clock[0]`), from 100 s ahead so that nothing real is due."""
    clock = [loop.time() + 100.0]
    real_time = loop.time
    loop.time = lambda: clock[0]  # type: ignore[method-assign]
    try:
        yield clock
    finally:
        loop.time = real_time  # type: ignore[method-assign]


def _steady_pair(
    loop: asyncio.AbstractEventLoop, clock: list[float]
) -> tuple[list[Instance], list[FakeTransport]]:
    """Two owners started 1 ms apart, MASTER and sharing one wake-up (as in the test above)."""
    transports = [FakeTransport(), FakeTransport()]
    insts = []
    for n, t in enumerate(transports):
        cfg = instance_config(name=f"VI_{n}", virtual_router_id=51 + n)
        inst = Instance(cfg, IPv4Address("192.0.2.11"), t, lambda *a: None, loop)
        inst.start()
        insts.append(inst)
        clock[0] += 0.001
    assert isinstance(insts[0]._timer, _Slot) and insts[0]._timer is insts[1]._timer
    return insts, transports


def test_a_steady_master_s_period_stays_within_its_call_budget() -> None:
    """The per-advert path of a master that joins a wake-up: the router's `on_timer`, the send and the next
    period's wake-up, and nothing else (at 1,000 instances every call here is paid 1,000 times a second)."""

    async def body() -> None:
        loop = asyncio.get_running_loop()
        with _virtual_clock(loop) as clock:
            insts, transports = _steady_pair(loop, clock)
            slot = insts[0]._timer
            assert isinstance(slot, _Slot)
            clock[0] = slot.when()
            calls: list[str] = []
            inside = [False]

            def profile(frame: Any, event: str, arg: Any) -> None:
                if frame.f_code is Instance._tick.__code__ and event in ("call", "return"):
                    inside[0] = event == "call" and frame.f_locals.get("self") is insts[1]
                elif inside[0] and event in ("call", "c_call"):
                    calls.append(frame.f_code.co_name if event == "call" else getattr(arg, "__name__", "?"))

            sys.setprofile(profile)
            try:
                Ticker.of(loop)._fire(slot)
            finally:
                sys.setprofile(None)
            assert [t.adverts for t in transports] == [2, 2]
            assert insts[1]._timer is insts[0]._timer  # joined the first one's next wake-up again
            assert len(calls) <= 12, calls
        for inst in insts:
            await inst.stop(1.0)

    run(body())


def test_a_steady_master_whose_advert_a_full_buffer_refused_hands_it_to_the_worker() -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        with _virtual_clock(loop) as clock:
            insts, transports = _steady_pair(loop, clock)
            refused = transports[1]
            refused.send_vrrp_now = _refuse  # type: ignore[method-assign]
            slot = insts[0]._timer
            assert isinstance(slot, _Slot)
            clock[0] = slot.when()
            Ticker.of(loop)._fire(slot)
            assert insts[1]._adverts_queued == 1 and refused.adverts == 1  # not sent yet: queued
            assert insts[1]._timer is insts[0]._timer  # the next period is armed all the same
        await insts[1].drain(1.0)
        assert refused.adverts == 2 and insts[1]._adverts_queued == 0  # the worker's awaited send
        assert insts[1].counters.adverts_sent == 2
        for inst in insts:
            await inst.stop(1.0)

    run(body())


def _refuse(payload: bytes, dst: object, src: object) -> None:
    raise BlockingIOError
