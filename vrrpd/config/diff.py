"""What a configuration reload changes, instance by instance — a pure comparison of two `Config`s.

This module owns the reload *policy*: which instances are untouched, which take the change live (the
router keeps its state and VIPs; only its configuration is swapped), which must be restarted (a
graceful priority-0 shutdown, then a fresh start) and which are added or removed. The daemon carries the
plan out; nothing here touches a socket, a clock or a log.

Instances are matched by (interface, VRID) — the virtual router's identity on the wire — not by name,
so renaming an instance is a live change rather than a handover.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from vrrpd.config import Config, GlobalConfig, InstanceConfig, VipConfig, fields_of
from vrrpd.protocol.packet import PRIORITY_OWNER

# Keys whose change cannot be applied to a running router. Everything else in [[vrrp_instance]] is
# applied live (see docs/operations.md for what each live change does).
RESTART_REASONS = {
    "unicast_src_ip": "the advertisement source address changes (the router's primary address, §5.2.1)",
    "mcast_src_ip": "the advertisement source address changes (the router's primary address, §5.2.1)",
    "virtual_routes": "virtual routes are installed and removed with the VIPs, on a transition",
    "virtual_rules": "virtual rules are installed and removed with the VIPs, on a transition",
    "use_vmac": "the VIPs move to or from the virtual MAC interface",
    "vmac_interface": "the virtual MAC interface is replaced",
    "vmac_xmit_base": "the adverts move between the interface and the virtual MAC interface",
    "vrrp_sync_group": "its vrrp_sync_group changed",
    "auth_type": "the adverts move between IP protocol 112 and an IPsec AH (protocol 51)",
    "version": "the VRRP version changes (VRRPv2 and VRRPv3 are different packets, RFC 5798 §5)",
    "track_interface": "the tracked interfaces are read again from the start",
    "track_file": "the tracked files are read again from the start",
    "track_process": "the tracked processes are counted again from the start",
    "dont_track_primary": "whether the interface's own link state counts changes",
}
_OWNER_REASON = "priority moves to or from 255: an address owner starts and elects differently (§6.4.1)"
_FAMILY_REASON = "the address family changes: IPv4 and IPv6 are different virtual routers (RFC 5798 §1)"
_VIP_OPTIONS_REASON = (
    "a VIP's options (dev, label, scope, brd, no_track) change: it is installed again, where it now belongs"
)


def _vip_options(config: InstanceConfig) -> dict[object, VipConfig]:
    """The VIPs that have options, by address: an address added or removed plainly is a live change."""
    return {v.address: v for v in config.vip_entries if not v.plain}


class Change(enum.Enum):
    """What happens to one instance on reload."""

    UNCHANGED = "unchanged"
    LIVE = "live"
    RESTART = "restart"
    ADDED = "added"
    REMOVED = "removed"


InstanceKey = tuple[str, int, int]  # (interface, VRID, address family)


@dataclass(frozen=True, slots=True)
class InstancePlan:
    """One instance's fate: `fields` are the changed keys, `reason` why a restart is needed."""

    key: InstanceKey
    name: str
    change: Change
    fields: tuple[str, ...] = ()
    reason: str = ""
    old: InstanceConfig | None = None
    new: InstanceConfig | None = None


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    """Every instance's plan (in the new file's order, removed ones last) and the changed [global] keys."""

    instances: tuple[InstancePlan, ...]
    global_fields: tuple[str, ...]

    def by_change(self, change: Change) -> list[InstancePlan]:
        """The instance plans of one kind."""
        return [p for p in self.instances if p.change is change]

    def summary(self) -> dict[str, list[str]]:
        """{change: [instance names]} for logs and the control socket; empty kinds omitted."""
        out: dict[str, list[str]] = {}
        for p in self.instances:
            label = (
                p.name if p.change not in (Change.LIVE, Change.RESTART) else f"{p.name}({','.join(p.fields)})"
            )
            out.setdefault(p.change.value, []).append(label)
        if self.global_fields:
            out["global"] = list(self.global_fields)
        return out


def key_of(config: InstanceConfig) -> InstanceKey:
    """(interface, VRID, address family) of an instance configuration: an IPv4 and an IPv6 virtual router
    with the same VRID are two routers (RFC 5798 §1), and an instance changing family is replaced."""
    return (config.interface, config.virtual_router_id, config.family)


def changed_fields(old: InstanceConfig | GlobalConfig, new: InstanceConfig | GlobalConfig) -> tuple[str, ...]:
    """The configuration fields whose values differ, in declaration order."""
    return tuple(name for name in fields_of(type(old)) if getattr(old, name) != getattr(new, name))


def restart_reason(old: InstanceConfig, new: InstanceConfig, fields: tuple[str, ...]) -> str:
    """Why this change needs a restart, or "" when it can be applied live."""
    if "priority" in fields and (old.priority == PRIORITY_OWNER) != (new.priority == PRIORITY_OWNER):
        return _OWNER_REASON
    if old.family != new.family:
        return _FAMILY_REASON
    if _vip_options(old) != _vip_options(new) or old.tracked_interfaces != new.tracked_interfaces:
        return _VIP_OPTIONS_REASON
    return "; ".join(RESTART_REASONS[f] for f in fields if f in RESTART_REASONS)


def plan(old: Config, new: Config) -> ReloadPlan:
    """Compare the running configuration with the new one."""
    before = {key_of(c): c for c in old.vrrp_instance}
    after = {key_of(c): c for c in new.vrrp_instance}
    plans: list[InstancePlan] = []
    for key, cfg in after.items():
        prev = before.get(key)
        if prev is None:
            plans.append(InstancePlan(key, cfg.name, Change.ADDED, new=cfg))
            continue
        fields = changed_fields(prev, cfg)
        if old.sync_group_of(cfg.name) != new.sync_group_of(cfg.name):
            # Its vrrp_sync_group changed (membership, notify, tracking): the group is rebuilt by restarting.
            fields += ("vrrp_sync_group",)
        if not fields:
            plans.append(InstancePlan(key, cfg.name, Change.UNCHANGED, old=prev, new=cfg))
            continue
        reason = restart_reason(prev, cfg, fields)
        change = Change.RESTART if reason else Change.LIVE
        plans.append(InstancePlan(key, cfg.name, change, fields, reason, prev, cfg))
    for key, cfg in before.items():
        if key not in after:
            plans.append(InstancePlan(key, cfg.name, Change.REMOVED, old=cfg))
    return ReloadPlan(tuple(plans), changed_fields(old.global_, new.global_))
