"""The VRRP virtual router state machine — VRRPv2 (RFC 3768 §6) and VRRPv3 (RFC 5798 §6) — sans-I/O.

Everything that affects a transition lives in this module: a reader finds every §6.4 rule here, each next to
the section it implements, and every deliberate keepalived-compatible deviation marked "Deviation".

One design for both versions. RFC 5798 §6 keeps RFC 3768's states, events and rules and changes three
things, all of them data here rather than a second state machine:

* the interval is counted in centiseconds, and a backup adopts the master's: Master_Adver_Interval is
  learned from every advert a backup accepts (§6.4.2) or that makes a master step down (§6.4.3), and set
  back to the configured Advertisement_Interval at startup (§6.4.1). In v2 an advert's interval always
  equals ours (§7.1 drops any other), so the same learning rule changes nothing there;
* Skew_Time scales with it: ((256 - Priority) * Master_Adver_Interval) / 256 rather than (256 - Priority)
  / 256 seconds (`skew_time`);
* a master that does not own the addresses accepts packets addressed to them only with Accept_Mode
  (§6.4.3), which `AddVips.accept` tells whoever installs them.

Which version a router runs is `RouterConfig.version`; IPv6 addresses exist in v3 only.

One `Router` per (interface, VRID). It is fed from three sources only — commands (`start`, `shutdown`,
`set_priority`, `set_fault`, `set_health`, `set_tracked`, `reconfigure`, `vips_missing`, `vips_refused`,
`vips_installed`, `vip_deleted`, `vip_added`, `set_primary_address`), received advertisements
(`receive`) and timer expiry (`on_timer`) — and every entry point takes `now` (monotonic seconds) and
returns a list of `Action`s for the caller to carry out in order. `deadline` tells the caller when to call
`on_timer` next. No sockets, no clock, no logging here: the caller owns all three, which is what makes
each rule testable to the millisecond. The transitions on one screen, with the section of each:
docs/architecture.md, "The Router's transitions".

Misuse by the caller (an out-of-range priority, starting twice) raises; a peer's bad advertisement is a
`Dropped` action carrying a `DropReason`.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Interface, IPv6Interface

from vrrpd.protocol.packet import (
    AUTH_AH,
    AUTH_DATA_LEN,
    AUTH_NONE,
    AUTH_PASS,
    CENTISECONDS,
    MAX_ADVER_INT_V3,
    PRIORITY_OWNER,
    PRIORITY_STOP,
    VRRP_VERSION,
    VRRP_VERSION_3,
    Advertisement,
    DropReason,
    IPAddress,
    Received,
    address_mismatch,
    pad_password,
    validate_advert,
)
from vrrpd.protocol.tracking import Status, Tracked, faulted
from vrrpd.protocol.tracking import effective_priority as tracking_priority

IPInterface = IPv4Interface | IPv6Interface

# Deviation (keepalived): a master answers a lower-priority advert at once to end a split brain quickly.
# The answer — and the §6.4.3 answer to a priority-0 advert — is rate-limited to one per this many seconds,
# so a flood of hostile adverts cannot make us flood the segment in turn.
ANSWER_MIN_GAP = 0.1

# A master that cannot install its addresses black-holes the traffic while the backups, hearing its adverts,
# never take over. The caller retries once per advertisement interval (`vips_missing`); when this many
# attempts in a row have been refused (`vips_refused`) the router goes FAULT with a priority-0 advert, so a
# backup takes over after Skew_Time: about the 3 intervals a backup waits for a master that died.
VIP_FAULT_ATTEMPTS = 4
# That FAULT is left after this many seconds (a normal election follows, and a new master installs again),
# doubling up to the cap while the refusals go on, back to the first once everything is installed.
VIP_FAULT_RETRY = 5.0
VIP_FAULT_RETRY_MAX = 60.0


class State(enum.Enum):
    """RFC 3768 §6.4 states, plus FAULT (keepalived): interface down or a fatal check failing."""

    INIT = "INIT"
    BACKUP = "BACKUP"
    MASTER = "MASTER"
    FAULT = "FAULT"


class Reason(enum.Enum):
    """Why a transition happened; logged and reported with every `StateChanged`."""

    STARTUP = "startup"  # §6.4.1: INIT -> BACKUP
    ADDRESS_OWNER = "address_owner"  # §6.4.1: priority 255 goes straight to MASTER
    MASTER_DOWN = "master_down_timer"  # §6.4.2: no advert from a master within Master_Down_Interval
    MASTER_PRIORITY_ZERO = "master_priority_zero"  # §6.4.2: the master left (priority 0), Skew_Time passed
    PREEMPTED = "preempted"  # §6.4.3: a higher priority (or equal, higher address) master exists
    SHUTDOWN = "shutdown"  # §6.4.2/§6.4.3: Shutdown event
    FAULT = "fault"  # keepalived: interface down or a fatal check failing
    RECOVERED = "recovered"  # the last fault cleared: a normal election starts again
    SYNC_GROUP = "sync_group"  # keepalived vrrp_sync_group: another member's transition took this one along


class Fault(enum.Enum):
    """Sources of FAULT; the router stays in FAULT while any is active."""

    INTERFACE = "interface_down"
    CHECK = "check_failed"
    VIPS = "vip_install_failed"  # a master that cannot install its VIPs must not keep advertising
    # The interface lost the address adverts leave from: its IPv4 one (§5.2.1), its IPv6 link-local one
    # (RFC 5798 §5.1.2.1). Per family: an IPv6 router does not care about the IPv4 address, nor vice versa.
    NO_ADDRESS = "no_address"
    SYNC_GROUP = "sync_group"  # keepalived vrrp_sync_group: another member of the group is in FAULT


# Faults that leave nothing to send a priority-0 advert with (no link, no source address).
_SILENT_FAULTS = frozenset({Fault.INTERFACE, Fault.NO_ADDRESS})


@dataclass(frozen=True, slots=True)
class SendAdvert:
    """Send this advertisement (to 224.0.0.18, or to each unicast peer)."""

    advert: Advertisement


@dataclass(frozen=True, slots=True)
class AddVips:
    """Install the virtual addresses on the interface.

    `accept` False: do not accept packets addressed to them, except IPv6 Neighbor Solicitations and
    Advertisements (RFC 5798 §6.1 Accept_Mode, §6.4.3): a master that is not the address owner only
    forwards for them.
    """

    vips: tuple[IPInterface, ...]
    accept: bool = True
    # True when this router becomes MASTER: the configured virtual routes and rules follow the addresses
    # in (keepalived's order; a route may name a VIP as its source). Any other VIP change leaves them.
    routes: bool = False


@dataclass(frozen=True, slots=True)
class RemoveVips:
    """Remove the virtual addresses from the interface."""

    vips: tuple[IPInterface, ...]
    # True when this router leaves MASTER: the virtual routes and rules go first, before the addresses.
    routes: bool = False


@dataclass(frozen=True, slots=True)
class SendGarp:
    """Announce each address `count` times: a gratuitous ARP request for an IPv4 address (RFC 3768 §6.4.2),
    an unsolicited Neighbor Advertisement with the Override flag set for an IPv6 one (RFC 5798 §6.4.2)."""

    addresses: tuple[IPAddress, ...]
    count: int


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The router moved from `old` to `new`; `master` is the master as far as this router knows."""

    old: State
    new: State
    reason: Reason
    priority: int
    master: IPAddress | None


