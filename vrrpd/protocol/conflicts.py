"""VRID conflict detection: another virtual router is using our VRID on our segment, sans-I/O.

The most frequent field failure of ipfailover-style deployments is a shared L2 segment where a second
cluster picked the same VRID: each side drops the other's adverts (§7.1 address-list check), both stay
MASTER, and nothing but a rate-limited drop counter says so. This module owns turning the adverts an
instance receives into named, persistent conflicts an operator can see (status, metrics, one warning
event per episode):

* ``vip_mismatch`` — an advert for our VRID carries a different VIP list (the §7.1 drop
  ``address_mismatch``);
* ``config_mismatch`` — same VRID, different authentication or advertisement interval;
* ``second_master`` — a second router keeps advertising (only a master advertises in VRRPv2) for longer
  than one advertisement interval while we are MASTER, or while another master is advertising too;
* ``duplicate_owner`` — we are the address owner (priority 255) and another router advertises 255;
* ``version_mismatch`` — a router speaks another VRRP version (a VRRPv3 router, RFC 5798) on our VRID: the
  two never see each other's adverts, so both become master.

A conflict is keyed by (kind, source address) and clears when that source has not shown it for
`CLEAR_INTERVALS` advertisement intervals plus a second. Like `vrrpd.protocol.fsm`, no sockets, clock or
logging
here: every entry point takes `now` and returns `ConflictEvent`s for the caller to log, and `deadline`
says when `expire` must be called next.
"""

from __future__ import annotations

import collections
import enum
from dataclasses import dataclass, replace

from vrrpd.protocol.packet import PRIORITY_OWNER, PRIORITY_STOP, DropReason, IPAddress, Received

# A source unheard for this many advertisement intervals (+1 s, the worst Skew_Time) has stopped: the
# same horizon as the §6.1 Master_Down_Interval after which a backup would stop waiting for it.
CLEAR_INTERVALS = 3
# A spoofed-source flood must not grow memory without bound.
MAX_TRACKED = 256

_CONFIG_DROPS = {
    DropReason.AUTH_TYPE_MISMATCH: "authentication type differs",
    DropReason.AUTH_MISMATCH: "password differs",
    DropReason.INTERVAL_MISMATCH: "advertisement interval differs",
}


class ConflictKind(enum.Enum):
    """What kind of foreign use of our VRID was seen."""

    VIP_MISMATCH = "vip_mismatch"
    CONFIG_MISMATCH = "config_mismatch"
    SECOND_MASTER = "second_master"
    DUPLICATE_OWNER = "duplicate_owner"
    VERSION_MISMATCH = "version_mismatch"


@dataclass(frozen=True, slots=True)
class Conflict:
    """One (kind, source) conflict: when it was first and last shown, by how many adverts, and why."""

    kind: ConflictKind
    source: IPAddress
    first_seen: float
    last_seen: float
    adverts: int
    detail: str


@dataclass(frozen=True, slots=True)
class ConflictEvent:
    """A conflict was detected (``detected=True``, log a warning) or has cleared (``False``)."""

    conflict: Conflict
    detected: bool


@dataclass(slots=True)
class _Run:
    """A source's current stretch of uninterrupted adverts (it advertises, so it believes it is master)."""

    first: float
    last: float


