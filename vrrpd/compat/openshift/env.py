"""The ``OPENSHIFT_HA_*`` environment contract of the ipfailover image, validated into `Settings`.

This module owns which variables exist, their defaults and the rules between them, as the current
openshift/images ipfailover image reads them (``conf/settings.sh``, ``lib/config-generators.sh``).
Where the image would have run something else than vrrpd reads — a value it mangles, a default that
changed — `parse_env` refuses with one line naming the variable, the value, what the image did and
what is allowed; differences vrrpd keeps on purpose are returned as notes, never silent. Single values
are read by `vrrpd.compat.openshift.values`; this node's facts (interface, address, spread) are added by
`vrrpd.compat.openshift.plan`. Pure: it reads only the mapping it is given (and, when asked, whether
the check and notify scripts exist).
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address

from vrrpd.compat.openshift import spread, values
from vrrpd.config import ConfigError, ConfigIssue
from vrrpd.config.programs import SEARCH_PATH, CommandError, resolve, split_command
from vrrpd.config.servicelinks import is_service_link
from vrrpd.kernel import firewall

__all__ = [
    "KNOWN_VARIABLES",
    "EnvIssue",
    "Settings",
    "assign_vrids",
    "parse_env",
    "split_groups",
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
# Read by the image's generator without any prefix (conf/settings.sh documents them).
UNICAST_SOURCE = "UNICAST_SOURCE_IPADDRESS"
MULTICAST_SOURCE = "MULTICAST_SOURCE_IPADDRESS"
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
DEFAULT_MONITOR_PORT = 80
DEFAULT_CHECK_INTERVAL = 2.0
DEFAULT_PREEMPTION = "preempt_delay 300"
# The image's default since OCPBUGS-48318 (2025): VRIDs from 11, clear of routers using the low ones.
DEFAULT_VRRP_ID_OFFSET = 10

# keepalived truncates auth_pass to the 8 bytes of the VRRPv2 Authentication Data field.
AUTH_PASS_LENGTH = 8
# Instance names are "<scrubbed name>_VIP_<n>" and vrrpd names are at most 64 characters.
MAX_NAME_LENGTH = 64 - len("_VIP_255")
_VIPS_ALLOWED = (
    "a comma-separated list of IPv4 addresses and ranges of the last octet, "
    'e.g. "192.0.2.10-12, 192.0.2.20", or IPv6 ones (a range counts the last group in upper-case hex: '
    '"2001:db8::1A-1F")'
)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_INTERFACE_RE = re.compile(r"^[^\x00-\x20\x7f/:]{1,15}$")


class EnvIssue(ConfigIssue):
    """A problem with one environment variable: ``VARIABLE = "value": what is allowed``."""

    def __str__(self) -> str:
        shown = self.source if self.value is None else f"{self.source} = {self.value}"
        return " ".join(f"{shown}: {self.problem}".split())


def shown(value: str) -> str:
    """A value as quoted in an error line (JSON string, shortened)."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class Settings:
    """The validated variables: everything but this node's own facts."""

    config_name: str
    vips: tuple[values.VIP, ...]
    groups: tuple[tuple[values.VIP, ...], ...]  # each of one address family (IPv6: a VRRPv3 instance)
    vrids: tuple[int, ...]
    interface: str | None  # None: unset, chosen on the host as the image does (see plan)
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
    source_address: IPv4Address | None = None  # UNICAST_/MULTICAST_SOURCE_IPADDRESS
    source_variable: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def instance_names(self) -> tuple[str, ...]:
        """``<scrubbed config name>_VIP_<n>``, n from 1, as the image names them."""
        return tuple(f"{values.scrub(self.config_name)}_VIP_{n}" for n in range(1, len(self.groups) + 1))

    @property
    def check_script_name(self) -> str:
        """The image's ``vrrp_script chk_<config name, '-' as '_'>`` (its name is not scrubbed)."""
        return "chk_" + self.config_name.replace("-", "_")

    @property
    def auth_pass(self) -> str:
        """The image's ``auth_pass <config name>``, truncated to 8 characters as keepalived does."""
        return self.config_name[:AUTH_PASS_LENGTH]

    @property
    def firewall_table(self) -> str:
        return firewall.table_name(self.config_name)


