"""The receive fast path gives exactly what the full path gives.

The fast path is two memos: `packet.DecodeCache` hands back the `Received` of an earlier datagram with the
same `decode_key` (the steady state: a master repeats its advert, only the IP Identification changes), and
`fsm.Router.receive` skips the §7.1 checks when it is handed the very object it last accepted under the
same configuration object. Here two routers are driven side by side through random programs — adverts
from several senders, right and wrong (VRID, authentication, interval, VIP list, priority 0 and 255), each
datagram with a fresh Identification, interleaved with timer expiries, priority changes, reconfigurations
(authentication, VIP list, preemption), faults, shutdowns and restarts: one router always decodes afresh,
the other takes the fast path. Actions, state, deadline, master and the counters `vrrpd.runtime.instance`
keeps
must be identical after every step.
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

    full, fast = make(), make()
    cache = DecodeCache()
    now = 0.0
    last: bytes | None = None
    for side in (full, fast):
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
        elif op == "advance":
            assert isinstance(arg, float)
            now += arg
            continue
        elif op == "timer":
            deadline = full.router.deadline
            now = max(now, deadline if deadline is not None else now)
            a = full.tally(full.router.on_timer(now))
            b = fast.tally(fast.router.on_timer(now))
        elif op == "priority":
            assert isinstance(arg, int)
            a = full.tally(full.router.set_priority(now, arg))
            b = fast.tally(fast.router.set_priority(now, arg))
        elif op == "auth":
            a = _reconfigure(full, now, auth_pass=arg)
            b = _reconfigure(fast, now, auth_pass=arg)
        elif op == "vips":
            a = _reconfigure(full, now, vips=arg)
            b = _reconfigure(fast, now, vips=arg)
        elif op == "preempt":
            a = _reconfigure(full, now, preempt=arg)
            b = _reconfigure(fast, now, preempt=arg)
        elif op == "fault":
            assert isinstance(arg, bool)
            a = full.tally(full.router.set_fault(now, fsm.Fault.CHECK, arg))
            b = fast.tally(fast.router.set_fault(now, fsm.Fault.CHECK, arg))
        else:  # restart
            a = full.tally(full.router.shutdown(now))
            b = fast.tally(fast.router.shutdown(now))
            assert a == b
            a = full.tally(full.router.start(now))
            b = fast.tally(fast.router.start(now))
        assert a == b, op
        assert full.view() == fast.view(), op


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
