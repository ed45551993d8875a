"""Multi-router tests of `vrrpd.protocol.fsm` on the simulated LAN of tests/support/lan.py, in virtual time.

Two kinds of test:

* named topologies replayed deterministically (holo's conformance tests do the same): election, ties,
  failover, handover on shutdown, split brain, owner returning, link and check faults, preempt_delay — each
  asserting the exact times (to the microsecond) at which the RFC 3768 timers say things must happen;
* hypothesis-generated scenarios (2–5 routers, random priorities with ties and an occasional owner, preempt
  on/off, starts, crashes, shutdowns, link cuts, check failures, partitions and heals, priority changes,
  restarts and packet loss at random times) checked against an oracle once the convergence bound has passed
  after each change of the network: see `check_converged` and `convergence_bound`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.support.lan import LATENCY, Lan
from vrrpd.protocol.fsm import AddVips, RemoveVips, State, StateChanged, master_down_interval, skew_time

US = 1e-6
MASTER, BACKUP, INIT, FAULT = State.MASTER, State.BACKUP, State.INIT, State.FAULT

STATS: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report_stats(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print how many generated scenarios ran and what they exercised (also shown with -q)."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not STATS:
        return
    line = ", ".join(f"{key}={value}" for key, value in sorted(STATS.items()))
    with capture.global_and_fixture_disabled():
        reporter.write("\n")
        reporter.write_line(f"tests/protocol/test_lan.py hypothesis statistics: {line}")


def three(**overrides: object) -> Lan:
    """a (100, .1), b (150, .2), c (200, .3): c is the natural master."""
    lan = Lan()
    lan.add("a", 100, 1, **overrides)  # type: ignore[arg-type]
    lan.add("b", 150, 2, **overrides)  # type: ignore[arg-type]
    lan.add("c", 200, 3, **overrides)  # type: ignore[arg-type]
    return lan


MDI_100, MDI_150, MDI_200 = (master_down_interval(1, p) for p in (100, 150, 200))


def expect_transitions(
    actual: list[tuple[float, str, State]], expected: list[tuple[float, str, State]]
) -> None:
    """Assert equal lists of (time, host, new state), times to the microsecond."""
    same = len(actual) == len(expected) and all(
        abs(a[0] - e[0]) <= US and a[1:] == e[1:] for a, e in zip(actual, expected, strict=True)
    )
    assert same, f"transitions {actual} != expected {expected}"


def first_transition(lan: Lan, node: str, state: State, since: float = 0.0) -> float:
    times = [t for t, n, s in lan.transitions(node, since) if s is state]
    assert times, f"{node} never became {state.value} after {since}"
    return times[0]


# -- named topologies ----------------------------------------------------------------------------------------


def test_three_router_election() -> None:
    lan = three()
    lan.start()
    lan.run_until(10.0)
    assert lan.masters() == ["c"]
    assert lan.holders == {"c"}
    # c's Master_Down_Timer (the shortest) fires first; its advert reaches a and b before theirs do.
    expect_transitions(lan.transitions(since=0.5), [(MDI_200, "c", MASTER)])
    assert MDI_200 == 3.21875
    assert [t for t, _, _ in lan.adverts("c")] == [MDI_200 + k for k in range(7)]
    assert lan.adverts("a") == lan.adverts("b") == []
    assert lan.dual_holding(0.0) is None


@pytest.mark.parametrize("hosts", [(1, 2, 3), (3, 1, 2), (2, 3, 1)])
def test_simultaneous_tie_goes_to_the_highest_address(hosts: tuple[int, int, int]) -> None:
    lan = Lan()
    for name, host in zip("abc", hosts, strict=True):
        lan.add(name, 100, host)
    lan.start()
    lan.run_until(10.0)
    winner = "abc"[hosts.index(3)]
    assert lan.masters() == [winner]
    # All three timers fire together; the two lower addresses step down when the winner's advert arrives.
    assert sorted(n for t, n, s in lan.transitions() if s is MASTER) == ["a", "b", "c"]
    for t, _, s in lan.transitions(since=0.5):
        assert t == pytest.approx(MDI_100 if s is MASTER else MDI_100 + LATENCY, abs=US)
    span = lan.dual_holding(0.0)
    assert span is not None
    assert span[0] == MDI_100
    assert span[1] == pytest.approx(MDI_100 + LATENCY, abs=US)


def test_equal_priority_backup_never_preempts_the_incumbent() -> None:
    lan = Lan()
    lan.add("low", 100, 1)
    lan.add("high", 100, 2)
    lan.start("low")
    lan.run_until(10.0)
    lan.start("high")
    lan.run_until(60.0)
    assert lan.masters() == ["low"]


def test_failover_on_crash() -> None:
    lan = three()
    lan.start()
    lan.run_until(10.0)
    lan.crash("c")
    lan.run_until(30.0)
    last_heard = MDI_200 + 6 + LATENCY  # c's last advert (9.21875) as it reached b
    expect_transitions(lan.transitions(since=10.0), [(last_heard + MDI_150, "b", MASTER)])
    assert lan.masters() == ["b"]
    assert lan.holders == {"b"}


def test_handover_on_shutdown_takes_skew_time() -> None:
    lan = three()
    lan.start()
    lan.run_until(10.0)
    lan.shutdown("c")
    lan.run_until(30.0)
    assert lan.adverts("c", since=10.0) == [(10.0, "c", 0)]
    first = lan.adverts("b", since=10.0)[0]
    assert first[0] - 10.0 == pytest.approx(skew_time(150) + LATENCY, abs=US)
    assert first[2] == 150
    assert lan.masters() == ["b"]
    # a's Skew_Time is longer than b's: it never took over.
    expect_transitions(lan.transitions("a"), [(0.0, "a", BACKUP)])
    # Nobody held the VIPs between c's RemoveVips and b's AddVips, and never two at once.
    assert lan.dual_holding(0.0) is None
    removed = lan.actions("c", RemoveVips)[0].time
    added = lan.actions("b", AddVips)[0].time
    assert added - removed == pytest.approx(skew_time(150) + LATENCY, abs=US)


def test_split_brain_heals_at_the_next_advert() -> None:
    lan = three()
    lan.start()
    lan.run_until(10.0)
    lan.partition(["a", "b"], ["c"])
    lan.run_until(20.0)
    assert sorted(lan.masters()) == ["b", "c"]  # one master per side
    assert lan.dual_holding(10.0) is None  # they cannot hear each other: not a conflict
    lan.heal()
    lan.run_until(30.0)
    assert lan.masters() == ["c"]
    # c's next periodic advert after the heal (20.21875) makes b step down as it arrives.
    expect_transitions(lan.transitions(since=20.0), [(20.21875 + LATENCY, "b", BACKUP)])
    span = lan.dual_holding(20.0)
    assert span is not None
    assert span[1] == pytest.approx(20.21875 + LATENCY, abs=US)


@pytest.mark.parametrize("answer", [True, False])
def test_split_brain_lower_master_is_answered_at_once(answer: bool) -> None:
    """Deviation (keepalived): the higher master answers the lower one's advert instead of waiting."""
    lan = three(lower_priority_answer=answer)
    lan.start()
    lan.run_until(10.0)
    lan.partition(["a", "b"], ["c"])
    lan.run_until(20.5)  # b became master at 12.6338125, advertises at x.6338125; c at x.21875
    lan.heal()
    lan.run_until(30.0)
    b_advert = 12.6338125 + 8
    assert lan.adverts("b", since=20.5)[0][0] == pytest.approx(b_advert, abs=US)
    step_down = first_transition(lan, "b", BACKUP, since=20.5)
    if answer:
        assert step_down == pytest.approx(b_advert + 2 * LATENCY, abs=US)
    else:
        assert step_down == pytest.approx(21.21875 + LATENCY, abs=US)


