"""The receive fast paths give exactly what the full path gives.

The decode fast path is two memos: `packet.DecodeCache` hands back the `Received` of an earlier datagram
with the same `decode_key` (the steady state: a master repeats its advert, only the IP Identification
changes), and `fsm.Router.receive` skips the §7.1 checks when it is handed the very object it last
accepted under the same configuration object. The routine-repeat path goes further, as
`vrrpd.runtime.interface` does: a datagram whose `decode_key` equals that of an advert the router took
without any action is not decoded at all, and `fsm.Router.repeat` either applies the §6.4.2 reset or
says it does not apply (then the datagram takes the decode fast path). Here three routers are driven side
by side through random programs — adverts from several senders, right and wrong (VRID, authentication,
interval, VIP list, priority 0 and 255), each datagram with a fresh Identification, interleaved with timer
expiries, priority changes, reconfigurations (authentication, VIP list, preemption), faults, shutdowns and
restarts: one router always decodes afresh, one takes the decode fast path, one the repeat path. Actions,
state, deadline, master and the counters `vrrpd.runtime.instance` keeps must be identical after every
step.
"""

from __future__ import annotations

import collections
import dataclasses
import struct
from ipaddress import IPv4Address, IPv4Interface

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vrrpd.protocol import fsm
from vrrpd.protocol.packet import (
    AUTH_NONE,
    AUTH_PASS,
    VRRP_MULTICAST,
    Advertisement,
    DecodeCache,
    DropReason,
    Received,
    decode_ipv4,
    decode_key,
    encode,
    internet_checksum,
    pad_password,
)

VRID = 51
ME = IPv4Address("192.0.2.10")
SENDERS = (IPv4Address("192.0.2.5"), IPv4Address("192.0.2.20"), IPv4Address("192.0.2.30"), ME)
VIPS_A = (IPv4Interface("192.0.2.100/24"),)
VIPS_B = (IPv4Interface("192.0.2.100/24"), IPv4Interface("192.0.2.101/24"))
PASSWORDS = (None, "secret", "other")


def datagram(adv: Advertisement, src: IPv4Address, ident: int, ttl: int = 255) -> bytes:
    """What a raw socket delivers; `ident` is the IP Identification the sender's kernel chose."""
    payload = encode(adv)
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(payload), ident, 0x4000, ttl, 112, 0, src.packed,
        VRRP_MULTICAST.packed,
    )  # fmt: skip
    header = header[:10] + struct.pack("!H", internet_checksum(header)) + header[12:]
    return header + payload


@st.composite
def adverts(draw: st.DrawFn) -> bytes:
    vips = draw(st.sampled_from([VIPS_A, VIPS_B]))
    password = draw(st.sampled_from(PASSWORDS))
    adv = Advertisement(
        vrid=draw(st.sampled_from([VRID, VRID, VRID, 52])),
        priority=draw(st.sampled_from([0, 1, 50, 100, 150, 254, 255])),
        addresses=tuple(v.ip for v in vips),
        advert_int=draw(st.sampled_from([1, 1, 1, 2])),
        auth_type=AUTH_PASS if password else AUTH_NONE,
        auth_data=pad_password(password) if password else bytes(8),
    )
    src = draw(st.sampled_from(SENDERS))
    ttl = draw(st.sampled_from([255, 255, 255, 64]))
    return datagram(adv, src, draw(st.integers(0, 0xFFFF)), ttl)


OPS = st.one_of(
    st.tuples(st.just("rx"), adverts()),
    st.tuples(st.just("rx-again"), st.integers(0, 0xFFFF)),  # the previous advert repeated: the steady state
    st.tuples(st.just("advance"), st.sampled_from([0.01, 0.2, 1.0, 2.5])),
    st.tuples(st.just("timer"), st.none()),
    st.tuples(st.just("priority"), st.sampled_from([50, 100, 150, 200])),
    st.tuples(st.just("auth"), st.sampled_from(PASSWORDS)),
    st.tuples(st.just("vips"), st.sampled_from([VIPS_A, VIPS_B])),
    st.tuples(st.just("preempt"), st.booleans()),
    st.tuples(st.just("fault"), st.booleans()),
    st.tuples(st.just("restart"), st.none()),
)


