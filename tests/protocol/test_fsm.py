"""Single-router tests of `vrrpd.protocol.fsm`: every RFC 3768 §6 rule and every keepalived deviation, in
virtual time.

Each test drives one `Router` with explicit `now` values (no sleeping, no clock), then asserts the exact list
of returned actions and the exact next `deadline`. The times used are binary fractions (0.5, 0.625, ...) or
integers wherever a sum is compared, so float comparisons can be exact; where a sum is not exactly
representable, `pytest.approx(abs=1e-6)` (one microsecond) is used.

Multi-router behaviour (elections, failover, split brain) is in tests/protocol/test_lan.py; the codec's own
rules are
in tests/protocol/test_packet.py.
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv4Interface, IPv6Address
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vrrpd.protocol.fsm import (
    ANSWER_MIN_GAP,
    VIP_FAULT_ATTEMPTS,
    VIP_FAULT_RETRY,
    VIP_FAULT_RETRY_MAX,
    Action,
    AddVips,
    Dropped,
    Fault,
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
    AUTH_NONE,
    AUTH_PASS,
    VRRP_MULTICAST,
    VRRP_TTL,
    Advertisement,
    DropReason,
    Received,
    pad_password,
)

VRID = 51
ME = IPv4Address("192.0.2.10")
LOWER = IPv4Address("192.0.2.5")  # a peer whose primary address is below ours
HIGHER = IPv4Address("192.0.2.20")  # a peer whose primary address is above ours
VIPS = (IPv4Interface("192.0.2.100/24"), IPv4Interface("192.0.2.101/24"))
VIP_ADDRS = tuple(v.ip for v in VIPS)
US = 1e-6  # one microsecond: the tolerance where a sum is not a binary fraction


def config(priority: int = 100, **overrides: Any) -> RouterConfig:
    fields: dict[str, Any] = {"vrid": VRID, "priority": priority, "primary_address": ME, "vips": VIPS}
    return RouterConfig(**(fields | overrides))


def router(priority: int = 100, **overrides: Any) -> Router:
    return Router(config(priority, **overrides))


def started(priority: int = 100, now: float = 0.0, **overrides: Any) -> Router:
    r = router(priority, **overrides)
    r.start(now)
    return r


def master(priority: int = 100, now: float = 0.0, **overrides: Any) -> Router:
    """A router that became MASTER by its Master_Down_Timer; returns it with `now` = that time."""
    r = started(priority, now, **overrides)
    deadline = r.deadline
    assert deadline is not None
    r.on_timer(deadline)
    assert state(r) is State.MASTER
    return r


def advert(
    priority: int, *, advert_int: int = 1, addresses: tuple[IPv4Address, ...] = VIP_ADDRS
) -> Advertisement:
    return Advertisement(vrid=VRID, priority=priority, addresses=addresses, advert_int=advert_int)


def rx(
    priority: int,
    source: IPv4Address = HIGHER,
    *,
    destination: IPv4Address = VRRP_MULTICAST,
    **fields: Any,
) -> Received:
    """An advertisement as `packet.decode_ipv4` would hand it to the state machine."""
    return Received(advert=advert(priority, **fields), source=source, destination=destination, ttl=VRRP_TTL)


def my_advert(priority: int, advert_int: int = 1) -> SendAdvert:
    return SendAdvert(advert(priority, advert_int=advert_int))


def garp(count: int = 5) -> SendGarp:
    return SendGarp(VIP_ADDRS, count)


def state(r: Router) -> State:
    """The router's state, read through a call so that mypy does not narrow it between two calls."""
    return r.state


def due(r: Router) -> float:
    assert r.deadline is not None
    return r.deadline


# -- §6.1 parameters -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "expected"),
    [(1, 255 / 256), (100, 0.609375), (200, 0.21875), (254, 2 / 256), (255, 1 / 256)],
)
def test_skew_time_is_256_minus_priority_over_256(priority: int, expected: float) -> None:
    assert skew_time(priority) == expected
    assert router(priority).skew_time == expected


@pytest.mark.parametrize(("advert_int", "priority"), [(1, 100), (1, 255), (2, 1), (10, 200), (255, 254)])
def test_master_down_interval_is_three_intervals_plus_skew(advert_int: int, priority: int) -> None:
    expected = 3 * advert_int + (256 - priority) / 256
    assert master_down_interval(advert_int, priority) == expected
    assert router(priority, advert_int=advert_int).master_down_interval == expected


def test_higher_priority_has_the_shorter_master_down_interval() -> None:
    mdis = [master_down_interval(1, p) for p in range(1, 256)]
    assert mdis == sorted(mdis, reverse=True)
    assert len(set(mdis)) == 255


# -- §6.4.1 Initialize ---------------------------------------------------------------------------------------


def test_new_router_is_in_init_with_no_deadline() -> None:
    r = router()
    assert state(r) is State.INIT
    assert r.deadline is None
    assert r.master_address is None


def test_startup_goes_to_backup_with_master_down_interval() -> None:
    r = router(100)
    actions = r.start(10.0)
    assert actions == [StateChanged(State.INIT, State.BACKUP, Reason.STARTUP, 100, None)]
    assert state(r) is State.BACKUP
    assert r.deadline == 10.0 + 3.609375


def test_startup_deadline_uses_the_advert_interval() -> None:
    r = router(200, advert_int=4)
    r.start(1.0)
    assert r.deadline == 1.0 + 12 + 0.21875


def test_owner_startup_becomes_master_at_once() -> None:
    r = router(255)
    actions = r.start(7.0)
    assert actions == [
        my_advert(255),
        StateChanged(State.INIT, State.MASTER, Reason.ADDRESS_OWNER, 255, ME),
        AddVips(VIPS, routes=True),
        garp(5),
    ]
    assert state(r) is State.MASTER
    assert r.master_address == ME
    assert r.deadline == 8.0  # Adver_Timer = Advertisement_Interval


def test_owner_garp_repeat_is_configurable() -> None:
    r = router(255, garp_master_repeat=2, garp_master_delay=0)
    actions = r.start(0.0)
    assert actions[-1] == garp(2)