@dataclass(frozen=True, slots=True)
class Dropped:
    """A received advertisement failed a §7.1 check."""

    reason: DropReason
    source: IPAddress
    advert: Advertisement


@dataclass(frozen=True, slots=True)
class Misconfigured:
    """A received advertisement was processed, but shows that its sender is configured differently.

    RFC 5798 §7.1: "MAY verify that 'Count IPvX Addrs' and the list of IPvX address(es) match the IPvX
    Address(es) configured for the VRID. If the above check fails, the receiver SHOULD log the event" — log
    and count it; the advert still takes part in the election (RFC 3768 discarded it: a `Dropped` there).
    """

    reason: DropReason
    source: IPAddress
    advert: Advertisement


@dataclass(frozen=True, slots=True)
class WantMaster:
    """A sync group member's Master_Down_Timer fired: it becomes MASTER only with its whole group.

    Deviation (keepalived vrrp_sync_group, vrrp_sync_can_goto_master): the router stays BACKUP and re-arms
    the timer; `vrrpd.protocol.sync.SyncGroup` takes every member to MASTER once all of them want it.
    """


Action = SendAdvert | AddVips | RemoveVips | SendGarp | StateChanged | Dropped | Misconfigured | WantMaster


@dataclass(frozen=True, slots=True)
class RouterConfig:
    """What the state machine needs of one virtual router's configuration. Validated on construction.

    `advert_int` is in seconds: whole seconds 1..255 in VRRPv2 (RFC 3768 §5.3.7), 0.01..40.95 in steps of
    0.01 in VRRPv3 (RFC 5798 §5.2.7: a 12-bit count of centiseconds). The addresses are of one family: IPv4,
    or (v3 only) IPv6 with a link-local `primary_address` (§5.1.2.1).
    """

    vrid: int
    priority: int
    primary_address: IPAddress
    vips: tuple[IPInterface, ...]
    advert_int: float = 1
    preempt: bool = True
    preempt_delay: float = 0.0
    auth_pass: str | None = field(default=None, repr=False)  # a secret: never in a repr or a log
    unicast_peers: tuple[IPAddress, ...] = ()
    garp_master_repeat: int = 5
    garp_master_delay: float = 5.0
    garp_master_refresh: float = 0.0
    # keepalived garp_master_refresh_repeat: GARPs per address at each refresh.
    garp_master_refresh_repeat: int = 1
    lower_priority_answer: bool = True
    # keepalived garp_lower_prio_repeat / garp_lower_prio_delay: a master hearing a lower-priority advert
    # announces its addresses again (a burst now, another after the delay; 0 repeats: none). Off here;
    # the configuration's default is keepalived's (5 GARPs, 5 s).
    garp_lower_prio_repeat: int = 0
    garp_lower_prio_delay: float = 5.0
    # keepalived track_script: named checks and their weights (`vrrpd.protocol.tracking`); their
    # results arrive through `set_tracked`.
    tracked: tuple[tuple[str, Tracked], ...] = ()
    # keepalived skip_check_adv_addr: a backup does not re-check the address list of adverts from the
    # master it already follows (keepalived checks it only when the advert comes from a new source).
    skip_check_adv_addr: bool = False
    # keepalived vrrp_sync_group member: see `WantMaster`.
    sync_group: bool = False
    # The health check's effect (keepalived's weight): None without a check; 0 puts the router in FAULT while
    # the check fails (ipfailover); n > 0 lowers the priority by n instead (see `effective_priority`).
    health_weight: int | None = None
    # Deviation (keepalived eVIPs): installed and announced like `vips`, never carried in adverts, so the
    # §5.3.5 one-octet count does not bound them and §7.1's address check does not cover them.
    excluded: tuple[IPInterface, ...] = ()
    version: int = VRRP_VERSION
    # RFC 5798 §6.1 Accept_Mode. Deviation (keepalived): True unless configured otherwise, as keepalived
    # outside vrrp_strict; the RFC's default is False. The address owner always accepts (`accepts`).
    accept: bool = True
    # keepalived `auth_type AH` (RFC 2338 §5.3.6.3): `auth_pass` is the AH's HMAC key instead of a text
    # password, the adverts say Auth Type 2 with zero authentication data, and only adverts whose AH was
    # verified (`protocol.ah`, `Received.ah`) are accepted.
    auth_ah: bool = False
    auth_data: bytes = field(init=False, repr=False)
    # The addresses as they appear in an advertisement (no prefix length). Derived from `vips` once:
    # every received advert is checked against it.
    vip_addresses: tuple[IPAddress, ...] = field(init=False, repr=False)
    # What a master installs and announces: `vips` then `excluded` (with and without prefix lengths).
    installed: tuple[IPInterface, ...] = field(init=False, repr=False)
    garp_addresses: tuple[IPAddress, ...] = field(init=False, repr=False)
    # Our adverts' Adver Int field: seconds in v2, centiseconds in v3.
    advert_int_field: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.vrid <= 255:
            raise ValueError(f"vrid {self.vrid} out of range 1..255")
        if not 1 <= self.priority <= 255:
            raise ValueError(f"priority {self.priority} out of range 1..255")
        if self.version not in (VRRP_VERSION, VRRP_VERSION_3):
            raise ValueError(f"version {self.version} is not 2 or 3")
        object.__setattr__(self, "advert_int_field", _advert_int_field(self.advert_int, self.version))
        if len(self.vips) > 255:
            raise ValueError("at most 255 virtual addresses fit in one advertisement")
        if self.preempt_delay < 0 or self.garp_master_delay < 0 or self.garp_master_refresh < 0:
            raise ValueError("delays must be >= 0")
        if self.garp_master_repeat < 1 or self.garp_master_refresh_repeat < 1:
            raise ValueError("garp_master_repeat and garp_master_refresh_repeat must be >= 1")
        if self.garp_lower_prio_repeat < 0 or self.garp_lower_prio_delay < 0:
            raise ValueError("garp_lower_prio_repeat and garp_lower_prio_delay must be >= 0")
        if len({name for name, _ in self.tracked}) != len(self.tracked):
            raise ValueError("a tracked script is listed twice")
        if self.health_weight is not None and not 0 <= self.health_weight <= 253:
            raise ValueError(f"health_weight {self.health_weight} out of range 0..253")
        if self.priority == PRIORITY_OWNER and self.health_weight:
            raise ValueError("the address owner's priority cannot change: its health weight must be 0")
        family = self.primary_address.version
        if any(
            a.version != family for a in (*(v.ip for v in self.vips + self.excluded), *self.unicast_peers)
        ):
            # RFC 5798 §5.2.9: "IPv4 and IPv6 MUST NOT both be carried in one IPvX Address field".
            raise ValueError("a virtual router's addresses are all IPv4 or all IPv6")
        if family == 6 and self.version != VRRP_VERSION_3:
            raise ValueError("IPv6 needs VRRPv3 (RFC 5798): VRRPv2 is IPv4 only")
        if self.auth_pass and self.version == VRRP_VERSION_3:
            raise ValueError("VRRPv3 has no authentication (RFC 5798 §9)")
        if self.auth_ah and not self.auth_pass:
            raise ValueError("auth_type AH needs auth_pass (the HMAC key)")
        # AH: the key travels in no packet; the advert's own authentication data stays zero (keepalived).
        data = pad_password(self.auth_pass) if self.auth_pass and not self.auth_ah else bytes(AUTH_DATA_LEN)
        object.__setattr__(self, "auth_data", data)
        object.__setattr__(self, "vip_addresses", tuple(v.ip for v in self.vips))
        installed = self.vips + self.excluded
        if len({v.ip for v in installed}) != len(installed):
            raise ValueError("a virtual address is listed twice (advertised or excluded)")
        object.__setattr__(self, "installed", installed)
        object.__setattr__(self, "garp_addresses", tuple(v.ip for v in installed))

    def validate(self, received: Received) -> DropReason | None:
        """§7.1's configuration checks of a received advert against this router; None means accept."""
        return validate_advert(
            received,
            vrid=self.vrid,
            advert_int=self.advert_int_field,
            addresses=self.vip_addresses,
            own_addresses=(self.primary_address,),
            auth_type=self.auth_type,
            auth_data=self.auth_data,
            unicast_peers=self.unicast_peers,
            version=self.version,
            family=self.family,
        )

    @property
    def auth_type(self) -> int:
        """0 (none), 1 (simple text password) or 2 (IP Authentication Header), RFC 2338 §5.3.6."""
        if self.auth_ah:
            return AUTH_AH
        return AUTH_PASS if self.auth_pass else AUTH_NONE

    @property
    def family(self) -> int:
        """4 or 6: the family of every address of this virtual router."""
        return self.primary_address.version

    @property
    def accepts(self) -> bool:
        """RFC 5798 §6.4.3: a master accepts packets addressed to the virtual addresses "if it is the IPvX
        address owner or if Accept_Mode is True"."""
        return self.accept or self.priority == PRIORITY_OWNER


