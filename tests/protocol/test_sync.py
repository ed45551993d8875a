"""`vrrpd.protocol.sync.SyncGroup`: keepalived's vrrp_sync_group rules, in virtual time.

Two members (VRIDs 1 and 2) of one group, each a real `Router`; the test plays the adapter's part:
every router call's actions go through `SyncGroup.after`, and what it returns is what the other
members do. Both sides of each rule: the group moves together, and a member alone does not.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface

from vrrpd.protocol.fsm import (
    Action,
    Fault,
    Reason,
    RemoveVips,
    Router,
    RouterConfig,
    SendAdvert,
    State,
    StateChanged,
    WantMaster,
)
from vrrpd.protocol.packet import VRRP_MULTICAST, VRRP_TTL, Advertisement, Received
from vrrpd.protocol.sync import GroupStateChanged, SyncGroup

ME = IPv4Address("192.0.2.10")
PEER = IPv4Address("192.0.2.20")


def member(vrid: int, priority: int = 100) -> Router:
    vips = (IPv4Interface(f"192.0.2.{100 + vrid}/24"),)
    return Router(
        RouterConfig(
            vrid=vrid, priority=priority, primary_address=ME, vips=vips, sync_group=True, garp_master_delay=0
        )
    )


class Pair:
    """Two members and their group; `log` holds every action each member carried out."""

    def __init__(self, p1: int = 100, p2: int = 100) -> None:
        self.r = {"VI_1": member(1, p1), "VI_2": member(2, p2)}
        self.group = SyncGroup("G", self.r)
        self.log: dict[str, list[Action]] = {"VI_1": [], "VI_2": []}

    def call(self, now: float, name: str, actions: list[Action]) -> None:
        self.log[name] += actions
        for other, more in self.group.after(now, name, actions).items():
            self.log[other] += more

    def start(self, now: float = 0.0) -> None:
        for name, router in self.r.items():
            self.call(now, name, router.start(now))

    def states(self) -> tuple[State, State]:
        return self.r["VI_1"].state, self.r["VI_2"].state

    def advert(self, vrid: int, priority: int) -> Received:
        adv = Advertisement(
            vrid=vrid, priority=priority, addresses=(IPv4Address(f"192.0.2.{100 + vrid}"),), advert_int=1
        )
        return Received(advert=adv, source=PEER, destination=VRRP_MULTICAST, ttl=VRRP_TTL)


def changes(actions: list[Action]) -> list[tuple[State, State, Reason]]:
    return [(a.old, a.new, a.reason) for a in actions if isinstance(a, StateChanged)]


def test_a_member_whose_timer_fires_waits_for_the_others_then_all_become_master() -> None:
    g = Pair()
    g.start()
    r1, r2 = g.r["VI_1"], g.r["VI_2"]
    # VI_1's master went quiet; VI_2 still hears its own: VI_1 only wants MASTER, and waits.
    t = r1.deadline or 0.0
    g.call(t, "VI_2", r2.receive(t - 0.5, g.advert(2, 200)))
    actions = r1.on_timer(t)
    assert actions == [WantMaster()]
    g.call(t, "VI_1", actions)
    assert g.states() == (State.BACKUP, State.BACKUP)
    assert r1.wants_master and r1.deadline == t + r1.master_down_interval  # re-armed, still BACKUP
    # VI_2's master goes quiet too: when its timer fires, the whole group becomes MASTER at once.
    t2 = r2.deadline or 0.0
    g.call(t2, "VI_2", r2.on_timer(t2))
    assert g.states() == (State.MASTER, State.MASTER)
    assert changes(g.log["VI_1"])[-1] == (State.BACKUP, State.MASTER, Reason.SYNC_GROUP)
    assert changes(g.log["VI_2"])[-1] == (State.BACKUP, State.MASTER, Reason.SYNC_GROUP)
    assert g.group.group_state() == GroupStateChanged("G", State.INIT, State.MASTER)


def test_a_heard_master_cancels_the_wish() -> None:
    g = Pair()
    g.start()
    r1 = g.r["VI_1"]
    t = r1.deadline or 0.0
    g.call(t, "VI_1", r1.on_timer(t))
    assert r1.wants_master
    g.call(t + 0.5, "VI_1", r1.receive(t + 0.5, g.advert(1, 200)))
    assert not r1.wants_master


def test_one_member_in_fault_takes_the_group_and_the_group_comes_back_together() -> None:
    g = Pair()
    g.start()
    for name, router in g.r.items():  # both MASTER (the group's timers fired)
        t = router.deadline or 0.0
        g.call(t, name, router.on_timer(t))
    assert g.states() == (State.MASTER, State.MASTER)
    g.call(10.0, "VI_1", g.r["VI_1"].set_fault(10.0, Fault.INTERFACE, True))
    assert g.states() == (State.FAULT, State.FAULT)
    assert RemoveVips(g.r["VI_2"].config.installed, routes=True) in g.log["VI_2"]
    assert any(isinstance(a, SendAdvert) and a.advert.priority == 0 for a in g.log["VI_2"])
    # VI_2 gets a fault of its own, then VI_1 recovers: VI_1 stays held in FAULT by VI_2's.
    g.call(11.0, "VI_2", g.r["VI_2"].set_fault(11.0, Fault.CHECK, True))
    g.call(12.0, "VI_1", g.r["VI_1"].set_fault(12.0, Fault.INTERFACE, False))
    assert g.states() == (State.FAULT, State.FAULT)
    g.call(13.0, "VI_2", g.r["VI_2"].set_fault(13.0, Fault.CHECK, False))
    assert g.states() == (State.BACKUP, State.BACKUP)
    assert g.group.group_state() == GroupStateChanged("G", State.INIT, State.BACKUP)


def test_a_preempted_member_takes_the_other_masters_to_backup_without_a_priority_0_advert() -> None:
    g = Pair()
    g.start()
    for name, router in g.r.items():
        t = router.deadline or 0.0
        g.call(t, name, router.on_timer(t))
    before = len(g.log["VI_2"])
    g.call(20.0, "VI_1", g.r["VI_1"].receive(20.0, g.advert(1, 200)))
    assert g.states() == (State.BACKUP, State.BACKUP)
    forced = g.log["VI_2"][before:]
    assert changes(forced) == [(State.MASTER, State.BACKUP, Reason.SYNC_GROUP)]
    assert not any(isinstance(a, SendAdvert) for a in forced)
    assert RemoveVips(g.r["VI_2"].config.installed, routes=True) in forced


def test_without_a_group_a_router_becomes_master_alone() -> None:
    r = Router(
        RouterConfig(vrid=1, priority=100, primary_address=ME, vips=(IPv4Interface("192.0.2.101/24"),))
    )
    r.start(0.0)
    actions = r.on_timer(r.deadline or 0.0)
    assert r.state is State.MASTER and WantMaster() not in actions