def test_start_twice_raises() -> None:
    r = started()
    with pytest.raises(RuntimeError, match="already running"):
        r.start(1.0)
    m = master()
    with pytest.raises(RuntimeError):
        m.start(100.0)


# -- §6.4.2 Backup -------------------------------------------------------------------------------------------


def test_on_timer_before_the_deadline_does_nothing() -> None:
    r = started(100, 0.0)
    assert r.on_timer(0.0) == []
    assert r.on_timer(3.609374) == []
    assert state(r) is State.BACKUP
    assert r.deadline == 3.609375


def test_master_down_timer_fires_into_master_with_actions_in_order() -> None:
    r = started(100, 0.0)
    fire = due(r)
    actions = r.on_timer(fire)
    assert actions == [
        my_advert(100),
        StateChanged(State.BACKUP, State.MASTER, Reason.MASTER_DOWN, 100, ME),
        AddVips(VIPS, routes=True),
        garp(5),
    ]
    assert state(r) is State.MASTER
    assert r.deadline == fire + 1  # Adver_Timer


def test_master_down_timer_fired_late_counts_from_the_wakeup() -> None:
    r = started(100, 0.0)
    actions = r.on_timer(10.0)
    assert isinstance(actions[1], StateChanged)
    assert actions[1].new is State.MASTER
    assert r.deadline == 11.0


def test_backup_higher_priority_advert_resets_master_down_timer() -> None:
    r = started(100, 0.0)
    assert r.receive(2.5, rx(200, HIGHER)) == []
    assert state(r) is State.BACKUP
    assert r.deadline == 2.5 + 3.609375
    assert r.master_address == HIGHER


def test_backup_equal_priority_is_never_preempted() -> None:
    """§6.4.2: priority >= local resets the timer, whatever the addresses (only a master compares them)."""
    r = started(100, 0.0)
    assert r.receive(2.5, rx(100, LOWER)) == []
    assert r.deadline == 2.5 + 3.609375
    assert r.master_address == LOWER
    for t in (3.5, 4.5, 5.5, 6.5, 7.5):  # keeps accepting: never fires while the master advertises
        assert r.receive(t, rx(100, LOWER)) == []
        assert r.on_timer(t) == []
    assert state(r) is State.BACKUP
    assert r.deadline == 7.5 + 3.609375


def test_backup_with_preempt_discards_lower_priority_and_fires_at_the_old_deadline() -> None:
    r = started(200, 0.0)
    old = due(r)
    assert old == 3.21875
    for t in (0.5, 1.5, 2.5):
        assert r.receive(t, rx(100, HIGHER)) == []
        assert r.deadline == old  # discarded: the timer keeps running
    assert r.master_address is None
    actions = r.on_timer(old)
    assert actions[1] == StateChanged(State.BACKUP, State.MASTER, Reason.MASTER_DOWN, 200, ME)
    assert actions[0] == my_advert(200)


def test_backup_preemption_after_a_lower_master_was_followed() -> None:
    """A backup following a master whose priority then drops takes over MDI after the last good advert."""
    r = started(150, 0.0)
    r.receive(1.0, rx(200))
    assert r.deadline == 1.0 + master_down_interval(1, 150)
    r.receive(2.0, rx(100))  # the same master, now weaker: discarded
    assert r.deadline == 1.0 + master_down_interval(1, 150)


def test_nopreempt_backup_accepts_lower_priority() -> None:
    r = started(200, 0.0, preempt=False)
    assert r.receive(2.5, rx(100, LOWER)) == []
    assert r.deadline == 2.5 + 3.21875
    assert r.master_address == LOWER
    for t in (3.5, 4.5, 5.5, 6.5):
        assert r.receive(t, rx(1, LOWER)) == []
    assert r.on_timer(6.5 + 3.21875 - 0.5) == []
    assert state(r) is State.BACKUP


@pytest.mark.parametrize("preempt", [True, False])
def test_backup_priority_zero_sets_master_down_timer_to_skew_time(preempt: bool) -> None:
    r = started(100, 0.0, preempt=preempt)
    r.receive(1.0, rx(200))
    assert r.receive(2.0, rx(0)) == []
    assert r.deadline == 2.0 + 0.609375  # Skew_Time, not Master_Down_Interval
    assert r.master_address is None
    actions = r.on_timer(2.609375)
    # A handover the master announced: logged apart from a master gone silent (MASTER_DOWN).
    assert actions[1] == StateChanged(State.BACKUP, State.MASTER, Reason.MASTER_PRIORITY_ZERO, 100, ME)


def test_a_silent_master_is_a_master_down_expiry_even_after_an_earlier_priority_zero() -> None:
    r = started(100, 0.0)
    r.receive(1.0, rx(0))  # the master leaves ...
    r.receive(1.2, rx(200))  # ... another takes over before our Skew_Time, and then falls silent
    actions = r.on_timer(due(r))
    assert actions[1] == StateChanged(State.BACKUP, State.MASTER, Reason.MASTER_DOWN, 100, ME)


def test_priority_zero_handover_order_follows_priority() -> None:
    """The highest-priority backup's Skew_Time is the shortest, so it is the one that takes over."""
    skews = [(p, started(p, 0.0)) for p in (254, 200, 100, 1)]
    for _, r in skews:
        r.receive(5.0, rx(0))
    deadlines = [due(r) for _, r in skews]
    assert deadlines == [5.0 + skew_time(p) for p, _ in skews]
    assert deadlines == sorted(deadlines)


# -- §6.4.3 Master -------------------------------------------------------------------------------------------


def test_a_router_keeps_its_state_in_slots() -> None:
    """No instance dictionary: a master's period reads a dozen attributes of each of its routers on cold
    caches (1,000 instances: 1,000 times a second), and slots keep them on fewer cache lines."""
    r = master(150)
    assert not hasattr(r, "__dict__")
    with pytest.raises(AttributeError):
        r.unknown = 1  # type: ignore[attr-defined]


def test_adver_timer_rearms_by_the_period() -> None:
    r = router(255, garp_master_delay=0)
    r.start(0.0)
    for k in range(1, 6):
        assert r.on_timer(float(k)) == [my_advert(255)]
        assert r.deadline == k + 1.0


