"""The read-only view of the running daemon that status and metrics are built from.

`ops` never imports `runtime` (an import-linter contract): this module says what the operator-facing
documents read, as `typing.Protocol`s that the runtime's objects satisfy (`Daemon`, `Instance`,
`Interface`, the health checker, the notify FIFO), and as the plain records the runtime fills in
(`Counters`, `LastTransition`, `ReloadStats`). Every member is read-only here: status and metrics look,
they never change the daemon. The daemon's internals can then change without touching ``vrrpd status``
or ``/metrics``, and both can be tested from any object of the right shape.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from typing import Protocol

from vrrpd.config import Config, InstanceConfig
from vrrpd.protocol.conflicts import Conflict
from vrrpd.protocol.fsm import Fault, State
from vrrpd.protocol.packet import IPAddress


@dataclass
class Counters:
    """An instance's monotonic counters; the runtime increments them, status and metrics read them."""

    adverts_sent: int = 0
    adverts_received: int = 0
    send_errors: int = 0
    netlink_errors: int = 0
    garps_sent: int = 0
    transitions: int = 0
    vips_restored: int = 0
    vips_unexpected_removed: int = 0
    drops: collections.Counter[str] = field(default_factory=collections.Counter)


@dataclass
class LastTransition:
    """An instance's most recent state change."""

    old: str
    new: str
    reason: str
    wall_time: float


@dataclass
class ReloadStats:
    """Reload outcomes."""

    succeeded: int = 0
    failed: int = 0
    last_at: float | None = None  # wall clock
    last_ok: bool | None = None
    last_error: str | None = None
    last_changes: dict[str, list[str]] = field(default_factory=dict)


class ProbeView(Protocol):
    """A health checker's latest probe run."""

    @property
    def target(self) -> str:
        """What the probe reaches ("[fe80::1%eth0]:80", a script's path); "" when unknown."""
        ...

    @property
    def last_result(self) -> bool | None:
        """Whether the latest run passed; None before the first."""
        ...

    @property
    def last_detail(self) -> str:
        """What the latest run saw, in a few words."""
        ...

    @property
    def last_run(self) -> float | None:
        """When it started (the event loop's monotonic clock); None before the first."""
        ...


class ConflictsView(Protocol):
    """An instance's VRID-conflict detector."""

    @property
    def detected(self) -> Mapping[str, int]:
        """Episodes detected so far, by conflict kind."""
        ...

    def active(self) -> Sequence[Conflict]:
        """The sources in conflict now."""
        ...


class InstanceView(Protocol):
    """One running VRRP instance."""

    @property
    def name(self) -> str: ...
    @property
    def config(self) -> InstanceConfig: ...
    @property
    def primary(self) -> IPv4Address | IPv6Address:
        """The address its adverts are sent from (the link-local one for IPv6)."""
        ...

    @property
    def state(self) -> State: ...
    @property
    def priority(self) -> int:
        """The effective priority (the configured one, lowered by failing checks)."""
        ...

    @property
    def master(self) -> IPAddress | None:
        """The master as far as this instance knows."""
        ...

    @property
    def faults(self) -> Set[Fault]: ...
    @property
    def checker(self) -> ProbeView | None:
        """The health checker, when a check is configured."""
        ...

    @property
    def health(self) -> bool | None:
        """The health check's verdict as the router last heard it; None without a check."""
        ...

    @property
    def vips_held(self) -> tuple[IPv4Interface | IPv6Interface, ...]:
        """The VIPs it has installed (the kernel accepted them)."""
        ...

    @property
    def last_transition(self) -> LastTransition | None: ...
    @property
    def counters(self) -> Counters: ...
    @property
    def conflicts(self) -> ConflictsView: ...


class InterfaceView(Protocol):
    """One network interface the daemon listens on."""

    @property
    def name(self) -> str: ...
    @property
    def ifindex(self) -> int: ...
    @property
    def up(self) -> bool: ...
    @property
    def src(self) -> IPv4Address | None:
        """The source address of its IPv4 adverts, once an IPv4 instance runs on it."""
        ...

    @property
    def src6(self) -> IPv6Address | None:
        """The source of its VRRPv3-over-IPv6 adverts (its link-local address), once an IPv6 instance
        runs on it."""
        ...

    @property
    def drops(self) -> Mapping[str, int]:
        """Packets dropped before reaching an instance, by reason."""
        ...

    def tally(self) -> None:
        """Bring its instances' received-advert counters up to date with what the kernel counted for them
        (the eBPF filter drops a followed master's repeats and counts them); status and metrics call it
        first."""


class FifoView(Protocol):
    """The notify FIFO."""

    @property
    def path(self) -> str: ...
    @property
    def written(self) -> int: ...
    @property
    def dropped(self) -> int: ...


class DaemonView(Protocol):
    """The running daemon, as status, metrics and the HTTP probes see it."""

    @property
    def config(self) -> Config: ...
    @property
    def started_at(self) -> float:
        """Wall-clock start time."""
        ...

    @property
    def ready(self) -> bool:
        """Every instance has left INIT, and the daemon is not shutting down (/readyz)."""
        ...

    @property
    def fifo(self) -> FifoView | None: ...
    @property
    def reloads(self) -> ReloadStats: ...
    @property
    def instances(self) -> Sequence[InstanceView]: ...
    @property
    def interfaces(self) -> Mapping[str, InterfaceView]: ...
    def dead_tasks(self) -> list[str]:
        """Names of long-running tasks that ended (/healthz)."""
        ...