@dataclasses.dataclass
class Side:
    """One router and the counters `vrrpd.runtime.instance.Instance` / `vrrpd.runtime.interface.Interface`
    derive from it."""

    router: fsm.Router
    interface_drops: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    counters: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    routine: dict[bytes, Received] = dataclasses.field(default_factory=dict)  # the repeat path's memo
    repeats: int = 0  # adverts the repeat path took

    def deliver(self, now: float, decoded: Received | DropReason) -> list[fsm.Action]:
        if isinstance(decoded, DropReason):
            self.interface_drops[decoded.value] += 1
            return []
        if decoded.advert.vrid != self.router.config.vrid:
            self.interface_drops[DropReason.UNKNOWN_VRID.value] += 1
            return []
        self.counters["adverts_received"] += 1
        return self.tally(self.router.receive(now, decoded))

    def tally(self, actions: list[fsm.Action]) -> list[fsm.Action]:
        for a in actions:
            if isinstance(a, fsm.Dropped):
                self.counters[f"drop:{a.reason.value}"] += 1
            elif isinstance(a, fsm.StateChanged):
                self.counters["transitions"] += 1
            elif isinstance(a, fsm.SendAdvert):
                self.counters["adverts_sent"] += 1
        return actions

    def deliver_bytes(self, now: float, data: bytes, cache: DecodeCache) -> list[fsm.Action]:
        """`vrrpd.runtime.interface.Interface.datagram`'s order: the routine repeat, else decode and
        deliver, remembering an advert taken without actions."""
        key = decode_key(data)
        routine = self.routine.get(key)
        if routine is not None and self.router.repeat(now, routine) is not None:
            self.counters["adverts_received"] += 1
            self.repeats += 1
            return []
        decoded = cache.decode(data, {VRID})
        actions = self.deliver(now, decoded)
        if isinstance(decoded, Received) and decoded.advert.vrid == VRID and not actions:
            self.routine[key] = decoded
        return actions

    def view(self) -> tuple[object, ...]:
        r = self.router
        return (r.state, r.deadline, r.master_address, r.priority, self.counters, self.interface_drops)


def _reconfigure(side: Side, now: float, **changes: object) -> list[fsm.Action]:
    # A new configuration object per router, as `Instance.reconfigure` makes one.
    new = dataclasses.replace(side.router.config, **changes)  # type: ignore[arg-type]
    return side.tally(side.router.reconfigure(now, new))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([50, 100, 150]),
    st.booleans(),
    st.sampled_from(PASSWORDS),
    st.lists(OPS, min_size=1, max_size=80),
)
def test_fast_path_and_full_path_agree(
    priority: int, preempt: bool, password: str | None, program: list[tuple[str, object]]
) -> None:
    def make() -> Side:
        cfg = fsm.RouterConfig(
            vrid=VRID, priority=priority, primary_address=ME, vips=VIPS_A, preempt=preempt, auth_pass=password
        )
        return Side(fsm.Router(cfg))

    full, fast, rep = make(), make(), make()
    cache, rep_cache = DecodeCache(), DecodeCache()
    now = 0.0
    last: bytes | None = None
    for side in (full, fast, rep):
        side.tally(side.router.start(now))
    for op, arg in program:
        if op in ("rx", "rx-again"):
            if op == "rx":
                assert isinstance(arg, bytes)
                data = arg
            elif last is None:
                continue
            else:
                assert isinstance(arg, int)
                data = last[:4] + arg.to_bytes(2, "big") + last[6:]  # same advert, the next IP ident
            last = data
            a = full.deliver(now, decode_ipv4(data))
            b = fast.deliver(now, cache.decode(data, {VRID}))
            c = rep.deliver_bytes(now, data, rep_cache)
        elif op == "advance":
            assert isinstance(arg, float)
            now += arg
            continue
        elif op == "timer":
            deadline = full.router.deadline
            now = max(now, deadline if deadline is not None else now)
            a = full.tally(full.router.on_timer(now))
            b = fast.tally(fast.router.on_timer(now))
            c = rep.tally(rep.router.on_timer(now))
        elif op == "priority":
            assert isinstance(arg, int)
            a = full.tally(full.router.set_priority(now, arg))
            b = fast.tally(fast.router.set_priority(now, arg))
            c = rep.tally(rep.router.set_priority(now, arg))
        elif op == "auth":
            a = _reconfigure(full, now, auth_pass=arg)
            b = _reconfigure(fast, now, auth_pass=arg)
            c = _reconfigure(rep, now, auth_pass=arg)
        elif op == "vips":
            a = _reconfigure(full, now, vips=arg)
            b = _reconfigure(fast, now, vips=arg)
            c = _reconfigure(rep, now, vips=arg)
        elif op == "preempt":
            a = _reconfigure(full, now, preempt=arg)
            b = _reconfigure(fast, now, preempt=arg)
            c = _reconfigure(rep, now, preempt=arg)
        elif op == "fault":
            assert isinstance(arg, bool)
            a = full.tally(full.router.set_fault(now, fsm.Fault.CHECK, arg))
            b = fast.tally(fast.router.set_fault(now, fsm.Fault.CHECK, arg))
            c = rep.tally(rep.router.set_fault(now, fsm.Fault.CHECK, arg))
        else:  # restart
            a = full.tally(full.router.shutdown(now))
            b = fast.tally(fast.router.shutdown(now))
            c = rep.tally(rep.router.shutdown(now))
            assert a == b == c
            a = full.tally(full.router.start(now))
            b = fast.tally(fast.router.start(now))
            c = rep.tally(rep.router.start(now))
        assert a == b == c, op
        assert full.view() == fast.view() == rep.view(), op