def _advert_int_field(seconds: float, version: int) -> int:
    """Our adverts' Adver Int field for an interval of `seconds`; ValueError if the version cannot say it."""
    if version == VRRP_VERSION:
        # RFC 3768 §5.3.7: an 8-bit count of seconds.
        if seconds != int(seconds) or not 1 <= seconds <= 255:
            raise ValueError(f"advert_int {seconds} is not a whole number of seconds 1..255 (VRRPv2)")
        return int(seconds)
    # RFC 5798 §5.2.7: a 12-bit count of centiseconds. The tolerance (a millionth of a centisecond) absorbs
    # binary floating point: 0.29 * 100 is 28.999999999999996.
    centiseconds = round(seconds * CENTISECONDS)
    if abs(seconds * CENTISECONDS - centiseconds) > 1e-6 or not 1 <= centiseconds <= MAX_ADVER_INT_V3:
        raise ValueError(f"advert_int {seconds} is not 0.01..40.95 seconds in steps of 0.01 (VRRPv3)")
    return centiseconds


def skew_time(priority: int, master_adver_int: float = 1.0, version: int = VRRP_VERSION) -> float:
    """Skew_Time in seconds.

    RFC 3768 §6.1: "(256 - Priority) / 256" seconds, whatever the interval.
    RFC 5798 §6.1: "(((256 - priority) * Master_Adver_Interval) / 256)".
    """
    if version == VRRP_VERSION_3:
        return (256 - priority) * master_adver_int / 256
    return (256 - priority) / 256


def master_down_interval(master_adver_int: float, priority: int, version: int = VRRP_VERSION) -> float:
    """§6.1: Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time (RFC 3768 says
    Advertisement_Interval: a v2 master's interval always equals ours)."""
    return 3 * master_adver_int + skew_time(priority, master_adver_int, version)


def effective_priority(base: int, weight: int, healthy: bool) -> int:
    """keepalived's weight semantics: a failing check lowers the priority by `weight`, clamped to 1..254.

    The address owner (255) never changes priority (`RouterConfig` refuses a weight for it).
    """
    if base == PRIORITY_OWNER or healthy or weight == 0:
        return base
    return max(1, min(254, base - weight))