def test_owner_returns() -> None:
    lan = Lan()
    lan.add("a", 100, 1)
    lan.add("b", 200, 2)
    lan.add("owner", 255, 3)
    lan.start()
    assert lan.masters() == ["owner"]  # at once, at t=0
    lan.run_until(10.0)
    lan.crash("owner")  # just after its advert at 10.0, which is still on the wire and reaches b
    lan.run_until(20.0)
    expect_transitions(lan.transitions(since=10.0), [(10.0 + LATENCY + MDI_200, "b", MASTER)])
    lan.restart("owner")
    lan.run_until(30.0)
    assert lan.masters() == ["owner"]
    expect_transitions(
        lan.transitions(since=20.0),
        [
            (20.0, "owner", MASTER),
            (20.0 + LATENCY, "b", BACKUP),
        ],
    )
    span = lan.dual_holding(20.0)
    assert span is not None
    assert span[1] - span[0] == pytest.approx(LATENCY, abs=US)


def test_owner_returns_over_nopreempt_backups() -> None:
    """preempt off does not stop the address owner: it is MASTER at startup (§6.4.1)."""
    lan = Lan()
    lan.add("b", 200, 2, preempt=False)
    lan.add("owner", 255, 3, preempt=False)
    lan.start("b")
    lan.run_until(10.0)
    lan.start("owner")
    lan.run_until(20.0)
    assert lan.masters() == ["owner"]