def split_groups(vips: tuple[values.VIP, ...], count: int) -> tuple[tuple[values.VIP, ...], ...]:
    """``count`` consecutive groups, the first ``len % count`` one larger: 7 in 3 → 3+2+2."""
    size, extra = divmod(len(vips), count)
    groups: list[tuple[values.VIP, ...]] = []
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


class _Reader:
    """The environment, with every bad variable collected (all reported on the one line) and notes."""

    def __init__(self, env: Mapping[str, str], check_files: bool) -> None:
        self.env = env
        self.check_files = check_files
        self.issues: list[EnvIssue] = []
        self.notes: list[str] = []

    def get(self, var: str) -> str | None:
        """The value, or None when unset or blank (the image treats both as "use the default")."""
        value = self.env.get(var)
        return value if value is not None and value.strip() else None

    def bad(self, var: str, problem: str, show_value: bool = True) -> None:
        value = self.env.get(var)
        if value is not None and value.startswith(("tcp://", "udp://")):
            problem += (
                "; this looks like a Kubernetes service link (a Service named after the variable): set "
                "enableServiceLinks: false in the pod spec"
            )
        self.issues.append(
            EnvIssue(var, problem, value=shown(value) if show_value and value is not None else None)
        )


def parse_env(env: Mapping[str, str], check_files: bool = True) -> Settings:
    """Validate the variables in ``env``; ConfigError lists every bad one.

    ``check_files``: also require the check and notify scripts to exist here (not when rendering a
    manifest or checking a node's environment from elsewhere).
    """
    r = _Reader(env, check_files)
    _unknown_variables(r)
    for var, why in _IGNORED.items():
        if r.get(var) is not None:
            r.notes.append(f"{var} is ignored: {why}")
    name = _config_name(r)
    vips = _virtual_ips(r)
    groups = _groups(r, vips)
    offset, excluded, vrids = _vrids(r, len(groups))
    interface = _interface(r)
    port, script, interval = _check(r)
    notify = _script(r, NOTIFY_SCRIPT, "notify program", "ran without notifications")
    preemption = _preemption(r)
    replicas = _replicas(r)
    peers, use_unicast, spread_nodes = _unicast(r, vips)
    source, source_var = _source_address(r, peers)
    fw = r.get(NFTABLES_RULE) is not None or r.get(IPTABLES_CHAIN) is not None
    if r.issues:
        raise ConfigError(*r.issues)
    return Settings(
        config_name=name,
        vips=vips,
        groups=groups,
        vrids=tuple(vrids),
        interface=interface,
        monitor_port=port,
        check_script=script,
        check_interval=interval,
        notify_script=notify,
        preempt=preemption.preempt,
        preempt_delay=preemption.delay,
        vrid_offset=offset,
        excluded_vrids=excluded,
        replica_count=replicas,
        unicast_peers=peers,
        use_unicast=use_unicast,
        spread_nodes=spread_nodes,
        firewall=fw,
        source_address=source,
        source_variable=source_var,
        notes=tuple(r.notes),
    )


# ---------------------------------------------------------------------------------------------
# One function per variable (or group of variables that only mean something together)


def _unknown_variables(r: _Reader) -> None:
    # A typo (OPENSHIFT_HA_MONITOR_PROT) would otherwise be silently ignored and the default used. A
    # Service named openshift-ha injects OPENSHIFT_HA_SERVICE_HOST & co. into every pod: never an error.
    links = []
    for var in sorted(r.env):
        if not var.startswith("OPENSHIFT_HA_") or var in KNOWN_VARIABLES:
            continue
        if is_service_link(var, r.env[var]):
            links.append(var)
            continue
        guess = difflib.get_close_matches(var, KNOWN_VARIABLES, n=1)
        hint = f"did you mean {guess[0]}?" if guess else f"known: {', '.join(sorted(KNOWN_VARIABLES))}"
        r.bad(var, f"unknown ipfailover variable; {hint}", show_value=False)
    if links:
        r.notes.append(
            f"ignored {len(links)} Kubernetes service-link variable(s) ({links[0]}...): a Service named "
            "openshift-ha... is in the namespace; enableServiceLinks: false keeps them out of the pod"
        )


