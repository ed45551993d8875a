"""Single-router tests of the RFC 5798 §6 rules in `vrrpd.protocol.fsm`, in virtual time.

The same `Router` runs both versions; these tests pin what VRRPv3 changes and show, next to each, that v2 is
unchanged: Master_Adver_Interval learned from the master (§6.4.2, §6.4.3) and reset at startup (§6.4.1),
Skew_Time scaled by it (§6.1), centisecond intervals, IPv6, Accept_Mode (§6.4.3), the v3 receive rules
(no interval or address-list discard, §7.1), and the configuration rules that keep the two versions apart.
Times are compared to the microsecond where a sum of decimals is not exact in binary.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from typing import Any

import pytest

from vrrpd.protocol.fsm import (
    AddVips,
    Dropped,
    Fault,
    Misconfigured,
    Reason,
    RemoveVips,
    Router,
    RouterConfig,
    SendAdvert,
    SendGarp,
    State,
    StateChanged,
    master_down_interval,
    skew_time,
)
from vrrpd.protocol.packet import (
    VRRP_MULTICAST,
    VRRP_MULTICAST_V6,
    VRRP_TTL,
    Advertisement,
    DropReason,
    IPAddress,
    Received,
)

VRID = 51
ME = IPv4Address("192.0.2.10")
HIGHER = IPv4Address("192.0.2.20")
LOWER = IPv4Address("192.0.2.5")
VIPS = (IPv4Interface("192.0.2.100/24"),)
ME6 = IPv6Address("fe80::10")
HIGHER6 = IPv6Address("fe80::20")
LOWER6 = IPv6Address("fe80::5")
VIPS6 = (IPv6Interface("2001:db8::100/64"), IPv6Interface("fe80::100/64"))
US = 1e-6


def config(priority: int = 100, **overrides: Any) -> RouterConfig:
    fields: dict[str, Any] = {
        "vrid": VRID,
        "priority": priority,
        "primary_address": ME,
        "vips": VIPS,
        "version": 3,
        "advert_int": 0.1,
    }
    return RouterConfig(**(fields | overrides))


def config6(priority: int = 100, **overrides: Any) -> RouterConfig:
    return config(priority, **({"primary_address": ME6, "vips": VIPS6} | overrides))


def started(cfg: RouterConfig, now: float = 0.0) -> Router:
    r = Router(cfg)
    r.start(now)
    return r


def mastered(cfg: RouterConfig) -> tuple[Router, float]:
    """A router that became MASTER by its Master_Down_Timer, and that time."""
    r = started(cfg)
    at = due(r)
    r.on_timer(at)
    assert state(r) is State.MASTER
    return r, at


def rx(
    priority: int,
    centiseconds: int = 10,
    source: IPAddress = HIGHER,
    *,
    addresses: tuple[IPAddress, ...] | None = None,
    version: int = 3,
) -> Received:
    """A v3 advert (interval in centiseconds) as the decoders would hand it over."""
    if addresses is None:
        addresses = tuple(v.ip for v in (VIPS if source.version == 4 else VIPS6))
    adv = Advertisement(
        vrid=VRID, priority=priority, addresses=addresses, advert_int=centiseconds, version=version
    )
    group = VRRP_MULTICAST if source.version == 4 else VRRP_MULTICAST_V6
    return Received(advert=adv, source=source, destination=group, ttl=VRRP_TTL)


def state(r: Router) -> State:
    return r.state


def due(r: Router) -> float:
    assert r.deadline is not None
    return r.deadline


def mdi(priority: int, interval: float) -> float:
    """RFC 5798 §6.1 restated: 3 * Master_Adver_Interval + (256 - Priority) * Master_Adver_Interval / 256."""
    return 3 * interval + (256 - priority) * interval / 256


# -- §6.1 parameters -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("priority", "interval"), [(1, 0.01), (100, 0.1), (200, 1.0), (254, 40.95)])
def test_v3_skew_time_scales_with_the_interval(priority: int, interval: float) -> None:
    assert skew_time(priority, interval, version=3) == pytest.approx(
        (256 - priority) * interval / 256, abs=US
    )
    assert master_down_interval(interval, priority, version=3) == pytest.approx(
        mdi(priority, interval), abs=US
    )


@pytest.mark.parametrize("interval", [1.0, 2.0, 10.0])
def test_v2_skew_time_does_not(interval: float) -> None:
    assert skew_time(100, interval) == 0.609375
    assert master_down_interval(interval, 100) == 3 * interval + 0.609375


def test_v3_at_one_second_equals_v2() -> None:
    # With a 1 s interval the two formulas agree: v3 only generalises v2.
    for priority in (1, 100, 254):
        assert master_down_interval(1.0, priority, version=3) == master_down_interval(1, priority)


# -- §6.4.1 Initialize ---------------------------------------------------------------------------------------


def test_backup_starts_with_master_adver_interval_equal_to_its_own() -> None:
    # §6.4.1 (155): "Set Master_Adver_Interval to Advertisement_Interval".
    r = started(config(100, advert_int=0.1))
    assert r.master_adver_int == 0.1
    assert due(r) == pytest.approx(mdi(100, 0.1), abs=US)


def test_owner_starts_master_and_advertises_centiseconds() -> None:
    r = Router(config(255, advert_int=0.05))
    actions = r.start(0.0)
    assert isinstance(actions[0], SendAdvert)
    adv = actions[0].advert
    assert (adv.version, adv.advert_int, adv.centiseconds) == (3, 5, 5)
    assert adv.auth_type == 0
    assert due(r) == pytest.approx(0.05, abs=US)


# -- §6.4.2 Backup: Master_Adver_Interval learned ------------------------------------------------------------


def test_backup_learns_a_faster_masters_interval() -> None:
    # §6.4.2 (450)-(460): set Master_Adver_Interval from the advert, recompute, reset the timer.
    r = started(config(100, advert_int=1.0))
    assert r.receive(0.5, rx(200, centiseconds=10)) == []
    assert r.master_adver_int == 0.1
    assert due(r) == pytest.approx(0.5 + mdi(100, 0.1), abs=US)


def test_backup_learns_a_slower_masters_interval() -> None:
    r = started(config(100, advert_int=0.1))
    r.receive(0.2, rx(200, centiseconds=300))
    assert r.master_adver_int == 3.0
    assert due(r) == pytest.approx(0.2 + mdi(100, 3.0), abs=US)


def test_backup_relearns_when_the_master_changes_its_interval() -> None:
    r = started(config(100, advert_int=1.0))
    r.receive(0.1, rx(200, centiseconds=10))
    r.receive(0.2, rx(200, centiseconds=50))
    assert r.master_adver_int == 0.5
    assert due(r) == pytest.approx(0.2 + mdi(100, 0.5), abs=US)


def test_discarded_lower_priority_advert_teaches_nothing() -> None:
    # §6.4.2 (470): with Preempt_Mode, a lower-priority advert is discarded — interval included.
    r = started(config(100, advert_int=1.0))
    before = due(r)
    assert r.receive(0.5, rx(50, centiseconds=10)) == []
    assert r.master_adver_int == 1.0
    assert due(r) == before


def test_without_preempt_a_lower_priority_masters_interval_is_learned() -> None:
    # §6.4.2 (445): "If Preempt_Mode is False, or ..." — the advert is accepted, and so is its interval.
    r = started(config(100, advert_int=1.0, preempt=False))
    r.receive(0.5, rx(50, centiseconds=20))
    assert r.master_adver_int == 0.2
    assert due(r) == pytest.approx(0.5 + mdi(100, 0.2), abs=US)


def test_preempt_delay_holds_with_the_learned_interval() -> None:
    r = started(config(100, advert_int=1.0, preempt_delay=5.0))
    r.receive(0.5, rx(50, centiseconds=20))
    assert r.master_adver_int == 0.2
    assert due(r) == pytest.approx(0.5 + mdi(100, 0.2), abs=US)


def test_priority_zero_sets_the_timer_to_the_learned_skew_time() -> None:
    # §6.4.2 (430): "Set the Master_Down_Timer to Skew_Time" — Skew_Time of Master_Adver_Interval.
    r = started(config(100, advert_int=1.0))
    r.receive(0.5, rx(200, centiseconds=10))
    r.receive(0.6, rx(0, centiseconds=10))
    assert due(r) == pytest.approx(0.6 + 156 * 0.1 / 256, abs=US)


def test_learned_interval_decides_when_the_backup_takes_over() -> None:
    r = started(config(100, advert_int=2.0))
    r.receive(1.0, rx(200, centiseconds=10))
    takeover = due(r)
    assert takeover == pytest.approx(1.0 + mdi(100, 0.1), abs=US)
    actions = r.on_timer(takeover)
    assert isinstance(actions[0], SendAdvert)
    assert actions[0].advert.advert_int == 200  # a master advertises its own interval (§6.4.3)
    assert r.master_adver_int == 2.0
    assert due(r) == pytest.approx(takeover + 2.0, abs=US)


# -- §6.4.3 Master -------------------------------------------------------------------------------------------


def test_master_sends_every_advertisement_interval() -> None:
    r, at = mastered(config(100, advert_int=0.1))
    times = []
    for _ in range(5):
        t = due(r)
        actions = r.on_timer(t)
        assert [type(a) for a in actions] == [SendAdvert]
        times.append(t)
    assert times == pytest.approx([at + 0.1 * k for k in range(1, 6)], abs=US)


def test_preempted_master_learns_the_new_masters_interval() -> None:
    # §6.4.3 (745)-(760): "Set Master_Adver_Interval to Adver Interval contained in the ADVERTISEMENT;
    # Recompute the Skew_Time; Recompute the Master_Down_Interval; Set Master_Down_Timer".
    r, at = mastered(config(100, advert_int=1.0))
    actions = r.receive(at + 0.5, rx(200, centiseconds=25))
    assert [type(a) for a in actions] == [StateChanged, RemoveVips]
    assert r.master_adver_int == 0.25
    assert due(r) == pytest.approx(at + 0.5 + mdi(100, 0.25), abs=US)


def test_master_ignores_the_interval_of_a_lower_priority_advert() -> None:
    r, at = mastered(config(100, advert_int=0.5))
    r.receive(at + 0.2, rx(50, centiseconds=10))
    assert r.master_adver_int == 0.5
    assert due(r) == pytest.approx(at + 0.5, abs=US)


def test_startup_after_a_fault_resets_the_learned_interval() -> None:
    r = started(config(100, advert_int=1.0))
    r.receive(0.5, rx(200, centiseconds=10))
    r.set_fault(1.0, Fault.INTERFACE, True)
    r.set_fault(2.0, Fault.INTERFACE, False)
    assert state(r) is State.BACKUP
    assert r.master_adver_int == 1.0
    assert due(r) == pytest.approx(2.0 + mdi(100, 1.0), abs=US)


# -- §7.1 as the v3 router applies it ------------------------------------------------------------------------


def test_v3_router_accepts_any_interval() -> None:
    r = started(config(100, advert_int=0.1))
    for centiseconds in (1, 100, 4095):
        assert not any(isinstance(a, Dropped) for a in r.receive(0.1, rx(200, centiseconds)))


def test_v2_router_still_drops_another_interval() -> None:
    r = started(config(100, version=2, advert_int=1))
    v2 = rx(200, centiseconds=2, version=2)
    assert r.receive(0.1, v2) == [Dropped(DropReason.INTERVAL_MISMATCH, HIGHER, v2.advert)]


def test_v3_advert_to_a_v2_router_and_back_is_bad_version() -> None:
    v2_router = started(config(100, version=2, advert_int=1))
    v3 = rx(200, centiseconds=100)
    assert v2_router.receive(0.1, v3) == [Dropped(DropReason.BAD_VERSION, HIGHER, v3.advert)]
    v3_router = started(config(100, advert_int=1.0))
    v2 = rx(200, centiseconds=1, version=2)
    assert v3_router.receive(0.1, v2) == [Dropped(DropReason.BAD_VERSION, HIGHER, v2.advert)]


def test_zero_interval_is_dropped() -> None:
    r = started(config(100))
    before = due(r)
    bad = rx(200, centiseconds=0)
    assert r.receive(0.1, bad) == [Dropped(DropReason.BAD_INTERVAL, HIGHER, bad.advert)]
    assert due(r) == before


def test_address_mismatch_is_reported_and_the_advert_still_counts() -> None:
    # §7.1: "SHOULD log the event" — a Misconfigured notice; the Master_Down_Timer is still reset.
    r = started(config(100, advert_int=1.0))
    other = rx(200, centiseconds=10, addresses=(IPv4Address("192.0.2.200"),))
    actions = r.receive(0.5, other)
    assert actions == [Misconfigured(DropReason.ADDRESS_MISMATCH, HIGHER, other.advert)]
    assert due(r) == pytest.approx(0.5 + mdi(100, 0.1), abs=US)
    # The verdict is remembered with the advert: a repeat of the very object reports it again.
    assert r.receive(0.6, other) == actions


def test_v2_address_mismatch_is_still_a_drop() -> None:
    r = started(config(100, version=2, advert_int=1))
    other = rx(200, centiseconds=1, version=2, addresses=(IPv4Address("192.0.2.200"),))
    assert r.receive(0.5, other) == [Dropped(DropReason.ADDRESS_MISMATCH, HIGHER, other.advert)]


def test_matching_addresses_give_no_notice() -> None:
    r = started(config(100))
    assert r.receive(0.1, rx(200)) == []


def test_ipv4_advert_for_an_ipv6_router_is_wrong_family() -> None:
    r = started(config6(100))
    v4 = rx(200)
    assert r.receive(0.1, v4) == [Dropped(DropReason.WRONG_FAMILY, HIGHER, v4.advert)]


# -- IPv6 ----------------------------------------------------------------------------------------------------


def test_ipv6_router_becomes_master_and_announces_its_addresses() -> None:
    r = started(config6(100))
    actions = r.on_timer(due(r))
    assert [type(a) for a in actions] == [SendAdvert, StateChanged, AddVips, SendGarp]
    send, changed, add, announce = actions
    assert isinstance(send, SendAdvert)
    assert send.advert.addresses == tuple(v.ip for v in VIPS6)
    assert isinstance(changed, StateChanged)
    assert changed.master == ME6
    assert add == AddVips(VIPS6, accept=True, routes=True)
    # §6.4.2 (395): one unsolicited Neighbor Advertisement per address where IPv4 sends gratuitous ARP.
    assert announce == SendGarp(tuple(v.ip for v in VIPS6), 5)


@pytest.mark.parametrize(("sender", "steps_down"), [(HIGHER6, True), (LOWER6, False)])
def test_ipv6_equal_priority_tie_goes_to_the_higher_link_local_address(
    sender: IPv6Address, steps_down: bool
) -> None:
    # §6.4.3 (735): equal priority, "the primary IPvX Address of the sender is greater".
    r, at = mastered(config6(100))
    r.receive(at + 0.01, rx(100, source=sender))
    assert (state(r) is State.BACKUP) == steps_down


def test_ipv6_tie_compares_addresses_as_unsigned_numbers() -> None:
    r, at = mastered(config6(100, primary_address=IPv6Address("fe80::ffff")))
    r.receive(at + 0.01, rx(100, source=IPv6Address("fe80::1:0")))
    assert state(r) is State.BACKUP


# -- Accept_Mode (§6.1, §6.4.3) ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "accept", "accepts"), [(100, True, True), (100, False, False), (255, False, True)]
)
def test_accept_mode_travels_with_the_addresses(priority: int, accept: bool, accepts: bool) -> None:
    # §6.4.3 (650): accept packets for the addresses "if it is the IPvX address owner or if Accept_Mode
    # is True. Otherwise, MUST NOT accept these packets."
    r = Router(config(priority, accept=accept))
    actions = r.start(0.0)
    if priority != 255:
        actions = r.on_timer(due(r))
    assert [a for a in actions if isinstance(a, AddVips)] == [AddVips(VIPS, accept=accepts, routes=True)]
    assert r.vip_deleted(1.0, VIPS[0])[0] == AddVips(VIPS, accept=accepts)
    assert r.vips_missing(1.0, VIPS)[0] == AddVips(VIPS, accept=accepts)


# -- reconfigure ---------------------------------------------------------------------------------------------


def test_reconfigure_cannot_change_the_version() -> None:
    r = started(config(100, advert_int=1.0))
    with pytest.raises(ValueError, match="VRRP version"):
        r.reconfigure(1.0, config(100, version=2, advert_int=1))


def test_reconfigured_v3_backup_keeps_the_learned_interval() -> None:
    r = started(config(100, advert_int=1.0))
    r.receive(0.5, rx(200, centiseconds=10))
    r.reconfigure(0.6, config(100, advert_int=2.0))
    assert r.master_adver_int == 0.1


def test_reconfigured_master_advertises_the_new_interval() -> None:
    r, at = mastered(config(100, advert_int=1.0))
    r.reconfigure(at + 0.1, config(100, advert_int=0.2))
    assert r.master_adver_int == 0.2
    actions = r.on_timer(due(r))
    assert isinstance(actions[0], SendAdvert)
    assert actions[0].advert.advert_int == 20


# -- configuration rules -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("advert_int", "field"), [(0.01, 1), (0.1, 10), (0.29, 29), (1, 100), (1.5, 150), (40.95, 4095)]
)
def test_v3_interval_in_centiseconds(advert_int: float, field: int) -> None:
    assert config(advert_int=advert_int).advert_int_field == field


@pytest.mark.parametrize("advert_int", [0, 0.005, 0.015, 40.96, 41, -1])
def test_v3_interval_outside_centisecond_steps_raises(advert_int: float) -> None:
    with pytest.raises(ValueError, match=r"0\.01\.\.40\.95"):
        config(advert_int=advert_int)


@pytest.mark.parametrize("advert_int", [0.5, 1.5, 0, 256])
def test_v2_interval_in_whole_seconds(advert_int: float) -> None:
    with pytest.raises(ValueError, match="whole number of seconds"):
        config(version=2, advert_int=advert_int)
    assert config(version=2, advert_int=3).advert_int_field == 3


def test_ipv6_needs_version_3() -> None:
    with pytest.raises(ValueError, match="IPv6 needs VRRPv3"):
        config6(version=2, advert_int=1)


def test_v3_has_no_authentication() -> None:
    with pytest.raises(ValueError, match="no authentication"):
        config(auth_pass="secret")


@pytest.mark.parametrize(
    "overrides",
    [
        {"vips": (IPv4Interface("192.0.2.100/24"), IPv6Interface("2001:db8::1/64"))},
        {"excluded": (IPv6Interface("2001:db8::1/64"),)},
        {"unicast_peers": (HIGHER6,)},
        {"primary_address": ME6},
    ],
)
def test_one_family_per_router(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="all IPv4 or all IPv6"):
        config(**overrides)


def test_unknown_version_raises() -> None:
    with pytest.raises(ValueError, match="not 2 or 3"):
        config(version=4)


def test_shutdown_sends_priority_zero_in_v3() -> None:
    r, at = mastered(config(100))
    actions = r.shutdown(at + 1)
    assert isinstance(actions[0], SendAdvert)
    assert (actions[0].advert.priority, actions[0].advert.version) == (0, 3)
    assert isinstance(actions[-1], StateChanged)
    assert actions[-1].reason is Reason.SHUTDOWN
