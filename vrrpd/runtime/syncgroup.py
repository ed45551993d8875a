"""One running vrrp_sync_group: the members' instances tied to `vrrpd.protocol.sync.SyncGroup`.

Owns the adapter part of a sync group — telling the group what a member's router did, feeding each
member what the group decided, and the group's notify calls (``GROUP name STATE 0``, keepalived's
notify_script_exec for groups) and FIFO lines. Decides nothing itself: the rules are `protocol.sync`'s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from vrrpd import logs
from vrrpd.protocol import fsm
from vrrpd.protocol.sync import SyncGroup
from vrrpd.runtime.instance import Instance
from vrrpd.runtime.notify import Notifier

log = logs.get_logger("vrrpd.runtime.syncgroup")


class GroupLink:
    """The instances of one sync group that run now (the group is rebuilt as members come and go)."""

    def __init__(
        self,
        name: str,
        notifier: Notifier,
        fifo: Callable[[str, str], None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.name = name
        self.notifier = notifier
        self._fifo = fifo
        self._loop = loop
        self.members: dict[str, Instance] = {}
        self.group = SyncGroup(name, {})

    @property
    def state(self) -> str:
        """The group's state as status reports it."""
        return self.group.state.value

    def add(self, inst: Instance) -> None:
        """A member instance joins (before it starts)."""
        self.members[inst.name] = inst
        inst.sync = self
        self._rebuild()

    def remove(self, inst: Instance) -> None:
        """A member instance left (after it stopped)."""
        if self.members.get(inst.name) is inst:
            del self.members[inst.name]
            inst.sync = None
            self._rebuild()

    def _rebuild(self) -> None:
        state = self.group.state
        self.group = SyncGroup(self.name, {name: inst.router for name, inst in self.members.items()})
        self.group.state = state

    def after(self, instance: Instance, actions: list[fsm.Action]) -> None:
        """`instance`'s router returned `actions`: carry out what the group makes of them."""
        if instance.name not in self.members:
            return
        now = self._loop.time()
        for name, more in self.group.after(now, instance.name, actions).items():
            self.members[name].feed_from_group(more)
        change = self.group.group_state()
        if change is None:
            return
        new = "STOP" if change.new is fsm.State.INIT else change.new.value
        log.info(
            "sync_group_state", group=self.name, old=change.old.value, new=new, members=sorted(self.members)
        )
        self.notifier.notify(self.name, new, 0)
        self._fifo(self.name, new)
