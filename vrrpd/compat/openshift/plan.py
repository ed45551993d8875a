"""This node's ``--openshift`` configuration: interface, address, priorities, and the validated Config.

`resolve` adds the host's facts (through `HostFacts` only) to the validated `Settings`: the interface
(configured, or chosen as the image chooses), this node's address (the interface's primary address, or
the configured advert source), its priority per group from `vrrpd.compat.openshift.spread`; then it
renders the equivalent TOML and validates it with `vrrpd.config` like any file, so ``VRRPD_*`` global
settings apply unchanged. It never changes the host.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address

from vrrpd.compat.openshift import env as contract
from vrrpd.compat.openshift import spread, values
from vrrpd.compat.openshift.env import EnvIssue, Settings, parse_env, shown
from vrrpd.compat.openshift.host import HostFacts, image_interface
from vrrpd.compat.openshift.render import render_toml
from vrrpd.config import FROM_ENVIRONMENT, Config, ConfigError, parse_config

__all__ = ["GroupPlan", "Plan", "load", "load_for_cleanup", "resolve"]

# Shown (and rendered) when the interface is unset and the host is not inspected (off-node checks).
OFF_NODE_INTERFACE = "eth0"


@dataclass(frozen=True)
class GroupPlan:
    """One VRRP instance: its VIPs, VRID, this node's priority and the expected master (if known)."""

    name: str
    vrid: int
    vips: tuple[values.VIP, ...]
    priority: int
    expected_master: IPv4Address | None
    priorities: dict[IPv4Address, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """The resolved ``--openshift`` configuration for this node."""

    settings: Settings
    interface: str
    node: IPv4Address  # this node's advert source: the spread's identity for it
    address: IPv4Address | None  # the interface's primary address (None: not inspected, no --node-address)
    method: spread.Method
    nodes: tuple[IPv4Address, ...]  # every node known (this one included)
    groups: tuple[GroupPlan, ...]
    toml: str
    config: Config
    notes: tuple[str, ...] = ()


def _interface(settings: Settings, host: HostFacts | None, notes: list[str]) -> str:
    if host is None:
        if settings.interface is not None:
            return settings.interface
        notes.append(
            f"{contract.NETWORK_INTERFACE} is unset and this host is not inspected: on the node, the first "
            f"existing of enp0s3, enp0s8, eth1, ens3, else the default-route device; {OFF_NODE_INTERFACE} "
            "is shown here"
        )
        return OFF_NODE_INTERFACE
    choice = image_interface(host, settings.interface)
    if settings.interface is None:
        if choice.name is None:
            raise ConfigError(
                EnvIssue(
                    contract.NETWORK_INTERFACE,
                    f"not set, and {choice.how} (the image wrote an empty interface); set it to the "
                    f"interface that carries the VIPs (this host has: {_candidates(host)})",
                )
            )
        notes.append(f"{contract.NETWORK_INTERFACE} is unset: interface {choice.name}: {choice.how}")
        return choice.name
    if choice.name != settings.interface:
        image = (
            f"the image used {choice.name} instead" if choice.name else "the image found no interface either"
        )
        raise ConfigError(
            EnvIssue(
                contract.NETWORK_INTERFACE,
                f"no such interface on this host ({image}: {choice.how}); this host has: {_candidates(host)}",
                value=shown(settings.interface),
            )
        )
    return settings.interface


def _candidates(host: HostFacts) -> str:
    return ", ".join(n for n in host.interface_names() if n != "lo") or "none"


def _node(
    settings: Settings, interface: str, host: HostFacts | None, node_address: IPv4Address | None
) -> tuple[IPv4Address, IPv4Address | None]:
    """This node's advert source (its identity in the spread) and the interface's primary address."""
    primary = node_address
    if primary is None and host is not None:
        primary = host.primary_address(interface)
        if primary is None:
            raise ConfigError(
                EnvIssue(
                    contract.NETWORK_INTERFACE,
                    f"{interface} has no IPv4 address: VRRP advertisements need one as their source, the "
                    "check and the spread of masters use it (the image checked 127.0.0.1 instead)",
                    value=shown(settings.interface or interface),
                )
            )
    source = settings.source_address
    node = source or primary
    if node is None:
        raise ConfigError(
            EnvIssue("--node-address", "needed when the host is not inspected: priorities depend on it")
        )
    if node in settings.vips:
        raise ConfigError(
            EnvIssue(contract.VIRTUAL_IPS, f"{node} is this node's own address on {interface}, not a VIP")
        )
    return node, primary


def resolve(
    settings: Settings,
    env: Mapping[str, str],
    host: HostFacts | None,
    node_address: IPv4Address | None = None,
    check_files: bool = True,
) -> Plan:
    """Add this node's facts: the interface, address and spread; build and validate the Config.

    ``host`` None skips the host (then ``node_address`` is required and an unset interface is shown
    as eth0). ``check_files`` False: the scripts need not exist here.
    """
    notes = list(settings.notes)
    interface = _interface(settings, host, notes)
    node, primary = _node(settings, interface, host, node_address)
    peers = tuple(p for p in settings.unicast_peers if p != node)
    listed = settings.unicast_peers or settings.spread_nodes
    method: spread.Method = "rank" if listed else "rendezvous"
    if listed and node not in listed:
        # Harmless with per-node peer lists (keepalived's convention: everyone but oneself); a node that
        # no list names, though, is not counted by the others and the ranks disagree.
        which = contract.UNICAST_PEERS if settings.unicast_peers else contract.SPREAD_NODES
        notes.append(
            f"this node ({node}) is not in {which}: list every node there, or the spread is not exact"
        )
    nodes = tuple(sorted({node, *listed}))
    table = spread.priorities(nodes, settings.vrids, method)
    expected = spread.masters(table) if method == "rank" else {}
    groups = tuple(
        GroupPlan(
            name=name,
            vrid=vrid,
            vips=vips,
            priority=table[vrid][node],
            expected_master=expected.get(vrid),
            priorities=dict(table[vrid]),
        )
        for name, vrid, vips in zip(settings.instance_names, settings.vrids, settings.groups, strict=True)
    )
    # With or without peers: keepalived's mcast_src_ip and unicast_src_ip both set the one advert source.
    source = settings.source_address
    # The image's TCP check connects to the interface's address, not to a configured advert source.
    check_host = primary if source is not None and source != primary else None
    text = render_toml(settings, interface, groups, peers, source=source, check_host=check_host)
    config = parse_config(text, FROM_ENVIRONMENT, env, check_files=check_files)
    return Plan(settings, interface, node, primary, method, nodes, groups, text, config, tuple(notes))


def load(
    env: Mapping[str, str],
    host: HostFacts | None,
    node_address: IPv4Address | None = None,
    check_files: bool = True,
) -> Plan:
    """parse_env + resolve: the whole ``--openshift`` configuration, or one ConfigError."""
    return resolve(parse_env(env, check_files), env, host, node_address, check_files)


def load_for_cleanup(env: Mapping[str, str], host: HostFacts) -> Plan:
    """The configuration `cleanup` needs: VIPs, interface, table. A cleanup Job given the Deployment's
    environment need not mount the check and notify scripts, so they are neither required nor used."""
    settings = replace(parse_env(env, check_files=False), check_script=None, notify_script=None)
    return resolve(settings, env, host)
