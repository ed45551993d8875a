"""``--openshift``: a vrrpd configuration built from the ipfailover image's environment variables.

This module owns the contract of the ``OPENSHIFT_HA_*`` variables (and ``HA_EXCLUDED_VRRP_IDS``): it
parses them as the keepalived ipfailover image reads them — VIP ranges, VIP groups, VRID offset and
exclusions, watch port or check script, preemption string, unicast peers, firewall flag — but where
the image silently drops or rewrites a bad value, it refuses with one line naming the variable, the
value and what is allowed. It then asks `vrrpd.compat.openshift.spread` for this node's priority per group,
renders
the equivalent TOML file and validates that with `vrrpd.config` like any file (so ``VRRPD_*`` global
settings apply unchanged). It also runs the ``--openshift`` subcommands: ``check-config``, ``run``
(with the firewall table around the daemon's lifetime) and ``cleanup``.

It reads the host only through `HostFacts` (does the interface exist, what is its address), so every
rule is testable with a fake host; it never changes the host except in `run_daemon` and `cleanup`.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import os
import re
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from ipaddress import AddressValueError, IPv4Address
from pathlib import Path
from typing import Any, Protocol

from vrrpd.compat.openshift import spread
from vrrpd.config import (
    FROM_ENVIRONMENT,
    Config,
    ConfigError,
    ConfigIssue,
    check_interfaces,
    describe,
    parse_config,
)
from vrrpd.kernel import firewall

__all__ = [
    "CONFIG_SOURCE",
    "KNOWN_VARIABLES",
    "EnvIssue",
    "HostFacts",
    "LiveHost",
    "Plan",
    "Settings",
    "check_config",
    "cleanup",
    "describe_plan",
    "load",
    "parse_env",
    "render_toml",
    "resolve",
    "run_daemon",
]

# The variables, by their image names.
CONFIG_NAME = "OPENSHIFT_HA_CONFIG_NAME"
VIRTUAL_IPS = "OPENSHIFT_HA_VIRTUAL_IPS"
VIP_GROUPS = "OPENSHIFT_HA_VIP_GROUPS"
NETWORK_INTERFACE = "OPENSHIFT_HA_NETWORK_INTERFACE"
MONITOR_PORT = "OPENSHIFT_HA_MONITOR_PORT"
CHECK_SCRIPT = "OPENSHIFT_HA_CHECK_SCRIPT"
CHECK_INTERVAL = "OPENSHIFT_HA_CHECK_INTERVAL"
NOTIFY_SCRIPT = "OPENSHIFT_HA_NOTIFY_SCRIPT"
PREEMPTION = "OPENSHIFT_HA_PREEMPTION"
VRRP_ID_OFFSET = "OPENSHIFT_HA_VRRP_ID_OFFSET"
EXCLUDED_VRRP_IDS = "HA_EXCLUDED_VRRP_IDS"  # sic: the image reads it without the OPENSHIFT_ prefix
REPLICA_COUNT = "OPENSHIFT_HA_REPLICA_COUNT"
UNICAST_PEERS = "OPENSHIFT_HA_UNICAST_PEERS"
USE_UNICAST = "OPENSHIFT_HA_USE_UNICAST"
IPTABLES_CHAIN = "OPENSHIFT_HA_IPTABLES_CHAIN"
NFTABLES_RULE = "OPENSHIFT_HA_NFTABLES_RULE"
# vrrpd's own addition: every node's address, for the exact spread without switching to unicast.
SPREAD_NODES = "OPENSHIFT_HA_SPREAD_NODES"
# Read by the image but meaningless here: set, they are reported, never an error.
_IGNORED = {
    "OPENSHIFT_HA_SELECTOR": "informational only (the manifest's nodeSelector places the pods)",
    "OPENSHIFT_HA_ADMIN_EMAILS": "vrrpd sends no e-mail; use OPENSHIFT_HA_NOTIFY_SCRIPT",
    "OPENSHIFT_HA_SMTP_SERVER": "vrrpd sends no e-mail; use OPENSHIFT_HA_NOTIFY_SCRIPT",
}
KNOWN_VARIABLES = (
    CONFIG_NAME,
    VIRTUAL_IPS,
    VIP_GROUPS,
    NETWORK_INTERFACE,
    MONITOR_PORT,
    CHECK_SCRIPT,
    CHECK_INTERVAL,
    NOTIFY_SCRIPT,
    PREEMPTION,
    VRRP_ID_OFFSET,
    EXCLUDED_VRRP_IDS,
    REPLICA_COUNT,
    UNICAST_PEERS,
    USE_UNICAST,
    IPTABLES_CHAIN,
    NFTABLES_RULE,
    SPREAD_NODES,
    *_IGNORED,
)

DEFAULT_CONFIG_NAME = "OpenShift-IPFailover"
DEFAULT_INTERFACE = "eth0"
DEFAULT_MONITOR_PORT = 80
DEFAULT_CHECK_INTERVAL = 2.0
DEFAULT_PREEMPTION = "preempt_delay 300"
CONFIG_SOURCE = FROM_ENVIRONMENT

# keepalived truncates auth_pass to the 8 bytes of the VRRPv2 Authentication Data field.
AUTH_PASS_LENGTH = 8
# Instance names are "<scrubbed name>_VIP_<n>" and vrrpd names are at most 64 characters.
MAX_NAME_LENGTH = 64 - len("_VIP_255")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_INTERFACE_RE = re.compile(r"^[^\x00-\x20\x7f/:]{1,15}$")
_NUMBER_RE = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_SEPARATORS = re.compile(r"[\s,]+")
_MAX_SECONDS = 3600


class EnvIssue(ConfigIssue):
    """A problem with one environment variable: ``VARIABLE = "value": what is allowed``."""

    def __str__(self) -> str:
        shown = self.source if self.value is None else f"{self.source} = {self.value}"
        return " ".join(f"{shown}: {self.problem}".split())


def _shown(value: str) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


class _Problems:
    """Collects every bad variable, so one run reports them all (on one line)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.issues: list[EnvIssue] = []

    def add(self, var: str, problem: str, show_value: bool = True) -> None:
        value = self.env.get(var)
        self.issues.append(
            EnvIssue(var, problem, value=_shown(value) if show_value and value is not None else None)
        )

    def raise_if_any(self) -> None:
        if self.issues:
            raise ConfigError(*self.issues)