def test_a_master_hands_back_the_same_advert_until_what_it_carries_changes() -> None:
    """The adapter recognises an advert it has already encoded by identity (`Router.advertisement`)."""
    r = master(150, garp_master_delay=0)
    first = r.on_timer(due(r))[0]
    assert isinstance(first, SendAdvert) and first == my_advert(150)
    assert r.on_timer(due(r))[0] is first and r.advertisement() is first.advert
    r.set_priority(due(r) - 0.5, 120)
    lowered = r.on_timer(due(r))
    assert lowered == [my_advert(120)] and lowered[0] is not first
    r.reconfigure(due(r) - 0.5, config(150, advert_int=2, garp_master_delay=0))
    assert r.on_timer(due(r)) == [my_advert(120, advert_int=2)]


def test_adver_timer_does_not_drift_on_late_wakeups() -> None:
    r = router(255)
    r.start(0.0)
    assert r.on_timer(1.25) == [my_advert(255)]  # woken 250 ms late
    assert r.deadline == 2.0  # the next expiry stays on the original grid
    assert r.on_timer(2.5) == [my_advert(255)]
    assert r.deadline == 3.0


def test_adver_timer_runs_early_within_the_callers_tolerance_and_keeps_its_grid() -> None:
    """A master sharing a wake-up with others (`runtime.instance.Ticker`): its advert leaves up to `early`
    before the expiry, and the next expiry stays where the period puts it (§6.4.3, no drift)."""
    r = router(255, garp_master_delay=0)
    r.start(0.0)
    assert r.on_timer(0.9375, early=0.03125) == []  # 62.5 ms before: beyond the tolerance
    assert r.on_timer(0.96875, early=0.03125) == [my_advert(255)]  # 31.25 ms before: sent now
    assert r.deadline == 2.0
    assert r.on_timer(2.0, early=0.03125) == [my_advert(255)]  # on time
    assert r.deadline == 3.0


def test_an_early_advert_counts_as_sent_when_it_left_for_the_answer_gap() -> None:
    """The lower-priority answer's rate limit (ANSWER_MIN_GAP) runs from when the advert left, not from the
    expiry it was sent ahead of."""
    r = master(200, garp_master_delay=0)  # became master at 3.21875; Adver_Timer at 4.21875
    assert r.on_timer(4.1875, early=0.03125) == [my_advert(200)]  # left at 4.1875, 31.25 ms early
    assert r.receive(4.3125, rx(100)) == [my_advert(200)]  # 125 ms after it left: answered


def test_adver_timer_does_not_burst_after_a_long_stall() -> None:
    r = router(255, garp_master_delay=0)
    r.start(0.0)
    assert r.on_timer(10.5) == [my_advert(255)]  # nine expiries missed: one advert, not ten
    assert r.deadline == 11.5
    assert r.on_timer(11.5) == [my_advert(255)]
    assert r.deadline == 12.5


def test_adver_timer_exactly_one_period_late_sends_once() -> None:
    r = router(255)
    r.start(0.0)
    assert r.on_timer(2.0) == [my_advert(255)]
    assert r.deadline == 3.0


def test_adver_timer_with_longer_interval() -> None:
    r = router(255, advert_int=3, garp_master_delay=0)
    r.start(0.0)
    assert r.deadline == 3.0
    assert r.on_timer(3.0) == [my_advert(255, advert_int=3)]
    assert r.deadline == 6.0


@settings(max_examples=200, deadline=None)
@given(
    advert_int=st.integers(1, 5),
    lateness=st.lists(st.integers(0, 20_000), min_size=1, max_size=30),
)
def test_adver_timer_never_drifts_or_bursts(advert_int: int, lateness: list[int]) -> None:
    """Property: whatever the wake-up lateness (ms), one advert per wake-up, next expiry on the grid."""
    r = router(255, advert_int=advert_int, garp_master_delay=0)
    r.start(0.0)
    for late_ms in lateness:
        d = due(r)
        now = d + late_ms / 1000
        assert r.on_timer(now) == [my_advert(255, advert_int=advert_int)]
        nxt = due(r)
        assert nxt > now
        if now < d + advert_int:
            assert nxt == d + advert_int  # on the grid: no drift
        else:
            assert nxt == now + advert_int  # after a stall: restart from now, no burst


def test_master_priority_zero_advert_answers_and_resets_adver_timer() -> None:
    r = master(100)  # master at 3.609375, Adver_Timer at 4.609375
    assert r.receive(4.25, rx(0, HIGHER)) == [my_advert(100)]
    assert state(r) is State.MASTER
    assert r.deadline == 5.25


def test_master_priority_zero_answer_is_rate_limited() -> None:
    r = router(255, garp_master_delay=0)
    r.start(0.0)
    assert r.on_timer(1.0) == [my_advert(255)]
    assert r.receive(1.0625, rx(0, HIGHER)) == []  # 62.5 ms after our own advert
    assert r.deadline == 2.0  # not reset either
    assert r.receive(1.125, rx(0, HIGHER)) == [my_advert(255)]
    assert r.deadline == 2.125


def test_master_higher_priority_advert_steps_down() -> None:
    r = master(100, garp_master_delay=2, garp_master_refresh=7)
    actions = r.receive(4.0, rx(101, LOWER))
    assert actions == [
        StateChanged(State.MASTER, State.BACKUP, Reason.PREEMPTED, 100, LOWER),
        RemoveVips(VIPS, routes=True),
    ]
    assert state(r) is State.BACKUP
    assert r.master_address == LOWER
    assert r.deadline == 4.0 + 3.609375  # Adver_Timer and GARP timers cancelled, Master_Down_Timer armed


def test_master_equal_priority_from_higher_address_steps_down() -> None:
    r = master(100)
    actions = r.receive(4.0, rx(100, HIGHER))
    assert actions == [
        StateChanged(State.MASTER, State.BACKUP, Reason.PREEMPTED, 100, HIGHER),
        RemoveVips(VIPS, routes=True),
    ]
    assert r.deadline == 4.0 + 3.609375


def test_master_equal_priority_from_lower_address_stays_and_answers() -> None:
    r = master(100)  # Adver_Timer at 4.609375
    assert r.receive(4.0, rx(100, LOWER)) == [my_advert(100)]
    assert state(r) is State.MASTER
    assert r.deadline == 4.609375  # the answer does not move the Adver_Timer


