"""Router commands beyond start/shutdown: the health check's verdict, a reload, missing and deleted VIPs.

These are the protocol decisions the asyncio adapter (`vrrpd.runtime.instance`) only carries out: what a
failing check does (FAULT or a lower priority), what a reload changes in a running router, and what a master
does about addresses the kernel does not hold. Each test drives one `Router` in virtual time and asserts the
exact actions and deadlines, as tests/protocol/test_fsm.py does.
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv4Interface
from typing import Any

import pytest

from vrrpd.protocol.fsm import (
    AddVips,
    Fault,
    Reason,
    RemoveVips,
    Router,
    RouterConfig,
    SendAdvert,
    SendGarp,
    State,
    StateChanged,
    effective_priority,
    master_down_interval,
)
from vrrpd.protocol.packet import VRRP_MULTICAST, VRRP_TTL, Advertisement, DropReason, Received

VRID = 51
ME = IPv4Address("192.0.2.10")
PEER = IPv4Address("192.0.2.20")
A, B, C = (IPv4Interface(f"192.0.2.{n}/24") for n in (100, 101, 102))
X = IPv4Interface("198.51.100.7/24")  # an excluded VIP: installed and announced, never advertised
US = 1e-6


def config(priority: int = 100, **overrides: Any) -> RouterConfig:
    fields: dict[str, Any] = {"vrid": VRID, "priority": priority, "primary_address": ME, "vips": (A, B)}
    fields |= {"garp_master_delay": 0.0}
    return RouterConfig(**(fields | overrides))


def started(priority: int = 100, **overrides: Any) -> Router:
    r = Router(config(priority, **overrides))
    r.start(0.0)
    return r


def master(priority: int = 100, **overrides: Any) -> Router:
    """A router that became MASTER by its Master_Down_Timer, at `BECAME` for priority 100."""
    r = started(priority, **overrides)
    r.on_timer(due(r))
    assert state(r) is State.MASTER
    return r


BECAME = master_down_interval(1, 100)  # 3 + 156/256: exact in binary


def garp_times(r: Router, until: float) -> list[float]:
    """Run the router's timers up to `until`; when it sent a refresh GARP (one per address, count 1)."""
    times = []
    while r.deadline is not None and r.deadline <= until:
        now = r.deadline
        times += [now for a in r.on_timer(now) if isinstance(a, SendGarp) and a.count == 1]
    return times


def state(r: Router) -> State:
    """Read through a call so that mypy does not narrow the state between two calls."""
    return r.state


def due(r: Router) -> float:
    assert r.deadline is not None
    return r.deadline


def advert_of(actions: list[Any]) -> Advertisement:
    sends = [a for a in actions if isinstance(a, SendAdvert)]
    assert len(sends) == 1
    return sends[0].advert


def rx(priority: int, source: IPv4Address = PEER, **fields: Any) -> Received:
    values: dict[str, Any] = {"vrid": VRID, "priority": priority, "addresses": (A.ip, B.ip), "advert_int": 1}
    advert = Advertisement(**(values | fields))
    return Received(advert=advert, source=source, destination=VRRP_MULTICAST, ttl=VRRP_TTL)


# -- the health check's verdict ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "weight", "healthy", "expected"),
    [
        (100, 30, True, 100),  # passing: the configured priority
        (100, 30, False, 70),  # failing: lowered by the weight
        (20, 50, False, 1),  # never below 1 (0 would mean "stopping")
        (100, 0, False, 100),  # weight 0 is a fault, not a priority change
        (255, 0, False, 255),  # the owner's priority never changes
    ],
)
def test_effective_priority_is_keepalived_weight_semantics(
    base: int, weight: int, healthy: bool, expected: int
) -> None:
    assert effective_priority(base, weight, healthy) == expected


def test_failing_check_with_weight_0_puts_a_master_in_fault_and_recovery_restarts_the_election() -> None:
    r = master(health_weight=0)
    t = due(r) - 0.5
    actions = r.set_health(t, False)
    assert actions == [
        StateChanged(State.MASTER, State.FAULT, Reason.FAULT, 100, None),
        SendAdvert(replace(advert_of(actions), priority=0)),
        RemoveVips((A, B), routes=True),
    ]
    assert r.faults == {Fault.CHECK} and r.deadline is None and r.priority == 100
    assert r.set_health(t + 1, True) == [StateChanged(State.FAULT, State.BACKUP, Reason.RECOVERED, 100, None)]
    assert due(r) == pytest.approx(t + 1 + master_down_interval(1, 100), abs=US)


def test_failing_check_with_a_weight_lowers_the_priority_without_a_transition() -> None:
    r = master(health_weight=30)
    assert r.set_health(4.0, False) == []
    assert state(r) is State.MASTER and r.priority == 70 and not r.faults
    assert advert_of(r.on_timer(due(r))).priority == 70  # the next advert carries it
    assert r.set_health(6.0, True) == []
    assert r.priority == 100