# ---------------------------------------------------------------------------------------------
# Parsing the variables


def scrub(name: str) -> str:
    """The image's ``scrub``: keep letters, digits, '-' and '_', then '-' becomes '_'."""
    return re.sub(r"[^A-Za-z0-9_-]", "", name).replace("-", "_")


def _ipv4(text: str) -> IPv4Address | str:
    """An IPv4 address, or the reason it is not one."""
    if ":" in text:
        return "IPv6 is not supported yet (VRRPv3)"
    try:
        return IPv4Address(text)
    except AddressValueError:
        return f"{text!r} is not an IPv4 address"


def _unicast_problem(address: IPv4Address) -> str | None:
    if address.is_multicast or address.is_unspecified or address.is_loopback:
        return f"{address} is not a unicast address"
    if address == IPv4Address("255.255.255.255"):
        return f"{address} is the broadcast address"
    return None


_VIPS_ALLOWED = (
    "a comma- or space-separated list of IPv4 addresses and ranges of the last octet, "
    'e.g. "192.0.2.10-12,192.0.2.20"'
)


def parse_virtual_ips(text: str) -> tuple[IPv4Address, ...]:
    """Expand the VIP list; ValueError says what is wrong (the caller names the variable)."""
    vips: list[IPv4Address] = []
    seen: set[IPv4Address] = set()
    for token in (t for t in _SEPARATORS.split(text.strip()) if t):
        if "/" in token:
            raise ValueError(f"{token!r}: no prefix length: each VIP is a /32, as in the image")
        start_text, dash, end_text = token.partition("-")
        start = _ipv4(start_text)
        if isinstance(start, str):
            raise ValueError(f"{token!r}: {start}")
        expanded = [start]
        if dash:
            expanded = _expand_range(token, start, end_text)
        for address in expanded:
            problem = _unicast_problem(address)
            if problem is not None:
                raise ValueError(f"{token!r}: {problem}")
            if address in seen:
                raise ValueError(f"{address} is listed twice")
            seen.add(address)
            vips.append(address)
    if not vips:
        raise ValueError("no address given")
    return tuple(vips)


def _expand_range(token: str, start: IPv4Address, end_text: str) -> list[IPv4Address]:
    octets = str(start).split(".")
    if end_text.isdigit():
        last = int(end_text)
    else:
        end = _ipv4(end_text)
        if isinstance(end, str):
            raise ValueError(f"{token!r}: the range end must be a last octet (0..255) or an IPv4 address")
        # The image keeps only the end's last octet: 10.0.0.5-10.0.1.7 silently became 10.0.0.5-7.
        if str(end).split(".")[:3] != octets[:3]:
            raise ValueError(f"{token!r}: a range may only vary the last octet")
        last = int(str(end).split(".")[3])
    first = int(octets[3])
    if not first <= last <= 255:
        raise ValueError(f"{token!r}: the range end must be {first}..255 (the image silently dropped it)")
    return [IPv4Address(".".join([*octets[:3], str(octet)])) for octet in range(first, last + 1)]


