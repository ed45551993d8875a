"""Multi-router VRRPv3 (RFC 5798) on the simulated LAN of tests/support/lan.py, in virtual time.

The v2 topologies of test_lan.py at a 0.1 s interval, over IPv4 and IPv6, asserting the RFC 5798 timers to
the microsecond — Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time, Skew_Time = ((256 - Priority)
* Master_Adver_Interval) / 256 — plus what only v3 has: routers configured with different intervals, where
backups follow the master's (§6.4.2) and a master stepping down learns its successor's (§6.4.3). Last, the
generated scenarios of test_lan.py (crashes, partitions, loss, priority changes...) rerun as v3 at sub-second
intervals against the same oracle.
"""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Interface

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.protocol.test_lan import Scenario, run_scenario, scenarios
from tests.support.lan import LATENCY, Lan
from vrrpd.protocol.fsm import AddVips, Misconfigured, RemoveVips, State, master_down_interval, skew_time

US = 1e-6
MASTER, BACKUP = State.MASTER, State.BACKUP
ADV = 0.1


def mdi(priority: int, interval: float = ADV) -> float:
    return master_down_interval(interval, priority, version=3)


def three(family: int = 4, advert_int: float = ADV) -> Lan:
    """a (100, host 1), b (150, host 2), c (200, host 3): c is the natural master."""
    lan = Lan(version=3, family=family, advert_int=advert_int)
    lan.add("a", 100, 1)
    lan.add("b", 150, 2)
    lan.add("c", 200, 3)
    return lan


def master_times(lan: Lan, node: str, since: float = 0.0) -> list[float]:
    return [t for t, n, s in lan.transitions(node, since) if s is MASTER]


@pytest.mark.parametrize("family", [4, 6])
def test_three_router_election_at_a_tenth_of_a_second(family: int) -> None:
    lan = three(family)
    lan.start()
    lan.run_until(2.0)
    assert lan.masters() == ["c"]
    assert lan.holders == {"c"}
    # 3 * 0.1 + (256 - 200) * 0.1 / 256 = 0.321875: c's timer, the shortest, fires first.
    assert master_times(lan, "c") == [pytest.approx(0.321875, abs=US)]
    assert master_times(lan, "a") == master_times(lan, "b") == []
    sent = [t for t, _, _ in lan.adverts("c")]
    assert sent == pytest.approx([0.321875 + ADV * k for k in range(len(sent))], abs=US)
    assert len(sent) == 17  # 0.32 .. 1.92
    assert lan.dual_holding(0.0) is None


@pytest.mark.parametrize("family", [4, 6])
def test_failover_on_crash_takes_the_v3_master_down_interval(family: int) -> None:
    lan = three(family)
    lan.start()
    lan.run_until(2.0)
    last_sent = lan.adverts("c")[-1][0]
    lan.crash("c")
    lan.run_until(4.0)
    # b heard c last at last_sent + latency; 0.3 + 106 * 0.1 / 256 later its timer fires.
    assert master_times(lan, "b", since=2.0) == [pytest.approx(last_sent + LATENCY + mdi(150), abs=US)]
    assert mdi(150) == pytest.approx(0.34140625, abs=US)
    assert lan.masters() == ["b"]


@pytest.mark.parametrize("family", [4, 6])
def test_handover_on_shutdown_takes_the_v3_skew_time(family: int) -> None:
    lan = three(family)
    lan.start()
    lan.run_until(2.0)
    lan.shutdown("c")
    lan.run_until(4.0)
    assert lan.adverts("c", since=2.0) == [(2.0, "c", 0)]
    # §6.4.2: priority 0 sets the Master_Down_Timer to Skew_Time = 106 * 0.1 / 256 = 41.4 ms.
    first = lan.adverts("b", since=2.0)[0]
    assert first[0] - 2.0 == pytest.approx(skew_time(150, ADV, version=3) + LATENCY, abs=US)
    assert skew_time(150, ADV, version=3) == pytest.approx(0.04140625, abs=US)
    assert lan.masters() == ["b"]
    assert lan.dual_holding(0.0) is None
    removed = lan.actions("c", RemoveVips)[0].time
    added = lan.actions("b", AddVips)[0].time
    assert added - removed == pytest.approx(skew_time(150, ADV, version=3) + LATENCY, abs=US)