def _config_name(r: _Reader) -> str:
    name = r.get(CONFIG_NAME) or DEFAULT_CONFIG_NAME
    image_did = (
        f"the image named its instances {values.scrub(name)}_VIP_<n> and authenticated with "
        f"{name.split()[0][:AUTH_PASS_LENGTH]!r}"
        if name.split()
        else ""
    )
    if not _NAME_RE.match(name):
        r.bad(
            CONFIG_NAME,
            f"must be letters, digits, '.', '_' or '-', starting with a letter or digit ({image_did})",
        )
    elif len(name) > MAX_NAME_LENGTH:
        r.bad(
            CONFIG_NAME,
            f"{len(name)} characters: vrrpd's instance names are at most 64 characters, so the name is at "
            f"most {MAX_NAME_LENGTH} ({image_did}); shorten it and keep its first {AUTH_PASS_LENGTH} "
            "characters, the password",
        )
    return name


def _virtual_ips(r: _Reader) -> tuple[values.VIP, ...]:
    raw = r.get(VIRTUAL_IPS)
    if raw is None:
        r.bad(VIRTUAL_IPS, f"missing (required: {_VIPS_ALLOWED})", show_value=False)
        return ()
    try:
        return values.parse_virtual_ips(raw)
    except ValueError as exc:
        r.bad(VIRTUAL_IPS, f"{exc}; must be {_VIPS_ALLOWED}")
        return ()


def _groups(r: _Reader, vips: tuple[values.VIP, ...]) -> tuple[tuple[values.VIP, ...], ...]:
    count = len(vips)
    raw = r.get(VIP_GROUPS)
    if raw is not None:
        try:
            wanted = values.bash_count(raw, 0, 255)
        except ValueError as exc:
            # [[ $vip_groups -gt 0 ]]: a word is an unset bash variable (0), "08" an error (false).
            r.bad(
                VIP_GROUPS,
                f"{exc}; the image made one group per VIP; must be an integer 0..255 (0: one group per VIP)",
            )
            wanted = 0
        if wanted > len(vips) > 0:
            # Harmless and common in published examples (10 groups for 2 VIPs): the image makes one
            # group per VIP. Said aloud rather than refused.
            r.notes.append(f"{VIP_GROUPS}={wanted} but there are only {len(vips)} VIPs: one group per VIP")
        elif wanted > 0:
            count = wanted
    groups = split_groups(vips, count) if vips else ()
    for number, group in enumerate(groups, start=1):
        if len({vip.version for vip in group}) > 1:
            # keepalived takes the instance's family from its first VIP and skips the others.
            r.bad(
                VIRTUAL_IPS,
                f"group {number} ({', '.join(map(str, group))}) mixes IPv4 and IPv6: the image's keepalived "
                f"ran it as IPv{group[0].version} and skipped the other addresses; one family per group "
                f"(order the list, or set {VIP_GROUPS})",
            )
            break
    return groups


def _vrids(r: _Reader, count: int) -> tuple[int, frozenset[int], list[int]]:
    offset = DEFAULT_VRRP_ID_OFFSET
    raw = r.get(VRRP_ID_OFFSET)
    if raw is not None:
        try:
            offset = values.bash_count(raw, 0, 254)
        except ValueError as exc:
            text = raw.strip()
            octal = text.isdigit() and all(c in "01234567" for c in text)
            image = f" (the image's VRIDs started at {int(text, 8) + 1})" if octal else ""
            r.bad(
                VRRP_ID_OFFSET,
                f"{exc}{image}; must be an integer 0..254 (VRID = offset + group number, from 1)",
            )
    excluded: set[int] = set()
    raw_excluded = r.get(EXCLUDED_VRRP_IDS)
    if raw_excluded is not None:
        for token in raw_excluded.split():
            if not token.isdigit() or token != str(int(token)) or not 1 <= int(token) <= 255:
                r.bad(
                    EXCLUDED_VRRP_IDS,
                    f"{token!r}: the image splits this list at spaces only and compares each word with the "
                    "VRID as text, so it excluded nothing for it; must be VRIDs 1..255 separated by spaces",
                )
                break
            excluded.add(int(token))
    vrids = assign_vrids(count, offset, frozenset(excluded))
    if vrids and max(vrids) > 255:
        skipping = f" skipping {EXCLUDED_VRRP_IDS}," if excluded else ""
        r.bad(
            VRRP_ID_OFFSET,
            f"{count} groups from offset {offset} need VRIDs up to {max(vrids)}{skipping} but a VRID is at "
            "most 255 (the image wrote virtual_router_id 256 and beyond, and keepalived refused to start); "
            f"lower the offset or use fewer groups ({VIP_GROUPS})",
            show_value=raw is not None,
        )
    return offset, frozenset(excluded), vrids