def _parse_peers(text: str) -> tuple[IPv4Address, ...]:
    peers: list[IPv4Address] = []
    for token in (t for t in _SEPARATORS.split(text.strip()) if t):
        peer = _ipv4(token)
        if isinstance(peer, str):
            raise ValueError(f"{token!r}: {peer}")
        problem = _unicast_problem(peer)
        if problem is not None:
            raise ValueError(problem)
        if peer in peers:
            raise ValueError(f"{peer} is listed twice")
        peers.append(peer)
    return tuple(peers)


def _int(text: str, low: int, high: int) -> int | None:
    stripped = text.strip()
    if not stripped.isdigit():
        return None
    value = int(stripped)
    return value if low <= value <= high else None


def _seconds(text: str, low_exclusive: bool) -> float | None:
    stripped = text.strip()
    if not _NUMBER_RE.match(stripped):
        return None
    value = float(stripped)
    if value > _MAX_SECONDS or value < 0 or (low_exclusive and value == 0):
        return None
    return value


def _executable_problem(text: str, check_files: bool) -> str | None:
    allowed = "an absolute path to an executable file (no arguments: wrap them in a script)"
    if not text.startswith("/") or any(c.isspace() for c in text):
        return f"must be {allowed}"
    if not check_files:
        return None
    path = Path(text)
    if not path.is_file():
        return f"no such file in this container; must be {allowed}"
    if not os.access(path, os.X_OK):
        return (
            f"file is not executable (chmod +x, or defaultMode 0755 on a ConfigMap volume); must be {allowed}"
        )
    return None


def parse_preemption(text: str) -> tuple[bool, float] | None:
    """``(preempt, preempt_delay)`` for "nopreempt" or "preempt_delay N"; None if neither."""
    words = text.split()
    if words == ["nopreempt"]:
        return False, 0.0
    if len(words) == 2 and words[0] == "preempt_delay":
        delay = _seconds(words[1], low_exclusive=False)
        if delay is not None:
            return True, delay
    return None


@dataclass(frozen=True)
class Settings:
    """The validated variables: everything but this node's own facts."""

    config_name: str
    vips: tuple[IPv4Address, ...]
    groups: tuple[tuple[IPv4Address, ...], ...]
    vrids: tuple[int, ...]
    interface: str
    interface_defaulted: bool
    monitor_port: int  # 0: no TCP check
    check_script: str | None
    check_interval: float
    notify_script: str | None
    preempt: bool
    preempt_delay: float
    vrid_offset: int
    excluded_vrids: frozenset[int]
    replica_count: int
    unicast_peers: tuple[IPv4Address, ...]
    use_unicast: bool | None
    spread_nodes: tuple[IPv4Address, ...]
    firewall: bool
    notes: tuple[str, ...] = ()

    @property
    def instance_names(self) -> tuple[str, ...]:
        """``<scrubbed config name>_VIP_<n>``, n from 1, as the image names them."""
        return tuple(f"{scrub(self.config_name)}_VIP_{n}" for n in range(1, len(self.groups) + 1))

    @property
    def auth_pass(self) -> str:
        """The image's ``auth_pass <config name>``, truncated to 8 characters as keepalived does."""
        return self.config_name[:AUTH_PASS_LENGTH]

    @property
    def firewall_table(self) -> str:
        return firewall.table_name(self.config_name)


def split_groups(vips: Sequence[IPv4Address], count: int) -> tuple[tuple[IPv4Address, ...], ...]:
    """``count`` consecutive groups, the first ``len % count`` one larger: 7 in 3 → 3+2+2."""
    size, extra = divmod(len(vips), count)
    groups: list[tuple[IPv4Address, ...]] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        groups.append(tuple(vips[start:end]))
        start = end
    return tuple(groups)


def assign_vrids(count: int, offset: int, excluded: frozenset[int]) -> list[int]:
    """VRIDs offset+1, offset+2, ... skipping excluded ones (the image bumps the offset past them)."""
    vrids: list[int] = []
    candidate = offset
    while len(vrids) < count:
        candidate += 1
        if candidate not in excluded:
            vrids.append(candidate)
    return vrids


def _get(env: Mapping[str, str], var: str) -> str | None:
    """The value, or None when unset or blank (the image treats both as "use the default")."""
    value = env.get(var)
    return value if value is not None and value.strip() else None