def test_two_owners_elect_by_address() -> None:
    """Deviation (erratum 8298): misconfigured twin owners still end with one master, the higher address."""
    lan = Lan()
    lan.add("o1", 255, 1)
    lan.add("o2", 255, 2)
    lan.start()
    lan.run_until(10.0)
    assert lan.masters() == ["o2"]
    expect_transitions(lan.transitions("o1"), [(0.0, "o1", MASTER), (LATENCY, "o1", BACKUP)])


@pytest.mark.parametrize("preempt", [True, False])
def test_a_higher_priority_router_joining(preempt: bool) -> None:
    lan = Lan()
    lan.add("a", 100, 1, preempt=preempt)
    lan.add("c", 200, 3, preempt=preempt)
    lan.start("a")
    lan.run_until(10.0)
    lan.start("c")
    lan.run_until(60.0)
    if preempt:
        # c discards a's adverts and takes over when its first Master_Down_Interval runs out.
        expect_transitions(
            lan.transitions(since=10.0),
            [
                (10.0, "c", BACKUP),
                (10.0 + MDI_200, "c", MASTER),
                (10.0 + MDI_200 + LATENCY, "a", BACKUP),
            ],
        )
    else:
        assert lan.masters() == ["a"]  # the incumbent keeps it while it is healthy
        expect_transitions(lan.transitions(since=10.0), [(10.0, "c", BACKUP)])


def test_nopreempt_does_not_stop_master_to_master_resolution() -> None:
    """§6.4.3 has no Preempt_Mode: after a split brain the higher priority wins even with preempt off."""
    lan = Lan()
    lan.add("a", 100, 1, preempt=False)
    lan.add("c", 200, 3, preempt=False)
    lan.partition(["a"], ["c"])
    lan.start()
    lan.run_until(10.0)
    assert sorted(lan.masters()) == ["a", "c"]
    lan.heal()
    lan.run_until(20.0)
    assert lan.masters() == ["c"]


def test_link_cut_and_restore() -> None:
    lan = three()
    lan.start()
    lan.run_until(10.0)
    lan.cut("c")
    assert lan.state("c") is FAULT
    assert lan.holders == set()  # removed at once, no priority-0 advert on a dead link
    assert lan.adverts("c", since=10.0) == []
    lan.run_until(20.0)
    assert lan.masters() == ["b"]
    assert first_transition(lan, "b", MASTER) == pytest.approx(MDI_200 + 6 + LATENCY + MDI_150, abs=US)
    lan.restore("c")
    assert lan.state("c") is BACKUP
    lan.run_until(30.0)
    assert lan.masters() == ["c"]
    assert first_transition(lan, "c", MASTER, since=20.0) == 20.0 + MDI_200
    assert first_transition(lan, "b", BACKUP, since=20.0) == pytest.approx(20.0 + MDI_200 + LATENCY, abs=US)


