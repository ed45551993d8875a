"""keepalived's tracked-script arithmetic (vrrpd.protocol.tracking), both sides of each rule.

The expected values are keepalived 2.2.7's: vrrp_scheduler.c (the rise/fall counter), vrrp_track.c
(process_script_update_priority, vrrp_set_effective_priority).
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.protocol.test_router_commands import (
    BECAME,
    PEER,
    advert_of,
    config,
    due,
    master,
    rx,
    started,
    state,
)
from vrrpd.protocol.fsm import Dropped, Fault, RemoveVips, SendGarp, State
from vrrpd.protocol.packet import DropReason
from vrrpd.protocol.tracking import ScriptCounter, Tracked, contribution, effective_priority, faulted


def run(counter: ScriptCounter, results: str) -> list[bool | None]:
    """Feed "+" (success) and "-" (failure) runs; the changes reported after each."""
    return [counter.record(r == "+") for r in results]


def test_the_first_result_counts_at_once_either_way() -> None:
    # keepalived starts the counter at rise - 1: "one success is enough"; a first failure is reported too.
    assert run(ScriptCounter(rise=5, fall=5), "+") == [True]
    assert run(ScriptCounter(rise=5, fall=5), "-") == [False]


def test_fall_consecutive_failures_turn_an_ok_script_failed() -> None:
    counter = ScriptCounter(rise=2, fall=3)
    assert run(counter, "+--") == [True, None, None]
    assert counter.status is True
    assert run(counter, "-") == [False]


def test_a_success_between_failures_restarts_the_fall_count() -> None:
    counter = ScriptCounter(rise=2, fall=3)
    assert run(counter, "+--+--") == [True, None, None, None, None, None]
    assert counter.status is True


def test_rise_consecutive_successes_turn_a_failed_script_ok() -> None:
    counter = ScriptCounter(rise=3, fall=1)
    assert run(counter, "-++") == [False, None, None]
    assert run(counter, "+") == [True]


def test_a_failure_while_rising_restarts_the_rise_count() -> None:
    counter = ScriptCounter(rise=3, fall=1)
    assert run(counter, "-++-++") == [False, None, None, None, None, None]
    assert counter.status is False


def test_init_fail_starts_failed_and_needs_rise_successes() -> None:
    counter = ScriptCounter(rise=2, fall=1, init_fail=True)
    assert counter.status is False
    assert run(counter, "-+") == [None, None]  # no change to report: it was failed already
    assert run(counter, "+") == [True]


@pytest.mark.parametrize(("rise", "fall"), [(0, 1), (1, 0)])
def test_rise_and_fall_below_one_are_refused(rise: int, fall: int) -> None:
    with pytest.raises(ValueError, match="rise and fall"):
        ScriptCounter(rise, fall)


@given(st.integers(1, 5), st.integers(1, 5), st.lists(st.booleans(), max_size=40))
def test_a_status_change_always_needs_the_configured_run_of_results(
    rise: int, fall: int, runs: list[bool]
) -> None:
    """Whatever the history, after the first result the status flips only at the end of `rise`
    consecutive successes or `fall` consecutive failures."""
    counter = ScriptCounter(rise, fall)
    streak: list[bool] = []
    for index, ok in enumerate(runs):
        streak = [*streak, ok] if streak and streak[-1] == ok else [ok]
        changed = counter.record(ok)
        if changed is not None and index > 0:
            assert changed == ok
            assert len(streak) >= (rise if ok else fall)


# ---------------------------------------------------------------------------------------------------
# Weights


@pytest.mark.parametrize(
    ("weight", "reverse", "status", "expected"),
    [
        (20, False, True, 20),  # positive: added while OK
        (20, False, False, 0),
        (-20, False, True, 0),
        (-20, False, False, -20),  # negative: added (lowers) while failed
        (20, True, True, -20),  # reverse: the contribution is negated
        (20, True, False, 0),
        (-20, True, False, 20),
        (-20, True, True, 0),
        (20, False, None, 0),  # no result yet: nothing
        (-20, False, None, 0),
        (0, False, False, 0),  # weight 0 never moves the priority (it faults instead)
    ],
)
def test_what_one_script_adds(weight: int, reverse: bool, status: bool | None, expected: int) -> None:
    assert contribution(Tracked(weight, reverse), status) == expected


@pytest.mark.parametrize(
    ("reverse", "status", "expected"),
    [
        (False, True, False),
        (False, False, True),
        (False, None, True),
        (True, True, True),
        (True, False, False),
    ],
)
def test_weight_zero_holds_the_instance_in_fault(reverse: bool, status: bool | None, expected: bool) -> None:
    assert faulted(Tracked(0, reverse), status) is expected


def test_a_weighted_script_never_faults() -> None:
    assert not faulted(Tracked(-20), False)
    assert not faulted(Tracked(20), None)


def test_several_scripts_add_up_and_clamp_to_1_254() -> None:
    terms = [(Tracked(20), True), (Tracked(5), True), (Tracked(-30), False)]
    assert effective_priority(40, terms) == 35  # openshift's API VIP: 40 + 20 + 5 - 30
    assert effective_priority(250, [(Tracked(20), True)]) == 254  # never 255: that is the owner's
    assert effective_priority(10, [(Tracked(-100), False)]) == 1  # never 0: that is "stepping down"
    assert effective_priority(100, []) == 100


def test_the_address_owner_keeps_255() -> None:
    assert effective_priority(255, [(Tracked(-100), False), (Tracked(50), True)]) == 255


@pytest.mark.parametrize("weight", [-254, 254])
def test_weights_are_bounded_like_keepalived(weight: int) -> None:
    with pytest.raises(ValueError, match="weight"):
        Tracked(weight)


# ---------------------------------------------------------------------------------------------------
# The Router's entry point: set_tracked (and the GARP knobs that come with keepalived's tracking)


OCP = (("chk_lb", Tracked(20)), ("chk_both", Tracked(5)))  # openshift's API VIP checks (weights +20, +5)


def test_positive_weights_raise_the_priority_while_the_scripts_pass() -> None:
    r = started(40, tracked=OCP)
    assert r.priority == 40  # no result yet: nothing added
    r.set_tracked(0.0, "chk_lb", True)
    r.set_tracked(0.0, "chk_both", True)
    assert r.priority == 65
    r.set_tracked(1.0, "chk_lb", False)
    assert r.priority == 45
    assert state(r) is State.BACKUP


def test_a_higher_tracked_priority_takes_the_master_role_by_the_normal_rules() -> None:
    """A backup whose checks pass preempts the master whose checks fail: the weights move the master."""
    r = master(100, tracked=(("chk", Tracked(-30)),))
    r.set_tracked(BECAME, "chk", False)
    assert r.priority == 70
    actions = r.receive(BECAME + 1, rx(90))  # 90 > 70: preempted
    assert state(r) is State.BACKUP
    assert any(isinstance(a, RemoveVips) for a in actions)


def test_a_failing_weight_zero_script_is_a_fault_and_its_recovery_an_election() -> None:
    r = started(100, tracked=(("chk", Tracked(0)),))
    assert state(r) is State.FAULT  # weight 0 and no result yet: not ready (keepalived's init)
    r.set_tracked(1.0, "chk", True)
    assert state(r) is State.BACKUP
    r.on_timer(due(r))
    assert state(r) is State.MASTER
    r.set_tracked(5.0, "chk", False)
    assert state(r) is State.FAULT and Fault.CHECK in r.faults


def test_reverse_weight_zero_faults_while_the_script_passes() -> None:
    r = started(100, tracked=(("maintenance", Tracked(0, reverse=True)),))
    r.set_tracked(0.0, "maintenance", False)
    assert state(r) is State.BACKUP
    r.set_tracked(1.0, "maintenance", True)
    assert state(r) is State.FAULT


def test_tracked_scripts_and_the_inline_check_add_up() -> None:
    r = started(100, tracked=(("chk", Tracked(-10)),), health_weight=20)
    r.set_tracked(0.0, "chk", False)
    r.set_health(0.0, False)
    assert r.priority == 70


def test_an_unknown_tracked_name_is_misuse() -> None:
    r = started(100, tracked=OCP)
    with pytest.raises(KeyError, match="nope"):
        r.set_tracked(0.0, "nope", True)


def test_a_reload_keeps_the_status_of_a_script_still_tracked() -> None:
    r = started(40, tracked=OCP)
    r.set_tracked(0.0, "chk_lb", True)
    r.reconfigure(1.0, config(40, tracked=(*OCP, ("new", Tracked(0)))))
    assert r.priority == 60
    assert state(r) is State.BACKUP  # a weight-0 script added by a reload does not fault before it runs
    r.reconfigure(2.0, config(40))
    assert r.priority == 40


def test_a_master_answers_a_lower_priority_advert_with_garp_bursts() -> None:
    """keepalived garp_lower_prio_repeat/delay: an advert, 5 GARPs per address now and 5 after 5 s."""
    r = master(100, garp_lower_prio_repeat=5, garp_lower_prio_delay=5.0)
    now = BECAME + 0.5
    actions = r.receive(now, rx(50))
    assert advert_of(actions).priority == 100
    assert [a.count for a in actions if isinstance(a, SendGarp)] == [5]
    later = [a for a in r.on_timer(now + 5.0) if isinstance(a, SendGarp)]
    assert [a.count for a in later] == [5]


def test_no_garp_burst_when_lower_priority_bursts_are_off() -> None:
    r = master(100)
    actions = r.receive(BECAME + 0.5, rx(50))
    assert not [a for a in actions if isinstance(a, SendGarp)]


def test_garp_master_refresh_repeat_sets_the_gratuitous_arps_per_refresh() -> None:
    r = master(100, garp_master_refresh=10.0, garp_master_refresh_repeat=3)
    refresh = [a for a in r.on_timer(BECAME + 10.0) if isinstance(a, SendGarp)]
    assert [a.count for a in refresh] == [3]


STRANGER = IPv4Address("192.0.2.99")


def test_skip_check_adv_addr_trusts_only_the_master_being_followed() -> None:
    """keepalived skip_check_adv_addr: a backup skips §7.1's address check for its current master only."""
    fewer = rx(150).advert.addresses[:1]
    for skip in (False, True):
        r = started(100, skip_check_adv_addr=skip)
        r.receive(0.5, rx(150))  # the master, with the same addresses: followed
        assert r.master_address == PEER
        mismatched = replace(rx(150), advert=replace(rx(150).advert, addresses=fewer))
        dropped = [a for a in r.receive(1.0, mismatched) if isinstance(a, Dropped)]
        assert (dropped == []) is skip
        stranger = replace(mismatched, source=STRANGER)
        dropped = [a for a in r.receive(1.5, stranger) if isinstance(a, Dropped)]
        assert [a.reason for a in dropped] == [DropReason.ADDRESS_MISMATCH]