def test_a_lowered_backup_loses_the_election_it_would_have_won() -> None:
    r = started(health_weight=30)
    r.set_health(0.5, False)
    assert r.receive(1.0, rx(80)) == []  # 80 > 70: the master is followed, not preempted
    assert due(r) == pytest.approx(1.0 + master_down_interval(1, 70), abs=US)
    assert r.master_address == PEER


def test_a_verdict_without_a_configured_check_is_recorded_only() -> None:
    r = master()
    assert r.set_health(4.0, False) == []
    assert state(r) is State.MASTER and r.priority == 100 and not r.faults
    assert r.health is False


def test_a_verdict_before_start_decides_how_the_router_starts() -> None:
    faulty = Router(config(health_weight=0))
    assert faulty.set_health(0.0, False) == []  # not running yet: only recorded
    assert faulty.start(0.0) == [StateChanged(State.INIT, State.FAULT, Reason.FAULT, 100, None)]
    lowered = Router(config(health_weight=30))
    assert lowered.set_health(0.0, False) == []
    assert lowered.start(0.0) == [StateChanged(State.INIT, State.BACKUP, Reason.STARTUP, 70, None)]
    assert due(lowered) == pytest.approx(master_down_interval(1, 70), abs=US)


def test_the_owner_with_a_failing_check_goes_to_fault() -> None:
    r = Router(config(255, health_weight=0))
    r.start(0.0)
    assert state(r) is State.MASTER
    assert r.set_health(1.0, False)[0] == StateChanged(State.MASTER, State.FAULT, Reason.FAULT, 255, None)
    assert r.priority == 255


@pytest.mark.parametrize(("priority", "weight"), [(100, -1), (100, 254), (255, 10)])
def test_a_health_weight_out_of_range_or_on_the_owner_raises(priority: int, weight: int) -> None:
    with pytest.raises(ValueError, match="weight"):
        config(priority, health_weight=weight)


# -- reconfigure: a reload of a running router -------------------------------------------------------------


def test_reconfigure_a_backup_keeps_state_and_timer_and_the_next_advert_carries_the_change() -> None:
    r = started()
    deadline = due(r)
    new = config(120, vips=(A, B, C), advert_int=2, auth_pass="secret")
    assert r.reconfigure(0.5, new) == []
    assert state(r) is State.BACKUP and r.config is new and r.priority == 120
    assert due(r) == deadline  # the running Master_Down_Timer is not restarted
    ad = advert_of(r.on_timer(deadline))
    assert (ad.priority, ad.addresses, ad.advert_int) == (120, (A.ip, B.ip, C.ip), 2)
    assert ad.auth_data == new.auth_data


def test_reconfigure_a_master_removes_only_the_vips_no_longer_configured() -> None:
    r = master(vips=(A, B), excluded=(X,))
    t = due(r) - 0.5
    assert r.reconfigure(t, config(vips=(B, C))) == [RemoveVips((A, X))]
    assert state(r) is State.MASTER
    assert r.reconfigure(t, config(vips=(B, C, A))) == []  # additions go through `vips_missing`


def test_reconfigure_the_advert_interval_of_a_master_takes_the_next_period() -> None:
    r = master()  # MASTER at 3 + 156/256; its Adver_Timer is due one second later
    first = due(r)
    r.reconfigure(first - 0.5, config(advert_int=3))
    assert due(r) == first
    assert advert_of(r.on_timer(first)).advert_int == 3
    assert due(r) == first + 3


def test_reconfigure_turning_garp_refresh_off_stops_it_at_once() -> None:
    r = master(garp_master_refresh=0.5)
    assert garp_times(r, BECAME + 1.25) == [BECAME + 0.5, BECAME + 1.0]
    assert r.reconfigure(BECAME + 1.25, config(garp_master_refresh=0.0, preempt_delay=2.0)) == []
    assert r.config.garp_master_refresh == 0 and r.config.preempt_delay == 2
    # Only the Adver_Timer is left: no refresh at BECAME + 1.5, nor ever after.
    assert due(r) == BECAME + 2.0
    assert garp_times(r, BECAME + 10) == []
    assert state(r) is State.MASTER


@pytest.mark.parametrize("old", [0.0, 4.0])
def test_reconfigure_a_new_garp_refresh_period_counts_from_the_reload(old: float) -> None:
    r = master(garp_master_refresh=old)
    t = BECAME + 1.25
    assert garp_times(r, t) == []
    r.reconfigure(t, config(garp_master_refresh=1.5))
    assert garp_times(r, t + 4.5) == [t + 1.5, t + 3.0, t + 4.5]