def test_check_failure_hands_over_after_skew_time() -> None:
    lan = three()
    lan.start()
    lan.run_until(10.0)
    lan.fail_check("c")
    assert lan.adverts("c", since=10.0) == [(10.0, "c", 0)]
    lan.run_until(20.0)
    assert first_transition(lan, "b", MASTER) == pytest.approx(10.0 + LATENCY + skew_time(150), abs=US)
    lan.pass_check("c")
    lan.run_until(30.0)
    assert lan.masters() == ["c"]
    assert first_transition(lan, "c", MASTER, since=20.0) == 20.0 + MDI_200


def test_preempt_delay_on_the_lan() -> None:
    lan = Lan()
    lan.add("a", 100, 1)
    lan.add("c", 200, 3, preempt_delay=9.5)
    lan.start("a")
    lan.run_until(5.0)
    lan.start("c")
    lan.run_until(40.0)
    first_heard = MDI_100 + 2 + LATENCY  # a's advert at 5.609375 reaches c: the hold runs to 15.110375
    last_accepted = first_heard + 9  # the one at 14.610375; from 15.610375 on they are discarded
    assert first_transition(lan, "c", MASTER) == pytest.approx(last_accepted + MDI_200, abs=US)
    assert lan.masters() == ["c"]


def test_loss_makes_a_split_brain_that_heals() -> None:
    lan = three()
    lan.start()
    lan.run_until(10.0)
    lan.set_loss(1.0, src="c")  # c's adverts all lost: b thinks c is gone
    lan.run_until(20.0)
    assert sorted(lan.masters()) == ["b", "c"]
    assert lan.lost > 0
    lan.clear_loss()
    lan.run_until(20.0 + convergence_bound(1))
    assert lan.masters() == ["c"]


def test_priority_change_moves_mastership() -> None:
    lan = three()
    lan.start()
    lan.run_until(10.0)
    lan.set_priority("c", 120)  # a health check lowered it below b
    lan.run_until(30.0)
    assert lan.masters() == ["b"]
    # b discards c's weaker adverts from 10.21875 on: its timer, last reset by 9.21875's, runs out.
    assert first_transition(lan, "b", MASTER) == pytest.approx(9.21875 + LATENCY + MDI_150, abs=US)


# -- generated scenarios -------------------------------------------------------------------------------------


def convergence_bound(advert_int: float, preempt_delay: float = 0.0, version: int = 2) -> float:
    """How long after the last change of the network one master per segment must be settled.

    After a change at T (loss, if any, cleared at T as well), every Master_Down_Timer that is running was
    last reset no later than T, so every takeover by a timer happens by T + MDI, where the slowest MDI is
    that of priority 1 (3·Adv + 255/256). Masters that meet after a heal hear each other's next periodic
    advert within Adv (+ latency) and the lower one steps down; a stepped-down master hears the winner and
    arms no takeover; the keepalived answer to a lower advert only shortens this. A master created at the
    very end of the first step meets a rival within one more Adv (its answer may be rate-limited, the next
    periodic advert is not). So the worst case is MDI + 2·Adv + a few latencies. This is much tighter than
    the "3 × MDI" rule of thumb, so a slow or oscillating election is caught rather than waited out.

    With keepalived's preempt_delay, the hold of a backup that outranks the eventual master starts with the
    first advert it hears from that master — at worst when that master's own timer fires, T + MDI (+
    latency) — and lasts `preempt_delay`; the backup takes over one MDI (its own, shorter) after the last
    advert it accepted, and may then meet a rival within one more Adv: 2·MDI + preempt_delay + Adv.

    In VRRPv3 every router here runs the same interval, so Master_Adver_Interval is Adv too and only
    Skew_Time's formula changes (`master_down_interval` of the version).
    """
    mdi = master_down_interval(advert_int, 1, version)
    if preempt_delay:
        return 2 * mdi + preempt_delay + advert_int + 10 * LATENCY
    return mdi + 2 * advert_int + 10 * LATENCY