class ConflictDetector:
    """Per-instance conflict tracker. Feed it every received advert for our VRID with its verdict."""

    def __init__(self, advert_int: float, owner: bool, vips: tuple[IPAddress, ...]) -> None:
        self.advert_int = advert_int
        self.owner = owner
        self.vips = vips
        self.detected: collections.Counter[str] = collections.Counter()  # episodes, by kind value
        self._conflicts: dict[tuple[ConflictKind, IPAddress], Conflict] = {}
        self._runs: dict[IPAddress, _Run] = {}
        # The last source seen and its run, matched by identity: a repeated advert comes back from
        # `packet.DecodeCache` as the same object, so the steady state skips `IPv4Address.__hash__` (Python).
        self._last: tuple[IPAddress, _Run] | None = None
        self._master_since: float | None = None
        self._clear_after = CLEAR_INTERVALS * advert_int + 1.0

    def reconfigure(self, advert_int: float, owner: bool, vips: tuple[IPAddress, ...]) -> None:
        """The instance's configuration changed (reload); running conflicts are kept until they clear."""
        self.advert_int, self.owner, self.vips = advert_int, owner, vips
        self._clear_after = CLEAR_INTERVALS * advert_int + 1.0

    @property
    def clear_after(self) -> float:
        """Seconds without a new sighting after which a conflict clears and a source's run ends."""
        return self._clear_after

    @property
    def deadline(self) -> float | None:
        """When `expire` must next be called (the earliest conflict's clearing time), or None."""
        if not self._conflicts:
            return None
        return min(c.last_seen for c in self._conflicts.values()) + self.clear_after

    def active(self) -> list[Conflict]:
        """The conflicts not yet cleared, oldest first."""
        return sorted(self._conflicts.values(), key=lambda c: (c.first_seen, c.kind.value, c.source))

    def set_master(self, now: float, is_master: bool) -> None:
        """Our own router entered (True) or left (False) MASTER at `now`: we advertise while MASTER."""
        if not is_master:
            self._master_since = None
        elif self._master_since is None:
            self._master_since = now

    def observe(self, now: float, received: Received, drop: DropReason | None) -> list[ConflictEvent]:
        """An advert for our VRID arrived; `drop` is the §7.1 verdict (None: the router accepted it)."""
        adv, src = received.advert, received.source
        if drop is None and not self.owner:  # the steady state: only the run of its source moves on
            return self._track_master(now, src, adv.priority)
        if drop is DropReason.OWN_PACKET:
            return []
        events: list[ConflictEvent] = []
        if drop is DropReason.ADDRESS_MISMATCH:
            theirs = ", ".join(map(str, sorted(adv.addresses))) or "none"
            ours = ", ".join(map(str, sorted(self.vips)))
            detail = f"advertises VIPs [{theirs}], ours are [{ours}]"
            events += self._sighting(now, ConflictKind.VIP_MISMATCH, src, detail)
        elif drop in _CONFIG_DROPS:
            detail = _CONFIG_DROPS[drop]
            if drop is DropReason.INTERVAL_MISMATCH:
                detail += f" ({adv.advert_int}s, ours {self.advert_int}s)"
            events += self._sighting(now, ConflictKind.CONFIG_MISMATCH, src, detail)
        elif drop is DropReason.BAD_VERSION:
            # RFC 3768 and RFC 5798 routers each drop the other's adverts (§7.1 version check): on one VRID
            # they never elect together, and both become master.
            detail = (
                f"speaks VRRPv{adv.version} on our VRID, not our version:"
                " neither hears the other, both become master"
            )
            events += self._sighting(now, ConflictKind.VERSION_MISMATCH, src, detail)
        if self.owner and adv.priority == PRIORITY_OWNER:
            detail = "also advertises priority 255 (address owner): two owners of the same addresses"
            events += self._sighting(now, ConflictKind.DUPLICATE_OWNER, src, detail)
        events += self._track_master(now, src, adv.priority)
        return events

    def expire(self, now: float) -> list[ConflictEvent]:
        """Clear every conflict not shown again within `clear_after`; returns the cleared ones."""
        gone = [k for k, c in self._conflicts.items() if now - c.last_seen >= self.clear_after]
        return [ConflictEvent(self._conflicts.pop(k), detected=False) for k in gone]

    # -- internals ------------------------------------------------------------------------------------

    def _track_master(self, now: float, src: IPAddress, priority: int) -> list[ConflictEvent]:
        if priority == PRIORITY_STOP:
            self._runs.pop(src, None)  # §6.4.3: it is leaving; its stretch as master is over
            self._last = None
            return []
        last = self._last
        run = last[1] if last is not None and last[0] is src else self._runs.get(src)
        if run is None or now - run.last >= self._clear_after:
            if run is None and len(self._runs) >= MAX_TRACKED:
                self._prune(now)
                if len(self._runs) >= MAX_TRACKED:
                    return []
            run = self._runs[src] = _Run(now, now)
        if last is None or last[1] is not run:
            self._last = (src, run)
        run.last = now
        # Both sides must actually have been seen advertising through a common stretch longer than one
        # interval: a handover (old master's last advert, then the new one's first) never overlaps, and
        # a lower-priority master that hears our answer steps down after its first advert.
        if self._master_since is not None:
            overlap = run.last - max(run.first, self._master_since)
            if overlap > self.advert_int:
                return self._sighting(now, ConflictKind.SECOND_MASTER, src, "advertises while we are MASTER")
            return []
        if len(self._runs) == 1:  # only this source's run: nobody to overlap with
            return []
        for other_src, other in self._runs.items():
            if other_src == src or now - other.last >= self._clear_after:
                continue
            overlap = min(run.last, other.last) - max(run.first, other.first)
            if overlap > self.advert_int:
                detail = f"advertises at the same time as {other_src}: two masters on the segment"
                return self._sighting(now, ConflictKind.SECOND_MASTER, src, detail)
        return []

    def _sighting(self, now: float, kind: ConflictKind, src: IPAddress, detail: str) -> list[ConflictEvent]:
        key = (kind, src)
        known = self._conflicts.get(key)
        if known is not None:
            self._conflicts[key] = replace(known, last_seen=now, adverts=known.adverts + 1, detail=detail)
            return []
        if len(self._conflicts) >= MAX_TRACKED:
            return []
        conflict = Conflict(kind, src, now, now, 1, detail)
        self._conflicts[key] = conflict
        self.detected[kind.value] += 1
        return [ConflictEvent(conflict, detected=True)]

    def _prune(self, now: float) -> None:
        for src in [s for s, r in self._runs.items() if now - r.last >= self._clear_after]:
            del self._runs[src]
        self._last = None