def _interface(r: _Reader) -> str | None:
    raw = r.get(NETWORK_INTERFACE)
    if raw is None:
        return None
    interface = raw.strip()
    if not _INTERFACE_RE.match(interface):
        words = len(interface.split())
        several = " (the image took the first of these words that exists)" if words > 1 else ""
        r.bad(
            NETWORK_INTERFACE,
            f"must be one network interface name (1..15 characters, no '/', ':' or spaces){several}",
        )
    return interface


def _script(r: _Reader, var: str, what: str, image_without: str) -> str | None:
    """A check or notify command as the image's keepalived ran it: the value, split by keepalived's
    quoting rules (no shell), a bare program name looked up in keepalived's PATH."""
    raw = r.get(var)
    if raw is None:
        return None
    text = raw.strip()
    allowed = f"the {what}: a program (absolute path, or a name in {':'.join(SEARCH_PATH)}) and its arguments"
    if '"' in text:
        # The image writes the value between double quotes into keepalived.conf: a quote ends it there.
        r.bad(var, f"a double quote cuts the image's keepalived.conf line short; must be {allowed}")
        return text
    try:
        argv = split_command(text)
    except CommandError as exc:
        r.bad(var, f"{exc} (keepalived could not read it either); must be {allowed}")
        return text
    program = argv[0]
    if "/" in program and not program.startswith("/"):
        r.bad(var, f"{program!r} is a relative path; must be {allowed}")
    elif r.check_files:
        path = resolve(program)
        if path is None or not path.is_file():
            r.bad(
                var,
                f"no such program in this container; the image's keepalived {image_without} (it disables a "
                f"missing script); mount it, or unset {var}; must be {allowed}",
            )
        elif not os.access(path, os.X_OK):
            r.bad(
                var,
                f"{path} is not executable; the image's keepalived {image_without}; chmod +x, or "
                f"defaultMode 0755 on a ConfigMap volume; must be {allowed}",
            )
    return text


def _check(r: _Reader) -> tuple[int, str | None, float]:
    script = _script(r, CHECK_SCRIPT, "health check", "ran without any health check")
    port = DEFAULT_MONITOR_PORT
    raw_port = r.get(MONITOR_PORT)
    if raw_port is not None:
        digits = raw_port.strip()
        if not digits.isdigit() or (len(digits) > 1 and digits.startswith("0")) or int(digits) > 65535:
            kept = re.sub(r"[^0-9]", "", raw_port)
            image = (
                f"the image deleted all but the digits and checked port {kept}"
                if kept and kept != digits
                else "the image's check could never connect (FAULT for ever)"
            )
            r.bad(MONITOR_PORT, f"{image}; must be a TCP port 1..65535, or 0 for no check")
        else:
            port = int(digits)
    if script is not None and raw_port is not None and port != 0:
        r.notes.append(f"{CHECK_SCRIPT} replaces the TCP check of {MONITOR_PORT}={port} (as in the image)")
    interval = DEFAULT_CHECK_INTERVAL
    raw_interval = r.get(CHECK_INTERVAL)
    if raw_interval is not None:
        try:
            read = values.check_interval(raw_interval)
        except ValueError as exc:
            r.bad(
                CHECK_INTERVAL,
                f"{exc}; keepalived ignored it (1 s); must be a whole number of seconds "
                f"1..{values.MAX_SECONDS}",
            )
        else:
            interval = read.seconds
            if read.note is not None:
                r.notes.append(f"{CHECK_INTERVAL}={raw_interval.strip()}: {read.note}")
    return port, script, interval


def _preemption(r: _Reader) -> values.Preemption:
    raw = r.get(PREEMPTION) or DEFAULT_PREEMPTION
    try:
        preemption = values.parse_preemption(raw)
    except ValueError as exc:
        r.bad(PREEMPTION, str(exc))
        return values.Preemption(True, 0.0)
    if preemption.preempt and preemption.delay > 0:
        r.notes.append(
            f"preempt_delay {preemption.delay:g}: a node that starts waits {preemption.delay:g} s before "
            "taking its groups back; the image's keepalived cleared preempt_delay on its state MASTER "
            f"instances (every instance with {REPLICA_COUNT}=1), so there a restarted node took them back "
            "at once"
        )
    return preemption