def check_converged(lan: Lan) -> None:
    """The oracle, for a network that has not changed for `convergence_bound` seconds and loses nothing.

    Per segment: exactly one MASTER, holding the VIPs alone; no backup that preempts (or owns the
    addresses) outranks it; with preemption everywhere it has the highest priority. Ties are not decided
    by address here: an equal-priority backup never preempts (§6.4.2), so any of the tied routers may be
    the incumbent; the higher address wins only between routers that are master at the same time
    (§6.4.3), which `test_simultaneous_start_elects_highest_priority_then_highest_address` checks.
    Outside the election (stopped, crashed, FAULT): INIT or FAULT, and no VIPs.
    """
    components = lan.components()
    participants = {n.name for comp in components for n in comp}
    for comp in components:
        masters = [n for n in comp if n.state is MASTER]
        assert len(masters) == 1, f"segment {[n.name for n in comp]}: masters {[n.name for n in masters]}"
        m = masters[0]
        for n in comp:
            assert n.state in (MASTER, BACKUP), (n.name, n.state)
            # A backup that preempts (the owner always does, §6.4.1) never tolerates a lower master.
            if n.config.preempt or n.owner:
                assert n.priority <= m.priority, f"{n.name} ({n.priority}) backs up {m.name} ({m.priority})"
        if all(n.config.preempt or n.owner for n in comp):
            assert m.priority == max(n.priority for n in comp)
        assert lan.holders & {n.name for n in comp} == {m.name}
    for node in lan.nodes.values():
        if node.name not in participants:
            assert node.state in (INIT, FAULT), (node.name, node.state)
            assert node.name not in lan.holders


@dataclass(frozen=True)
class Scenario:
    priorities: tuple[int, ...]
    hosts: tuple[int, ...]
    preempt: tuple[bool, ...]
    preempt_delay: tuple[float, ...]
    advert_int: float
    seed: int
    timeline: tuple[tuple[int, str, int, int], ...]  # (time in ms, event, node or mask, argument)
    version: int = 2  # 3: RFC 5798 (tests/protocol/test_lan_v3.py)
    family: int = 4


KINDS = ("up", "crash", "shutdown", "cut", "restore", "check_fail", "check_ok")


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    n = draw(st.integers(2, 5))
    priority = st.one_of(st.sampled_from([50, 100, 150, 200]), st.integers(1, 254))  # ties are likely
    priorities = [draw(priority) for _ in range(n)]
    if draw(st.integers(0, 5)) == 0:
        priorities[draw(st.integers(0, n - 1))] = 255  # the address owner
    hosts = draw(st.permutations(range(1, 11)))[:n]  # address order independent of the order of adding
    mode = draw(st.sampled_from(["on", "off", "mixed"]))
    preempt = [mode == "on" or (mode == "mixed" and draw(st.booleans())) for _ in range(n)]
    delays = draw(st.integers(0, 3)) == 0  # keepalived preempt_delay in one scenario out of four
    preempt_delay = [draw(st.sampled_from([0.0, 2.5, 7.0])) if delays else 0.0 for _ in range(n)]
    node = st.integers(0, n - 1)
    an_event = st.one_of(
        st.tuples(st.sampled_from(KINDS), node, st.just(0)),
        st.tuples(st.just("partition"), st.integers(1, 2**n - 2), st.just(0)),
        st.tuples(st.just("heal"), st.just(0), st.just(0)),
        st.tuples(st.just("priority"), node, st.integers(1, 254)),
        st.tuples(st.just("loss"), st.integers(0, n), st.sampled_from([0, 30, 70, 100])),
    )
    # ms: at the same time, soon (mid-election), later, and long enough to settle (a convergence check)
    gap = st.one_of(st.just(0), st.integers(1, 500), st.integers(500, 15_000), st.integers(11_100, 25_000))
    timeline: list[tuple[int, str, int, int]] = []
    for i in range(n):
        start = draw(st.one_of(st.none(), st.integers(0, 5_000)))
        if start is not None:
            timeline.append((start, "up", i, 0))
    t = 0
    for kind, who, arg in draw(st.lists(an_event, min_size=1, max_size=16)):
        t += draw(gap)
        timeline.append((t, kind, who, arg))
    timeline.sort(key=lambda e: e[0])  # stable: the initial starts come first at equal times
    return Scenario(
        priorities=tuple(priorities),
        hosts=tuple(hosts),
        preempt=tuple(preempt),
        preempt_delay=tuple(preempt_delay),
        advert_int=draw(st.sampled_from([1, 1, 2])),
        seed=draw(st.integers(0, 2**32 - 1)),
        timeline=tuple(timeline),
    )


