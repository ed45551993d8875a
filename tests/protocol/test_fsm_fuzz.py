"""The state machine under hostile input: hypothesis feeds byte programs to `fuzz/fuzz_fsm.py`'s harness.

Each example is a whole program (a configuration, then up to 256 operations: clock jumps, timer expiries,
received datagrams well-formed or mutated, start/shutdown, priority changes, faults), and the harness
checks the router's promises after every call — see `fuzz.fuzz_fsm` for the list. CI runs a few thousand
programs; `FUZZ_PROFILE=long` runs 100,000, and `python fuzz/fuzz_fsm.py` the coverage-guided
campaign of a million.

The last tests break the router on purpose, to prove the harness notices.
"""

from __future__ import annotations

import random
from ipaddress import IPv4Address

import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from fuzz.fuzz_fsm import (
    PRIMARY,
    VIP_POOL,
    Bytes,
    FuzzFailure,
    Harness,
    Stats,
    ipv4_datagram,
    make_config,
    run_program,
)
from tests.support.fuzzing import fuzz_settings
from vrrpd.protocol import fsm
from vrrpd.protocol.packet import VRRP_MULTICAST, Advertisement, Received, encode

FUZZ = fuzz_settings(
    "vrrpd-fsm-fuzz", ci=3_000, long=100_000, suppress=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@FUZZ
@given(st.binary(min_size=48, max_size=600))
def test_router_keeps_its_promises_for_any_program(program: bytes) -> None:
    run_program(program)


def test_seeded_random_programs_cover_every_state_and_drop() -> None:
    """A fixed seed, so CI always exercises all of it whatever hypothesis happens to draw."""
    rng = random.Random(7)
    stats = Stats()
    for _ in range(400):
        run_program(rng.randbytes(rng.randrange(600)), stats)
    transitions = set(stats.transitions)
    for wanted in ("INIT->BACKUP", "BACKUP->MASTER", "MASTER->BACKUP", "MASTER->FAULT", "FAULT->BACKUP"):
        assert wanted in transitions
    assert stats.accepted > 1000
    assert {"unknown_vrid", "auth_mismatch", "interval_mismatch", "address_mismatch"} <= set(stats.fsm_drops)


# ---------------------------------------------------------------------------------------------------------
# The harness catches a broken router


def _backup_harness() -> Harness:
    cfg = fsm.RouterConfig(vrid=51, priority=100, primary_address=PRIMARY, vips=VIP_POOL[:1])
    h = Harness(cfg, Stats())
    h.op_start()
    assert h.router.state is fsm.State.BACKUP
    return h


def _advert_from(source: str, priority: int, h: Harness) -> bytes:
    adv = Advertisement(vrid=h.cfg.vrid, priority=priority, addresses=h.cfg.vip_addresses)
    return ipv4_datagram(encode(adv), IPv4Address(source), VRRP_MULTICAST)


def test_harness_catches_vips_added_outside_master(monkeypatch: pytest.MonkeyPatch) -> None:
    h = _backup_harness()
    original = fsm.Router.receive

    def leaky(self: fsm.Router, now: float, received: Received) -> list[fsm.Action]:
        return [*original(self, now, received), fsm.AddVips(self.config.vips)]

    monkeypatch.setattr(fsm.Router, "receive", leaky)
    with pytest.raises(FuzzFailure, match="AddVips while BACKUP"):
        h.op_receive(_advert_from("192.0.2.12", 150, h))


def test_harness_catches_a_timer_set_in_the_past(monkeypatch: pytest.MonkeyPatch) -> None:
    h = _backup_harness()
    original = fsm.Router.receive

    def stale(self: fsm.Router, now: float, received: Received) -> list[fsm.Action]:
        actions = original(self, now, received)
        self._master_down_at = now - 1
        return actions

    monkeypatch.setattr(fsm.Router, "receive", stale)
    with pytest.raises(FuzzFailure, match=r"Master_Down_Timer .* is not after now"):
        h.op_receive(_advert_from("192.0.2.12", 150, h))


def test_harness_catches_a_master_yielding_to_a_lower_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    h = _backup_harness()
    h.op_timer(h.router.deadline or 0.0)
    assert h.router.state is fsm.State.MASTER

    def meek(self: fsm.Router, now: float, received: Received) -> list[fsm.Action]:
        self._stop_timers()
        self._master_down_at = now + self.master_down_interval
        return [
            self._transition(fsm.State.BACKUP, fsm.Reason.PREEMPTED, received.source),
            fsm.RemoveVips(self.config.vips),
        ]

    monkeypatch.setattr(fsm.Router, "_master_receive", meek)
    h.now += 1.0
    with pytest.raises(FuzzFailure, match="does not outrank"):
        h.op_receive(_advert_from("192.0.2.10", 50, h))


def test_harness_catches_an_unlimited_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    h = _backup_harness()
    h.op_timer(h.router.deadline or 0.0)
    monkeypatch.setattr(fsm.Router, "_answered_recently", lambda self, now: False)
    h.now += 0.5
    h.op_receive(_advert_from("192.0.2.10", 50, h))  # the first answer is fine
    with pytest.raises(FuzzFailure, match=r"answered 0\.0000s after"):
        h.op_receive(_advert_from("192.0.2.10", 50, h))


def test_an_empty_program_is_a_valid_program() -> None:
    # Every byte string is a program: an exhausted input reads as zeros, which still picks a configuration.
    assert make_config(Bytes(b"")).primary_address == PRIMARY
    assert run_program(b"").programs == 1