def test_the_steady_state_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A backup hearing the same advert, numbered afresh by the master's kernel each time: decoded once,
    checked once, and every repeat still resets the Master_Down_Timer."""
    checks = 0
    real_check = fsm.RouterConfig.validate

    def counting_check(self: fsm.RouterConfig, received: Received) -> DropReason | None:
        nonlocal checks
        checks += 1
        return real_check(self, received)

    monkeypatch.setattr(fsm.RouterConfig, "validate", counting_check)
    r = fsm.Router(fsm.RouterConfig(vrid=VRID, priority=100, primary_address=ME, vips=VIPS_A))
    r.start(0.0)
    cache = DecodeCache()
    adv = Advertisement(vrid=VRID, priority=150, addresses=(VIPS_A[0].ip,))
    decoded = [cache.decode(datagram(adv, SENDERS[1], ident), {VRID}) for ident in range(1, 6)]
    for now, received in enumerate(decoded, start=1):
        assert isinstance(received, Received)
        assert r.receive(float(now), received) == []
        assert r.deadline == now + r.master_down_interval
    assert all(d is decoded[0] for d in decoded)
    assert checks == 1
    # A reconfiguration (a new RouterConfig object) checks again, even an equal one.
    r.config = dataclasses.replace(r.config)
    assert isinstance(decoded[0], Received)
    r.receive(6.0, decoded[0])
    assert checks == 2


def _backup_hearing(adv: Advertisement, **config: object) -> tuple[fsm.Router, Received]:
    r = fsm.Router(fsm.RouterConfig(vrid=VRID, priority=100, primary_address=ME, vips=VIPS_A, **config))  # type: ignore[arg-type]
    r.start(0.0)
    received = decode_ipv4(datagram(adv, SENDERS[1], 1))
    assert isinstance(received, Received)
    assert r.receive(1.0, received) == []
    return r, received


def test_a_routine_repeat_only_moves_the_master_down_timer() -> None:
    """Virtual time: each repeat at `now` sets Master_Down to now + Master_Down_Interval, as `receive`."""
    r, received = _backup_hearing(Advertisement(vrid=VRID, priority=150, addresses=(VIPS_A[0].ip,)))
    for now in (2.0, 3.0, 3.5, 7.25):
        assert r.repeat(now, received) == []
        assert r.deadline == now + r.master_down_interval
        assert r.state is fsm.State.BACKUP and r.master_address == SENDERS[1]
    # Silence: the timer fires at the last repeat + Master_Down_Interval, not before.
    assert r.on_timer(7.25 + r.master_down_interval - 0.001) == []
    assert isinstance(r.on_timer(7.25 + r.master_down_interval)[0], fsm.SendAdvert)
    assert r.state is fsm.State.MASTER


def test_the_steady_state_takes_the_repeat_path() -> None:
    """Through the interface's order (`Side.deliver_bytes`): the first advert decoded, its repeats not."""
    side = Side(fsm.Router(fsm.RouterConfig(vrid=VRID, priority=100, primary_address=ME, vips=VIPS_A)))
    side.router.start(0.0)
    adv = Advertisement(vrid=VRID, priority=150, addresses=(VIPS_A[0].ip,))
    cache = DecodeCache()
    for ident in range(1, 6):
        assert side.deliver_bytes(float(ident), datagram(adv, SENDERS[1], ident), cache) == []
        assert side.router.deadline == ident + side.router.master_down_interval
    assert side.repeats == 4 and side.counters["adverts_received"] == 5


@pytest.mark.parametrize("case", ["other-object", "reconfigured", "priority-0", "preempt-lower", "master"])
def test_a_repeat_that_is_not_routine_is_refused_untouched(case: str) -> None:
    priority = 0 if case == "priority-0" else 50 if case == "preempt-lower" else 150
    adv = Advertisement(vrid=VRID, priority=priority, addresses=(VIPS_A[0].ip,))
    r, received = _backup_hearing(adv)
    if case == "other-object":
        received = dataclasses.replace(received)  # equal, but not the object the router accepted
    elif case == "reconfigured":
        r.config = dataclasses.replace(r.config)
    elif case == "master":
        r.on_timer(100.0)
        assert r.state is fsm.State.MASTER
    before = (r.state, r.deadline, r.master_address)
    assert r.repeat(2.0, received) is None
    assert (r.state, r.deadline, r.master_address) == before