def apply(lan: Lan, names: list[str], kind: str, who: int, arg: int) -> None:
    name = names[who] if who < len(names) else ""
    if kind == "up":
        lan.restart(name)
    elif kind == "crash":
        lan.crash(name)
    elif kind == "shutdown":
        lan.shutdown(name)
    elif kind == "cut":
        lan.cut(name)
    elif kind == "restore":
        lan.restore(name)
    elif kind == "check_fail":
        lan.fail_check(name)
    elif kind == "check_ok":
        lan.pass_check(name)
    elif kind == "partition":
        lan.partition([n for i, n in enumerate(names) if who >> i & 1])
    elif kind == "heal":
        lan.heal()
    elif kind == "priority":
        if not lan.nodes[name].owner:  # 255 can be neither gained nor lost (tested in test_fsm.py)
            lan.set_priority(name, arg)
    elif kind == "loss":
        lan.set_loss(arg / 100, dst=name or None)
    else:  # pragma: no cover - the strategy draws from the kinds above
        raise AssertionError(kind)


def settle(lan: Lan, since: float, until: float, bound: float) -> bool:
    """If the network is quiet from `since` to `until` for long enough, check it converged and stayed so."""
    if lan.lossy or until - since < bound:
        return False
    lan.run_until(since + bound)
    check_converged(lan)
    span = lan.dual_holding(since)
    assert span is None or span[1] <= since + bound, f"two holders from {span[0]} to {span[1]}"
    settled = [t for t, _, _ in lan.transitions(since=since)]
    if settled:  # how much of the bound the slowest convergence used, in percent
        used = round((max(settled) - since) / bound * 100)
        STATS["max_settle_%_of_bound"] = max(STATS["max_settle_%_of_bound"], used)
    if span is not None:
        STATS["max_dual_holding_ms"] = max(STATS["max_dual_holding_ms"], round((span[1] - span[0]) * 1000))
    mark, before = len(lan.trace), lan.states()
    lan.run_until(until)
    changes = [t for t in lan.trace[mark:] if isinstance(t.action, StateChanged | AddVips | RemoveVips)]
    assert not changes, f"not stable after converging: {changes[:3]}"
    assert lan.states() == before
    return True


def incumbents(lan: Lan, verified: list[str]) -> list[str]:
    """The masters, verified settled before the change just made, that nothing entitles to take over.

    "An incumbent master keeps it as long as it is healthy": after the change, it still takes part, no other
    master is in its segment (a heal may have brought one), and no router there both preempts (or is the
    owner) and outranks it. A joining router, a priority change below it or among non-preempting backups,
    a backup leaving — none of these may move mastership. Loss voids the promise.
    """
    if lan.lossy:
        return []
    kept = []
    for name in verified:
        node = lan.nodes[name]
        comp = next((c for c in lan.components() if node in c), None)
        if node.state is not MASTER or comp is None:
            continue
        rivals = [n for n in comp if n is not node and n.state is MASTER]
        usurpers = [n for n in comp if (n.config.preempt or n.owner) and n.priority > node.priority]
        if not rivals and not usurpers:
            kept.append(name)
    return kept