def test_master_answers_lower_priority_at_most_once_per_gap() -> None:
    assert ANSWER_MIN_GAP == 0.1
    r = master(200)  # became master at 3.21875 (and advertised then)
    assert r.receive(3.25, rx(100)) == []  # 31.25 ms after the takeover advert
    assert r.receive(3.5, rx(100)) == [my_advert(200)]
    assert r.receive(3.5625, rx(100)) == []  # 62.5 ms later
    assert r.receive(3.59375, rx(1)) == []  # 93.75 ms later
    assert r.receive(3.625, rx(100)) == [my_advert(200)]  # 125 ms later
    assert state(r) is State.MASTER
    assert r.deadline == 4.21875


def test_master_lower_priority_answer_can_be_disabled() -> None:
    r = master(200, lower_priority_answer=False)
    assert r.receive(4.0, rx(100)) == []  # §6.4.3 as written: discard
    assert state(r) is State.MASTER


def test_owner_processes_adverts_deviation() -> None:
    """Deviation (erratum 8298): the owner does not discard adverts, so two owners still elect one master."""
    r = router(255)
    r.start(0.0)
    assert r.receive(0.5, rx(100, HIGHER)) == [my_advert(255)]  # answers a lower one
    actions = r.receive(0.75, rx(255, HIGHER))
    assert actions == [
        StateChanged(State.MASTER, State.BACKUP, Reason.PREEMPTED, 255, HIGHER),
        RemoveVips(VIPS, routes=True),
    ]
    assert r.deadline == 0.75 + 3 + 1 / 256
    assert r.receive(1.75, rx(255, HIGHER)) == []  # as a backup it follows the other owner
    assert r.deadline == 1.75 + 3 + 1 / 256


# -- Shutdown ------------------------------------------------------------------------------------------------


def test_shutdown_from_master_sends_priority_zero_and_removes_vips() -> None:
    r = master(100, garp_master_refresh=2)
    actions = r.shutdown(5.0)
    assert actions == [
        my_advert(0),
        RemoveVips(VIPS, routes=True),
        StateChanged(State.MASTER, State.INIT, Reason.SHUTDOWN, 100, None),
    ]
    assert state(r) is State.INIT
    assert r.deadline is None
    assert r.master_address is None


def test_shutdown_from_backup_just_stops() -> None:
    r = started()
    assert r.shutdown(1.0) == [StateChanged(State.BACKUP, State.INIT, Reason.SHUTDOWN, 100, None)]
    assert r.deadline is None


def test_shutdown_is_idempotent() -> None:
    assert router().shutdown(0.0) == []  # never started
    r = master()
    assert len(r.shutdown(5.0)) == 3
    assert r.shutdown(5.5) == []
    assert r.shutdown(6.0) == []
    assert state(r) is State.INIT


def test_shutdown_from_fault_goes_to_init() -> None:
    r = started()
    r.set_fault(1.0, Fault.INTERFACE, True)
    assert r.shutdown(2.0) == [StateChanged(State.FAULT, State.INIT, Reason.SHUTDOWN, 100, None)]
    assert r.deadline is None


def test_restart_after_shutdown_is_a_fresh_startup() -> None:
    r = master(100)
    r.shutdown(5.0)
    assert r.start(6.0) == [StateChanged(State.INIT, State.BACKUP, Reason.STARTUP, 100, None)]
    assert r.deadline == 6.0 + 3.609375


def test_stopped_router_ignores_timers_and_adverts() -> None:
    r = master()
    r.shutdown(5.0)
    assert r.on_timer(100.0) == []
    assert r.receive(101.0, rx(200)) == []
    assert state(r) is State.INIT


# -- preempt_delay (keepalived) ------------------------------------------------------------------------------


def test_preempt_delay_accepts_a_lower_master_for_the_delay_then_preempts() -> None:
    r = started(200, 0.0, preempt_delay=10)
    mdi = 3.21875
    # A lower-priority master advertises every second from t=0.5: accepted until 0.5 + 10.
    for k in range(10):
        t = 0.5 + k
        assert r.receive(t, rx(100)) == []
        assert r.deadline == t + mdi, t
        assert r.master_address == HIGHER
    assert r.receive(10.5, rx(100)) == []  # the delay is over: discarded from now on
    assert r.deadline == 9.5 + mdi
    assert r.receive(11.5, rx(100)) == []
    assert r.deadline == 9.5 + mdi
    assert r.on_timer(9.5 + mdi - 0.125) == []
    actions = r.on_timer(9.5 + mdi)
    assert actions[1] == StateChanged(State.BACKUP, State.MASTER, Reason.MASTER_DOWN, 200, ME)


def test_preempt_delay_counts_from_the_first_lower_advert() -> None:
    r = started(200, 0.0, preempt_delay=2)
    r.on_timer(1.0)
    r.receive(1.5, rx(250))  # a higher master first: nothing to wait for
    r.receive(2.5, rx(100))  # the first lower one: hold until 4.5
    assert r.deadline == 2.5 + 3.21875
    r.receive(4.25, rx(100))
    assert r.deadline == 4.25 + 3.21875
    r.receive(4.5, rx(100))  # hold over
    assert r.deadline == 4.25 + 3.21875


def test_preempt_delay_restarts_after_a_higher_master_is_heard() -> None:
    r = started(200, 0.0, preempt_delay=2)
    r.receive(1.0, rx(100))  # hold until 3.0
    r.receive(2.0, rx(250))  # a higher master: the hold is forgotten
    r.receive(3.5, rx(100))  # a lower one again: a new hold until 5.5
    assert r.deadline == 3.5 + 3.21875
    r.receive(5.25, rx(100))
    assert r.deadline == 5.25 + 3.21875


def test_preempt_delay_holds_after_a_restart() -> None:
    r = started(200, 0.0, preempt_delay=5)
    r.receive(20.0, rx(100))  # hold until 25
    r.shutdown(22.0)
    r.start(30.0)  # back up long after the old hold would have expired
    assert r.deadline == 30.0 + 3.21875
    assert r.receive(31.0, rx(100)) == []  # still waits: a new hold until 36
    assert r.deadline == 31.0 + 3.21875
    assert r.receive(35.75, rx(100)) == []
    assert r.deadline == 35.75 + 3.21875
    assert r.receive(36.0, rx(100)) == []
    assert r.deadline == 35.75 + 3.21875


