"""keepalived's vrrp_sync_group: virtual routers that change state together, sans-I/O.

A sync group keeps several VRIDs on one node (typically an outside and an inside address of a router or
load balancer) in the same state, so that traffic never enters through one node and leaves through the
other. The rules are keepalived 2.2's (vrrp_sync.c, vrrp_scheduler.c, vrrp_track.c):

* FAULT takes the group: a member entering FAULT on its own (link, check) puts every other member in
  FAULT too (`Fault.SYNC_GROUP`, vrrp_sync_fault); only when no member has a fault of its own do they all
  leave FAULT together (try_up_instance's `num_member_fault`).
* MASTER only together: a member whose Master_Down_Timer fires waits (`fsm.WantMaster`) until every other
  member is MASTER or wants to be (vrrp_sync_can_goto_master), then all of them become MASTER
  (vrrp_sync_master). So a group never splits its VRIDs between two nodes because one of them still hears
  its master.
* BACKUP together: a MASTER member preempted by a higher priority takes every other MASTER member to
  BACKUP (vrrp_sync_backup), without a priority-0 advert.

The group's own state — FAULT if any member is in FAULT, else MASTER if all are MASTER, else BACKUP —
is reported as a `GroupStateChanged` when it changes, for the group's notify program ("GROUP name STATE").

`SyncGroup.after` is called with the actions one member's router just returned; it calls the members'
routers and returns the actions each must carry out (the caller feeds them to its instances and calls
`after` for none of them: a forced transition is the group's own doing). No I/O, no clock, no logging.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from vrrpd.protocol.fsm import Action, Fault, Router, State, StateChanged, WantMaster

_Add = Callable[[str, list["Action"]], None]


@dataclass(frozen=True, slots=True)
class GroupStateChanged:
    """The group's state changed (keepalived send_group_notifies)."""

    group: str
    old: State
    new: State


class SyncGroup:
    """The members of one sync group, by instance name (their routers are shared with their instances)."""

    def __init__(self, name: str, members: Mapping[str, Router]) -> None:
        self.name = name
        self.members = dict(members)
        self.state = State.INIT

    def after(self, now: float, member: str, actions: list[Action]) -> dict[str, list[Action]]:
        """What the members must do after `member`'s router returned `actions` (call it after every call
        into a member's router, even one that returned nothing: a fault raised while already in FAULT
        changes no state but still matters to the group)."""
        if member not in self.members:
            raise KeyError(f"{member!r} is not a member of sync group {self.name!r}")
        out: dict[str, list[Action]] = {}

        def add(name: str, more: list[Action]) -> None:
            if more:
                out.setdefault(name, []).extend(more)

        for action in actions:
            if isinstance(action, WantMaster):
                self._master_if_all_want(now, add)
            elif isinstance(action, StateChanged):
                self._follow(now, member, action, add)
        self._sync_faults(now, add)
        return out

    def group_state(self) -> GroupStateChanged | None:
        """The group's state from its members' now; a `GroupStateChanged` if it differs from the last."""
        # Members still starting or already stopped (INIT) do not count: the group is INIT (STOP) only
        # when all of them are, so stopping one member after another reports one STOP, nothing between.
        states = [r.state for r in self.members.values() if r.state is not State.INIT]
        if not states:
            new = State.INIT
        elif State.FAULT in states:
            new = State.FAULT
        elif all(s is State.MASTER for s in states):
            new = State.MASTER
        else:
            new = State.BACKUP
        if new is self.state:
            return None
        old, self.state = self.state, new
        return GroupStateChanged(self.name, old, new)

    # -- the rules -------------------------------------------------------------------------------------

    def _master_if_all_want(self, now: float, add: _Add) -> None:
        # keepalived vrrp_sync_can_goto_master: "Only sync to master if everyone wants to".
        routers = self.members.values()
        if all(r.state is State.MASTER or (r.state is State.BACKUP and r.wants_master) for r in routers):
            for name, router in self.members.items():
                add(name, router.force_master(now))

    def _follow(self, now: float, member: str, change: StateChanged, add: _Add) -> None:
        if change.old is State.MASTER and change.new is State.BACKUP:
            # keepalived vrrp_sync_backup: a preempted member takes the group's masters to BACKUP.
            for name, other in self.members.items():
                if name != member:
                    add(name, other.force_backup(now))
        elif change.new is State.MASTER:
            # An address owner (priority 255) is MASTER from the start without waiting: the others join
            # it once their own timers say they want to (keepalived syncs the group to MASTER then too).
            self._master_if_all_want(now, add)

    def _sync_faults(self, now: float, add: _Add) -> None:
        # keepalived vrrp_sync_fault / try_up_instance (num_member_fault): a member is held in FAULT while
        # any *other* member has a fault of its own, and released when none has.
        own = {name: bool(r.faults - {Fault.SYNC_GROUP}) for name, r in self.members.items()}
        for name, router in self.members.items():
            held = any(faulty for other, faulty in own.items() if other != name)
            if (Fault.SYNC_GROUP in router.faults) != held:
                add(name, router.set_fault(now, Fault.SYNC_GROUP, held))