def run_scenario(sc: Scenario) -> None:
    lan = Lan(seed=sc.seed, advert_int=sc.advert_int, version=sc.version, family=sc.family)
    names = [f"r{i}" for i in range(len(sc.priorities))]
    nodes = zip(names, sc.priorities, sc.hosts, sc.preempt, sc.preempt_delay, strict=True)
    for name, priority, host, preempt, delay in nodes:
        lan.add(name, priority, host, preempt=preempt, preempt_delay=delay)
    bound = convergence_bound(sc.advert_int, max(sc.preempt_delay), sc.version)
    checks = 0
    last_change = 0.0
    verified: list[str] = []  # masters of the last converged state, stable until the next change
    kept: list[str] = []  # incumbents that must stay master until the next change
    for ms, kind, who, arg in sc.timeline:
        t = ms / 1000
        settled = settle(lan, last_change, t, bound)
        checks += settled
        lan.run_until(t)
        for name in kept:
            assert lan.transitions(name, since=last_change) == [], f"incumbent {name} lost mastership"
            STATS["incumbent_checks"] += 1
        verified = lan.masters() if settled else []
        apply(lan, names, kind, who, arg)
        kept = incumbents(lan, verified)
        last_change = t
    lan.clear_loss()  # the last change: from here on nothing is lost
    kept = incumbents(lan, verified)
    checks += settle(lan, last_change, last_change + 2 * bound, bound)
    for name in kept:
        assert lan.transitions(name, since=last_change) == [], f"incumbent {name} lost mastership"
        STATS["incumbent_checks"] += 1
    assert checks >= 1
    STATS["examples"] += 1
    STATS["convergence_checks"] += checks
    STATS["events"] += len(sc.timeline)
    STATS["state_changes"] += len(lan.transitions())
    STATS["adverts_delivered"] += lan.delivered
    event(f"routers={len(names)}")
    event(f"version={sc.version}")
    event(f"preempt={'all' if all(sc.preempt) else 'none' if not any(sc.preempt) else 'mixed'}")
    event(f"owner={255 in sc.priorities}")
    event(f"preempt_delay={any(sc.preempt_delay)}")
    event(f"checks>={min(checks, 5)}")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_generated_scenarios_converge_to_one_master(sc: Scenario) -> None:
    run_scenario(sc)


@st.composite
def elections(draw: st.DrawFn) -> list[tuple[int, int]]:
    n = draw(st.integers(2, 5))
    priorities = draw(st.lists(st.sampled_from([1, 100, 100, 200, 254, 255]), min_size=n, max_size=n))
    if priorities.count(255) > 1:  # one owner at most (two are tested on their own above)
        priorities = [p if p != 255 or i == priorities.index(255) else 254 for i, p in enumerate(priorities)]
    hosts = draw(st.permutations(range(1, 11)))[:n]
    return list(zip(priorities, hosts, strict=True))


@settings(max_examples=300, deadline=None)
@given(elections(), st.sampled_from([1, 2]))
def test_simultaneous_start_elects_highest_priority_then_highest_address(
    routers: list[tuple[int, int]], advert_int: int
) -> None:
    """With everybody starting together and preempting, the winner is max (priority, address) exactly."""
    lan = Lan(advert_int=advert_int)
    for i, (priority, host) in enumerate(routers):
        lan.add(f"r{i}", priority, host)
    lan.start()
    lan.run_until(convergence_bound(advert_int))
    best = max(range(len(routers)), key=lambda i: routers[i])
    assert lan.masters() == [f"r{best}"]
    assert lan.holders == {f"r{best}"}
    # The winner's own timer fired first (or it is the owner): it never stepped down.
    assert [s for _, _, s in lan.transitions(f"r{best}")] in ([MASTER], [BACKUP, MASTER])
    STATS["elections"] += 1