def test_preempt_delay_holds_after_losing_mastership() -> None:
    r = master(200, preempt_delay=5)  # master at 3.21875
    r.receive(4.0, rx(250))  # steps down to a higher master
    assert state(r) is State.BACKUP
    r.receive(6.0, rx(100))  # that master is now weaker: hold until 11
    assert r.deadline == 6.0 + 3.21875


def test_preempt_delay_does_not_delay_a_priority_zero_handover() -> None:
    r = started(200, 0.0, preempt_delay=10)
    r.receive(1.0, rx(100))
    r.receive(2.0, rx(0))
    assert r.deadline == 2.0 + 0.21875


def test_without_preempt_delay_a_lower_master_is_discarded_at_once() -> None:
    r = started(200, 0.0)
    r.receive(1.0, rx(100))
    assert r.deadline == 3.21875


def test_preempt_delay_is_ignored_without_preempt() -> None:
    r = started(200, 0.0, preempt=False, preempt_delay=2)
    for t in (1.0, 5.0, 9.0):
        r.receive(t, rx(100))
        assert r.deadline == t + 3.21875


# -- Faults (keepalived FAULT state) -------------------------------------------------------------------------


def test_interface_down_in_master_goes_fault_without_advert() -> None:
    r = master(100, garp_master_refresh=3)
    actions = r.set_fault(5.0, Fault.INTERFACE, True)
    assert actions == [
        StateChanged(State.MASTER, State.FAULT, Reason.FAULT, 100, None),
        RemoveVips(VIPS, routes=True),
    ]
    assert state(r) is State.FAULT
    assert r.deadline is None


def test_check_failure_in_master_sends_priority_zero_and_removes_vips() -> None:
    r = master(100)
    actions = r.set_fault(5.0, Fault.CHECK, True)
    assert actions == [
        StateChanged(State.MASTER, State.FAULT, Reason.FAULT, 100, None),
        my_advert(0),
        RemoveVips(VIPS, routes=True),
    ]
    assert r.deadline is None


def test_no_address_of_its_own_goes_fault_without_advert() -> None:
    """No source address left (§5.2.1): nothing to send a priority-0 advert from; the VIPs go."""
    r = master(100)
    actions = r.set_fault(5.0, Fault.NO_ADDRESS, True)
    assert actions == [
        StateChanged(State.MASTER, State.FAULT, Reason.FAULT, 100, None),
        RemoveVips(VIPS, routes=True),
    ]


@pytest.mark.parametrize("fault", list(Fault))
def test_fault_in_backup_stops_the_master_down_timer(fault: Fault) -> None:
    r = started(100, 0.0)
    assert r.set_fault(1.0, fault, True) == [StateChanged(State.BACKUP, State.FAULT, Reason.FAULT, 100, None)]
    assert r.deadline is None
    assert r.on_timer(100.0) == []


def test_a_second_fault_keeps_fault_until_both_clear() -> None:
    r = master(100)
    r.set_fault(5.0, Fault.CHECK, True)
    assert r.set_fault(6.0, Fault.INTERFACE, True) == []
    assert r.set_fault(6.5, Fault.INTERFACE, True) == []  # raising it again is a no-op
    assert r.set_fault(7.0, Fault.CHECK, False) == []  # the interface is still down
    assert state(r) is State.FAULT
    assert r.deadline is None
    assert r.set_fault(8.0, Fault.INTERFACE, False) == [
        StateChanged(State.FAULT, State.BACKUP, Reason.RECOVERED, 100, None)
    ]
    assert state(r) is State.BACKUP
    assert r.deadline == 8.0 + 3.609375  # a fresh Master_Down_Interval


def test_owner_clearing_the_last_fault_becomes_master_at_once() -> None:
    r = router(255)
    r.start(0.0)
    r.set_fault(1.0, Fault.INTERFACE, True)
    actions = r.set_fault(2.0, Fault.INTERFACE, False)
    assert actions == [
        my_advert(255),
        StateChanged(State.FAULT, State.MASTER, Reason.ADDRESS_OWNER, 255, ME),
        AddVips(VIPS, routes=True),
        garp(5),
    ]
    assert r.deadline == 3.0


def test_clearing_a_fault_that_was_never_raised_does_nothing() -> None:
    r = started()
    assert r.set_fault(1.0, Fault.CHECK, False) == []
    assert state(r) is State.BACKUP
    assert r.deadline == 3.609375


def test_fault_raised_before_start_makes_start_go_to_fault() -> None:
    r = router()
    assert r.set_fault(0.0, Fault.INTERFACE, True) == []  # not running yet: only recorded
    assert r.start(1.0) == [StateChanged(State.INIT, State.FAULT, Reason.FAULT, 100, None)]
    assert r.deadline is None
    assert r.set_fault(2.0, Fault.INTERFACE, False) == [
        StateChanged(State.FAULT, State.BACKUP, Reason.RECOVERED, 100, None)
    ]
    assert r.deadline == 2.0 + 3.609375


def test_owner_with_a_fault_before_start_does_not_become_master() -> None:
    r = router(255)
    r.set_fault(0.0, Fault.CHECK, True)
    assert r.start(1.0) == [StateChanged(State.INIT, State.FAULT, Reason.FAULT, 255, None)]


def test_fault_cleared_before_start_leaves_a_normal_start() -> None:
    r = router()
    r.set_fault(0.0, Fault.CHECK, True)
    assert r.set_fault(0.5, Fault.CHECK, False) == []
    assert r.start(1.0) == [StateChanged(State.INIT, State.BACKUP, Reason.STARTUP, 100, None)]


def test_faults_survive_a_shutdown() -> None:
    r = started()
    r.set_fault(1.0, Fault.CHECK, True)
    r.shutdown(2.0)
    assert r.start(3.0) == [StateChanged(State.INIT, State.FAULT, Reason.FAULT, 100, None)]