def test_reconfigure_garp_refresh_on_a_backup_applies_when_it_becomes_master() -> None:
    r = started()
    assert r.reconfigure(0.5, config(garp_master_refresh=2.0)) == []
    assert due(r) == BECAME  # nothing armed for it while BACKUP
    r.on_timer(BECAME)
    assert state(r) is State.MASTER
    assert garp_times(r, BECAME + 4.0) == [BECAME + 2.0, BECAME + 4.0]


@pytest.mark.parametrize(
    "change",
    [{"vrid": 52}, {"primary_address": IPv4Address("192.0.2.11")}, {"priority": 255}],
)
def test_reconfigure_what_identifies_the_router_raises(change: dict[str, Any]) -> None:
    r = started()
    with pytest.raises(ValueError, match=r"reconfigure|255"):
        r.reconfigure(1.0, replace(r.config, **change))
    assert state(r) is State.BACKUP and r.config.vrid == VRID and r.config.priority == 100


def test_reconfigure_rechecks_an_advert_accepted_under_the_old_configuration() -> None:
    r = started()
    same = rx(200)
    assert r.receive(1.0, same) == []
    r.reconfigure(1.5, config(auth_pass="secret"))
    (drop,) = r.receive(2.0, same)  # the very object of an accepted advert: §7.1 runs again
    assert getattr(drop, "reason", None) is DropReason.AUTH_TYPE_MISMATCH


def test_reconfigure_adding_a_check_starts_it_up() -> None:
    r = master()
    assert r.health is None
    assert r.reconfigure(4.0, config(health_weight=0)) == []
    assert r.health is True and state(r) is State.MASTER and not r.faults


def test_reconfigure_a_failing_check_lands_where_the_new_weight_says() -> None:
    r = started(health_weight=30)
    r.set_health(0.5, False)
    assert r.priority == 70
    # A new base priority: still lowered by the weight.
    assert r.reconfigure(1.0, config(120, health_weight=30)) == []
    assert r.priority == 90
    # Weight 0: the failing check is now a fault.
    assert r.reconfigure(1.5, config(120, health_weight=0)) == [
        StateChanged(State.BACKUP, State.FAULT, Reason.FAULT, 120, None)
    ]
    assert r.health is False and r.priority == 120
    # The check removed: its fault goes with it, and a normal election starts.
    assert r.reconfigure(2.0, config(120)) == [
        StateChanged(State.FAULT, State.BACKUP, Reason.RECOVERED, 120, None)
    ]
    assert r.health is None and not r.faults
    assert due(r) == pytest.approx(2.0 + master_down_interval(1, 120), abs=US)


def test_reconfigure_removing_a_weighted_check_restores_the_priority() -> None:
    r = started(health_weight=30)
    r.set_health(0.5, False)
    assert r.reconfigure(1.0, config()) == [] and r.priority == 100


# -- addresses the kernel does not hold ----------------------------------------------------------------------


def test_a_master_installs_and_announces_missing_vips_in_the_given_order() -> None:
    r = master(vips=(A, B), excluded=(X,), garp_master_repeat=3)
    t = due(r) - 0.5
    assert r.vips_missing(t, [X, B]) == [AddVips((X, B)), SendGarp((X.ip, B.ip), 3)]
    assert r.vips_missing(t, [C, IPv4Interface("192.0.2.100/25")]) == []  # not ours (C; A's prefix differs)
    assert r.vips_missing(t, []) == []


@pytest.mark.parametrize("where", ["init", "backup", "fault"])
def test_only_a_master_installs_missing_vips(where: str) -> None:
    r = Router(config())
    if where != "init":
        r.start(0.0)
    if where == "fault":
        r.set_fault(0.5, Fault.INTERFACE, True)
    assert r.vips_missing(1.0, [A, B]) == []
    assert r.vip_deleted(1.0, A) == []


def test_holds_is_what_a_deleted_vip_is_put_back_for() -> None:
    r = started(excluded=(X,))
    assert not r.holds(A)  # BACKUP: a backup holds nothing
    r.on_timer(due(r))
    assert state(r) is State.MASTER
    assert r.holds(A) and r.holds(X)
    assert not r.holds(C) and not r.holds(IPv4Interface("192.0.2.100/32"))
    for vip in (A, X, C):
        assert bool(r.vip_deleted(due(r) - 0.5, vip)) == r.holds(vip)


def test_a_master_puts_back_a_deleted_vip_with_one_garp() -> None:
    r = master(excluded=(X,))
    t = due(r) - 0.5
    assert r.vip_deleted(t, B) == [AddVips((B,)), SendGarp((B.ip,), 1)]
    assert r.vip_deleted(t, X) == [AddVips((X,)), SendGarp((X.ip,), 1)]
    assert r.vip_deleted(t, C) == []  # someone else's address
    assert r.vip_deleted(t, IPv4Interface("192.0.2.101/32")) == []  # same address, not our prefix
    assert due(r) == t + 0.5  # no timer moved