def _replicas(r: _Reader) -> int:
    raw = r.get(REPLICA_COUNT)
    if raw is None:
        return 1
    try:
        return values.bash_count(raw, 1, spread.MAX_RANK_NODES)
    except ValueError as exc:
        r.bad(REPLICA_COUNT, f"{exc} (the image counted 1); must be an integer 1..{spread.MAX_RANK_NODES}")
        return 1


def _unicast(
    r: _Reader, vips: tuple[values.VIP, ...]
) -> tuple[tuple[IPv4Address, ...], bool | None, tuple[IPv4Address, ...]]:
    peers: tuple[IPv4Address, ...] = ()
    raw_peers = r.get(UNICAST_PEERS)
    if raw_peers is not None:
        try:
            peers = values.parse_peers(raw_peers, "a comma-separated list of the nodes' IPv4 addresses")
        except ValueError as exc:
            r.bad(UNICAST_PEERS, str(exc))
        else:
            clash = sorted(set(peers) & {vip for vip in vips if isinstance(vip, IPv4Address)})
            if any(vip.version == 6 for vip in vips):
                r.bad(
                    UNICAST_PEERS,
                    "IPv4 peers with IPv6 VIPs: an instance has one address family; unicast IPv6 "
                    "instances are not supported here",
                )
            elif clash:
                r.bad(UNICAST_PEERS, f"{clash[0]} is also a VIP; peers are the nodes' own addresses")
            elif len(peers) > spread.MAX_RANK_NODES:
                r.bad(UNICAST_PEERS, f"at most {spread.MAX_RANK_NODES} nodes")
    use_unicast: bool | None = None
    raw_use = r.get(USE_UNICAST)
    if raw_use is not None:
        if raw_use.strip().lower() not in ("true", "false"):
            r.bad(USE_UNICAST, 'must be "true" or "false" (the image ignores this variable)')
        else:
            use_unicast = raw_use.strip().lower() == "true"
            if use_unicast and raw_peers is None:
                r.bad(USE_UNICAST, f"unicast needs the peers: set {UNICAST_PEERS} to the nodes' addresses")
            elif not use_unicast and peers:
                # The image ignores USE_UNICAST; oadm wrote "false" into every deployment, and people
                # then added peers. Honouring "false" would silently switch them to multicast.
                r.notes.append(
                    f"{USE_UNICAST}=false is ignored as by the image: {UNICAST_PEERS} is set, so "
                    "advertisements are unicast"
                )
    spread_nodes: tuple[IPv4Address, ...] = ()
    raw_nodes = r.get(SPREAD_NODES)
    if raw_nodes is not None:
        try:
            spread_nodes = values.parse_peers(
                raw_nodes, "a comma-separated list of every node's IPv4 address"
            )
        except ValueError as exc:
            r.bad(SPREAD_NODES, str(exc))
        else:
            if raw_peers is not None:
                r.bad(
                    SPREAD_NODES,
                    f"set only one of {SPREAD_NODES} and {UNICAST_PEERS}: the peers name the nodes",
                )
            elif set(spread_nodes) & set(vips):
                r.bad(SPREAD_NODES, "lists a VIP; list the nodes' own addresses")
            elif len(spread_nodes) > spread.MAX_RANK_NODES:
                r.bad(SPREAD_NODES, f"at most {spread.MAX_RANK_NODES} nodes")
    return peers, use_unicast, spread_nodes


def _source_address(r: _Reader, peers: tuple[IPv4Address, ...]) -> tuple[IPv4Address | None, str | None]:
    """The advert source the image's keepalived was given: ``mcast_src_ip``, then ``unicast_src_ip``;
    both set its one source address, the later line wins, with or without unicast peers."""
    chosen: tuple[IPv4Address | None, str | None] = (None, None)
    for name in (MULTICAST_SOURCE, UNICAST_SOURCE):
        raw = r.get(name)
        if raw is None:
            continue
        try:
            chosen = (values.ipv4(raw.strip()), name)
        except ValueError as exc:
            r.bad(name, f"{exc} (keepalived skipped it); must be this node's IPv4 address for the adverts")
    address = chosen[0]
    if address is not None and address in peers:
        r.notes.append(f"{address} is in {UNICAST_PEERS} too: it is this node, not a peer")
    return chosen