@pytest.mark.parametrize("priority", [0, 100, 200, 255])
def test_adverts_are_ignored_in_fault(priority: int) -> None:
    r = started()
    r.set_fault(1.0, Fault.INTERFACE, True)
    assert r.receive(2.0, rx(priority)) == []
    assert state(r) is State.FAULT
    assert r.deadline is None


@pytest.mark.parametrize("priority", [0, 100, 200, 255])
def test_adverts_are_ignored_in_init(priority: int) -> None:
    r = router()
    assert r.receive(2.0, rx(priority)) == []
    assert state(r) is State.INIT
    assert r.deadline is None


# -- set_priority --------------------------------------------------------------------------------------------


def test_set_priority_changes_skew_and_master_down_interval() -> None:
    r = started(100, 0.0)
    assert r.set_priority(1.0, 200) == []
    assert r.priority == 200
    assert r.skew_time == 0.21875
    assert r.master_down_interval == 3.21875
    assert r.deadline == 3.609375  # the running timer is not rescheduled by itself...
    r.receive(2.0, rx(250))
    assert r.deadline == 2.0 + 3.21875  # ...the next reset uses the new interval
    r.receive(3.0, rx(0))
    assert r.deadline == 3.0 + 0.21875
    assert r.config.priority == 100  # the configured priority is untouched


def test_set_priority_changes_the_advertised_priority() -> None:
    r = master(100)  # Adver_Timer at 4.609375
    r.set_priority(4.0, 50)
    assert r.on_timer(4.609375) == [my_advert(50)]
    assert r.receive(4.75, rx(60, LOWER)) == [  # a 60 now outranks us
        StateChanged(State.MASTER, State.BACKUP, Reason.PREEMPTED, 50, LOWER),
        RemoveVips(VIPS, routes=True),
    ]


def test_set_priority_changes_the_election_as_backup() -> None:
    r = started(100, 0.0)
    r.receive(1.0, rx(150))
    r.set_priority(1.5, 200)  # now above the master: its adverts are discarded
    r.receive(2.0, rx(150))
    assert r.deadline == 1.0 + 3.609375  # preempts when the old timer runs out


@pytest.mark.parametrize("bad", [0, 256, -1, 1000])
def test_set_priority_out_of_range_raises(bad: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        router().set_priority(0.0, bad)


def test_set_priority_cannot_gain_or_lose_255() -> None:
    with pytest.raises(ValueError, match="address owner"):
        router(100).set_priority(0.0, 255)
    with pytest.raises(ValueError, match="address owner"):
        router(255).set_priority(0.0, 254)
    owner = router(255)
    assert owner.set_priority(0.0, 255) == []
    assert owner.priority == 255


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("vrid", 0),
        ("vrid", 256),
        ("priority", 0),
        ("priority", 256),
        ("advert_int", 0),
        ("advert_int", 256),
        ("preempt_delay", -1.0),
        ("garp_master_delay", -0.5),
        ("garp_master_refresh", -1.0),
        ("garp_master_repeat", 0),
    ],
)
def test_bad_config_raises(field: str, value: Any) -> None:
    with pytest.raises(ValueError):
        replace(config(), **{field: value})


def test_too_many_vips_raise() -> None:
    vips = tuple(IPv4Interface(f"10.0.{i // 250}.{i % 250 + 1}/16") for i in range(256))
    with pytest.raises(ValueError, match="255"):
        config(vips=vips)


EXCLUDED = (IPv4Interface("198.51.100.1/32"), IPv4Interface("198.51.100.2/24"))


def test_excluded_vips_are_installed_and_announced_but_not_advertised() -> None:
    """Deviation (keepalived eVIPs): excluded addresses follow every VIP action, never the adverts."""
    everything = VIPS + EXCLUDED
    r = started(excluded=EXCLUDED, garp_master_delay=2, garp_master_refresh=3)
    assert r.on_timer(r.deadline or 0) == [
        my_advert(100),  # VIP_ADDRS only: §5.3.9's list is the advertised one
        StateChanged(State.BACKUP, State.MASTER, Reason.MASTER_DOWN, 100, ME),
        AddVips(everything, routes=True),
        SendGarp(tuple(v.ip for v in everything), 5),
    ]
    now = r.deadline or 0
    assert SendAdvert(advert(100)) in r.on_timer(now)
    assert SendGarp(tuple(v.ip for v in everything), 5) in r.on_timer(5.7)  # the delayed burst
    assert SendGarp(tuple(v.ip for v in everything), 1) in r.on_timer(6.7)  # a refresh
    # §7.1 compares a received advert with the advertised list only.
    assert r.receive(7.3, rx(50, LOWER)) == [my_advert(100)]
    (dropped,) = r.receive(7.5, rx(50, LOWER, addresses=tuple(v.ip for v in everything)))
    assert isinstance(dropped, Dropped) and dropped.reason is DropReason.ADDRESS_MISMATCH
    assert r.receive(7.6, rx(150)) == [
        StateChanged(State.MASTER, State.BACKUP, Reason.PREEMPTED, 100, HIGHER),
        RemoveVips(everything, routes=True),
    ]


def test_an_address_both_advertised_and_excluded_raises() -> None:
    with pytest.raises(ValueError, match="twice"):
        config(excluded=(IPv4Interface("192.0.2.100/32"),))
    # Excluded addresses are not bounded by the advert's one-octet count.
    many = tuple(IPv4Interface(f"10.1.{i // 250}.{i % 250 + 1}/32") for i in range(600))
    assert len(config(excluded=many).installed) == 602


def test_auth_config_sets_type_and_data() -> None:
    assert config().auth_type == AUTH_NONE
    assert config().auth_data == bytes(8)
    cfg = config(auth_pass="secret")
    assert cfg.auth_type == AUTH_PASS
    assert cfg.auth_data == pad_password("secret")


# -- GARP timing (keepalived garp_master_delay / garp_master_refresh) ----------------------------------------


def test_garp_master_delay_sends_a_second_burst() -> None:
    r = router(255, garp_master_delay=2.5)
    start = r.start(0.0)
    assert start[-1] == garp(5)
    assert r.on_timer(1.0) == [my_advert(255)]
    assert r.on_timer(2.0) == [my_advert(255)]
    assert r.deadline == 2.5
    assert r.on_timer(2.5) == [garp(5)]
    assert r.deadline == 3.0
    assert r.on_timer(3.0) == [my_advert(255)]
    for k in range(4, 20):  # only one second burst
        assert r.on_timer(float(k)) == [my_advert(255)]