class Router:
    """One VRRP virtual router. See the module docstring for the calling convention."""

    # Slots: a master's period reads a dozen of these for each of its instances, on caches gone cold since
    # the last period; inline they take three cache lines, in an instance dictionary five or more. A new
    # attribute goes here too.
    __slots__ = (
        "_accepted",
        "_adver_at",
        "_built",
        "_garp_at",
        "_last_advert_at",
        "_lower_garp_at",
        "_master_down_at",
        "_master_left",
        "_preempt_hold_until",
        "_refresh_at",
        "_vip_fault_delay",
        "_vip_fault_until",
        "_vip_refusals",
        "config",
        "faults",
        "health",
        "master_address",
        "master_adver_int",
        "priority",
        "state",
        "tracked_status",
        "wants_master",
    )

    def __init__(self, config: RouterConfig) -> None:
        self.config = config
        self.state = State.INIT
        self.priority = config.priority  # effective priority (health checks may lower it)
        self.master_address: IPAddress | None = None
        self.faults: set[Fault] = set()
        # A sync group member whose Master_Down_Timer fired and that waits for the rest of its group.
        self.wants_master = False
        # RFC 5798 §6.1 Master_Adver_Interval, in seconds: "The initial value is the same as
        # Advertisement_Interval"; a backup learns it from the master's adverts (§6.4.2).
        self.master_adver_int: float = config.advert_int
        # The health check's verdict: None while there is none (no check configured), which counts as up.
        self.health: bool | None = None
        # Each tracked script's status (`set_tracked`): None until its first result.
        self.tracked_status: dict[str, Status] = {name: None for name, _ in config.tracked}
        if any(faulted(tracked, None) for _, tracked in config.tracked):
            # keepalived: an instance tracking a weight-0 script waits in FAULT for its first result.
            self.faults.add(Fault.CHECK)
        # Timers are absolute monotonic times, or None when not running.
        self._master_down_at: float | None = None  # §6.2 Master_Down_Timer
        self._adver_at: float | None = None  # §6.2 Adver_Timer
        self._garp_at: float | None = None  # keepalived garp_master_delay: the second GARP burst
        self._refresh_at: float | None = None  # keepalived garp_master_refresh
        self._lower_garp_at: float | None = None  # keepalived garp_lower_prio_delay: the second burst
        self._preempt_hold_until: float | None = None  # keepalived preempt_delay
        self._last_advert_at: float | None = None
        # The Master_Down_Timer was last set by a priority-0 advert (§6.4.2): its expiry is a handover.
        self._master_left = False
        # Refused address installs (`vips_refused`): attempts in a row, the next FAULT's length, its end.
        self._vip_refusals = 0
        self._vip_fault_delay = VIP_FAULT_RETRY
        self._vip_fault_until: float | None = None
        # The last advert that passed §7.1, the configuration it passed under and what it showed of its
        # sender's configuration (see `receive`).
        self._accepted: tuple[Received, RouterConfig, Misconfigured | None] | None = None
        # The last advert built and the configuration it was built under (see `advertisement`), and the
        # `SendAdvert` that carried it: a master sends the same advert every period.
        self._built: tuple[RouterConfig, Advertisement, SendAdvert] | None = None

    # -- what the caller asks ------------------------------------------------------------------------

    @property
    def deadline(self) -> float | None:
        """The absolute monotonic time at which `on_timer` must be called next, or None."""
        # Written out rather than min() over a filtered list: called after every advert received.
        earliest = self._master_down_at
        for t in (self._adver_at, self._garp_at, self._refresh_at, self._lower_garp_at):
            if t is not None and (earliest is None or t < earliest):
                earliest = t
        t = self._vip_fault_until  # apart: it runs in FAULT, when every other timer is stopped
        if t is not None and (earliest is None or t < earliest):
            earliest = t
        return earliest

    def advertisement(self, priority: int | None = None) -> Advertisement:
        """The ADVERTISEMENT this router sends at `priority` (None: its effective priority), as a master
        does (§5). A query, changing nothing: a backup's adapter encodes the advert a takeover will send
        ahead of its Master_Down_Timer, so the takeover's first packet costs one send."""
        return self._build(self.priority if priority is None else priority)[0]

    def _build(self, priority: int) -> tuple[Advertisement, SendAdvert]:
        # The same objects while the configuration object and the priority are unchanged: a master builds
        # its advert once, not every period, and the adapter can recognise an advert it has encoded by
        # identity.
        cfg, built = self.config, self._built
        if built is not None and built[0] is cfg and built[1].priority == priority:
            return built[1], built[2]
        advert = Advertisement(
            vrid=cfg.vrid,
            priority=priority,
            addresses=cfg.vip_addresses,
            advert_int=cfg.advert_int_field,
            auth_type=cfg.auth_type,
            auth_data=cfg.auth_data,
            version=cfg.version,
        )
        action = SendAdvert(advert)
        self._built = (cfg, advert, action)
        return advert, action

    @property
    def skew_time(self) -> float:
        """§6.1 Skew_Time at the current effective priority (and, in v3, Master_Adver_Interval)."""
        return skew_time(self.priority, self.master_adver_int, self.config.version)

    @property
    def master_down_interval(self) -> float:
        """§6.1 Master_Down_Interval at the current effective priority and Master_Adver_Interval."""
        return master_down_interval(self.master_adver_int, self.priority, self.config.version)

    # -- commands --------------------------------------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        """§6.4.1 Startup event."""
        if self.state is not State.INIT:
            raise RuntimeError(f"start() in state {self.state.value}: the router is already running")
        if self.faults:
            return self._enter_fault(now)
        return self._startup(now, Reason.STARTUP)

    def shutdown(self, now: float) -> list[Action]:
        """§6.4.2 / §6.4.3 Shutdown event. Idempotent: shutting down a stopped router does nothing."""
        self._vip_fault_until = None
        self.faults.discard(Fault.VIPS)
        if self.state is State.INIT:
            return []
        actions: list[Action] = []
        if self.state is State.MASTER:
            # §6.4.3: "Send an ADVERTISEMENT with Priority = 0" so backups take over after Skew_Time.
            actions.append(self._advert(now, PRIORITY_STOP))
            actions.append(RemoveVips(self.config.installed, routes=True))
        self._stop_timers()
        self._preempt_hold_until = None
        actions.append(self._transition(State.INIT, Reason.SHUTDOWN, master=None))
        return actions

    def set_priority(self, now: float, priority: int) -> list[Action]:
        """Change the effective priority (health checks with a weight use this).

        Takes effect in the next advertisement and in Skew_Time; the election then runs by the normal rules
        (a higher-priority backup with preemption takes over after Master_Down_Interval, §6.4.2).
        """
        del now  # part of every entry point's signature; a priority change arms no timer by itself
        owner = self.config.priority == PRIORITY_OWNER
        if not 1 <= priority <= 255:
            raise ValueError(f"priority {priority} out of range 1..255")
        if owner != (priority == PRIORITY_OWNER):
            raise ValueError("priority 255 belongs to the address owner and cannot be gained or lost")
        self.priority = priority
        return []

    def set_fault(self, now: float, fault: Fault, active: bool) -> list[Action]:
        """Raise or clear a fault source (interface down, fatal check failing).

        keepalived's FAULT state: no adverts, VIPs removed. Leaving it re-runs §6.4.1 Startup, i.e. BACKUP
        and a normal election (or MASTER at once for the address owner).
        """
        was_faulty = bool(self.faults)
        if active:
            self.faults.add(fault)
        else:
            self.faults.discard(fault)
        if self.state is State.INIT or was_faulty == bool(self.faults):
            return []
        if self.faults:
            return self._enter_fault(now, announce=fault not in _SILENT_FAULTS)
        return self._startup(now, Reason.RECOVERED)

    def set_health(self, now: float, up: bool) -> list[Action]:
        """The health check's verdict changed (or was first given, before `start`).

        With `health_weight` 0 a failing check is a fault (`Fault.CHECK`: ipfailover's behaviour); with a
        weight > 0 it lowers the effective priority by the weight instead (keepalived's track_script
        weight). Without a configured check (`health_weight` None) the verdict is recorded only.
        """
        self.health = up
        return self._apply_health(now)

    def set_tracked(self, now: float, name: str, status: Status) -> list[Action]:
        """A tracked script's status changed (keepalived track_script): OK, failed, or None (no result);
        for a tracked file (keepalived track_file), its integer value.

        The effective priority becomes the configured one plus every tracked script's contribution,
        clamped to 1..254, and a failing weight-0 script puts the router in FAULT (`Fault.CHECK`):
        keepalived's arithmetic, in `vrrpd.protocol.tracking`. A name not tracked raises.
        """
        if name not in self.tracked_status:
            raise KeyError(f"{name!r} is not a tracked script of this router")
        self.tracked_status[name] = status
        return self._apply_health(now)

    def reconfigure(self, now: float, config: RouterConfig) -> list[Action]:
        """A reload changed this virtual router's configuration: swap it in, keeping the state.

        The VRID, the primary address and address ownership (priority 255, §6.4.1) are what the router
        is and how it starts; changing one of them is a restart (`shutdown`, a new `Router`), and asking
        for it here raises. Everything else applies from now on: the next advert carries the new
        addresses, interval, priority and authentication; a master gives up at once the addresses no
        longer configured (`RemoveVips`). Addresses newly configured are not installed here: the caller
        reports them through `vips_missing` once every router's removals are done, since on a reload an
        address may move from one virtual router to another.

        The health check: a check newly configured starts up (a reload must not put a serving master in
        FAULT before the check has even run), a changed one keeps its verdict, a removed one takes its
        fault or lowered priority with it.
        """
        old = self.config
        if config.vrid != old.vrid:
            raise ValueError(f"reconfigure cannot change the VRID ({old.vrid} -> {config.vrid})")
        if config.version != old.version:
            raise ValueError(
                f"reconfigure cannot change the VRRP version ({old.version} -> {config.version})"
            )
        if config.primary_address != old.primary_address:
            raise ValueError("reconfigure cannot change the primary address: restart the router")
        if (config.priority == PRIORITY_OWNER) != (old.priority == PRIORITY_OWNER):
            raise ValueError("priority 255 belongs to the address owner: gaining or losing it is a restart")
        self.config = config
        if config.version == VRRP_VERSION or self.state is not State.BACKUP:
            # A v3 backup keeps the interval it learned from the master (§6.4.2); anyone else runs on the
            # configured one, as after §6.4.1.
            self.master_adver_int = config.advert_int
        actions: list[Action] = []
        if self.state is State.MASTER:
            keep = set(config.installed)
            dropped = tuple(v for v in old.installed if v not in keep)
            if dropped:
                actions.append(RemoveVips(dropped))
            if config.garp_master_refresh != old.garp_master_refresh:
                # keepalived garp_master_refresh: the new period counts from the reload; 0 stops it.
                period = config.garp_master_refresh
                self._refresh_at = now + period if period > 0 else None
        if config.health_weight is None:
            self.health = None
        elif old.health_weight is None:
            self.health = True
        # A script still tracked keeps its status; one newly tracked has none yet, except that a new
        # weight-0 script does not fault a running router before it has run (keepalived's reload).
        kept = self.tracked_status
        self.tracked_status = {
            name: kept.get(name, not tracked.reverse if tracked.weight == 0 and not tracked.file else None)
            for name, tracked in config.tracked
        }
        if (config.priority, config.health_weight, config.tracked) != (
            old.priority,
            old.health_weight,
            old.tracked,
        ):
            actions += self._apply_health(now)
        return actions

    def vips_missing(self, now: float, vips: Iterable[IPInterface]) -> list[Action]:
        """Some configured addresses are not installed: a reload added them, or the kernel refused them.

        A master installs and announces them as it would on becoming master (`garp_master_repeat`
        GARPs each); in any other state nothing is missing, and addresses this router does not
        install are ignored.
        """
        del now  # part of every entry point's signature; installing arms no timer
        if self.state is not State.MASTER:
            return []
        cfg = self.config
        ours = set(cfg.installed)
        missing = tuple(v for v in vips if v in ours)
        if not missing:
            return []
        return [
            AddVips(missing, accept=cfg.accepts),
            SendGarp(tuple(v.ip for v in missing), cfg.garp_master_repeat),
        ]

    def vips_refused(self, now: float, vips: Iterable[IPInterface]) -> list[Action]:
        """The kernel refused to install some of our addresses (EPERM without CAP_NET_ADMIN, an LSM...).

        The caller retries them once per advertisement interval through `vips_missing`. After
        VIP_FAULT_ATTEMPTS refusals in a row as MASTER: FAULT (`Fault.VIPS`) with a priority-0 advert so
        that a backup takes over, and back to a normal election after a delay (VIP_FAULT_RETRY, doubling
        up to VIP_FAULT_RETRY_MAX while it goes on). Outside MASTER nothing is installed, so nothing is
        counted.
        """
        del vips  # which ones does not matter: a master without any one of them is not serving it
        if self.state is not State.MASTER:
            return []
        self._vip_refusals += 1
        if self._vip_refusals < VIP_FAULT_ATTEMPTS:
            return []
        self._vip_refusals = 0
        self.faults.add(Fault.VIPS)
        actions = self._enter_fault(now, announce=True)
        self._vip_fault_until = now + self._vip_fault_delay
        self._vip_fault_delay = min(2 * self._vip_fault_delay, VIP_FAULT_RETRY_MAX)
        return actions

    def vips_installed(self, now: float) -> list[Action]:
        """Every configured address is installed: the refusals are over (the next FAULT delay is short)."""
        del now  # part of every entry point's signature
        self._vip_refusals = 0
        self._vip_fault_delay = VIP_FAULT_RETRY
        return []

    def vip_deleted(self, now: float, vip: IPInterface) -> list[Action]:
        """Someone deleted one of our addresses from the interface (the kernel told the caller).

        keepalived: a master puts it back and sends one GARP — the address did not move, so the
        neighbours' caches still point here and one announcement refreshes them. Otherwise nothing:
        a backup must not hold the address.
        """
        del now  # part of every entry point's signature; restoring arms no timer
        if not self.holds(vip):
            return []
        return [AddVips((vip,), accept=self.config.accepts), SendGarp((vip.ip,), 1)]

    def holds(self, vip: IPInterface) -> bool:
        """Whether `vip` should be installed now: this router is MASTER and the address is one of its own
        (advertised or excluded, with its prefix length). A question only: nothing changes."""
        return self.state is State.MASTER and vip in self.config.installed

    def vip_added(self, now: float, vip: IPInterface) -> list[Action]:
        """One of our addresses appeared on the interface while this router does not hold it (the caller
        knows what it installed itself): added by hand, or by another tool.

        Only a master holds the virtual addresses: anywhere else it duplicates the master's (the ARP
        replies of two nodes race), so it goes. A master keeps it (nothing to correct), and the address
        owner's own address is its own.
        """
        del now  # part of every entry point's signature; removing arms no timer
        cfg = self.config
        if self.state is State.MASTER or vip.ip == cfg.primary_address:
            return []
        if vip.ip not in cfg.garp_addresses:  # every address we install, by IP whatever its prefix length
            return []
        return [RemoveVips((vip,))]

    def set_primary_address(self, now: float, address: IPAddress) -> list[Action]:
        """The interface's own (primary) address changed: the source of our adverts (§5.2.1), the address
        the §7.1 own-packet check recognises and the §6.4.3 tie-break compares, from now on.

        The state is kept (the caller reopened its sockets with the new source); while the interface had
        no address at all the caller holds the router in `Fault.NO_ADDRESS`.
        """
        del now  # part of every entry point's signature; the address arms no timer
        if address.version != self.config.primary_address.version:
            raise ValueError(f"primary address {address} is not of the router's address family")
        self.config = dataclasses.replace(self.config, primary_address=address)
        return []

    # -- received advertisements ---------------------------------------------------------------------

    def receive(self, now: float, received: Received) -> list[Action]:
        """An advertisement for this VRID arrived (already through `packet.decode_ipv4` / `decode_ipv6`).

        Passing the very `Received` object of an earlier call is allowed and cheaper: the §7.1 checks are
        a pure function of the (immutable) advert and the configuration, so a repeat of the last accepted
        advert under the same `config` object skips them. A caller that decodes a byte-identical datagram
        once (the steady state: a master repeats its advert every interval) gets that for free; the
        transition rules below run for every advert either way.
        """
        cfg, accepted = self.config, self._accepted
        if accepted is None or accepted[0] is not received or accepted[1] is not cfg:
            reason = cfg.validate(received)
            if reason is DropReason.ADDRESS_MISMATCH and self._follows(received):
                reason = None  # keepalived skip_check_adv_addr: the current master's advert is trusted
            if reason is not None:
                return [Dropped(reason, received.source, received.advert)]
            notice = None
            if cfg.version == VRRP_VERSION_3 and address_mismatch(received.advert, cfg.vip_addresses):
                # RFC 5798 §7.1: a differing address list "SHOULD log the event"; the advert still counts.
                notice = Misconfigured(DropReason.ADDRESS_MISMATCH, received.source, received.advert)
            accepted = self._accepted = (received, cfg, notice)
        # Deviation (RFC 9568 erratum 8298, keepalived): the address owner processes adverts instead of
        # discarding them (§7.1), so two misconfigured owners still elect one master by address.
        if self.state is State.BACKUP:
            actions = self._backup_receive(now, received)
        elif self.state is State.MASTER:
            actions = self._master_receive(now, received)
        else:
            actions = []  # INIT and FAULT take no part in the election
        notice = accepted[2]
        return actions if notice is None else [notice, *actions]

    def repeat(self, now: float, received: Received) -> list[Action] | None:
        """`received`, the advert this router last accepted, arrived again (a routine repeat): the same
        as `receive(now, received)` when that would only move the Master_Down_Timer on, else None and
        nothing changes — the caller then takes the full path (`receive`).

        The steady state of a backup is its master repeating one advert every interval; a caller that
        recognises the repeat on its bytes (`vrrpd.runtime.interface`) skips decoding, admission and the
        §7.1 checks, and here only the §6.4.2 reset below runs. Whatever could make the outcome differ
        (another state, a new configuration object, a v3 address-list notice, priority 0, a lower
        priority we would preempt) returns None.
        """
        if not self.takes_repeat(received):
            return None
        # §6.4.2 "Reset the Master_Down_Timer to Master_Down_Interval" — the same branch as `receive`.
        return self._backup_receive(now, received)

    def takes_repeat(self, received: Received) -> bool:
        """Whether `repeat(now, received)` would take it, whatever `now`: then a repeat arriving at `t` only
        sets the Master_Down_Timer to `t + master_down_interval` (§6.4.2), and a caller may keep that
        deadline itself until it hands the last repeat over (`vrrpd.runtime.interface`, eBPF)."""
        accepted = self._accepted
        if (
            accepted is None
            or accepted[0] is not received
            or accepted[1] is not self.config
            or accepted[2] is not None
            or self.state is not State.BACKUP
        ):
            return False
        priority = received.advert.priority
        return not (priority == PRIORITY_STOP or (priority < self.priority and self.config.preempt))

    def adverts_lost(self, now: float) -> list[Action]:
        """Our own receive queue overflowed before `now`: the kernel dropped datagrams, saying how many
        but not whose, so an advert of the master may have been among them.

        A backup does not declare the master down on adverts it did not read: its Master_Down_Timer runs
        at least until now + Master_Down_Interval, as if an advert had arrived at `now` (§6.4.2 reset) —
        a failover is then at most that much later, never false. Other states: nothing (a master's
        decisions wait for the adverts that do arrive).
        """
        if self.state is State.BACKUP and self._master_down_at is not None:
            self._master_down_at = max(self._master_down_at, now + self.master_down_interval)
        return []

    def _follows(self, received: Received) -> bool:
        """keepalived skip_check_adv_addr: a backup receiving from the master it already follows."""
        return (
            self.config.skip_check_adv_addr
            and self.state is State.BACKUP
            and received.source == self.master_address
        )

    def _backup_receive(self, now: float, received: Received) -> list[Action]:
        adv, cfg = received.advert, self.config
        if adv.priority == PRIORITY_STOP:
            # §6.4.2: "If the Priority in the ADVERTISEMENT is zero, then: Set the Master_Down_Timer to
            # Skew_Time". The master is leaving; the highest-priority backup's timer fires first.
            self._master_down_at = now + self.skew_time
            self.master_address = None
            self._master_left = True
            return []
        if not cfg.preempt or adv.priority >= self.priority:
            # §6.4.2: "If Preempt_Mode is False, or If the Priority in the ADVERTISEMENT is greater than or
            # equal to the local Priority, then: Reset the Master_Down_Timer to Master_Down_Interval".
            # An equal-priority master is never preempted by a backup. RFC 5798 §6.4.2 first: "Set
            # Master_Adver_Interval to Adver Interval contained in the ADVERTISEMENT; Recompute the
            # Master_Down_Interval".
            self._learn_interval(adv)
            self._master_down_at = now + self.master_down_interval
            self.master_address = received.source
            self.wants_master = False
            self._master_left = False
            if adv.priority >= self.priority:
                self._preempt_hold_until = None
            return []
        if cfg.preempt_delay > 0:
            # Deviation (keepalived preempt_delay): a backup that would preempt a lower-priority master
            # first accepts its adverts for preempt_delay seconds, counted from the first such advert since
            # it became backup — whatever state it was configured or started in.
            if self._preempt_hold_until is None:
                self._preempt_hold_until = now + cfg.preempt_delay
            if now < self._preempt_hold_until:
                self._learn_interval(adv)  # accepted like a higher-priority master's advert (above)
                self._master_down_at = now + self.master_down_interval
                self.master_address = received.source
                self.wants_master = False
                return []
        # §6.4.2: "Otherwise: Discard the ADVERTISEMENT" — the Master_Down_Timer then fires and we preempt.
        return []

    def _master_receive(self, now: float, received: Received) -> list[Action]:
        adv, cfg = received.advert, self.config
        if adv.priority == PRIORITY_STOP:
            # §6.4.3: "If the Priority in the ADVERTISEMENT is zero, then: Send an ADVERTISEMENT; Reset the
            # Adver_Timer to Advertisement_Interval".
            if not self._answered_recently(now):
                self._adver_at = now + cfg.advert_int
                return [self._advert(now, self.priority)]
            return []
        # The check made the sender's family ours; as integers, addresses compare as the unsigned numbers
        # §6.4.3 means (for IPv6 in RFC 5798 as for IPv4).
        if adv.priority > self.priority or (
            adv.priority == self.priority and int(received.source) > int(cfg.primary_address)
        ):
            # §6.4.3: "If the Priority in the ADVERTISEMENT is greater than the local Priority, or the
            # Priority in the ADVERTISEMENT is equal to the local Priority and the primary IP Address of
            # the sender is greater than the local primary IP Address, then: Cancel Adver_Timer; Set
            # Master_Down_Timer to Master_Down_Interval; Transition to the {Backup} state". RFC 5798
            # §6.4.3 first sets Master_Adver_Interval from the advert and recomputes Skew_Time and
            # Master_Down_Interval.
            self._stop_timers()
            self._learn_interval(adv)
            self._master_down_at = now + self.master_down_interval
            return [
                self._transition(State.BACKUP, Reason.PREEMPTED, received.source),
                RemoveVips(cfg.installed, routes=True),
            ]
        # §6.4.3: "Otherwise: Discard ADVERTISEMENT". Deviation (keepalived default): answer with our own
        # advert at once, so a lower-priority router that believes itself master steps down now rather
        # than at our next Adver_Timer expiry.
        if cfg.lower_priority_answer and not self._answered_recently(now):
            actions: list[Action] = [self._advert(now, self.priority)]
            # keepalived garp_lower_prio_repeat: the lower-priority router may have claimed the addresses
            # in the neighbours' caches; announce them again now and once more after the delay.
            if cfg.garp_lower_prio_repeat:
                actions.append(SendGarp(cfg.garp_addresses, cfg.garp_lower_prio_repeat))
                if cfg.garp_lower_prio_delay > 0:
                    self._lower_garp_at = now + cfg.garp_lower_prio_delay
            return actions
        return []

    # -- timers ----------------------------------------------------------------------------------------

    def on_timer(self, now: float, early: float = 0.0) -> list[Action]:
        """Run every timer due at `now`. Calling it early is harmless (it does nothing).

        `early`: the Adver_Timer also runs when it expires at most this long after `now` (a master whose
        advert shares a wake-up with other masters'): the advert leaves now, and the next period still
        runs from the expiry, so the period does not drift.
        """
        actions: list[Action] = []
        cfg = self.config
        if self._master_down_at is not None and now >= self._master_down_at:
            # §6.4.2: "If the Master_Down_Timer fires, then: Send an ADVERTISEMENT; Broadcast a gratuitous
            # ARP request ...; Set the Adver_Timer to Advertisement_Interval; Transition to the {Master}
            # state".
            if cfg.sync_group:
                # Deviation (keepalived vrrp_sync_group): only with the whole group; wait another
                # Master_Down_Interval meanwhile (vrrp_sync_can_goto_master re-arms it the same way).
                self.wants_master = True
                self._master_down_at = now + self.master_down_interval
                actions.append(WantMaster())
            else:
                # Logged apart: a handover the master announced (priority 0) from a master gone silent.
                reason = Reason.MASTER_PRIORITY_ZERO if self._master_left else Reason.MASTER_DOWN
                actions += self._become_master(now, reason)
        if self._adver_at is not None and now + early >= self._adver_at:
            # §6.4.3: "If the Adver_Timer fires, then: Send an ADVERTISEMENT; Reset the Adver_Timer to
            # Advertisement_Interval". Rescheduled from the previous expiry (not from `now`) so a late
            # wake-up does not drift the period; after a long stall it restarts from now, never bursts.
            actions.append(self._advert(now, self.priority))
            self._adver_at = _next_period(self._adver_at, cfg.advert_int, now)
        if self._garp_at is not None and now >= self._garp_at:
            # keepalived garp_master_delay: a second burst once the new master is settled.
            self._garp_at = None
            actions.append(SendGarp(cfg.garp_addresses, cfg.garp_master_repeat))
        if self._refresh_at is not None and now >= self._refresh_at:
            # keepalived garp_master_refresh: keep switches' and clients' caches fresh while MASTER.
            self._refresh_at = _next_period(self._refresh_at, cfg.garp_master_refresh, now)
            actions.append(SendGarp(cfg.garp_addresses, cfg.garp_master_refresh_repeat))
        if self._lower_garp_at is not None and now >= self._lower_garp_at:
            self._lower_garp_at = None
            if self.state is State.MASTER and cfg.garp_lower_prio_repeat:
                actions.append(SendGarp(cfg.garp_addresses, cfg.garp_lower_prio_repeat))
        if self._vip_fault_until is not None and now >= self._vip_fault_until:
            # The FAULT for refused addresses is over: a normal election again (see `vips_refused`).
            self._vip_fault_until = None
            actions += self.set_fault(now, Fault.VIPS, False)
        return actions

    # -- transitions -----------------------------------------------------------------------------------

    # -- sync groups (keepalived vrrp_sync_group; `vrrpd.protocol.sync` decides when) ----------------------

    def force_master(self, now: float) -> list[Action]:
        """Become MASTER with the rest of the sync group (keepalived vrrp_sync_master); only from BACKUP."""
        if self.state is not State.BACKUP:
            return []
        return self._become_master(now, Reason.SYNC_GROUP)

    def force_backup(self, now: float) -> list[Action]:
        """Leave MASTER because another member of the sync group did (keepalived vrrp_sync_backup).

        No priority-0 advert (keepalived leaves with advF false): the member that was preempted has a
        higher-priority master, whose group takes over these VRIDs after Master_Down_Interval.
        """
        if self.state is not State.MASTER:
            return []
        self._stop_timers()
        self._master_down_at = now + self.master_down_interval
        return [
            self._transition(State.BACKUP, Reason.SYNC_GROUP, master=None),
            RemoveVips(self.config.installed, routes=True),
        ]

    def _startup(self, now: float, reason: Reason) -> list[Action]:
        if self.priority == PRIORITY_OWNER:
            # §6.4.1: "If the Priority = 255 (i.e., the router owns the IP address(es) associated with the
            # virtual router) then: Send an ADVERTISEMENT; Broadcast a gratuitous ARP ...; Set the
            # Adver_Timer ...; Transition to the {Master} state".
            return self._become_master(now, Reason.ADDRESS_OWNER)
        # §6.4.1: "else: Set the Master_Down_Timer to Master_Down_Interval; Transition to {Backup}". RFC 5798
        # §6.4.1 first: "Set Master_Adver_Interval to Advertisement_Interval".
        self._stop_timers()
        self.master_adver_int = self.config.advert_int
        self._master_down_at = now + self.master_down_interval
        self._preempt_hold_until = None
        return [self._transition(State.BACKUP, reason, master=None)]

    def _become_master(self, now: float, reason: Reason) -> list[Action]:
        cfg = self.config
        self._stop_timers()
        self._preempt_hold_until = None
        # A master advertises its own interval; what it learned as a backup no longer applies (keepalived
        # resets it here too). §6.4.3 learns it again from the advert that makes it step down.
        self.master_adver_int = cfg.advert_int
        # The advert goes first: it is what stops the other routers' Master_Down_Timers, and installing
        # addresses through netlink takes longer than one sendto(). GARPs follow the addresses (a client
        # answering a GARP must reach an installed VIP).
        advert = self._advert(now, self.priority)
        actions: list[Action] = [
            advert,
            self._transition(State.MASTER, reason, master=cfg.primary_address),
            # RFC 5798 §6.4.3: accept packets for the addresses only as their owner or with Accept_Mode.
            AddVips(cfg.installed, accept=cfg.accepts, routes=True),
            SendGarp(cfg.garp_addresses, cfg.garp_master_repeat),
        ]
        self._adver_at = now + cfg.advert_int
        if cfg.garp_master_delay > 0:
            self._garp_at = now + cfg.garp_master_delay
        if cfg.garp_master_refresh > 0:
            self._refresh_at = now + cfg.garp_master_refresh
        return actions

    def _enter_fault(self, now: float, announce: bool = True) -> list[Action]:
        actions: list[Action] = []
        if self.state is State.MASTER:
            if announce:
                # keepalived: a master leaving for FAULT sends priority 0 so a backup takes over after
                # Skew_Time instead of Master_Down_Interval. Pointless when the interface itself is down.
                actions.append(self._advert(now, PRIORITY_STOP))
            actions.append(RemoveVips(self.config.installed, routes=True))
        self._stop_timers()
        self._preempt_hold_until = None
        actions.insert(0, self._transition(State.FAULT, Reason.FAULT, master=None))
        return actions

    def _transition(self, new: State, reason: Reason, master: IPAddress | None) -> StateChanged:
        old, self.state, self.master_address = self.state, new, master
        if new is not State.MASTER:
            self._vip_refusals = 0  # counted afresh for each stretch as MASTER
        return StateChanged(old, new, reason, self.priority, master)

    # -- helpers ---------------------------------------------------------------------------------------

    def _advert(self, now: float, priority: int) -> SendAdvert:
        self._last_advert_at = now
        return self._build(priority)[1]

    def _learn_interval(self, adv: Advertisement) -> None:
        # RFC 5798 §6.4.2 / §6.4.3: "Set Master_Adver_Interval to Adver Interval contained in the
        # ADVERTISEMENT". In v2 that is our own interval (§7.1 dropped any other).
        self.master_adver_int = adv.centiseconds / CENTISECONDS

    def _apply_health(self, now: float) -> list[Action]:
        # A function of the whole state (the verdict, the weight, the base priority), not of the last
        # change: a reload changing any of them then lands in the right place.
        # The priority first: a transition this causes (FAULT, or a recovery's new election and its
        # Master_Down_Interval) then runs at the priority that holds after it.
        cfg = self.config
        weight = cfg.health_weight
        failing = weight is not None and self.health is False
        # The single [vrrp_instance.check] is a tracked script of weight -weight whose "no verdict yet"
        # counts as up; the named scripts follow keepalived exactly (vrrpd.protocol.tracking).
        terms = [(tracked, self.tracked_status.get(name)) for name, tracked in cfg.tracked]
        if weight:
            terms.append((Tracked(-weight), not failing))
        priority = tracking_priority(cfg.priority, terms)
        fault = (failing and weight == 0) or any(faulted(tracked, status) for tracked, status in terms)
        actions = self.set_priority(now, priority) if priority != self.priority else []
        return actions + self.set_fault(now, Fault.CHECK, fault)

    def _answered_recently(self, now: float) -> bool:
        last = self._last_advert_at
        return last is not None and now - last < ANSWER_MIN_GAP

    def _stop_timers(self) -> None:
        # Not `_vip_fault_until`: it ends the FAULT that stopped the others.
        self._master_down_at = self._adver_at = self._garp_at = self._refresh_at = None
        self._lower_garp_at = None
        self.wants_master = False
        self._master_left = False


def _next_period(previous: float, period: float, now: float) -> float:
    nxt = previous + period
    return nxt if nxt > now else now + period