def parse_env(env: Mapping[str, str], check_files: bool = True) -> Settings:
    """Validate the variables in ``env``; ConfigError lists every bad one.

    ``check_files``: also require the check and notify scripts to exist here (not when rendering a
    manifest on another machine).
    """
    bad = _Problems(env)
    notes: list[str] = []
    _unknown_variables(env, bad)
    for var, why in _IGNORED.items():
        if _get(env, var) is not None:
            notes.append(f"{var} is ignored: {why}")

    name = _get(env, CONFIG_NAME) or DEFAULT_CONFIG_NAME
    if not _NAME_RE.match(name) or len(name) > MAX_NAME_LENGTH:
        bad.add(
            CONFIG_NAME,
            f"must be 1..{MAX_NAME_LENGTH} letters, digits, '.', '_' or '-', starting with a letter or digit",
        )

    vips: tuple[IPv4Address, ...] = ()
    raw_vips = _get(env, VIRTUAL_IPS)
    if raw_vips is None:
        bad.add(VIRTUAL_IPS, f"missing (required: {_VIPS_ALLOWED})", show_value=False)
    else:
        try:
            vips = parse_virtual_ips(raw_vips)
        except ValueError as exc:
            bad.add(VIRTUAL_IPS, f"{exc}; must be {_VIPS_ALLOWED}")

    group_count = len(vips)
    raw_groups = _get(env, VIP_GROUPS)
    if raw_groups is not None:
        wanted = _int(raw_groups, 0, 255)
        if wanted is None:
            bad.add(VIP_GROUPS, "must be an integer 1..255 (0 or unset: one group per VIP)")
        elif wanted > len(vips) > 0:
            # Harmless and common in published examples (10 groups for 2 VIPs): the image makes one
            # group per VIP. Said aloud rather than refused.
            notes.append(f"{VIP_GROUPS}={wanted} but there are only {len(vips)} VIPs: one group per VIP")
        elif wanted > 0:
            group_count = wanted

    offset = 0
    raw_offset = _get(env, VRRP_ID_OFFSET)
    if raw_offset is not None:
        parsed_offset = _int(raw_offset, 0, 254)
        if parsed_offset is None:
            bad.add(VRRP_ID_OFFSET, "must be an integer 0..254 (VRID = offset + group number, from 1)")
        else:
            offset = parsed_offset

    excluded: set[int] = set()
    raw_excluded = _get(env, EXCLUDED_VRRP_IDS)
    if raw_excluded is not None:
        for token in (t for t in _SEPARATORS.split(raw_excluded.strip()) if t):
            vrid = _int(token, 1, 255)
            if vrid is None:
                bad.add(EXCLUDED_VRRP_IDS, f"{token!r}: must be a list of VRIDs 1..255")
                break
            excluded.add(vrid)

    vrids: list[int] = []
    groups: tuple[tuple[IPv4Address, ...], ...] = ()
    if vips:
        groups = split_groups(vips, group_count)
        vrids = assign_vrids(len(groups), offset, frozenset(excluded))
        if max(vrids) > 255:
            skipping = f" skipping {EXCLUDED_VRRP_IDS}," if excluded else ""
            bad.add(
                VRRP_ID_OFFSET,
                f"{len(groups)} groups from offset {offset} need VRIDs up to {max(vrids)}{skipping} but a "
                f"VRID is at most 255 (the image wrapped it silently); lower the offset or use fewer "
                f"groups ({VIP_GROUPS})",
            )

    interface = _get(env, NETWORK_INTERFACE)
    interface_defaulted = interface is None
    if interface is not None:
        interface = interface.strip()
        if not _INTERFACE_RE.match(interface):
            bad.add(
                NETWORK_INTERFACE,
                "must be a network interface name (1..15 characters, no '/', ':' or spaces)",
            )

    check_script = _get(env, CHECK_SCRIPT)
    if check_script is not None:
        check_script = check_script.strip()
        problem = _executable_problem(check_script, check_files)
        if problem is not None:
            bad.add(CHECK_SCRIPT, problem)

    port = DEFAULT_MONITOR_PORT
    raw_port = _get(env, MONITOR_PORT)
    if raw_port is not None:
        parsed_port = _int(raw_port, 0, 65535)
        if parsed_port is None:
            bad.add(MONITOR_PORT, "must be a TCP port 1..65535, or 0 for no check")
        else:
            port = parsed_port
    if check_script is not None and raw_port is not None and port != 0:
        notes.append(f"{CHECK_SCRIPT} replaces the TCP check of {MONITOR_PORT}={port} (as in the image)")

    interval = DEFAULT_CHECK_INTERVAL
    raw_interval = _get(env, CHECK_INTERVAL)
    if raw_interval is not None:
        parsed_interval = _seconds(raw_interval, low_exclusive=True)
        if parsed_interval is None:
            bad.add(CHECK_INTERVAL, f"must be a number of seconds > 0 and <= {_MAX_SECONDS}")
        else:
            interval = parsed_interval

    notify = _get(env, NOTIFY_SCRIPT)
    if notify is not None:
        notify = notify.strip()
        problem = _executable_problem(notify, check_files)
        if problem is not None:
            bad.add(NOTIFY_SCRIPT, problem)

    preempt, delay = True, 300.0
    raw_preemption = _get(env, PREEMPTION)
    if raw_preemption is not None:
        parsed = parse_preemption(raw_preemption)
        if parsed is None:
            bad.add(
                PREEMPTION,
                f'must be "nopreempt" or "preempt_delay N" (N seconds 0..{_MAX_SECONDS}; default '
                f'"{DEFAULT_PREEMPTION}")',
            )
        else:
            preempt, delay = parsed

    replicas = 1
    raw_replicas = _get(env, REPLICA_COUNT)
    if raw_replicas is not None:
        parsed_replicas = _int(raw_replicas, 1, spread.MAX_RANK_NODES)
        if parsed_replicas is None:
            bad.add(REPLICA_COUNT, f"must be an integer 1..{spread.MAX_RANK_NODES}")
        else:
            replicas = parsed_replicas

    peers: tuple[IPv4Address, ...] = ()
    raw_peers = _get(env, UNICAST_PEERS)
    if raw_peers is not None:
        try:
            peers = _parse_peers(raw_peers)
        except ValueError as exc:
            bad.add(UNICAST_PEERS, f"{exc}; must be a comma-separated list of the nodes' IPv4 addresses")
        else:
            clash = sorted(set(peers) & set(vips))
            if clash:
                bad.add(UNICAST_PEERS, f"{clash[0]} is also a VIP; peers are the nodes' own addresses")
            elif len(peers) > spread.MAX_RANK_NODES:
                bad.add(UNICAST_PEERS, f"at most {spread.MAX_RANK_NODES} nodes")

    use_unicast: bool | None = None
    raw_use = _get(env, USE_UNICAST)
    if raw_use is not None:
        if raw_use.strip().lower() not in ("true", "false"):
            bad.add(USE_UNICAST, 'must be "true" or "false"')
        else:
            use_unicast = raw_use.strip().lower() == "true"
            if use_unicast and raw_peers is None:
                bad.add(USE_UNICAST, f"unicast needs the peers: set {UNICAST_PEERS} to the nodes' addresses")
            elif not use_unicast and peers:
                # The image ignores USE_UNICAST; oadm wrote "false" into every deployment, and people
                # then added peers. Honouring "false" would silently switch them to multicast.
                notes.append(
                    f"{USE_UNICAST}=false is ignored as by the image: {UNICAST_PEERS} is set, so "
                    "advertisements are unicast"
                )

    spread_nodes: tuple[IPv4Address, ...] = ()
    raw_nodes = _get(env, SPREAD_NODES)
    if raw_nodes is not None:
        try:
            spread_nodes = _parse_peers(raw_nodes)
        except ValueError as exc:
            bad.add(SPREAD_NODES, f"{exc}; must be a comma-separated list of every node's IPv4 address")
        else:
            if raw_peers is not None:
                bad.add(
                    SPREAD_NODES,
                    f"set only one of {SPREAD_NODES} and {UNICAST_PEERS}: the peers name the nodes",
                )
            elif set(spread_nodes) & set(vips):
                bad.add(SPREAD_NODES, "lists a VIP; list the nodes' own addresses")
            elif len(spread_nodes) > spread.MAX_RANK_NODES:
                bad.add(SPREAD_NODES, f"at most {spread.MAX_RANK_NODES} nodes")

    fw = _get(env, NFTABLES_RULE) is not None or _get(env, IPTABLES_CHAIN) is not None
    bad.raise_if_any()
    return Settings(
        config_name=name,
        vips=vips,
        groups=groups,
        vrids=tuple(vrids),
        interface=interface or DEFAULT_INTERFACE,
        interface_defaulted=interface_defaulted,
        monitor_port=port,
        check_script=check_script,
        check_interval=interval,
        notify_script=notify,
        preempt=preempt,
        preempt_delay=delay,
        vrid_offset=offset,
        excluded_vrids=frozenset(excluded),
        replica_count=replicas,
        unicast_peers=peers,
        use_unicast=use_unicast,
        spread_nodes=spread_nodes,
        firewall=fw,
        notes=tuple(notes),
    )