def test_garp_master_delay_coinciding_with_the_adver_timer() -> None:
    r = router(255, garp_master_delay=5)
    r.start(0.0)
    for k in range(1, 5):
        r.on_timer(float(k))
    assert r.on_timer(5.0) == [my_advert(255), garp(5)]


def test_no_second_burst_when_garp_master_delay_is_zero() -> None:
    r = router(255, garp_master_delay=0)
    r.start(0.0)
    for k in range(1, 20):
        assert r.on_timer(float(k)) == [my_advert(255)]


def test_garp_master_refresh_is_periodic() -> None:
    r = router(255, garp_master_delay=0, garp_master_refresh=2.5)
    r.start(0.0)
    sent: list[tuple[float, Action]] = []
    now = 0.0
    while now < 10.0:
        now = due(r)
        sent += [(now, a) for a in r.on_timer(now)]
    garps = [(t, a) for t, a in sent if isinstance(a, SendGarp)]
    assert garps == [(2.5, garp(1)), (5.0, garp(1)), (7.5, garp(1)), (10.0, garp(1))]


def test_garp_master_refresh_does_not_burst_after_a_stall() -> None:
    r = router(255, garp_master_delay=0, garp_master_refresh=2)
    r.start(0.0)
    assert r.on_timer(9.0) == [my_advert(255), garp(1)]
    assert r.deadline == 10.0
    assert r.on_timer(10.0) == [my_advert(255)]
    assert r.on_timer(11.0) == [my_advert(255), garp(1)]


def test_garp_timers_stop_when_leaving_master() -> None:
    r = master(100, garp_master_delay=2, garp_master_refresh=3)  # master at 3.609375
    r.receive(4.0, rx(200))
    assert r.deadline == 4.0 + 3.609375
    r.receive(5.0, rx(200))
    assert r.on_timer(6.0) == []
    assert r.on_timer(7.0) == []


# -- Dropped adverts (the §7.1 checks as the state machine reports them) -------------------------------------


def test_advert_for_another_vrid_is_dropped() -> None:
    r = started(100, 0.0)
    bad = Received(
        Advertisement(vrid=VRID + 1, priority=200, addresses=VIP_ADDRS), HIGHER, VRRP_MULTICAST, VRRP_TTL
    )
    assert r.receive(1.0, bad) == [Dropped(DropReason.UNKNOWN_VRID, HIGHER, bad.advert)]
    assert r.deadline == 3.609375  # no effect on the timer
    assert r.master_address is None


def test_own_advert_looped_back_is_dropped() -> None:
    r = master(100)
    looped = rx(100, ME)
    assert r.receive(4.0, looped) == [Dropped(DropReason.OWN_PACKET, ME, looped.advert)]
    assert state(r) is State.MASTER


def test_interval_mismatch_is_dropped_even_from_a_higher_priority() -> None:
    r = master(100)
    bad = rx(200, advert_int=2)
    assert r.receive(4.0, bad) == [Dropped(DropReason.INTERVAL_MISMATCH, HIGHER, bad.advert)]
    assert state(r) is State.MASTER


def test_wrong_password_is_dropped_and_right_one_accepted() -> None:
    r = master(100, auth_pass="s3cret")
    wrong = Received(
        Advertisement(VRID, 200, VIP_ADDRS, auth_type=AUTH_PASS, auth_data=pad_password("guess")),
        HIGHER,
        VRRP_MULTICAST,
        VRRP_TTL,
    )
    assert r.receive(4.0, wrong) == [Dropped(DropReason.AUTH_MISMATCH, HIGHER, wrong.advert)]
    assert state(r) is State.MASTER
    right = replace(wrong, advert=replace(wrong.advert, auth_data=pad_password("s3cret")))
    assert r.receive(4.0, right)[0] == StateChanged(State.MASTER, State.BACKUP, Reason.PREEMPTED, 100, HIGHER)


def test_address_mismatch_dropped_unless_from_the_owner() -> None:
    r = started(100, 0.0)
    other = (IPv4Address("192.0.2.77"),)
    bad = rx(200, addresses=other)
    assert r.receive(1.0, bad) == [Dropped(DropReason.ADDRESS_MISMATCH, HIGHER, bad.advert)]
    assert r.deadline == 3.609375
    owner = rx(255, addresses=other)
    assert r.receive(1.0, owner) == []  # §7.1: the owner's advert is processed anyway
    assert r.deadline == 1.0 + 3.609375


def test_unicast_mode_accepts_configured_peers_only() -> None:
    r = started(100, 0.0, unicast_peers=(HIGHER,))
    direct = rx(200, HIGHER, destination=ME)
    assert r.receive(1.0, direct) == []
    assert r.deadline == 1.0 + 3.609375
    stranger = rx(200, LOWER, destination=ME)
    assert r.receive(2.0, stranger) == [Dropped(DropReason.NOT_A_PEER, LOWER, stranger.advert)]
    assert r.deadline == 1.0 + 3.609375


def test_dropped_advert_in_init_is_still_reported() -> None:
    r = router()
    bad = rx(200, advert_int=3)
    assert r.receive(0.0, bad) == [Dropped(DropReason.INTERVAL_MISMATCH, HIGHER, bad.advert)]


def test_the_same_received_object_again_skips_only_the_checks() -> None:
    """`receive` may be handed the object it last accepted (`packet.DecodeCache`): same result."""
    r = started(100, 0.0)
    same = rx(200)
    assert r.receive(1.0, same) == []
    assert r.receive(2.0, same) == []  # the §7.1 verdict reused; the §6.4.2 rule still runs
    assert r.deadline == 2.0 + 3.609375
    r.config = replace(r.config, auth_pass="secret")  # a new configuration: checked again, dropped
    assert r.receive(3.0, same) == [Dropped(DropReason.AUTH_TYPE_MISMATCH, HIGHER, same.advert)]
    assert r.deadline == 2.0 + 3.609375


# -- Addresses on the interface (issue 13) -------------------------------------------------------------------


