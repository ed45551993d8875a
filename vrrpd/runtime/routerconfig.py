"""The state machine's view of an instance's configuration (`router_config`), and the names under which it
follows tracked objects.

Its own module, light on imports (the protocol and the configuration's types only), because
`vrrpd.runtime.prestart` builds an instance's `Router` before the daemon's imports (issue 17), and
`vrrpd.runtime.instance` the same way afterwards: one definition, so the two cannot differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from vrrpd.protocol import fsm
from vrrpd.protocol.packet import IPAddress
from vrrpd.protocol.tracking import MAX_WEIGHT, Tracked

if TYPE_CHECKING:
    from vrrpd.config import InstanceConfig, VrrpScriptConfig


def tracked_interface(name: str) -> str:
    """The tracked-object name under which the router follows a track_interface entry's link state."""
    return f"interface {name}"


def tracked_file(name: str) -> str:
    """The tracked-object name under which the router follows a track_file entry's value."""
    return f"file {name}"


def tracked_process(name: str) -> str:
    """The tracked-object name under which the router follows a track_process entry's quorum."""
    return f"process {name}"


def router_config(
    config: InstanceConfig,
    primary: IPAddress,
    scripts: Mapping[str, VrrpScriptConfig] | None = None,
    sync_group: bool = False,
) -> fsm.RouterConfig:
    """The state machine's view of an instance's configuration; ``scripts`` are the [[vrrp_script]]
    tables by name, whose weights a track_script entry takes unless it gives its own."""
    tracked = []
    for track in config.track_script:
        script = (scripts or {}).get(track.name)
        weight = track.weight if track.weight is not None else script.weight if script else 0
        reverse = track.reverse if track.reverse is not None else script.weight_reverse if script else False
        tracked.append((track.name, Tracked(weight, reverse)))
    for track_if in config.tracked_interfaces:  # track_interface and the VIPs' other devices
        tracked.append((tracked_interface(track_if.name), Tracked(track_if.weight, track_if.reverse)))
    # The config resolved each entry's weight and reverse flag (`Config._resolve_tracked_weights`).
    for track_file in config.track_file:
        weight, reverse = track_file.weight or 0, bool(track_file.reverse)
        tracked.append((tracked_file(track_file.name), Tracked(weight, reverse, file=True)))
    for process in config.track_process:
        # ±254 moves a priority of 1..254 exactly as ±253 does once clamped to 1..254.
        weight = max(-MAX_WEIGHT, min(MAX_WEIGHT, process.weight or 0))
        tracked.append((tracked_process(process.name), Tracked(weight, bool(process.reverse))))
    return fsm.RouterConfig(
        vrid=config.virtual_router_id,
        priority=config.priority,
        primary_address=primary,
        vips=config.advertised_vips,
        excluded=config.excluded_vips,
        advert_int=config.advert_int,
        preempt=config.preempt,
        preempt_delay=config.preempt_delay,
        auth_pass=config.auth_pass,
        auth_ah=config.auth_type == "AH",
        unicast_peers=tuple(config.unicast_peer),
        garp_master_repeat=config.garp_master_repeat,
        garp_master_delay=config.garp_master_delay,
        garp_master_refresh=config.garp_master_refresh,
        health_weight=config.check.weight if config.check is not None else None,
        garp_master_refresh_repeat=config.garp_master_refresh_repeat,
        skip_check_adv_addr=config.skip_check_adv_addr,
        garp_lower_prio_repeat=config.garp_lower_prio_repeat,
        garp_lower_prio_delay=config.garp_lower_prio_delay,
        tracked=tuple(tracked),
        sync_group=sync_group,
        version=config.version,
        accept=config.accept,
    )