def _unknown_variables(env: Mapping[str, str], bad: _Problems) -> None:
    # A typo (OPENSHIFT_HA_MONITOR_PROT) would otherwise be silently ignored and the default used.
    for var in sorted(env):
        if var.startswith("OPENSHIFT_HA_") and var not in KNOWN_VARIABLES:
            guess = difflib.get_close_matches(var, KNOWN_VARIABLES, n=1)
            hint = f"did you mean {guess[0]}?" if guess else f"known: {', '.join(sorted(KNOWN_VARIABLES))}"
            bad.add(var, f"unknown ipfailover variable; {hint}", show_value=False)


# ---------------------------------------------------------------------------------------------
# This node: interface, address, spread


class HostFacts(Protocol):
    """What the configuration needs to know about the host it runs on."""

    def interface_names(self) -> list[str]: ...
    def primary_address(self, interface: str) -> IPv4Address | None: ...


class LiveHost:
    """The real host: interface names from the kernel, the primary address through netlink."""

    def interface_names(self) -> list[str]:
        return [name for _, name in socket.if_nameindex()]

    def primary_address(self, interface: str) -> IPv4Address | None:
        from vrrpd.kernel.netlink import Netlink  # noqa: PLC0415 - pyroute2 is heavy; only when needed

        async def look() -> IPv4Address | None:
            async with Netlink(subscribe=False) as netlink:
                return (await netlink.link(interface)).primary

        return asyncio.run(look())