def test_ipv6_tie_goes_to_the_highest_link_local_address() -> None:
    lan = Lan(version=3, family=6, advert_int=ADV)
    for name, host in (("a", 0x10), ("b", 0x1FF), ("c", 0x20)):
        lan.add(name, 100, host)
    lan.start()
    lan.run_until(2.0)
    assert lan.masters() == ["b"]  # fe80::1ff is the highest


def test_backups_configured_slower_follow_a_fast_master() -> None:
    # §6.4.2: a backup takes Master_Adver_Interval from the master's adverts, so its failover follows the
    # master's 0.1 s, not its own 1 s.
    lan = Lan(version=3, advert_int=1.0)
    lan.add("a", 100, 1)
    lan.add("b", 150, 2)
    lan.add("c", 200, 3, advert_int=ADV)
    lan.start()
    lan.run_until(5.0)
    assert lan.masters() == ["c"]
    assert lan.nodes["b"].router.master_adver_int == ADV
    last_sent = lan.adverts("c")[-1][0]
    lan.crash("c")
    lan.run_until(10.0)
    assert master_times(lan, "b", since=5.0) == [pytest.approx(last_sent + LATENCY + mdi(150), abs=US)]
    # b now advertises its own 1 s, and a follows that.
    assert lan.adverts("b")[1][0] - lan.adverts("b")[0][0] == pytest.approx(1.0, abs=US)
    assert lan.nodes["a"].router.master_adver_int == 1.0


def test_a_preempting_slower_router_is_followed_by_the_master_it_replaces() -> None:
    # §6.4.3: the master stepping down sets Master_Adver_Interval from the higher-priority advert.
    lan = Lan(version=3, advert_int=ADV)
    lan.add("fast", 100, 1)
    lan.start("fast")
    lan.run_until(2.0)
    assert lan.masters() == ["fast"]
    lan.add("slow", 200, 2, advert_int=2.0)
    lan.start("slow")
    lan.run_until(20.0)
    assert lan.masters() == ["slow"]
    # slow hears fast's lower-priority adverts and discards them (Preempt_Mode): its own timer, 3 * 2 s +
    # 56 * 2 / 256, decides.
    assert master_times(lan, "slow") == [pytest.approx(2.0 + mdi(200, 2.0), abs=US)]
    fast = lan.nodes["fast"].router
    assert fast.master_adver_int == 2.0
    assert fast.master_down_interval == pytest.approx(mdi(100, 2.0), abs=US)


def test_address_lists_that_differ_elect_one_master_and_are_reported() -> None:
    # §7.1: a differing list is logged, not discarded — in v2 each side would drop the other's adverts and
    # both would become master.
    lan = Lan(version=3, advert_int=ADV)
    lan.add("a", 100, 1)
    lan.add("b", 200, 2, vips=(IPv4Interface("192.0.2.253/24"),))
    lan.start()
    lan.run_until(1.0)
    assert lan.masters() == ["b"]
    assert lan.dual_holding(0.0) is None
    notices = lan.actions("a", Misconfigured)
    assert len(notices) == len(lan.adverts("b"))  # one per advert a heard
    assert lan.actions("b", Misconfigured) == []  # a never advertised


# -- generated scenarios -------------------------------------------------------------------------------------


@st.composite
def v3_scenarios(draw: st.DrawFn) -> Scenario:
    sc = draw(scenarios())
    return dataclasses.replace(
        sc,
        version=3,
        family=draw(st.sampled_from([4, 6])),
        advert_int=draw(st.sampled_from([ADV, ADV, 0.05, 1.0])),
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(v3_scenarios())
def test_generated_v3_scenarios_converge_to_one_master(sc: Scenario) -> None:
    run_scenario(sc)