def test_one_of_our_addresses_added_outside_master_is_removed() -> None:
    """Only a master holds the VIPs: one that appears on a backup (or in FAULT, INIT) duplicates the
    master's and goes; the prefix length does not matter, the address does."""
    hand = IPv4Interface("192.0.2.100/32")
    assert started(100).vip_added(1.0, hand) == [RemoveVips((hand,))]
    r = started(100)
    r.set_fault(1.0, Fault.INTERFACE, True)
    assert r.vip_added(2.0, VIPS[1]) == [RemoveVips((VIPS[1],))]
    assert router(100).vip_added(0.0, VIPS[0]) == [RemoveVips((VIPS[0],))]
    assert master(100).vip_added(1.0, VIPS[0]) == []  # the master holds it anyway
    assert started(100).vip_added(1.0, IPv4Interface("192.0.2.7/24")) == []  # not ours
    assert started(100).vip_added(1.0, IPv4Interface(f"{ME}/24")) == []  # the interface's own address


def test_a_new_primary_address_is_the_source_and_the_tie_break_from_now_on() -> None:
    r = master(100)
    new = IPv4Address("192.0.2.30")  # above HIGHER: an equal-priority advert from HIGHER no longer wins
    assert r.set_primary_address(2.0, new) == []
    assert state(r) is State.MASTER and r.config.primary_address == new
    assert [a for a in r.receive(2.5, rx(100)) if isinstance(a, StateChanged)] == []
    # Our own advert, looped back from the new address, is recognised as ours (§7.1).
    (dropped,) = r.receive(3.0, rx(100, source=new))
    assert isinstance(dropped, Dropped) and dropped.reason is DropReason.OWN_PACKET
    with pytest.raises(ValueError, match="address family"):
        r.set_primary_address(3.0, IPv6Address("2001:db8::1"))


# -- Addresses the kernel refuses (issue 13) ---------------------------------------------------------------


def test_a_master_refused_its_vips_steps_aside_with_priority_zero_then_retries() -> None:
    r = master(100)
    refused = (VIPS[0],)
    for attempt in range(1, VIP_FAULT_ATTEMPTS):
        assert r.vips_refused(1.0 + attempt, refused) == []  # retried by the caller each interval
        assert state(r) is State.MASTER
    t = 1.0 + VIP_FAULT_ATTEMPTS
    assert r.vips_refused(t, refused) == [
        StateChanged(State.MASTER, State.FAULT, Reason.FAULT, 100, None),
        my_advert(0),  # a backup takes over after its Skew_Time
        RemoveVips(VIPS, routes=True),
    ]
    assert r.faults == {Fault.VIPS} and r.deadline == t + VIP_FAULT_RETRY
    assert r.on_timer(t + VIP_FAULT_RETRY - 0.001) == []
    assert r.on_timer(t + VIP_FAULT_RETRY) == [
        StateChanged(State.FAULT, State.BACKUP, Reason.RECOVERED, 100, None)
    ]
    assert r.faults == set()
    # Still refused the next time it is master: FAULT again, for twice as long, up to the cap.
    delays = []
    for _ in range(6):
        now = due(r)
        r.on_timer(now)  # Master_Down_Timer (no other router here): MASTER
        assert state(r) is State.MASTER
        for attempt in range(VIP_FAULT_ATTEMPTS):
            r.vips_refused(now + attempt, refused)
        assert state(r) is State.FAULT
        delays.append(due(r) - (now + VIP_FAULT_ATTEMPTS - 1))
        r.on_timer(due(r))
    assert delays == [10.0, 20.0, 40.0, VIP_FAULT_RETRY_MAX, VIP_FAULT_RETRY_MAX, VIP_FAULT_RETRY_MAX]
    # Installed at last: the next FAULT would be short again.
    r.on_timer(due(r))
    assert r.vips_installed(100.0) == []
    for attempt in range(VIP_FAULT_ATTEMPTS):
        r.vips_refused(200.0 + attempt, refused)
    assert due(r) == 200.0 + VIP_FAULT_ATTEMPTS - 1 + VIP_FAULT_RETRY


def test_refusals_are_counted_only_in_a_row_and_only_as_master() -> None:
    r = started(100)
    assert r.vips_refused(0.5, VIPS) == []  # a backup installs nothing: nothing to count
    r.on_timer(due(r))
    for attempt in range(VIP_FAULT_ATTEMPTS - 1):
        r.vips_refused(5.0 + attempt, VIPS)
    r.receive(9.0, rx(200))  # preempted: a new stretch as MASTER counts afresh
    assert state(r) is State.BACKUP
    r.on_timer(due(r))
    assert state(r) is State.MASTER and r.vips_refused(20.0, VIPS) == []
    assert r.vips_installed(20.5) == [] and r.vips_refused(21.0, VIPS) == []


def test_a_link_down_during_the_vip_fault_keeps_the_router_in_fault() -> None:
    r = master(100)
    for attempt in range(VIP_FAULT_ATTEMPTS):
        r.vips_refused(5.0 + attempt, VIPS)
    r.set_fault(9.0, Fault.INTERFACE, True)
    assert r.on_timer(due(r)) == [] and r.faults == {Fault.INTERFACE}  # the VIP fault ended, not the other
    assert r.set_fault(30.0, Fault.INTERFACE, False) == [
        StateChanged(State.FAULT, State.BACKUP, Reason.RECOVERED, 100, None)
    ]


def test_advertisement_is_the_advert_a_takeover_sends_and_changes_nothing() -> None:
    """`Router.advertisement()`: what a backup's adapter encodes ahead of its Master_Down_Timer is exactly
    the takeover's first advert; asking moves no timer and no state."""
    r = started(100, auth_pass="secret")
    deadline = due(r)
    asked = r.advertisement()
    assert r.advertisement(0).priority == 0
    assert (state(r), due(r)) == (State.BACKUP, deadline)
    actions = r.on_timer(deadline)
    assert actions[0] == SendAdvert(asked)
    assert asked.priority == 100 and asked.auth_type == AUTH_PASS and asked.addresses == VIP_ADDRS
    # At the effective priority: a failing check's weight lowers it.
    weighted = started(100, health_weight=10)
    weighted.set_health(0.0, False)
    assert weighted.advertisement().priority == 90