@dataclass(frozen=True)
class GroupPlan:
    """One VRRP instance: its VIPs, VRID, this node's priority and the expected master (if known)."""

    name: str
    vrid: int
    vips: tuple[IPv4Address, ...]
    priority: int
    expected_master: IPv4Address | None
    priorities: dict[IPv4Address, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """The resolved ``--openshift`` configuration for this node."""

    settings: Settings
    node: IPv4Address
    method: spread.Method
    nodes: tuple[IPv4Address, ...]  # every node known (this one included)
    groups: tuple[GroupPlan, ...]
    toml: str
    config: Config
    notes: tuple[str, ...] = ()


def _interface_issue(settings: Settings, host: HostFacts) -> EnvIssue | None:
    names = host.interface_names()
    if settings.interface in names:
        return None
    candidates = ", ".join(n for n in names if n != "lo") or "none"
    if settings.interface_defaulted:
        return EnvIssue(
            NETWORK_INTERFACE,
            f"not set, and the default {DEFAULT_INTERFACE} does not exist on this host; set it to the "
            f"interface that carries the VIPs (this host has: {candidates})",
        )
    return EnvIssue(
        NETWORK_INTERFACE,
        f"no such interface on this host (the image silently took another); this host has: {candidates}",
        value=_shown(settings.interface),
    )


def resolve(
    settings: Settings,
    env: Mapping[str, str],
    host: HostFacts | None,
    node_address: IPv4Address | None = None,
) -> Plan:
    """Add this node's facts: check the interface, compute the spread, build and validate the Config.

    ``host`` None skips the interface check (then ``node_address`` is required).
    """
    if host is not None:
        issue = _interface_issue(settings, host)
        if issue is not None:
            raise ConfigError(issue)
    node = node_address
    if node is None and host is not None:
        node = host.primary_address(settings.interface)
        if node is None:
            raise ConfigError(
                EnvIssue(
                    NETWORK_INTERFACE,
                    "the interface has no IPv4 address: VRRP advertisements need one as their source, "
                    "and the spread of masters is computed from it",
                    value=_shown(settings.interface),
                )
            )
    if node is None:
        raise ConfigError(
            EnvIssue("--node-address", "needed when the host is not inspected: priorities depend on it")
        )
    if node in settings.vips:
        raise ConfigError(
            EnvIssue(VIRTUAL_IPS, f"{node} is this node's own address on {settings.interface}, not a VIP")
        )
    peers = tuple(p for p in settings.unicast_peers if p != node)
    listed = settings.unicast_peers or settings.spread_nodes
    method: spread.Method = "rank" if listed else "rendezvous"
    notes = list(settings.notes)
    if listed and node not in listed:
        # Harmless with per-node peer lists (keepalived's convention: everyone but oneself); a node that
        # no list names, though, is not counted by the others and the ranks disagree.
        which = UNICAST_PEERS if settings.unicast_peers else SPREAD_NODES
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
    text = render_toml(settings, groups, peers)
    config = parse_config(text, CONFIG_SOURCE, env)
    return Plan(settings, node, method, nodes, groups, text, config, tuple(notes))


def load(
    env: Mapping[str, str],
    host: HostFacts | None,
    node_address: IPv4Address | None = None,
) -> Plan:
    """parse_env + resolve: the whole ``--openshift`` configuration, or one ConfigError."""
    return resolve(parse_env(env), env, host, node_address)


# ---------------------------------------------------------------------------------------------
# Rendering


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def render_toml(settings: Settings, groups: Sequence[GroupPlan], peers: Sequence[IPv4Address]) -> str:
    """The TOML file equivalent to the environment, for this node (``check-config --openshift --toml``)."""
    lines = [
        f"# Generated by vrrpd from the {CONFIG_NAME}={settings.config_name} ipfailover environment.",
        "# [global] settings come from VRRPD_* variables.",
    ]
    check: dict[str, object] | None = None
    if settings.check_script is not None:
        check = {"script": settings.check_script}
    elif settings.monitor_port != 0:
        check = {"tcp_port": settings.monitor_port}
    if check is not None:
        # keepalived's vrrp_script: rise 1, fall 1, timeout = interval; a failure puts the group in FAULT.
        check |= {"interval": settings.check_interval, "timeout": settings.check_interval, "weight": 0}
    for group in groups:
        keys: dict[str, object] = {
            "name": group.name,
            "interface": settings.interface,
            "virtual_router_id": group.vrid,
            "priority": group.priority,
            "advert_int": 1,
            "preempt": settings.preempt,
            "preempt_delay": settings.preempt_delay,
            "virtual_ipaddress": [f"{vip}/32" for vip in group.vips],
            "auth_pass": settings.auth_pass,
        }
        if peers:
            keys["unicast_peer"] = [str(p) for p in peers]
        if settings.notify_script is not None:
            keys["notify"] = settings.notify_script
        lines += ["", "[[vrrp_instance]]", *(f"{k} = {_toml(v)}" for k, v in keys.items())]
        if check is not None:
            lines += ["", "[vrrp_instance.check]", *(f"{k} = {_toml(v)}" for k, v in check.items())]
    return "\n".join(lines) + "\n"


def describe_plan(plan: Plan) -> str:
    """The ``check-config --openshift`` summary: groups, VRIDs, VIPs, priorities, expected masters."""
    s = plan.settings
    if plan.method == "rank":
        source = f"{UNICAST_PEERS}" if s.unicast_peers else f"{SPREAD_NODES}"
        adverts = "unicast to the peers" if s.unicast_peers else "multicast"
        how = (
            f"rank over {len(plan.nodes)} nodes ({source} + this node): exact round-robin; adverts {adverts}"
        )
    else:
        how = (
            "rendezvous hashing of (node address, VRID): each node knows only its own priority; "
            f"list the nodes in {SPREAD_NODES} (or {UNICAST_PEERS}) for an exact spread"
        )
    check = (
        f"script {s.check_script}"
        if s.check_script
        else (f"tcp {plan.node}:{s.monitor_port}" if s.monitor_port else "none")
    )
    lines = [
        f"openshift: {s.config_name}: {len(s.vips)} VIPs in {len(s.groups)} groups on {s.interface}, "
        f"this node {plan.node}",
        f"  spread: {how}",
        f"  check: {check} every {s.check_interval:g}s (failure: FAULT); "
        f"preempt: {f'after {s.preempt_delay:g}s' if s.preempt else 'no (nopreempt)'}; "
        f"auth: PASS {s.auth_pass!r} (config name, truncated to {AUTH_PASS_LENGTH} as keepalived does)",
        "  firewall: "
        + (
            f"nftables table inet {s.firewall_table} accepting VRRP (224.0.0.18, protocol 112)"
            if s.firewall
            else "off"
        ),
    ]
    for g in plan.groups:
        if g.expected_master is None:
            master = "highest priority among the live nodes"
        elif g.expected_master == plan.node:
            master = f"{g.expected_master} (this node)"
        else:
            master = str(g.expected_master)
        lines.append(
            f"  {g.name}: vrid {g.vrid}, VIPs {', '.join(map(str, g.vips))}; "
            f"priority {g.priority}; expected master {master}"
        )
    lines += [f"  note: {note}" for note in plan.notes]
    if plan.method == "rank" and s.replica_count not in (1, len(plan.nodes)):
        lines.append(
            f"  note: {REPLICA_COUNT}={s.replica_count} but the peer list has {len(plan.nodes)} nodes"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Subcommands


def _node_address(text: str | None) -> IPv4Address | None:
    if text is None:
        return None
    address = _ipv4(text)
    if isinstance(address, str):
        raise ConfigError(
            EnvIssue("--node-address", f"{address}; must be an IPv4 address", value=_shown(text))
        )
    return address


def check_config(
    env: Mapping[str, str],
    interface_check: bool,
    node_address: str | None = None,
    as_toml: bool = False,
    out: Callable[[str], None] = print,
) -> int:
    """``vrrpd check-config --openshift``: print the resolved instances (or the equivalent TOML)."""
    plan = load(env, LiveHost() if interface_check else None, _node_address(node_address))
    if interface_check:
        check_interfaces(plan.config)
    out(plan.toml if as_toml else f"{describe(plan.config)}\n{describe_plan(plan)}")
    return 0


def run_daemon(env: Mapping[str, str]) -> int:
    """``vrrpd run --openshift``: the firewall table (when asked) around the daemon's whole life."""
    plan = load(env, LiveHost())
    check_interfaces(plan.config)
    from vrrpd import logs  # noqa: PLC0415 - after validation, like the daemon itself
    from vrrpd.runtime.daemon import run  # noqa: PLC0415

    logs.configure(plan.config.global_.log_format)
    log = logs.get_logger("vrrpd.compat.openshift.env")
    for note in plan.notes:
        log.warning("openshift_note", note=note)
    for g in plan.groups:
        log.info(
            "openshift_group",
            instance=g.name,
            vrid=g.vrid,
            vips=[str(v) for v in g.vips],
            priority=g.priority,
            spread=plan.method,
            expected_master=str(g.expected_master) if g.expected_master else None,
        )
    table = plan.settings.firewall_table
    if plan.settings.firewall:
        try:
            firewall.install(table, plan.config.vrrp_instance[0].unicast_peer)
        except firewall.FirewallError as exc:
            print(f"vrrpd: {exc}", file=sys.stderr)
            return 1
        log.info("firewall_installed", table=f"inet {table}")
    try:
        return run(plan.config)
    finally:
        if plan.settings.firewall:
            try:
                firewall.remove(table)
            except firewall.FirewallError as exc:
                log.error("firewall_remove_failed", table=f"inet {table}", error=str(exc))
            else:
                log.info("firewall_removed", table=f"inet {table}")


def cleanup(config: Config, firewall_table: str | None, out: Callable[[str], None] = print) -> int:
    """``vrrpd cleanup``: remove this node's VIPs and the firewall table; for after the daemon is gone.

    Replaces the ipfailover image's privileged removal job. The node's own (primary) address and the
    addresses of an address owner (priority 255) are never removed.
    """
    from vrrpd.kernel.netlink import InterfaceNotFound, Netlink  # noqa: PLC0415 - pyroute2 is heavy

    async def remove_vips() -> int:
        removed = 0
        async with Netlink(subscribe=False) as netlink:
            for inst in config.vrrp_instance:
                if inst.is_owner:
                    out(f"{inst.name}: skipped: priority 255, its addresses are the host's own")
                    continue
                try:
                    link = await netlink.link(inst.interface)
                except InterfaceNotFound:
                    out(f"{inst.name}: skipped: no interface {inst.interface} on this host")
                    continue
                present = {a.ip: a for a in await netlink.addresses(link.ifindex)}
                for vip in inst.vips:
                    if vip.ip in present and vip.ip != link.primary:
                        await netlink.remove_address(link.ifindex, present[vip.ip])
                        out(f"{inst.name}: removed {present[vip.ip]} from {inst.interface}")
                        removed += 1
        return removed

    removed = asyncio.run(remove_vips())
    if firewall_table is not None:
        try:
            gone = firewall.remove(firewall_table)
        except firewall.FirewallError as exc:
            print(f"vrrpd: {exc}", file=sys.stderr)
            return 1
        if gone:
            out(f"removed nftables table inet {firewall_table}")
    out(f"cleanup done: {removed} VIP(s) removed")
    return 0


# ---------------------------------------------------------------------------------------------
# Command-line glue (vrrpd.cli.main registers these; the logic above stays testable without argparse)

OPENSHIFT_HELP = "build the configuration from the ipfailover image's OPENSHIFT_HA_* environment"


def add_check_arguments(check: argparse.ArgumentParser) -> None:
    """``check-config``'s ``--openshift`` companions."""
    check.add_argument(
        "--node-address",
        metavar="ADDR",
        help="with --openshift: compute priorities for the node with this address (off-node checks)",
    )
    check.add_argument(
        "--toml", action="store_true", help="with --openshift: print the equivalent TOML file instead"
    )


def add_cleanup_parser(commands: Any, config_default: str, config_help: str) -> None:
    """Register ``vrrpd cleanup``."""
    cleanup_parser = commands.add_parser(
        "cleanup",
        help="remove this node's VIPs (and the --openshift firewall table) after the daemon is gone",
    )
    source = cleanup_parser.add_mutually_exclusive_group()
    source.add_argument("--config", default=config_default, metavar="FILE", help=config_help)
    source.add_argument("--openshift", action="store_true", help=OPENSHIFT_HELP)


def check_main(args: argparse.Namespace) -> int:
    """``vrrpd check-config --openshift [--node-address A] [--toml] [--no-interface-check]``."""
    if not args.openshift:
        raise ConfigError(EnvIssue("--node-address/--toml", "apply only with --openshift"))
    return check_config(os.environ, not args.no_interface_check, args.node_address, args.toml)


def load_for_cleanup(env: Mapping[str, str], host: HostFacts) -> Plan:
    """The configuration `cleanup` needs: VIPs, interface, table. A cleanup Job given the Deployment's
    environment need not mount the check and notify scripts, so they are neither required nor used."""
    settings = replace(parse_env(env, check_files=False), check_script=None, notify_script=None)
    return resolve(settings, env, host)


def cleanup_main(args: argparse.Namespace) -> int:
    """``vrrpd cleanup [--config FILE | --openshift]``."""
    if args.openshift:
        plan = load_for_cleanup(os.environ, LiveHost())
        return cleanup(plan.config, plan.settings.firewall_table)
    from vrrpd.config import load_config  # noqa: PLC0415

    return cleanup(load_config(args.config), None)
