"""`vrrpd import-keepalived`: convert the VRRP part of a keepalived.conf into vrrpd's TOML.

This module owns the *meaning* of keepalived's keywords as far as vrrpd can reproduce it: which keyword
maps to which vrrpd key, which keepalived 2.2 quirks change the effective value (``state MASTER`` without
``priority`` means 255; ``state MASTER`` clears ``nopreempt`` and ``preempt_delay``; ``auth_pass`` is cut
to 8 characters; a VRRPv2 ``advert_int`` is rounded to whole seconds; a vrrp_script's timeout defaults to
its interval), and a `Finding` for everything else, with its file and line:

* ``not carried over`` — keepalived would behave in a way the converted file does not reproduce; the
  command exits non-zero unless ``--allow-partial``;
* ``note`` — no behaviour is lost (a no-op in keepalived, or reproduced differently), but the operator
  should know.

The grammar is `vrrpd.compat.keepalived.conf`'s. The schema is `vrrpd.config`'s: every converted file is
validated with `vrrpd.config.parse_config` before it is printed, and a value vrrpd refuses is dropped and
reported rather than written, so the output always loads. Nothing here touches the network or runs a
program; it reads the keepalived files and checks whether referenced programs exist.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vrrpd import __version__
from vrrpd.compat.keepalived.conf import (
    KeepalivedConfError,
    Location,
    ParsedConf,
    Statement,
    parse_file,
)
from vrrpd.config import ConfigError, ConfigIssue, parse_config
from vrrpd.config.programs import CommandError, shell_syntax, split_command
from vrrpd.protocol.packet import MAX_ADDRESSES as MAX_ADVERTISED

__all__ = ["Conversion", "Finding", "convert", "convert_parsed", "main"]

EXIT_PARTIAL = 1  # something was not carried over (and --allow-partial was not given)
EXIT_UNREADABLE = 2  # the keepalived file cannot be read or parsed; same status as a config error

Level = Literal["not carried over", "note"]

# The password field of a VRRPv2 advert is 8 bytes: keepalived keeps the first 8 characters.
AUTH_PASS_MAX = 8
MAX_WEIGHT = 253  # keepalived's vrrp_script weight range is ±253
# keepalived's own ranges for values it accepts (outside them it ignores the keyword).
KEEPALIVED_MAX_PREEMPT_DELAY = 1000.0
PRIORITY_OWNER = 255
DEFAULT_PRIORITY = 100  # keepalived's VRRP_PRIO_DFL

# Shells whose `-c '</dev/tcp/HOST/PORT'` is a TCP connect check (bash's /dev/tcp; dash has none).
_BASH = frozenset({"bash", "/bin/bash", "/usr/bin/bash", "/usr/local/bin/bash"})
_TCP_REDIRECT = re.compile(r"^\s*<\s*/dev/tcp/(?P<host>[^/\s]+)/(?P<port>[0-9]{1,5})\s*$")
_ALWAYS_TRUE = frozenset({"true", "/bin/true", "/usr/bin/true", ":"})

# Keys that an instance cannot do without: if vrrpd refuses one, the whole instance is dropped.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")  # vrrpd's instance names (vrrpd.config)
# virtual_ipaddress is not among them: keepalived runs an instance without VIPs (cloud failover).
_REQUIRED = frozenset({"name", "interface", "virtual_router_id"})
_KEY_ORDER = (
    "name",
    "interface",
    "virtual_router_id",
    "priority",
    "version",
    "advert_int",
    "accept",
    "preempt",
    "preempt_delay",
    "virtual_ipaddress",
    "virtual_ipaddress_excluded",
    "auth_pass",
    "auth_type",
    "unicast_peer",
    "unicast_src_ip",
    "mcast_src_ip",
    "notify",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "track_script",
    "garp_master_repeat",
    "garp_master_delay",
    "garp_master_refresh",
    "track_interface",
    "track_file",
    "track_process",
    "dont_track_primary",
    "garp_master_refresh_repeat",
    "skip_check_adv_addr",
    "garp_lower_prio_repeat",
    "garp_lower_prio_delay",
    "use_vmac",
    "vmac_interface",
    "vmac_xmit_base",
)
_SCRIPT_ORDER = (
    *("name", "script", "interval", "timeout", "rise", "fall", "weight", "weight_reverse"),
    *("user", "group", "init_fail"),
)
_PROGRAM_KEYS = ("notify", "notify_master", "notify_backup", "notify_fault", "notify_stop")
_VIP_KEYS = ("virtual_ipaddress", "virtual_ipaddress_excluded")
_TABLE_ARRAYS = ("virtual_routes", "virtual_rules")  # rendered as [[vrrp_instance.KEY]] tables
_CHECK_ORDER = ("tcp_port", "host", "script", "interval", "timeout", "rise", "fall", "weight")
_SCRIPT_ISSUE = re.compile(r"^vrrp_script\[(?P<index>\d+)\]")
_ISSUE_KEY = re.compile(
    r"^vrrp_instance\[(?P<index>\d+)\](?:\.(?P<key>[a-z_]+)(?:\[(?P<item>\d+)\]|\.(?P<sub>[a-z_]+))?)?"
)

_SMTP_SETTINGS = frozenset(
    {"notification_email", "notification_email_from", "smtp_server", "smtp_connect_timeout", "smtp_helo_name"}
)
_SMTP = "only used with smtp_alert, which is not set: no e-mail is sent, so nothing is lost"
_NOT_VRRP = "not VRRP: vrrpd manages virtual routers only; keep keepalived (or another tool) for this"

# Top-level blocks read before the instances (each is known from its own line on, as in keepalived).
_READ_FIRST = frozenset({"vrrp_script", "global_defs", "track_file", "vrrp_track_file", "vrrp_track_process"})
# Top-level blocks outside vrrpd's scope, with what to tell the operator.
_TOP_UNSUPPORTED: dict[str, str] = {
    "virtual_server": f"LVS/IPVS virtual servers are {_NOT_VRRP}",
    "virtual_server_group": f"LVS/IPVS virtual server groups are {_NOT_VRRP}",
    "static_ipaddress": f"static addresses are {_NOT_VRRP} (configure them with the OS)",
    "static_routes": f"static routes are {_NOT_VRRP} (configure them with the OS)",
    "static_rules": f"static rules are {_NOT_VRRP} (configure them with the OS)",
    "garp_group": "GARP groups (per-interface GARP pacing) are not supported",
    "linkbeat_interfaces": "linkbeat polling is not supported: vrrpd follows the kernel's link state",
    "bfd_instance": "BFD is not supported",
}

# Instance keywords vrrpd cannot reproduce, with the reason.
_INSTANCE_UNSUPPORTED: dict[str, str] = {
    "use_vmac_addr": "virtual MAC interfaces are not supported",
    "use_ipvlan": "ipvlan interfaces are not supported",
    "track_bfd": "BFD tracking is not supported",
    "track_src_ip": "source-address tracking is not supported",
    "mcast_dst_ip": "vrrpd always uses 224.0.0.18 for multicast adverts",
    "promote_secondaries": "promote_secondaries is not set by vrrpd",
    "notify_master_rx_lower_pri": "no notification for a lower-priority advert received by a master",
    "lvs_sync_daemon_interface": f"the LVS sync daemon is {_NOT_VRRP}",
    "unicast_fault_no_peer": "not supported (vrrpd needs at least one peer to run in unicast mode)",
    "old_unicast_checksum": (
        "vrrpd accepts the old unicast checksum on receipt but sends RFC 5798's, which a keepalived peer "
        "with this option rejects: remove it there too"
    ),
    "garp_extra_if": "GARPs on extra interfaces are not supported",
    "linkbeat_use_polling": "linkbeat polling is not supported: vrrpd follows the kernel's link state",
    "kernel_rx_buf_size": "the socket receive buffer size is not configurable",
    "vrf": "VRFs are not supported",
}

_NOTIFY_PER_STATE = (
    "vrrpd runs one notify program for every state; not carried over. Use `notify` with a program that "
    'dispatches on its third argument, e.g. `case "$3" in {state}) exec {path} ;; esac` '
    "(see docs/migrating-from-keepalived.md)"
)


@dataclass(frozen=True)
class Finding:
    """One thing the operator must know about the conversion, tied to its keepalived line."""

    where: Location | None
    keyword: str
    level: Level
    message: str

    def __str__(self) -> str:
        where = f"{self.where}: " if self.where is not None else ""
        return f"{where}{self.keyword}: {self.level}: {self.message}"


@dataclass
class Conversion:
    """The converted TOML (it loads with `vrrpd.config.parse_config`) and what the conversion found."""

    toml: str
    findings: list[Finding]
    instances: int
    files: list[str]

    @property
    def lost(self) -> list[Finding]:
        """The findings that make the conversion partial."""
        return [f for f in self.findings if f.level == "not carried over"]

    @property
    def complete(self) -> bool:
        """True when nothing was lost and at least one instance was converted."""
        return not self.lost and self.instances > 0


@dataclass
class _Script:
    """A ``vrrp_script`` block, read before any instance uses it."""

    name: str
    where: Location
    argv: list[str] = field(default_factory=list)
    script_where: Location | None = None
    interval: float = 1.0  # keepalived's default
    timeout: float | None = None  # keepalived: defaults to the interval
    weight: int = 0
    weight_where: Location | None = None
    reverse: bool = False
    rise: int = 1
    fall: int = 1
    where_of: dict[str, Location] = field(default_factory=dict)
    unsupported: list[Finding] = field(default_factory=list)
    used: bool = False
    user: str | None = None
    group: str | None = None
    init_fail: bool = False
    index: int = 0  # its place among the top-level statements: keepalived knows it from there on
    table: dict[str, Any] | None = None  # the [[vrrp_script]] it converts to, once tracked


@dataclass
class _Tracker:
    """A ``track_file`` / ``vrrp_track_file`` or ``vrrp_track_process`` block."""

    kind: str  # "file" or "process"
    name: str
    where: Location
    index: int  # its place among the top-level statements: keepalived knows it from there on
    table: dict[str, Any] = field(default_factory=dict)  # the [[vrrp_track_*]] it converts to
    weight: int = 0
    reverse: bool = False
    valid: bool = True
    used: bool = False


@dataclass
class _Draft:
    """One instance on its way to TOML: keys, their source lines, and the check."""

    where: Location
    keys: dict[str, Any] = field(default_factory=dict)
    where_of: dict[str, Location] = field(default_factory=dict)
    check: dict[str, Any] | None = None
    check_where: dict[str, Location] = field(default_factory=dict)
    item_where: dict[str, list[Location]] = field(default_factory=dict)
    vip_devs: list[tuple[str, str, Location]] = field(default_factory=list)  # (address, dev, where)
    vip_lines: int = 0  # address lines in the keepalived block, converted or not
    family: int | None = None  # set by the first address, as keepalived does (4 or 6)
    index: int = 0  # its place among the top-level statements


class _Converter:
    def __init__(self, parsed: ParsedConf) -> None:
        self.parsed = parsed
        self.findings: list[Finding] = []
        self.global_keys: dict[str, tuple[str, Location]] = {}  # [global] key -> (value, where)
        self.garp_defaults: dict[str, tuple[float, Location]] = {}
        self.scripts: dict[str, _Script] = {}  # every vrrp_script of the file, by name
        self.trackers: dict[tuple[str, str], _Tracker] = {}  # (kind, name) -> track_file/track_process
        self.default_interface: tuple[str, Location] | None = None
        self.skip_check_default: Location | None = None  # global vrrp_skip_check_adv_addr
        self.smtp_settings: list[Statement] = []
        self.smtp_alert: Statement | None = None
        self.drafts: list[_Draft] = []
        self.sync_blocks: list[Statement] = []
        self.default_version: tuple[int, Location] | None = None  # global_defs vrrp_version

    def tracker_tables(self) -> list[_Tracker]:
        """The track_file / vrrp_track_process blocks that convert (tracked and valid), in file order."""
        kept = [t for t in self.trackers.values() if t.valid and t.used]
        return sorted(kept, key=lambda t: (t.kind, t.index))

    def tables(self) -> list[_Script]:
        """The vrrp_scripts that convert, in their file order."""
        return [s for s in self.scripts.values() if s.table is not None]

    # -- findings --------------------------------------------------------------------------------

    def lost(self, where: Location | None, keyword: str, message: str) -> None:
        self.findings.append(Finding(where, keyword, "not carried over", message))

    def note(self, where: Location | None, keyword: str, message: str) -> None:
        self.findings.append(Finding(where, keyword, "note", message))

    # -- the walk --------------------------------------------------------------------------------

    def run(self) -> None:
        for item in self.parsed.unsupported:
            self.lost(item.where, item.what, "this keepalived construct is not expanded by the importer")
        for where, pattern in self.parsed.missing_includes:
            self.note(where, "include", f"{pattern}: no file matched (keepalived skips it too)")
        top = self.parsed.statements
        # Every vrrp_script is read first, but an instance finds only those defined above it: keepalived
        # looks a tracked script up while it reads the instance ("track script ... not found").
        for index, stmt in enumerate(top):
            if stmt.keyword == "vrrp_script":
                self._script(stmt, index)
            elif stmt.keyword in ("track_file", "vrrp_track_file"):
                self._track_file(stmt, index)
            elif stmt.keyword == "vrrp_track_process":
                self._track_process(stmt, index)
        for stmt in top:
            if stmt.keyword == "global_defs":
                self._global_defs(stmt)
        for index, stmt in enumerate(top):
            if stmt.keyword == "vrrp_instance":
                self._instance(stmt, index)
            elif stmt.keyword in _READ_FIRST:
                continue
            elif stmt.keyword == "vrrp_sync_group":
                self.sync_blocks.append(stmt)  # converted once the instances are final (`sync_groups`)
            elif stmt.keyword in _TOP_UNSUPPORTED:
                self.lost(stmt.where, stmt.keyword, _TOP_UNSUPPORTED[stmt.keyword])
            else:
                self.lost(stmt.where, stmt.keyword, "unknown or unsupported top-level keyword")
        for script in self.scripts.values():
            if not script.used:
                self.note(
                    script.where,
                    f"vrrp_script {script.name}",
                    'not tracked by any instance: keepalived does not run it ("not used"), nor does vrrpd',
                )
        if self.smtp_alert is None:
            for stmt in self.smtp_settings:
                self.note(stmt.where, stmt.keyword, _SMTP)
        else:
            self.lost(self.smtp_alert.where, "smtp_alert", "vrrpd does not send e-mail on state changes")

    # -- global_defs -----------------------------------------------------------------------------

    def _global_defs(self, block: Statement) -> None:
        fifo_from: str | None = None  # the keyword whose FIFO vrrpd writes
        fifos: set[str] = set()  # every FIFO keyword set
        readers: dict[str, Statement] = {}  # notify_fifo_script / vrrp_notify_fifo_script lines
        for stmt in block.block or ():
            kw = stmt.keyword
            if kw in ("notify_fifo_script", "vrrp_notify_fifo_script") and stmt.args:
                readers.setdefault(kw, stmt)  # keepalived: "already specified - ignoring" a second one
                continue
            if kw == "router_id" and stmt.args:
                self.global_keys["router_id"] = (stmt.args[0], stmt.where)
            elif kw in ("vrrp_notify_fifo", "notify_fifo") and stmt.args:
                # Same line format as keepalived's: INSTANCE "name" STATE priority.
                self.global_keys["notify_fifo"] = (stmt.args[0], stmt.where)
                fifo_from = kw
                fifos.add(kw)
                if len(stmt.args) > 1:
                    self.lost(
                        stmt.where, kw, f"owner {' '.join(stmt.args[1:])}: vrrpd creates the FIFO as itself"
                    )
                if kw == "notify_fifo":
                    self.note(
                        stmt.where,
                        kw,
                        "vrrpd writes the VRRP lines; keepalived's checker lines have no source",
                    )
            elif kw in _SMTP_SETTINGS:
                self.smtp_settings.append(stmt)
            elif kw in {"smtp_alert", "smtp_alert_vrrp"}:
                if _bool_arg(stmt):
                    self.smtp_alert = stmt
                else:
                    self.note(stmt.where, kw, "disabled: nothing to carry over")
            elif kw in ("vrrp_garp_master_delay", "vrrp_garp_master_repeat", "vrrp_garp_master_refresh"):
                value = self._number(stmt)
                if value is not None:
                    self.garp_defaults[kw.removeprefix("vrrp_")] = (value, stmt.where)
            elif kw == "vrrp_garp_master_refresh_repeat":
                self._refresh_repeat(stmt)
            elif kw == "vrrp_version":
                if stmt.args[:1] in (("2",), ("3",)):
                    self.default_version = (int(stmt.args[0]), stmt.where)
                    self.note(
                        stmt.where, kw, f"the instances' default: version = {stmt.args[0]} where it applies"
                    )
                else:
                    self.lost(stmt.where, kw, "must be 2 or 3 (keepalived ignores it too)")
            elif kw in ("vrrp_check_unicast_src",):
                self.note(stmt.where, kw, "vrrpd always accepts unicast adverts from its peers only")
            elif kw == "vrrp_gna_interval":  # unsolicited NAs of IPv6 instances (no effect on IPv4 ones)
                value = self._number(stmt)
                if value is not None and 0 <= value <= 1:
                    self.global_keys["gna_interval"] = (_whole(value), stmt.where)  # type: ignore[assignment]
                elif value is not None:
                    self.lost(stmt.where, kw, f"{value:g} s: vrrpd paces NAs by at most 1 s")
            elif kw == "vrrp_mcast_group4" and stmt.args[:1] == ("224.0.0.18",):
                self.note(stmt.where, kw, "the standard group, which vrrpd uses")
            elif kw == "vrrp_higher_prio_send_advert" and not _bool_arg(stmt):
                self.note(stmt.where, kw, "off, as in vrrpd")
            elif kw == "vrrp_lower_prio_no_advert" and not _bool_arg(stmt):
                self.note(stmt.where, kw, "off, as in vrrpd (a master answers a lower-priority advert)")
            elif kw == "vrrp_skip_check_adv_addr":
                if _bool_arg(stmt):
                    self.skip_check_default = stmt.where
            elif kw == "enable_script_security":
                self.global_keys["enable_script_security"] = (True, stmt.where)  # type: ignore[assignment]
            elif kw == "script_user" and stmt.args:
                self.global_keys["script_user"] = (stmt.args[0], stmt.where)
                if len(stmt.args) > 1:
                    self.global_keys["script_group"] = (stmt.args[1], stmt.where)
            elif kw == "vrrp_garp_interval":
                value = self._number(stmt)
                if value is not None and 0 <= value <= 1:
                    self.global_keys["garp_interval"] = (_whole(value), stmt.where)  # type: ignore[assignment]
                elif value is not None:
                    self.lost(stmt.where, kw, f"{value:g} s: vrrpd paces GARPs by at most 1 s")
            elif kw in ("vrrp_garp_lower_prio_repeat", "vrrp_garp_lower_prio_delay"):
                value = self._number(stmt)
                if value is not None:
                    self.garp_defaults[kw.removeprefix("vrrp_")] = (value, stmt.where)
            elif kw == "default_interface" and stmt.args:
                self.default_interface = (stmt.args[0], stmt.where)
                self.note(stmt.where, kw, "used for instances that name no interface, as keepalived does")
            elif kw in ("lvs_id",):
                self.note(
                    stmt.where, kw, 'keepalived 2.2 does not know it ("Unknown keyword") and ignores it'
                )
            elif kw == "vrrp_iptables":
                self.note(
                    stmt.where,
                    kw,
                    "keepalived adds firewall rules only for instances that do not accept traffic to their "
                    "VIPs (vrrp_strict, no_accept); these accept it, as vrrpd's do: nothing to carry over",
                )
            elif kw == "dynamic_interfaces":
                self.note(
                    stmt.where,
                    kw,
                    "vrrpd keeps an instance whose interface disappears and resumes it when it returns",
                )
            elif kw == "max_auto_priority":
                # Written by every ipfailover image since 2024 (OCPBUGS-29593) to quiet a notice.
                self.note(
                    stmt.where,
                    kw,
                    "keepalived's cap on the real-time scheduling priority of its own processes; vrrpd is "
                    "an ordinary process, and nothing VRRP peers see depends on it",
                )
            else:
                self.lost(stmt.where, kw, "global_defs keyword not supported by vrrpd")

        for kw, stmt in readers.items():
            self._fifo_reader(kw, stmt, fifo_from, fifos)

    def _refresh_repeat(self, stmt: Statement) -> None:
        value = self._number(stmt)
        if value is not None:
            # keepalived: 0 means 1 ("must be greater than 0, setting to 1").
            self.garp_defaults["garp_master_refresh_repeat"] = (max(1, int(value)), stmt.where)

    # -- vrrp_script -----------------------------------------------------------------------------

    def _script(self, block: Statement, index: int) -> None:
        if len(block.args) != 1:
            self.lost(
                block.where, "vrrp_script", "a vrrp_script needs exactly one name (keepalived skips it)"
            )
            return
        script = _Script(block.args[0], block.where, index=index)
        for stmt in block.block or ():
            kw = stmt.keyword
            self._extra_words(stmt, _SINGLE_VALUE_SCRIPT)
            script.where_of[kw] = stmt.where
            if kw == "script" and stmt.args:
                # keepalived: the first word is the command line (split again, by its quoting rules);
                # words after it are the user and group to run it as.
                try:
                    script.argv = split_command(stmt.args[0])
                except CommandError as exc:
                    script.unsupported.append(Finding(stmt.where, kw, "note", f"{exc}: keepalived drops it"))
                script.script_where = stmt.where
                if len(stmt.args) > 1:
                    script.user = stmt.args[1]
                    script.group = stmt.args[2] if len(stmt.args) > 2 else None
            elif kw in ("interval", "timeout"):
                # keepalived reads whole seconds (read_unsigned_strvec): 0 becomes 1, and anything else
                # (1.5 included) is ignored, leaving the default (interval 1 s; timeout = interval).
                text = stmt.args[0] if stmt.args else ""
                if text.isdigit():
                    setattr(script, kw, float(max(1, int(text))))
                else:
                    default = "1 s, its default" if kw == "interval" else "the interval"
                    self.note(
                        stmt.where,
                        kw,
                        f"{text!r} is not a whole number: keepalived ignores it ({default}), as here",
                    )
            elif kw in ("rise", "fall"):
                value = self._number(stmt)
                if value is not None:
                    setattr(script, kw, max(1, int(value)))  # keepalived: values below 1 mean 1
            elif kw == "weight":
                self._script_weight(script, stmt)
            elif kw == "user" and stmt.args:
                script.user = stmt.args[0]
                script.group = stmt.args[1] if len(stmt.args) > 1 else None
            elif kw == "init_fail":
                script.init_fail = True
            else:
                script.unsupported.append(
                    Finding(stmt.where, kw, "not carried over", "unknown vrrp_script keyword")
                )
        self.scripts[script.name] = script

    def _script_weight(self, script: _Script, stmt: Statement) -> None:
        value = self._int(stmt)
        if value is None:
            return
        if not -MAX_WEIGHT <= value <= MAX_WEIGHT:
            self.note(stmt.where, "weight", f"{value}: keepalived refuses a weight outside ±{MAX_WEIGHT}")
            return
        script.weight, script.weight_where = value, stmt.where
        script.reverse = stmt.args[1:2] == ("reverse",)

    # -- track_file / vrrp_track_process --------------------------------------------------------

    def _tracker(self, kind: str, block: Statement, index: int) -> _Tracker | None:
        label = block.keyword
        if len(block.args) != 1:
            self.lost(block.where, label, f"a {label} needs exactly one name (keepalived skips it)")
            return None
        tracker = _Tracker(kind, block.args[0], block.where, index)
        tracker.table["name"] = tracker.name
        self.trackers[(kind, tracker.name)] = tracker
        return tracker

    def _tracker_weight(self, tracker: _Tracker, stmt: Statement) -> None:
        """``weight N [reverse]`` of a track_file / vrrp_track_process block (keepalived: -254..254)."""
        label = f"{stmt.keyword} ({tracker.name})"
        value = stmt.args[0] if stmt.args else ""
        if not re.fullmatch(r"[+-]?[0-9]+", value) or not -254 <= int(value) <= 254:
            kept = "1" if tracker.kind == "file" else "0"
            self.note(stmt.where, label, f"{value!r} is not in -254..254: keepalived keeps {kept}, as here")
            return
        tracker.weight = int(value)
        tracker.reverse = stmt.args[1:2] == ("reverse",)
        if len(stmt.args) > 1 and not tracker.reverse:
            self.note(stmt.where, label, f"{stmt.args[1]!r}: keepalived ignores it, as here")

    def _track_file(self, block: Statement, index: int) -> None:
        tracker = self._tracker("file", block, index)
        if tracker is None:
            return
        tracker.weight = 1  # keepalived's default for a track_file
        for stmt in block.block or ():
            kw = stmt.keyword
            if kw == "file" and stmt.args and "file" not in tracker.table:
                path = stmt.args[0]
                if not path.startswith("/"):
                    self.lost(stmt.where, f"file ({tracker.name})", f"{path!r}: vrrpd needs an absolute path")
                    tracker.valid = False
                tracker.table["file"] = path
            elif kw == "weight":
                self._tracker_weight(tracker, stmt)
            elif kw == "init_file":
                value, overwrite = 0, False
                for word in stmt.args:
                    if word == "overwrite":
                        overwrite = True
                    elif re.fullmatch(r"-?[0-9]+", word) and -(2**31) <= int(word) < 2**31:
                        value = int(word)
                    else:
                        self.note(
                            stmt.where, f"init_file ({tracker.name})", f"{word!r}: keepalived ignores it"
                        )
                tracker.table["init_file"] = value
                if overwrite:
                    tracker.table["init_file_overwrite"] = True
            else:
                self.lost(stmt.where, f"{kw} ({tracker.name})", "unknown track_file keyword")
        if "file" not in tracker.table:
            self.note(
                block.where, f"track_file {tracker.name}", "no file: keepalived ignores the block, as here"
            )
            tracker.valid = False
        if block.keyword == "vrrp_track_file":
            self.note(block.where, block.keyword, "keepalived's deprecated spelling of track_file: the same")

    def _track_process(self, block: Statement, index: int) -> None:
        tracker = self._tracker("process", block, index)
        if tracker is None:
            return
        table = tracker.table
        for stmt in block.block or ():
            kw = stmt.keyword
            label = f"{kw} ({tracker.name})"
            if kw == "process" and stmt.args and "process" not in table:
                table["process"] = stmt.args[0]
                if len(stmt.args) > 1:
                    table["parameters"] = list(stmt.args[1:])
            elif kw == "param_match":
                if not stmt.args:
                    table["param_match"] = "exact"
                elif stmt.args[0] in ("initial", "partial"):
                    table["param_match"] = stmt.args[0]
                else:
                    self.note(stmt.where, label, f"{stmt.args[0]!r}: keepalived ignores it, as here")
            elif kw == "full_command":
                table["full_command"] = True
            elif kw == "weight":
                self._tracker_weight(tracker, stmt)
            elif kw in ("quorum", "quorum_max"):
                text = stmt.args[0] if stmt.args else ""
                low = 1 if kw == "quorum" else 0
                if text.isdigit() and low <= int(text) <= 65535:
                    table[kw] = int(text)
                else:
                    self.note(stmt.where, label, f"{text!r} is not in {low}..65535: keepalived ignores it")
            elif kw in ("delay", "terminate_delay", "fork_delay"):
                value = self._number(stmt)
                if value is not None and 0 < value <= 3600:
                    table[kw] = _whole(value)
                elif value is not None:
                    self.note(stmt.where, label, f"{value:g} is not in (0, 3600]: keepalived ignores it")
            else:
                self.lost(stmt.where, label, "unknown vrrp_track_process keyword")
        quorum, quorum_max = table.get("quorum", 1), table.get("quorum_max")
        if quorum_max not in (None, 0) and quorum > quorum_max:
            self.note(
                block.where,
                f"vrrp_track_process {tracker.name}",
                "quorum above quorum_max: keepalived "
                "ignores the later of the two; check the converted values",
            )
            table.pop("quorum")
        if "process" not in table:
            self.note(
                block.where,
                f"vrrp_track_process {tracker.name}",
                "no process: keepalived ignores the block, as here",
            )
            tracker.valid = False
        self.note(
            block.where,
            f"vrrp_track_process {tracker.name}",
            "keepalived counts processes through the kernel's proc connector, which works only in the host's "
            "network namespace (not in a container); vrrpd sees an exit at once and a new process within "
            "1 s, in any namespace",
        )

    def _tracked_lines(
        self, kind: str, lines: list[Statement], index: int, *, owner: bool = False
    ) -> list[Any]:
        """An instance's (or group's) ``track_file`` / ``track_process`` lines as keepalived reads them:
        the name defined above, once, with ``weight N [reverse|noreverse]``."""
        entries: list[Any] = []
        seen: set[str] = set()
        for stmt in lines:
            name = stmt.keyword
            label = f"track_{kind} {name}"
            tracker = self.trackers.get((kind, name))
            if tracker is None or not tracker.valid:
                self.note(
                    stmt.where, label, f"no such track_{kind}: keepalived ignores it (not found), as here"
                )
                continue
            if tracker.index > index:
                self.note(
                    stmt.where,
                    label,
                    f"defined after this block ({tracker.where}): keepalived does not find it and ignores "
                    "it, as here",
                )
                continue
            if name in seen:
                self.note(stmt.where, label, "tracked twice: keepalived ignores the second, as here")
                continue
            args = list(stmt.args)
            entry: dict[str, Any] = {"name": name}
            if args:
                if args[0] != "weight" or len(args) == 1:
                    self.note(stmt.where, label, f"{' '.join(args)!r}: keepalived ignores the line, as here")
                    continue
                if re.fullmatch(r"[+-]?[0-9]+", args[1]) and -254 <= int(args[1]) <= 254:
                    entry["weight"] = int(args[1])
                else:
                    self.note(
                        stmt.where,
                        label,
                        f"weight {args[1]!r} is not in -254..254: keepalived keeps the track_{kind}'s",
                    )
                if args[2:3] in (["reverse"], ["noreverse"]):
                    entry["reverse"] = args[2] == "reverse"
                elif len(args) > 2:
                    self.note(stmt.where, label, f"{args[2]!r}: keepalived ignores it, as here")
            if owner and kind == "file":
                weight = entry.get("weight", tracker.weight)
                if weight == 1:
                    entry["weight"] = 0
                    self.note(
                        stmt.where,
                        label,
                        "priority 255: keepalived makes the default weight 1 a "
                        "weight 0 (FAULT while the value is not 0), as here",
                    )
                elif weight:
                    self.note(
                        stmt.where,
                        label,
                        "a weighted file on an address owner: keepalived ignores it, as here",
                    )
                    continue
            seen.add(name)
            tracker.used = True
            entries.append(entry if len(entry) > 1 else name)
        return entries

    # -- vrrp_instance ---------------------------------------------------------------------------

    def _instance(self, block: Statement, index: int) -> None:
        if len(block.args) != 1:
            self.lost(
                block.where, "vrrp_instance", "an instance needs exactly one name (keepalived skips it)"
            )
            return
        name = block.args[0]
        if not _NAME.match(name):
            # keepalived accepts any word; vrrpd's names are tame. Renaming changes what notify programs
            # and the FIFO see, so it is reported, not silent.
            renamed = re.sub(r"[^A-Za-z0-9_.:/-]", "_", name)
            renamed = (renamed if renamed[:1].isalnum() else f"i{renamed}")[:64]
            taken = {d.keys.get("name") for d in self.drafts}
            for n in range(2, 1000):  # shortened names stay unique: name-2, name-3...
                if renamed not in taken:
                    break
                suffix = f"-{n}"
                renamed = renamed[: 64 - len(suffix)] + suffix
            self.lost(
                block.where, f"vrrp_instance {name}", f"renamed {renamed!r}: notify programs see the new name"
            )
            name = renamed
        draft = _Draft(block.where, index=index)
        draft.keys["name"], draft.where_of["name"] = name, block.where
        ctx = _InstanceContext()
        mcast_src: list[Statement] = []
        handlers: dict[str, Callable[[_Draft, _InstanceContext, Statement], None]] = {
            "interface": self._i_interface,
            "state": self._i_state,
            "virtual_router_id": self._i_int("virtual_router_id"),
            "priority": self._i_priority,
            "advert_int": self._i_advert_int,
            "nopreempt": self._i_nopreempt,
            "preempt": self._i_preempt,
            "preempt_delay": self._i_preempt_delay,
            "authentication": self._i_authentication,
            "virtual_ipaddress": self._i_vips("virtual_ipaddress"),
            "virtual_ipaddress_excluded": self._i_vips("virtual_ipaddress_excluded"),
            "unicast_peer": self._i_unicast_peer,
            "unicast_src_ip": self._i_unicast_src,
            "mcast_src_ip": lambda _d, _c, s: mcast_src.append(s),
            "track_script": self._i_track_script,
            "track_interface": self._i_track_interface,
            "track_file": lambda _d, c, b: c.tracked_files.extend(b.block or ()),
            "track_process": lambda _d, c, b: c.tracked_processes.extend(b.block or ()),
            "notify": self._i_notify,
            "notify_master": self._i_notify,
            "notify_backup": self._i_notify,
            "notify_fault": self._i_notify,
            "notify_stop": self._i_notify,
            "garp_master_delay": self._i_garp("garp_master_delay"),
            "garp_master_repeat": self._i_garp("garp_master_repeat"),
            "garp_master_refresh": self._i_garp("garp_master_refresh"),
            "garp_master_refresh_repeat": self._i_garp("garp_master_refresh_repeat"),
            "garp_lower_prio_repeat": self._i_garp("garp_lower_prio_repeat"),
            "garp_lower_prio_delay": self._i_garp("garp_lower_prio_delay"),
            "notify_primary": self._i_unknown_to_keepalived,
            "notify_secondary": self._i_unknown_to_keepalived,
            "smtp_alert": self._i_smtp_alert,
            "check_unicast_src": self._i_note("vrrpd always accepts unicast adverts from its peers only"),
            "debug": self._i_note("keepalived does not implement it: nothing to carry over"),
            "accept": self._i_note("accept = true, vrrpd's default as keepalived's"),
            "no_accept": self._i_no_accept,
            "version": self._i_version,
            "native_ipv6": self._i_native_ipv6,
            "strict_mode": self._i_off_only("vrrp_strict behaviour is not supported"),
            "skip_check_adv_addr": self._i_skip_check,
            "lower_prio_no_advert": self._i_off_only(
                "vrrpd's master always answers a lower-priority advert at once"
            ),
            "higher_prio_send_advert": self._i_off_only(
                "vrrpd does not send an advert before stepping down to a higher priority"
            ),
            "down_timer_adverts": self._i_down_timer,
            "virtual_routes": self._i_table_lines("virtual_routes"),
            "use_vmac": self._i_use_vmac,
            "dont_track_primary": self._i_dont_track_primary,
            "vmac_xmit_base": self._i_vmac_xmit_base,
            "virtual_rules": self._i_table_lines("virtual_rules"),
            "unicast_ttl": self._i_unicast_ttl,
        }
        for stmt in block.block or ():
            kw = stmt.keyword
            self._extra_words(stmt, _SINGLE_VALUE_INSTANCE)
            handler = handlers.get(kw)
            if handler is not None:
                handler(draft, ctx, stmt)
            elif kw in _INSTANCE_UNSUPPORTED:
                self.lost(stmt.where, kw, _INSTANCE_UNSUPPORTED[kw])
            else:
                self.lost(stmt.where, kw, "unknown or unsupported vrrp_instance keyword")
        for stmt in mcast_src:
            self._mcast_src(draft, stmt)
        self._multicast_src(draft)
        if not draft.vip_lines and draft.keys.get("version") != 3:
            self.note(
                block.where,
                f"vrrp_instance {name}",
                "no virtual_ipaddress: keepalived warns and runs it without addresses, and so does vrrpd "
                "(adverts carry none; for cloud failover the notify program moves the address)",
            )
        self._resolve(draft, ctx)
        self.drafts.append(draft)

    def _i_interface(self, draft: _Draft, _ctx: _InstanceContext, stmt: Statement) -> None:
        if stmt.args:
            draft.keys["interface"], draft.where_of["interface"] = stmt.args[0], stmt.where

    def _i_state(self, _draft: _Draft, ctx: _InstanceContext, stmt: Statement) -> None:
        value = stmt.args[0] if stmt.args else ""
        if value == "MASTER":
            ctx.state_master = stmt.where
        elif value != "BACKUP":
            self.note(stmt.where, "state", f"unknown state {value!r}: keepalived defaults to BACKUP")
        ctx.state_where = ctx.state_where or stmt.where

    def _i_int(self, key: str) -> Callable[[_Draft, _InstanceContext, Statement], None]:
        def handle(draft: _Draft, _ctx: _InstanceContext, stmt: Statement) -> None:
            value = self._int(stmt)
            if value is not None:
                draft.keys[key], draft.where_of[key] = value, stmt.where

        return handle

    def _i_priority(self, draft: _Draft, ctx: _InstanceContext, stmt: Statement) -> None:
        text = stmt.args[0] if stmt.args else ""
        value = int(text) if text.isdigit() else 0
        if not 1 <= value <= PRIORITY_OWNER:
            # keepalived: "Priority not valid! must be between 1 & 255. Using default 100"
            self.note(stmt.where, "priority", f"{text!r} is not 1..255: keepalived uses 100 instead, as here")
            value = DEFAULT_PRIORITY
        draft.keys["priority"], draft.where_of["priority"] = value, stmt.where
        ctx.priority_set = True

    def _i_advert_int(self, draft: _Draft, ctx: _InstanceContext, stmt: Statement) -> None:
        value = self._number(stmt)
        if value is None or value <= 0:
            self.note(stmt.where, "advert_int", "not a positive number: keepalived ignores it (default 1)")
            return
        # Rounded in `_resolve`, once the version is known: whole seconds (v2) or centiseconds (v3).
        ctx.advert_int = (value, stmt.where)
        draft.where_of["advert_int"] = stmt.where

    def _i_nopreempt(self, _draft: _Draft, ctx: _InstanceContext, stmt: Statement) -> None:
        ctx.nopreempt = stmt.where

    def _i_preempt(self, _draft: _Draft, ctx: _InstanceContext, _stmt: Statement) -> None:
        ctx.nopreempt = None  # keepalived: "preempt" (backwards compatibility) turns nopreempt off

    def _i_preempt_delay(self, _draft: _Draft, ctx: _InstanceContext, stmt: Statement) -> None:
        value = self._number(stmt)
        if value is None:
            return
        if not 0 <= value <= KEEPALIVED_MAX_PREEMPT_DELAY:
            self.note(stmt.where, "preempt_delay", "outside 0..1000: keepalived ignores it, as here")
            return
        ctx.preempt_delay = (value, stmt.where)

    def _i_authentication(self, draft: _Draft, _ctx: _InstanceContext, block: Statement) -> None:
        auth_type: str | None = None
        password: tuple[str, Location] | None = None
        for stmt in block.block or ():
            if stmt.keyword == "auth_type" and stmt.args:
                auth_type = stmt.args[0]
                if auth_type not in ("PASS", "AH"):
                    # keepalived: "unknown authentication type" — and it runs without authentication.
                    self.lost(stmt.where, "auth_type", f"{auth_type}: keepalived knows only PASS and AH")
            elif stmt.keyword == "auth_pass" and stmt.args:
                password = (stmt.args[0], stmt.where)
            else:
                self.lost(stmt.where, stmt.keyword, "unknown authentication keyword")
        if auth_type not in ("PASS", "AH") or password is None:
            if auth_type in ("PASS", "AH"):
                self.lost(block.where, "authentication", f"auth_type {auth_type} without auth_pass")
            return
        value, where = password
        if len(value) > AUTH_PASS_MAX:
            value = value[:AUTH_PASS_MAX]
            self.note(
                where,
                "auth_pass",
                f"longer than {AUTH_PASS_MAX} characters: keepalived uses only the first {AUTH_PASS_MAX}, "
                "as here (the adverts are identical)",
            )
        draft.keys["auth_pass"], draft.where_of["auth_pass"] = value, where
        if auth_type == "AH":  # RFC 2338 §5.3.6.3: the password is the key of an IPsec AH (HMAC-MD5-96)
            draft.keys["auth_type"], draft.where_of["auth_type"] = "AH", block.where

    def _i_vips(self, key: str) -> Callable[[_Draft, _InstanceContext, Statement], None]:
        def parse(draft: _Draft, _ctx: _InstanceContext, block: Statement) -> None:
            self._vip_block(draft, key, block)

        return parse

    def _vip_block(self, draft: _Draft, key: str, block: Statement) -> None:
        vips: list[str | dict[str, Any]] = draft.keys.get(key, [])  # keepalived merges repeated blocks
        wheres: list[Location] = draft.item_where.get(key, [])
        for stmt in block.block or ():
            draft.vip_lines += 1
            address = stmt.keyword
            try:
                family = ipaddress.ip_interface(address).version
            except ValueError:
                self.lost(stmt.where, address, "not an IP address (keepalived skips it too)")
                continue
            if not self._same_family(draft, family, stmt.where, address):
                continue
            entry = self._vip_options(address, family, stmt)
            if entry is None:
                continue
            if "dev" in entry:
                draft.vip_devs.append((address, entry["dev"], stmt.where))
            vips.append(entry if len(entry) > 1 else address)
            wheres.append(stmt.where)
        if vips:
            draft.keys[key] = vips
            draft.where_of.setdefault(key, block.where)
            draft.item_where[key] = wheres

    def _vip_options(self, address: str, family: int, stmt: Statement) -> dict[str, Any] | None:
        """One VIP line's options as keepalived's alloc_ipaddress (vrrp_ipaddress.c) reads them: the
        table entry (``address`` and the options carried over), or None where keepalived drops the VIP."""
        entry: dict[str, Any] = {"address": address}
        words = list(stmt.args)
        shown = " ".join((address, *words))
        while words:
            option = words.pop(0)
            if option in _VIP_VALUE_OPTIONS and not words:
                self.note(
                    stmt.where,
                    shown,
                    f'no {option} value: keepalived drops the address ("No {option} '
                    'parameter specified"), as here',
                )
                return None
            if option == "no_track":
                entry["no_track"] = True
            elif option == "dev":
                if "dev" in entry:
                    self.note(stmt.where, shown, "dev given twice: keepalived drops the address, as here")
                    return None
                entry["dev"] = words.pop(0)
            elif option == "label":
                label = words.pop(0)
                if len(label) >= _IFNAMSIZ:
                    self.note(
                        stmt.where,
                        f"{address} label {label}",
                        f"longer than {_IFNAMSIZ - 1} characters: keepalived drops the address, as here",
                    )
                    return None
                if family == 6:
                    self.note(
                        stmt.where,
                        f"{address} label {label}",
                        "IPv6 has no labels: keepalived ignores it, as here",
                    )
                else:
                    entry["label"] = label
            elif option == "scope":
                value = words.pop(0)
                scope = _SCOPE_NUMBERS.get(value, value)
                if scope not in _SCOPE_NUMBERS.values():
                    self.lost(
                        stmt.where,
                        f"{address} scope {value}",
                        "only the scopes global, site, link, "
                        "host and nowhere are supported: the VIP is added with scope global",
                    )
                elif family == 6:
                    self.note(
                        stmt.where,
                        f"{address} scope {value}",
                        "keepalived ignores a scope for an IPv6 address, as here",
                    )
                elif scope != "global":
                    entry["scope"] = scope
            elif option in ("brd", "broadcast"):
                brd = self._vip_broadcast(address, family, words.pop(0), stmt)
                if brd is False:
                    return None
                if brd is not None:
                    entry["brd"] = brd
            elif option in _VIP_VALUE_OPTIONS or option in _VIP_FLAGS:
                word = f" {words.pop(0)}" if option in _VIP_VALUE_OPTIONS else ""
                self.lost(
                    stmt.where,
                    f"{address} {option}{word}",
                    "VIP option not supported: the VIP is added without it",
                )
            else:
                self.note(
                    stmt.where,
                    f"{address} {option}",
                    'keepalived ignores this word ("Unknown '
                    'configuration entry ... for ip address"), as here',
                )
        return entry

    def _vip_broadcast(self, address: str, family: int, value: str, stmt: Statement) -> str | bool | None:
        """keepalived's ``brd`` (or ``broadcast``) of a VIP: the address to write, None for none, False
        where keepalived drops the VIP."""
        where = f"{address} brd {value}"
        if family == 6:
            self.note(
                stmt.where, where, "a broadcast for an IPv6 address: keepalived drops the address, as here"
            )
            return False
        iface = ipaddress.IPv4Interface(address)
        if value in ("+", "-"):
            if iface.network.prefixlen > 30:
                self.note(
                    stmt.where, where, "prefix too long for a broadcast: keepalived ignores it, as here"
                )
                return None
            net = iface.network
            return str(net.broadcast_address if value == "+" else net.network_address)
        try:
            return str(ipaddress.IPv4Address(value))
        except ValueError:
            self.note(stmt.where, where, "not an IPv4 address: keepalived drops the address, as here")
            return False

    def _i_use_vmac(self, draft: _Draft, _ctx: _InstanceContext, stmt: Statement) -> None:
        draft.keys["use_vmac"], draft.where_of["use_vmac"] = True, stmt.where
        if stmt.args:  # use_vmac NAME: keepalived's name for the macvlan (default vrrp.VRID)
            draft.keys["vmac_interface"], draft.where_of["vmac_interface"] = stmt.args[0], stmt.where

    def _i_vmac_xmit_base(self, draft: _Draft, _ctx: _InstanceContext, stmt: Statement) -> None:
        draft.keys["vmac_xmit_base"], draft.where_of["vmac_xmit_base"] = True, stmt.where

    def _vmac(self, draft: _Draft) -> None:
        keys = draft.keys
        if keys.get("vmac_xmit_base") and not keys.get("use_vmac"):
            self.note(
                draft.where_of["vmac_xmit_base"], "vmac_xmit_base", "no effect without use_vmac, in both"
            )
            del keys["vmac_xmit_base"]
        elif keys.get("use_vmac") and "unicast_peer" in keys and not keys.get("vmac_xmit_base"):
            keys["vmac_xmit_base"], draft.where_of["vmac_xmit_base"] = True, draft.where_of["use_vmac"]
            self.note(
                draft.where_of["use_vmac"],
                "use_vmac",
                'with unicast_peer keepalived sets vmac_xmit_base itself ("requires vmac_xmit_base - '
                'setting"): written out, as vrrpd requires it',
            )

    def _i_table_lines(self, key: str) -> Callable[[_Draft, _InstanceContext, Statement], None]:
        """virtual_routes / virtual_rules: one route or rule per line, each an array-of-tables entry."""
        parse, kind = (_route_line, "route") if key == "virtual_routes" else (_rule_line, "rule")

        def handle(draft: _Draft, _ctx: _InstanceContext, block: Statement) -> None:
            tables: list[dict[str, Any]] = draft.keys.get(key, [])  # keepalived merges repeated blocks
            wheres = draft.item_where.get(key, [])
            for stmt in block.block or ():
                line = " ".join((stmt.keyword, *stmt.args))
                keys, lost = parse([stmt.keyword, *stmt.args])
                if lost:
                    problem = f"{', '.join(lost)}: not supported; the {kind} is not converted"
                    self.lost(stmt.where, line, problem)
                    continue
                tables.append(keys)
                wheres.append(stmt.where)
            if tables:
                draft.keys[key] = tables
                draft.where_of.setdefault(key, block.where)
                draft.item_where[key] = wheres

        return handle

    def _same_family(self, draft: _Draft, family: int, where: Location, item: str) -> bool:
        """keepalived: the instance's first address sets its family; another family's is skipped."""
        if draft.family is None:
            draft.family = family
        if family == draft.family:
            return True
        # Not lost: keepalived ignores it ("address family must match VRRP instance"), so does the import.
        self.note(
            where,
            item,
            f"IPv{family} in an IPv{draft.family} instance: one address family per instance "
            "(keepalived ignores it, as here)",
        )
        return False

    def _i_unicast_peer(self, draft: _Draft, _ctx: _InstanceContext, block: Statement) -> None:
        peers: list[str] = []
        wheres: list[Location] = []
        for stmt in block.block or ():
            if stmt.args and stmt.args[0] in ("min_ttl", "max_ttl"):
                self.lost(
                    stmt.where, f"{stmt.keyword} {' '.join(stmt.args)}", "peer options are not supported"
                )
            elif stmt.args:
                self.note(
                    stmt.where,
                    f"{stmt.keyword} {' '.join(stmt.args)}",
                    f"keepalived reads one peer per line, {stmt.keyword}, and ignores the rest, as here",
                )
            family = _family(stmt.keyword)
            if family is not None and not self._same_family(draft, family, stmt.where, stmt.keyword):
                continue
            peers.append(stmt.keyword)
            wheres.append(stmt.where)
        if peers:
            draft.keys["unicast_peer"], draft.where_of["unicast_peer"] = peers, block.where
            draft.item_where["unicast_peer"] = wheres

    def _i_unicast_src(self, draft: _Draft, _ctx: _InstanceContext, stmt: Statement) -> None:
        if stmt.args:
            draft.keys["unicast_src_ip"], draft.where_of["unicast_src_ip"] = stmt.args[0], stmt.where

    def _mcast_src(self, draft: _Draft, stmt: Statement) -> None:
        # keepalived keeps one source address: mcast_src_ip and unicast_src_ip both set it, the later
        # line winning (the ipfailover image writes mcast_src_ip for MULTICAST_SOURCE_IPADDRESS).
        if not stmt.args:
            self.lost(stmt.where, stmt.keyword, "keepalived refuses it: no address after the keyword")
            return
        later = draft.where_of.get("unicast_src_ip")
        if later is not None and later > stmt.where:
            self.note(stmt.where, stmt.keyword, "unicast_src_ip, set later, replaces it (as in keepalived)")
            return
        draft.keys["unicast_src_ip"], draft.where_of["unicast_src_ip"] = stmt.args[0], stmt.where
        if "unicast_peer" in draft.keys:
            self.note(
                stmt.where, stmt.keyword, "with unicast peers it is the adverts' source: unicast_src_ip"
            )

    def _multicast_src(self, draft: _Draft) -> None:
        # Without unicast peers keepalived sends multicast from the one source address either keyword
        # set (unicast_src_ip alone included: "treated as ignore unicast and use multicast").
        if "unicast_peer" in draft.keys or "unicast_src_ip" not in draft.keys:
            return
        draft.keys["mcast_src_ip"] = draft.keys.pop("unicast_src_ip")
        draft.where_of["mcast_src_ip"] = draft.where_of.pop("unicast_src_ip")

    def _i_track_script(self, _draft: _Draft, ctx: _InstanceContext, block: Statement) -> None:
        for stmt in block.block or ():
            ctx.tracked.append(stmt)

    def _i_track_interface(self, draft: _Draft, _ctx: _InstanceContext, block: Statement) -> None:
        tracked: list[Any] = draft.keys.get("track_interface", [])
        for stmt in block.block or ():
            own = stmt.keyword == draft.keys.get("interface")
            label = f"track_interface {stmt.keyword}"
            if own and not stmt.args:
                self.note(stmt.where, label, "vrrpd always tracks its interface")
                continue
            args = list(stmt.args)
            entry: dict[str, Any] = {"name": stmt.keyword}
            if args[:1] == ["weight"] and len(args) >= 2 and re.fullmatch(r"[+-]?[0-9]+", args[1]):
                entry["weight"] = max(-253, min(253, int(args[1])))  # keepalived: +/-254 becomes 253
                if args[2:] == ["reverse"]:
                    entry["reverse"] = True
                elif args[2:]:
                    self.note(stmt.where, label, f"{' '.join(args[2:])}: keepalived ignores it, as here")
            elif args:
                self.note(stmt.where, label, f"{' '.join(args)}: keepalived ignores this track_interface too")
                continue
            if any(t == stmt.keyword or (isinstance(t, dict) and t["name"] == stmt.keyword) for t in tracked):
                self.note(stmt.where, label, "tracked twice: keepalived ignores the duplicate, as here")
                continue
            tracked.append(entry if len(entry) > 1 else stmt.keyword)
        if tracked:
            draft.keys["track_interface"], draft.where_of["track_interface"] = tracked, block.where

    def _i_dont_track_primary(self, draft: _Draft, _ctx: _InstanceContext, stmt: Statement) -> None:
        draft.keys["dont_track_primary"], draft.where_of["dont_track_primary"] = True, stmt.where

    def _i_notify(self, draft: _Draft, _ctx: _InstanceContext, stmt: Statement) -> None:
        """notify and notify_<state>: a command with arguments (no shell), keepalived's splitting."""
        kw = stmt.keyword
        if not stmt.args:
            return
        if kw in draft.keys:
            self.note(stmt.where, kw, "given twice: keepalived keeps the first, as here")
            return
        try:
            argv = split_command(stmt.args[0])
        except CommandError as exc:
            self.note(stmt.where, kw, f"{exc}: keepalived ignores it, as here")
            return
        if not argv:
            return
        if len(stmt.args) > 1:
            self.lost(
                stmt.where,
                kw,
                f"user {' '.join(stmt.args[1:])}: vrrpd runs every notify program as script_user",
            )
        self._shell_note(stmt.where, kw, argv)
        draft.keys[kw], draft.where_of[kw] = argv, stmt.where

    def _fifo_reader(self, kw: str, stmt: Statement, fifo_from: str | None, fifos: set[str]) -> None:
        """notify_fifo_script: keepalived starts it with its FIFO's path appended, if that FIFO is set."""
        fifo = kw.removesuffix("_script")
        if fifo not in fifos:
            self.note(stmt.where, kw, f"no {fifo}: keepalived does not run it, nor does vrrpd")
            return
        if fifo != fifo_from:
            self.lost(stmt.where, kw, f"vrrpd writes one FIFO ({fifo_from}'s): this one reads {fifo}'s")
            return
        try:
            argv = split_command(stmt.args[0])
        except CommandError as exc:
            self.note(stmt.where, kw, f"{exc}: keepalived ignores it, as here")
            return
        if len(stmt.args) > 1:
            self.lost(stmt.where, kw, f"user {' '.join(stmt.args[1:])}: vrrpd runs it as script_user")
        self._shell_note(stmt.where, kw, argv)
        self.global_keys["notify_fifo_script"] = (argv, stmt.where)  # type: ignore[assignment]

    def _i_unknown_to_keepalived(self, _draft: _Draft, _ctx: _InstanceContext, stmt: Statement) -> None:
        self.note(
            stmt.where,
            stmt.keyword,
            'keepalived 2.2 does not know this keyword ("Unknown keyword") and ignores it, as here',
        )

    def _shell_note(self, where: Location, keyword: str, argv: list[str]) -> None:
        word = shell_syntax(argv)
        if word is not None:
            self.note(
                where,
                keyword,
                f"{word!r} is passed to {argv[0]} as an argument: keepalived runs commands without a shell, "
                "as vrrpd does; if a shell was meant, write /bin/sh -c '...'",
            )

    def _i_garp(self, key: str) -> Callable[[_Draft, _InstanceContext, Statement], None]:
        def handle(draft: _Draft, _ctx: _InstanceContext, stmt: Statement) -> None:
            value = self._number(stmt)
            if value is not None:
                draft.keys[key], draft.where_of[key] = _whole(value), stmt.where

        return handle

    def _i_smtp_alert(self, _draft: _Draft, _ctx: _InstanceContext, stmt: Statement) -> None:
        if _bool_arg(stmt):
            self.smtp_alert = self.smtp_alert or stmt
        else:
            self.note(stmt.where, "smtp_alert", "disabled: nothing to carry over")

    def _i_note(self, message: str) -> Callable[[_Draft, _InstanceContext, Statement], None]:
        def handle(_draft: _Draft, _ctx: _InstanceContext, stmt: Statement) -> None:
            self.note(stmt.where, stmt.keyword, message)

        return handle

    def _i_off_only(self, message: str) -> Callable[[_Draft, _InstanceContext, Statement], None]:
        def handle(_draft: _Draft, _ctx: _InstanceContext, stmt: Statement) -> None:
            if _bool_arg(stmt):
                self.lost(stmt.where, stmt.keyword, message)
            else:
                self.note(stmt.where, stmt.keyword, "off, as in vrrpd")

        return handle

    def _i_version(self, _draft: _Draft, ctx: _InstanceContext, stmt: Statement) -> None:
        if stmt.args[:1] in (("2",), ("3",)):
            ctx.version = (int(stmt.args[0]), stmt.where)
        else:
            self.lost(stmt.where, "version", "must be 2 or 3 (keepalived ignores it too)")

    def _i_no_accept(self, draft: _Draft, _ctx: _InstanceContext, stmt: Statement) -> None:
        # RFC 5798 Accept_Mode off: a non-owner master drops packets to the VIPs (an nftables table).
        draft.keys["accept"], draft.where_of["accept"] = False, stmt.where

    def _i_native_ipv6(self, _draft: _Draft, ctx: _InstanceContext, stmt: Statement) -> None:
        # keepalived: the instance is IPv6 and so VRRPv3 (deprecated there: the addresses say it).
        ctx.native_ipv6 = stmt.where

    def _version(self, draft: _Draft, ctx: _InstanceContext) -> None:
        """keepalived's version and interval rules: IPv6 instances always run VRRPv3; otherwise the
        instance's `version`, else global_defs `vrrp_version`, else 2. The interval is rounded to what the
        version can say, as keepalived does."""
        keys, where_of = draft.keys, draft.where_of
        version, where = ctx.version or self.default_version or (2, draft.where)
        addresses = [_vip_address(v) for key in _VIP_KEYS for v in keys.get(key, ())]
        addresses += keys.get("unicast_peer", ())
        first = next((a for a in addresses if _family(a)), None)
        ipv6 = ctx.native_ipv6 is not None or (first is not None and _family(first) == 6)
        if ipv6 and version == 2:
            if ctx.version is not None:
                self.note(where, "version", "2 with IPv6: keepalived runs IPv6 instances as VRRPv3, as here")
            version, where = 3, ctx.native_ipv6 or where
        if version == 3:
            keys["version"], where_of["version"] = 3, where
            if "auth_pass" in keys:
                # "VRRP version 3 does not support authentication. Ignoring." (the ipfailover image writes
                # its PASS password into IPv6 instances too)
                keys.pop("auth_pass")
                keys.pop("auth_type", None)
                where_of.pop("auth_type", None)
                self.note(
                    where_of.pop("auth_pass"),
                    "authentication",
                    "VRRPv3 has no authentication: keepalived ignores it, as here",
                )
        value, advert_where = ctx.advert_int or (1, draft.where)
        if version == 2:
            rounded: float = max(1, math.floor(value + 0.5))
            if rounded != value:
                self.note(
                    advert_where,
                    "advert_int",
                    f"{value:g}: VRRPv2 intervals are whole seconds; keepalived rounds it to {rounded:g}, "
                    "as here",
                )
        else:
            centiseconds = min(4095, max(1, math.floor(value * 100 + 0.5)))
            rounded = centiseconds / 100
            if abs(rounded - value) > 1e-9:
                self.note(
                    advert_where,
                    "advert_int",
                    f"{value:g}: VRRPv3 intervals are 0.01..40.95 s in centiseconds; keepalived uses "
                    f"{rounded:g}, as here",
                )
        keys["advert_int"] = _whole(rounded)

    def _i_skip_check(self, draft: _Draft, _ctx: _InstanceContext, stmt: Statement) -> None:
        draft.keys["skip_check_adv_addr"] = _bool_arg(stmt)
        draft.where_of["skip_check_adv_addr"] = stmt.where

    def _i_down_timer(self, _draft: _Draft, _ctx: _InstanceContext, stmt: Statement) -> None:
        if stmt.args[:1] == ("3",):
            self.note(stmt.where, stmt.keyword, "3, as RFC 3768 and vrrpd")
        else:
            self.lost(stmt.where, stmt.keyword, "vrrpd uses the RFC's 3 advert intervals")

    def _i_unicast_ttl(self, _draft: _Draft, _ctx: _InstanceContext, stmt: Statement) -> None:
        if stmt.args[:1] == ("255",):
            self.note(stmt.where, stmt.keyword, "255, as vrrpd sends")
        else:
            self.lost(stmt.where, stmt.keyword, "vrrpd always sends TTL 255 (RFC 3768 §5.2.3)")

    # -- keepalived's effective values -------------------------------------------------------------

    def _resolve(self, draft: _Draft, ctx: _InstanceContext) -> None:
        keys, where_of = draft.keys, draft.where_of
        if "interface" not in keys and self.default_interface is not None and not draft.vip_devs:
            keys["interface"], where_of["interface"] = self.default_interface
        if "interface" not in keys and draft.vip_devs:
            # keepalived allows no interface in unicast mode, the VIPs naming theirs.
            _, dev, where = draft.vip_devs[0]
            keys["interface"], where_of["interface"] = dev, where
            self.note(where, "dev", f"the instance has no interface: using the VIPs' dev {dev}")
        self._vip_devs(draft)
        self._overflow(draft)
        self._vmac(draft)
        if ctx.state_master is not None:
            self.note(
                ctx.state_master,
                "state MASTER",
                "ignored: vrrpd always starts in BACKUP and becomes master after Master_Down_Interval "
                "unless a higher priority is heard (RFC 3768 §6.4.1); claiming MASTER at start-up would "
                "put the VIP on two nodes at once whenever this node restarts. The election result is "
                "the same",
            )
            if not ctx.priority_set:
                keys["priority"], where_of["priority"] = 255, ctx.state_master
                self.note(
                    ctx.state_master,
                    "priority",
                    "not set with state MASTER: keepalived then uses 255 (address owner), as here",
                )
        elif ctx.state_where is not None:
            self.note(ctx.state_where, "state", "vrrpd always starts in BACKUP (RFC 3768 §6.4.1)")
        keys.setdefault("priority", 100)  # keepalived's defaults, written out so the file says it all
        self._version(draft, ctx)
        owner = keys.get("priority") == 255
        # keepalived (vrrp.c vrrp_complete_instance) first turns a non-owner's state MASTER into BACKUP (AH)
        # ("Initial state master is incompatible with AH authentication - clearing": it must hear an advert
        # for the sequence number before taking over), and only then clears nopreempt and preempt_delay for
        # state MASTER: with AH they stay.
        state_master = ctx.state_master
        if state_master is not None and keys.get("auth_type") == "AH" and not owner:
            self.note(
                state_master,
                "state MASTER",
                "keepalived starts it in BACKUP with auth_type AH (and keeps nopreempt and preempt_delay), "
                "as vrrpd always does",
            )
            state_master = None
        nopreempt = ctx.nopreempt
        if nopreempt is not None and owner:
            self.note(nopreempt, "nopreempt", "ignored by keepalived with priority 255, as here")
            nopreempt = None
        if nopreempt is not None and state_master is not None:
            self.note(nopreempt, "nopreempt", "keepalived clears it with state MASTER, as here")
            nopreempt = None
        keys["preempt"] = nopreempt is None
        if nopreempt is not None:
            where_of["preempt"] = nopreempt
        if ctx.preempt_delay is not None:
            delay, where = ctx.preempt_delay
            if state_master is not None and delay:
                self.note(where, "preempt_delay", "keepalived clears it with state MASTER, as here")
            elif nopreempt is not None and delay:
                self.note(where, "preempt_delay", "keepalived clears it with nopreempt, as here")
            else:
                keys["preempt_delay"], where_of["preempt_delay"] = _whole(delay), where
        for key, (value, where) in self.garp_defaults.items():
            if key not in keys:
                keys[key], where_of[key] = _whole(value), where
        if self.skip_check_default is not None and "skip_check_adv_addr" not in keys:
            keys["skip_check_adv_addr"], where_of["skip_check_adv_addr"] = True, self.skip_check_default
        self._checks(draft, ctx)
        for kind, lines in (("file", ctx.tracked_files), ("process", ctx.tracked_processes)):
            entries = self._tracked_lines(kind, lines, draft.index, owner=owner)
            if entries:
                draft.keys[f"track_{kind}"], draft.where_of[f"track_{kind}"] = entries, lines[0].where

    def _vip_devs(self, draft: _Draft) -> None:
        """A VIP's ``dev`` that is the instance's own interface says nothing: left out of the table (a VIP
        left with no option at all is written as its address alone)."""
        interface = draft.keys.get("interface")
        for key in _VIP_KEYS:
            vips: list[str | dict[str, Any]] = draft.keys.get(key, [])
            for index, entry in enumerate(vips):
                if isinstance(entry, dict) and entry.get("dev") == interface:
                    del entry["dev"]
                    if len(entry) == 1:
                        vips[index] = entry["address"]

    def _overflow(self, draft: _Draft) -> None:
        # keepalived moves addresses beyond the 255 an advert can carry (RFC 3768 §5.3.5) to the
        # instance's excluded list with a warning; so does the import, saying so.
        vips: list[str] = draft.keys.get("virtual_ipaddress", [])
        if len(vips) <= MAX_ADVERTISED:
            return
        excess, wheres = vips[MAX_ADVERTISED:], draft.item_where["virtual_ipaddress"][MAX_ADVERTISED:]
        del vips[MAX_ADVERTISED:]
        del draft.item_where["virtual_ipaddress"][MAX_ADVERTISED:]
        draft.keys["virtual_ipaddress_excluded"] = excess + draft.keys.get("virtual_ipaddress_excluded", [])
        draft.item_where["virtual_ipaddress_excluded"] = wheres + draft.item_where.get(
            "virtual_ipaddress_excluded", []
        )
        draft.where_of.setdefault("virtual_ipaddress_excluded", draft.where_of["virtual_ipaddress"])
        self.note(
            wheres[0],
            "virtual_ipaddress",
            f"{len(vips) + len(excess)} addresses: an advert carries at most {MAX_ADVERTISED}; the other "
            f"{len(excess)} go to virtual_ipaddress_excluded, as keepalived does",
        )

    def _checks(self, draft: _Draft, ctx: _InstanceContext) -> None:
        """track_script: each tracked vrrp_script becomes a [[vrrp_script]] (written once, however many
        instances track it) and a track_script entry with this instance's weight, as keepalived reads it."""
        seen: set[str] = set()
        tracks: list[Any] = []
        for stmt in ctx.tracked:
            name = stmt.keyword
            label = f"track_script {name}"
            script = self.scripts.get(name)
            if script is None:
                self.note(
                    stmt.where, label, "no such vrrp_script: keepalived ignores it (not found), as here"
                )
                continue
            if script.index > draft.index:
                self.note(
                    stmt.where,
                    label,
                    f"vrrp_script {name} is defined after this instance ({script.where}): keepalived does "
                    f'not find it ("track script {name} not found") and ignores it, as here',
                )
                continue
            if not script.argv:
                self.note(stmt.where, label, "its vrrp_script has no script: keepalived drops it, as here")
                continue
            if name in seen:
                self.note(stmt.where, label, "tracked twice: keepalived ignores the second, as here")
                continue
            override = self._track_options(stmt, label, script)
            if override is None:
                continue
            seen.add(name)
            weight, reverse = override
            first_use, script.used = not script.used, True
            if first_use:
                self.findings.extend(script.unsupported)  # once, however many instances track it
            effective = weight if weight is not None else script.weight
            if effective and draft.keys.get("priority") == PRIORITY_OWNER:
                self.note(
                    stmt.where,
                    label,
                    "a weight never changes an address owner's priority (255), in keepalived as in vrrpd",
                )
            flipped = reverse if reverse is not None else script.reverse
            if script.argv[0] in _ALWAYS_TRUE and effective == 0 and not flipped:
                if first_use:
                    where = script.script_where or script.where
                    self.note(
                        where,
                        f"vrrp_script {name}",
                        f"{script.argv[0]!r} always succeeds: no check is needed",
                    )
                continue
            target = _tcp_target(script.argv)
            if target is not None and draft.check is None and not flipped:
                check = self._check(draft, script, effective, stmt, first_use=first_use)
                if check is not None:
                    draft.check = check
                    continue
            self._script_table(script, first_use=first_use)
            entry: dict[str, Any] = {"name": name}
            if weight is not None:
                entry["weight"] = weight
            if reverse is not None:
                entry["reverse"] = reverse
            tracks.append(entry if len(entry) > 1 else name)
        if tracks:
            draft.keys["track_script"] = tracks
            draft.where_of["track_script"] = ctx.tracked[0].where

    def _track_options(
        self, stmt: Statement, label: str, script: _Script
    ) -> tuple[int | None, bool | None] | None:
        """keepalived's ``NAME [weight N [reverse|noreverse]]``: (weight, reverse) overrides, or None
        when keepalived ignores the whole line."""
        args = list(stmt.args)
        if not args:
            return None, None
        if args[0] != "weight":
            self.note(stmt.where, label, f"unknown option {args[0]!r}: keepalived ignores the line, as here")
            return None
        if len(args) == 1:
            self.note(stmt.where, label, "weight without a value: keepalived ignores the line, as here")
            return None
        try:
            weight: int | None = int(args[1])
        except ValueError:
            weight = None
        if weight is None or not -254 <= weight <= 254:
            self.note(
                stmt.where, label, f"weight {args[1]!r} is not in -253..253: keepalived keeps the script's"
            )
            weight = None
        elif abs(weight) == 254:
            weight = 253 if weight > 0 else -253
            self.note(stmt.where, label, f"weight ±254: keepalived uses {weight}, as here")
        reverse: bool | None = None
        if args[2:3] == ["reverse"]:
            reverse = True
        elif args[2:3] == ["noreverse"]:
            reverse = False
        elif len(args) > 2:
            self.note(stmt.where, label, f"unknown weight option {args[2]!r}: keepalived ignores it, as here")
        del script
        return weight, reverse

    def _script_table(self, script: _Script, *, first_use: bool) -> None:
        """The [[vrrp_script]] of a tracked vrrp_script (made once)."""
        if script.table is not None:
            return
        table: dict[str, Any] = {"name": script.name, "script": script.argv}
        target = _tcp_target(script.argv)
        if target is not None:
            # keepalived runs "</dev/tcp/HOST/PORT" through the shell (a file-open test); bash has /dev/tcp.
            table["script"] = [
                "/bin/bash",
                "-c",
                " ".join(script.argv) if len(script.argv) == 1 else script.argv[2],
            ]
            self.note(
                script.script_where or script.where,
                f"vrrp_script {script.name}",
                "a TCP connect test: run as /bin/bash -c '...'",
            )
        elif first_use:
            self._shell_note(script.script_where or script.where, f"vrrp_script {script.name}", script.argv)
        table["interval"] = _whole(script.interval)
        if script.timeout is not None:
            table["timeout"] = _whole(script.timeout)
        table["rise"], table["fall"] = script.rise, script.fall
        if script.weight:
            table["weight"] = script.weight
        if script.reverse:
            table["weight_reverse"] = True
        if script.user is not None:
            table["user"] = script.user
            if script.group is not None:
                table["group"] = script.group
        if script.init_fail:
            table["init_fail"] = True
        script.table = table

    def _check(
        self, draft: _Draft, script: _Script, weight: int, track: Statement, *, first_use: bool
    ) -> dict[str, Any] | None:
        """The first tracked "</dev/tcp/HOST/PORT" test with weight <= 0: vrrpd's native TCP check."""
        label = f"vrrp_script {script.name}"
        if weight > 0:
            return None
        if weight < 0 and draft.keys.get("priority") == PRIORITY_OWNER:
            weight = 0
        where = script.script_where or script.where
        check: dict[str, Any] = {}
        argv = script.argv
        target = _tcp_target(argv)
        if target is None:
            return None
        host, port = target
        check["tcp_port"], check["host"] = port, host
        draft.check_where["tcp_port"] = draft.check_where["host"] = where
        if first_use:
            command = " ".join(argv)
            self.note(where, label, f"{command!r} is a TCP connect test: a native check of {host}:{port}")
        timeout = script.timeout if script.timeout is not None else script.interval
        if timeout > script.interval:
            self.lost(
                script.where_of.get("timeout", script.where),
                label,
                f"timeout {timeout:g} > interval {script.interval:g}: vrrpd needs timeout <= interval; "
                f"converted to {script.interval:g}",
            )
            timeout = script.interval
        check["interval"] = _whole(script.interval)
        check["timeout"] = _whole(timeout)
        check["rise"], check["fall"] = script.rise, script.fall
        check["weight"] = -weight
        for key in ("interval", "timeout", "rise", "fall"):
            draft.check_where[key] = script.where_of.get(key, script.where)
        draft.check_where["weight"] = script.weight_where or track.where
        return check

    # -- values ----------------------------------------------------------------------------------

    def _extra_words(self, stmt: Statement, single: frozenset[str]) -> None:
        # keepalived reads one value and ignores the rest of the line; ";" separates nothing.
        if stmt.keyword in single and len(stmt.args) > 1:
            rest = " ".join(stmt.args[1:])
            self.note(
                stmt.where,
                stmt.keyword,
                f"words after the value are ignored by keepalived, as here: {rest!r}",
            )

    def _number(self, stmt: Statement) -> float | None:
        try:
            value = float(stmt.args[0])
        except (IndexError, ValueError):
            self.lost(stmt.where, stmt.keyword, f"{' '.join(stmt.args)!r} is not a number")
            return None
        if not math.isfinite(value):
            self.lost(stmt.where, stmt.keyword, f"{stmt.args[0]!r} is not a number")
            return None
        return value

    def _int(self, stmt: Statement) -> int | None:
        try:
            return int(stmt.args[0])
        except (IndexError, ValueError):
            self.lost(stmt.where, stmt.keyword, f"{' '.join(stmt.args)!r} is not an integer")
            return None


_SINGLE_VALUE_INSTANCE = frozenset(
    {"interface", "state", "virtual_router_id", "priority", "advert_int", "preempt_delay", "unicast_src_ip"}
    | {"garp_master_delay", "garp_master_repeat", "garp_master_refresh"}
)
_SINGLE_VALUE_SCRIPT = frozenset({"interval", "timeout", "rise", "fall"})
_VIP_VALUE_OPTIONS = frozenset(
    {"dev", "label", "scope", "brd", "broadcast", "peer", "preferred_lft", "track_group"}
)
# keepalived's VIP words without a value that vrrpd does not carry over (no_track is carried).
_VIP_FLAGS = frozenset({"home", "-nodad", "mngtmpaddr", "noprefixroute", "autojoin", "use_vmac"})
# keepalived reads scopes from iproute2's rt_scopes: these names, or their numbers.
_SCOPE_NUMBERS = {"0": "global", "200": "site", "253": "link", "254": "host", "255": "nowhere"}
_IFNAMSIZ = 16  # a label is at most IFNAMSIZ - 1 characters (keepalived drops a longer one's VIP)


@dataclass
class _InstanceContext:
    """Per-instance facts that only make sense once the whole block is read."""

    state_master: Location | None = None
    state_where: Location | None = None
    priority_set: bool = False
    nopreempt: Location | None = None
    preempt_delay: tuple[float, Location] | None = None
    tracked: list[Statement] = field(default_factory=list)
    tracked_files: list[Statement] = field(default_factory=list)
    tracked_processes: list[Statement] = field(default_factory=list)
    advert_int: tuple[float, Location] | None = None
    version: tuple[int, Location] | None = None
    native_ipv6: Location | None = None


def _bool_arg(stmt: Statement) -> bool:
    """keepalived's optional boolean: no argument means on."""
    return not stmt.args or stmt.args[0].lower() in ("on", "true", "yes")


def _vip_address(entry: str | dict[str, Any]) -> str:
    """The address of a converted VIP entry (a string, or a table with options)."""
    return entry if isinstance(entry, str) else str(entry["address"])


def _family(address: str) -> int | None:
    """4 or 6 for a VIP or peer as keepalived.conf writes it (prefix allowed); None if it is not one."""
    try:
        return ipaddress.ip_interface(address).version
    except ValueError:
        return None


def _whole(value: float) -> float | int:
    """Durations and counts as integers when they are whole, so the TOML reads naturally."""
    return int(value) if float(value).is_integer() else value


def _tcp_target(argv: list[str]) -> tuple[str, int] | None:
    """(host, port) if the script is bash's ``</dev/tcp/HOST/PORT`` connect test, else None."""
    if len(argv) == 1:
        command = argv[0]
    elif len(argv) == 3 and argv[0] in _BASH and argv[1] == "-c":
        command = argv[2]
    else:
        return None
    match = _TCP_REDIRECT.match(command)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        return None
    return match["host"], int(match["port"])


# ---------------------------------------------------------------------------------------------------
# virtual_routes / virtual_rules lines (keepalived's vrrp_iproute.c / vrrp_iprule.c words)

_ROUTE_TYPES = frozenset({"unicast", "blackhole", "unreachable", "prohibit"})
_RULE_TYPES = frozenset({"blackhole", "unreachable", "prohibit"})
_TABLE_NAMES = {"main": 254, "default": 253, "local": 255}
_SCOPE_NAMES = {"global": "global", "universe": "global", "site": "site", "link": "link", "host": "host"}
_SCOPE_NAMES |= {"nowhere": "nowhere"}


def _table_number(word: str) -> int | str:
    if word in _TABLE_NAMES:
        return _TABLE_NAMES[word]
    return int(word, 0) if re.fullmatch(r"0x[0-9a-fA-F]+|[0-9]+", word) else word


def _route_line(words: list[str]) -> tuple[dict[str, Any], list[str]]:
    """One keepalived route line → vrrpd's keys and the words not carried over."""
    keys: dict[str, Any] = {}
    lost: list[str] = []
    rest = list(words)
    while rest:
        word = rest.pop(0)
        value = rest.pop(0) if rest and word in _ROUTE_VALUE_WORDS else None
        if word in ("via", "gw") and value is not None:
            keys["via"] = value
        elif word in ("dev", "oif") and value is not None:
            keys["dev"] = value
        elif word == "src" and value is not None:
            keys["src"] = value
        elif word in ("metric", "priority", "preference") and value is not None:
            keys["metric"] = int(value) if value.isdigit() else value
        elif word == "table" and value is not None:
            keys["table"] = _table_number(value)
        elif word == "scope" and value is not None:
            keys["scope"] = _SCOPE_NAMES.get(value, value)
        elif word == "no_track":
            continue  # vrrpd never watches its virtual routes and rules (docs/migrating-from-keepalived.md)
        elif word == "inet":
            continue
        elif value is not None:
            lost.append(f"{word} {value}")
        elif word == "to" and rest:
            continue
        elif word in _ROUTE_TYPES and rest:
            keys["type"] = word
        elif "to" not in keys and (word == "default" or re.fullmatch(r"[0-9.]+(/[0-9]+)?", word)):
            keys["to"] = word
        else:
            lost.append(word)
    return keys, lost


_ROUTE_VALUE_WORDS = frozenset(
    {"via", "gw", "dev", "oif", "src", "metric", "priority", "preference", "table", "scope", "protocol"}
    | {"tos", "dsfield", "mtu", "advmss", "realms", "as", "expires", "hoplimit", "rtt", "rttvar"}
    | {"reordering", "window", "cwnd", "ssthresh", "rto_min", "initcwnd", "initrwnd", "features"}
    | {"quickack", "congctl", "pref", "encap", "ttl-propagate", "fastopen_no_cookie", "vrf", "track_group"}
)
_RULE_VALUE_WORDS = frozenset(
    {"from", "to", "table", "lookup", "preference", "order", "priority", "tos", "dsfield", "fwmark"}
    | {"realms", "suppress_prefixlength", "sup_pl", "suppress_ifgroup", "sup_group", "dev", "iif", "oif"}
    | {"tunnel-id", "uidrange", "protocol", "ipproto", "sport", "dport", "goto", "track_group", "type"}
)


def _rule_line(words: list[str]) -> tuple[dict[str, Any], list[str]]:
    """One keepalived rule line → vrrpd's keys and the words not carried over."""
    keys: dict[str, Any] = {}
    lost: list[str] = []
    rest = list(words)
    while rest:
        word = rest.pop(0)
        value = rest.pop(0) if rest and word in _RULE_VALUE_WORDS else None
        if word == "type" and value is not None:
            word, value = value, None
        if word == "from" and value is not None:
            keys["from"] = "default" if value == "all" else value
        elif word == "to" and value is not None:
            keys["to"] = "default" if value == "all" else value
        elif word in ("table", "lookup") and value is not None:
            keys["table"] = _table_number(value)
        elif word in ("preference", "order", "priority") and value is not None:
            keys["priority"] = int(value) if value.isdigit() else value
        elif word in ("iif", "dev") and value is not None:
            keys["iif"] = value
        elif word == "oif" and value is not None:
            keys["oif"] = value
        elif word == "fwmark" and value is not None and re.fullmatch(r"0x[0-9a-fA-F]+|[0-9]+", value):
            keys["fwmark"] = int(value, 0)
        elif word in _RULE_TYPES:
            keys["type"] = word
        elif word == "no_track":
            continue  # vrrpd never watches its virtual routes and rules (docs/migrating-from-keepalived.md)
        elif word == "inet":
            continue
        elif value is not None:
            lost.append(f"{word} {value}")
        else:
            lost.append(word)
    if keys.get("from") == "default":
        del keys["from"]  # "from all" is what a rule without from matches
    if keys.get("to") == "default":
        del keys["to"]
    return keys, lost


# ---------------------------------------------------------------------------------------------------
# TOML


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # A JSON string is a TOML basic string, except that TOML also wants DEL escaped.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007F")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table: a track_interface entry with its weight
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot render {value!r} as TOML")


def _comment(text: str) -> str:
    return "# " + " ".join(text.split())


def _render(
    global_keys: dict[str, Any],
    drafts: Iterable[_Draft],
    header: Iterable[str] = (),
    scripts: Iterable[_Script] = (),
    trackers: Iterable[_Tracker] = (),
) -> str:
    """The TOML text: [global], the tracked [[vrrp_script]]s, files and processes, then the instances."""
    lines = [_comment(h) for h in header]
    if global_keys:
        lines += ["", "[global]", *(f"{key} = {_toml_value(value)}" for key, value in global_keys.items())]
    for script in scripts:
        assert script.table is not None
        lines += ["", "[[vrrp_script]]", _comment(f"from {script.where}")]
        lines += [f"{key} = {_toml_value(script.table[key])}" for key in _SCRIPT_ORDER if key in script.table]
    for tracker in trackers:
        lines += ["", f"[[vrrp_track_{tracker.kind}]]", _comment(f"from {tracker.where}")]
        table = dict(tracker.table)
        if tracker.weight != (1 if tracker.kind == "file" else 0):
            table["weight"] = tracker.weight
        if tracker.reverse:
            table["weight_reverse"] = True
        lines += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
    for draft in drafts:
        keys = dict(draft.keys)
        lines += ["", "[[vrrp_instance]]", _comment(f"from {draft.where}")]
        lines += [f"{key} = {_toml_value(keys[key])}" for key in _KEY_ORDER if key in keys]
        if draft.check is not None:
            check = dict(draft.check)
            lines += ["", "[vrrp_instance.check]"]
            lines += [f"{key} = {_toml_value(check[key])}" for key in _CHECK_ORDER if key in check]
        for key in _TABLE_ARRAYS:
            for table in keys.get(key, ()):
                lines += ["", f"[[vrrp_instance.{key}]]"]
                lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines).lstrip("\n") + "\n"


# ---------------------------------------------------------------------------------------------------
# Validation against vrrpd's schema


class _Validator:
    """Drops what vrrpd's schema refuses, one reported value at a time, until the file loads."""

    def __init__(self, conv: _Converter) -> None:
        self.conv = conv

    def run(self) -> None:
        conv = self.conv
        self._global_keys()
        for draft in list(conv.drafts):
            self._without_vips(draft)
        for _ in range(1000):  # each round removes at least one value: bounded by the file's size
            kept = conv.drafts
            if not kept:
                return
            try:
                _load(_render({}, kept, scripts=conv.tables(), trackers=conv.tracker_tables()))
            except ConfigError as exc:
                # Last first: dropping an item (or an instance) shifts the indices of those after it, which
                # later issues of the same round name (the walk reports them in document order).
                if not all([self._drop(issue) for issue in reversed(exc.issues)]):
                    return
                continue
            break
        for draft in conv.drafts:
            for path, where in _programs(draft, conv.tables()):
                if os.path.isabs(path) and not (Path(path).is_file() and os.access(path, os.X_OK)):
                    conv.note(
                        where,
                        path,
                        "not an executable file on this host: it must be on the host running vrrpd",
                    )

    def _global_keys(self) -> None:
        conv = self.conv
        for key, (value, where) in list(conv.global_keys.items()):
            text = f"[global]\n{key} = {_toml_value(value)}\n"
            fifo = conv.global_keys.get("notify_fifo")
            if key == "notify_fifo_script":  # it needs its FIFO; the program need not be on this host
                text += f"notify_fifo = {_toml_value(fifo[0])}\n" if fifo is not None else ""
                if not (Path(value[0]).is_file() and os.access(value[0], os.X_OK)):
                    conv.note(
                        where,
                        value[0],
                        "not an executable file on this host: it must be on the host running vrrpd",
                    )
            try:
                parse_config(text, "<converted>", env={}, check_files=key != "notify_fifo_script")
            except ConfigError as exc:
                problems = [i.problem for i in exc.issues if i.key == f"global.{key}"]
                if problems:
                    conv.lost(where, key, f"{value!r}: {problems[0]}; vrrpd's default applies instead")
                    del conv.global_keys[key]

    def _drop(self, issue: ConfigIssue) -> bool:
        """Drop the value ``issue`` names, reporting it; False if it names nothing droppable (then the
        whole conversion is given up, reported in one line: never a traceback)."""
        conv = self.conv
        tracker_issue = re.match(r"^vrrp_track_(file|process)\[(\d+)\]", issue.key or "")
        if tracker_issue is not None:
            tables = [t for t in conv.tracker_tables() if t.kind == tracker_issue[1]]
            if int(tracker_issue[2]) < len(tables):
                self._drop_tracker(tables[int(tracker_issue[2])], issue)
                return True
        script = _SCRIPT_ISSUE.match(issue.key or "")
        if script is not None and int(script["index"]) < len(conv.tables()):
            self._drop_script(conv.tables()[int(script["index"])], issue)
            return True
        match = _ISSUE_KEY.match(issue.key or "")
        if match is None or match["key"] is None or int(match["index"]) >= len(conv.drafts):
            shown = f" = {issue.value}" if issue.value is not None else ""
            conv.lost(None, f"{issue.key or 'configuration'}{shown}", f"vrrpd refuses it: {issue.problem}")
            for draft in list(conv.drafts):
                conv.drafts.remove(draft)
                conv.lost(draft.where, f"vrrp_instance {draft.keys.get('name', '?')}", "not converted")
            return False
        draft = conv.drafts[int(match["index"])]
        if match["key"] == "track_script" and match["item"] is not None:
            tracks = draft.keys.get("track_script", [])
            index = int(match["item"])
            if index < len(tracks):
                conv.lost(
                    draft.where_of.get("track_script", draft.where),
                    "track_script",
                    f"vrrpd refuses it: {issue.problem}",
                )
                del tracks[index]
                if not tracks:
                    draft.keys.pop("track_script")
            return True
        key, item = match["key"], match["item"]
        shown = f" = {issue.value}" if issue.value is not None else ""
        if key == "check":
            self._drop_check(draft, match["sub"], issue, shown)
            return True
        where = draft.where_of.get(key, draft.where)
        values = draft.keys.get(key)
        if item is not None and isinstance(values, list) and int(item) < len(values):
            index = int(item)
            item_wheres = draft.item_where.get(key, [])
            at = item_wheres.pop(index) if index < len(item_wheres) else where
            conv.lost(at, f"{key}{shown}", f"vrrpd refuses it: {issue.problem}")
            del values[index]
            if values:
                return True
        elif key in draft.keys:
            conv.lost(where, f"{key}{shown}", f"vrrpd refuses it: {issue.problem}")
        draft.keys.pop(key, None)
        if key in _VIP_KEYS and not draft.vip_lines and draft in conv.drafts:
            # Refused with no address at all: a VRRPv3 instance, which keepalived rejects as well.
            conv.drafts.remove(draft)
            conv.note(
                draft.where,
                f"vrrp_instance {draft.keys.get('name', '?')}",
                f'not converted: {issue.problem} (keepalived: "No VIP specified; at least one is required")',
            )
        elif key in _VIP_KEYS:
            self._without_vips(draft)
        elif key in _REQUIRED:
            conv.drafts.remove(draft)
            conv.lost(
                draft.where,
                f"vrrp_instance {draft.keys.get('name', '?')}",
                f"not converted: {key} is required and has no usable value",
            )
        return True

    def _without_vips(self, draft: _Draft) -> None:
        """An instance whose keepalived addresses were all refused is not converted: without them it would
        be a different virtual router (keepalived runs it with them). Only one that had none converts."""
        if draft.vip_lines and not any(key in draft.keys for key in _VIP_KEYS) and draft in self.conv.drafts:
            self.conv.drafts.remove(draft)
            self.conv.lost(
                draft.where,
                f"vrrp_instance {draft.keys.get('name', '?')}",
                "not converted: none of its virtual addresses can be carried over",
            )

    def _drop_check(self, draft: _Draft, sub: str | None, issue: ConfigIssue, shown: str) -> None:
        conv = self.conv
        check = draft.check
        assert check is not None  # the issue names the check, so there is one
        if sub == "host" and "host" in check:
            conv.lost(
                draft.check_where.get("host", draft.where),
                f"check host{shown}",
                f"vrrpd refuses it: {issue.problem}; the check probes the interface's primary address",
            )
            del check["host"]
            return
        if sub is not None and sub in check and sub not in ("tcp_port", "script"):
            conv.lost(
                draft.check_where.get(sub, draft.where),
                f"check {sub}{shown}",
                f"vrrpd refuses it: {issue.problem}",
            )
            del check[sub]
            return
        conv.lost(draft.where, f"check{shown}", f"vrrpd refuses it: {issue.problem}; the check is dropped")
        draft.check = None

    def _drop_tracker(self, tracker: _Tracker, issue: ConfigIssue) -> None:
        """A [[vrrp_track_file]] / [[vrrp_track_process]] vrrpd refuses: dropped with its tracking."""
        shown = f" = {issue.value}" if issue.value is not None else ""
        self.conv.lost(
            tracker.where,
            f"track_{tracker.kind} {tracker.name}{shown}",
            f"vrrpd refuses it: {issue.problem}; it is not tracked",
        )
        tracker.valid = False
        key = f"track_{tracker.kind}"
        for draft in self.conv.drafts:
            kept = [t for t in draft.keys.get(key, []) if _track_name(t) != tracker.name]
            if kept:
                draft.keys[key] = kept
            else:
                draft.keys.pop(key, None)

    def _drop_script(self, script: _Script, issue: ConfigIssue) -> None:
        """A [[vrrp_script]] vrrpd refuses: dropped, with every instance's tracking of it."""
        conv = self.conv
        shown = f" = {issue.value}" if issue.value is not None else ""
        conv.lost(
            script.where,
            f"vrrp_script {script.name}{shown}",
            f"vrrpd refuses it: {issue.problem}; it is not tracked",
        )
        script.table = None
        for draft in conv.drafts:
            tracks = [t for t in draft.keys.get("track_script", []) if _track_name(t) != script.name]
            if tracks:
                draft.keys["track_script"] = tracks
            else:
                draft.keys.pop("track_script", None)


def _sync_groups(conv: _Converter) -> list[dict[str, Any]]:
    """keepalived's vrrp_sync_group blocks as [[vrrp_sync_group]] tables, over the converted instances."""
    names = {draft.keys.get("name"): draft for draft in conv.drafts}
    declared = {s.args[0] for s in conv.parsed.statements if s.keyword == "vrrp_instance" and s.args}
    groups: list[dict[str, Any]] = []
    for block in conv.sync_blocks:
        gname = block.args[0] if block.args else ""
        if not _NAME.match(gname):
            conv.lost(
                block.where, f"vrrp_sync_group {gname}", "a group needs a name vrrpd accepts; not converted"
            )
            continue
        table: dict[str, Any] = {"name": gname, "group": []}
        for stmt in block.block or ():
            kw = stmt.keyword
            if kw == "group":
                for member in stmt.block or ():
                    if member.keyword in names and all(member.keyword not in g["group"] for g in groups):
                        table["group"].append(member.keyword)
                    elif member.keyword not in declared:
                        conv.note(
                            member.where,
                            member.keyword,
                            "no vrrp_instance of this name: keepalived ignores it too",
                        )
                    else:
                        conv.lost(member.where, member.keyword, "not converted (or already in another group)")
            elif (
                kw in ("notify", "notify_master", "notify_backup", "notify_fault", "notify_stop")
                and stmt.args
            ):
                # keepalived's own word splitting, as the schema applies it to a string
                table[kw] = stmt.args[0]
                if len(stmt.args) > 1:
                    conv.lost(
                        stmt.where, kw, f"user {stmt.args[1]}: vrrpd runs notify programs as script_user"
                    )
            elif kw == "sync_group_tracking_weight":
                table["tracking_weight"] = True
            elif kw in ("track_script", "track_interface", "track_file", "track_process"):
                # keepalived adds a group's tracking to every member, with its weights
                # (vrrp.c: sync_group_tracking_init).
                index = conv.parsed.statements.index(block)
                entries = _group_tracking(conv, kw, list(stmt.block or ()), index)
                if entries:
                    table.setdefault(kw, []).extend(entries)
            elif kw in ("smtp_alert", "global_tracking"):
                conv.note(
                    stmt.where,
                    kw,
                    "nothing to carry over (no e-mail; global_tracking is keepalived's old spelling)",
                )
            else:
                conv.lost(stmt.where, f"vrrp_sync_group {gname}: {kw}", "not supported in a sync group")
        if not table["group"]:
            conv.note(
                block.where, f"vrrp_sync_group {gname}", "no member converted (each is reported): no group"
            )
            continue
        if not table.get("tracking_weight"):
            for member in table["group"]:
                draft = names[member]
                for entry in draft.keys.get("track_interface", []):
                    if isinstance(entry, dict) and entry.get("weight"):
                        conv.note(
                            draft.where_of["track_interface"],
                            f"track_interface {entry['name']}",
                            "weight set to 0 (FAULT while down), as keepalived does in a sync group",
                        )
                        entry["weight"] = 0
                files = []
                for entry in draft.keys.get("track_file", []):
                    name = _track_name(entry)
                    tracker = conv.trackers[("file", name)]
                    weight = (
                        entry.get("weight", tracker.weight) if isinstance(entry, dict) else tracker.weight
                    )
                    if weight == 1:  # keepalived's default: "specify weight 0"; it makes it 0
                        files.append({**(entry if isinstance(entry, dict) else {"name": name}), "weight": 0})
                        conv.note(
                            draft.where_of["track_file"],
                            f"track_file {name}",
                            "weight 1 (the default) becomes 0 in a sync group, as keepalived does",
                        )
                    elif weight:
                        conv.note(
                            draft.where_of["track_file"],
                            f"track_file {name}",
                            "a weighted file of a sync group member: keepalived ignores it, as here",
                        )
                    else:
                        files.append(entry)
                if files:
                    draft.keys["track_file"] = files
                else:
                    draft.keys.pop("track_file", None)
                if draft.check is not None and draft.check.get("weight", 0) != 0:
                    conv.note(
                        draft.where,
                        f"vrrp_instance {member}",
                        "its weighted check is dropped: keepalived ignores the weighted checks of sync "
                        "group members",
                    )
                    draft.check = None
                kept = []
                for entry in draft.keys.get("track_script", []):
                    name = _track_name(entry)
                    weight = entry.get("weight") if isinstance(entry, dict) else None
                    script = conv.scripts.get(name)
                    if (weight if weight is not None else script.weight if script else 0) == 0:
                        kept.append(entry)
                        continue
                    conv.note(
                        draft.where,
                        f"vrrp_instance {member}: track_script {name}",
                        "a weighted script of a sync group member: keepalived ignores it, as here",
                    )
                if kept:
                    draft.keys["track_script"] = kept
                else:
                    draft.keys.pop("track_script", None)
        groups.append(table)
    return groups


def _group_tracking(conv: _Converter, key: str, lines: list[Statement], index: int) -> list[Any]:
    """A sync group's own track_* block as the group's entries (each tracked object is written once)."""
    if key in ("track_file", "track_process"):
        return conv._tracked_lines(key.removeprefix("track_"), lines, index)
    entries: list[Any] = []
    for stmt in lines:
        name, label = stmt.keyword, f"{key} {stmt.keyword}"
        entry: dict[str, Any] = {"name": name}
        args = list(stmt.args)
        if args and (args[0] != "weight" or len(args) < 2 or not re.fullmatch(r"[+-]?[0-9]+", args[1])):
            conv.note(stmt.where, label, f"{' '.join(args)!r}: keepalived ignores the line, as here")
            continue
        if args:
            entry["weight"] = max(-253, min(253, int(args[1])))
            if args[2:3] in (["reverse"], ["noreverse"]):
                entry["reverse"] = args[2] == "reverse"
        if any(_track_name(e) == name for e in entries):
            conv.note(stmt.where, label, "tracked twice: keepalived ignores the second, as here")
            continue
        if key == "track_script":
            script = conv.scripts.get(name)
            if script is None or script.index > index or not script.argv:
                conv.note(
                    stmt.where, label, "no such vrrp_script above the group: keepalived ignores it, as here"
                )
                continue
            if not script.used:
                script.used = True
                conv.findings = [
                    f
                    for f in conv.findings
                    if f.keyword != f"vrrp_script {name}" or "not tracked" not in f.message
                ]
                conv.findings.extend(script.unsupported)
            conv._script_table(script, first_use=True)
        entries.append(entry if len(entry) > 1 else name)
    return entries


def _render_groups(groups: list[dict[str, Any]], stand_in: dict[str, str] | None = None) -> str:
    lines: list[str] = []
    for table in groups:
        lines += ["", "[[vrrp_sync_group]]"]
        for key, value in table.items():
            shown = stand_in["path"] if stand_in is not None and key.startswith("notify") else value
            lines.append(f"{key} = {_toml_value(shown)}")
    return "\n".join(lines) + ("\n" if lines else "")


def _stand_in() -> dict[str, str]:
    """An executable that exists here, to validate program paths meant for another host.

    The schema checks that notify/check programs exist on *this* host; the converted file is meant for
    the host that will run vrrpd, so validation substitutes this path and existence is reported apart.
    """
    return {"path": str(Path(sys.executable).resolve())}


def _load(text: str) -> None:
    """Validate converted TOML as vrrpd would load it on the host it is meant for: the programs it names
    need not exist here (``check_files=False``), only be well-formed."""
    parse_config(text, "<converted>", env={}, check_files=False)


def _track_name(entry: Any) -> str:
    return entry if isinstance(entry, str) else str(entry.get("name"))


def _programs(draft: _Draft, scripts: Iterable[_Script]) -> list[tuple[str, Location]]:
    out: list[tuple[str, Location]] = []
    for key in _PROGRAM_KEYS:
        if key in draft.keys:
            out.append((draft.keys[key][0], draft.where_of[key]))
    if draft.check is not None and "script" in draft.check:
        out.append((draft.check["script"], draft.check_where.get("script", draft.where)))
    tracked = {_track_name(t) for t in draft.keys.get("track_script", [])}
    for script in scripts:
        if script.name in tracked and script.table is not None:
            out.append((script.table["script"][0], script.script_where or script.where))
    return out


# ---------------------------------------------------------------------------------------------------
# Entry points


def convert_parsed(parsed: ParsedConf, source: str) -> Conversion:
    """Convert an already parsed configuration; ``source`` names it in the output's header."""
    conv = _Converter(parsed)
    conv.run()
    _Validator(conv).run()
    groups = _sync_groups(conv)
    order = {name: index for index, name in enumerate(parsed.files)}

    def position(finding: Finding) -> tuple[int, int]:
        where = finding.where
        return (len(order), 0) if where is None else (order.get(where.file, len(order)), where.line)

    findings = sorted(conv.findings, key=position)  # file read order, then line: the order of reading
    header = [
        f"Converted from {source} by `vrrpd import-keepalived` (vrrpd {__version__}).",
        "Review every finding below before use; `vrrpd check-config --config FILE` validates this file.",
        *(str(f) for f in findings),
    ]
    global_keys = {key: value for key, (value, _) in conv.global_keys.items()}
    grouped = {_track_name(t) for g in groups for t in g.get("track_script", [])}
    scripts = [s for s in conv.tables() if s.name in grouped or any(_tracks(d, s.name) for d in conv.drafts)]
    trackers = conv.tracker_tables()
    for tracker in conv.trackers.values():
        if tracker.valid and not tracker.used:
            conv.note(
                tracker.where,
                f"track_{tracker.kind} {tracker.name}",
                "not tracked by any instance or group: nothing to watch, in keepalived as in vrrpd",
            )
    findings = sorted(conv.findings, key=position)
    header = [*header[:2], *(str(f) for f in findings)]
    text = (
        _render(global_keys, conv.drafts, header, scripts, trackers) + _render_groups(groups)
        if conv.drafts
        else ""
    )
    if conv.drafts:
        try:
            _load(
                _render(global_keys, conv.drafts, scripts=scripts, trackers=trackers) + _render_groups(groups)
            )
        except ConfigError as exc:  # what the groups ask of their members: drop the groups, keep the rest
            for block in conv.sync_blocks:
                name = block.args[0] if block.args else ""
                conv.lost(block.where, f"vrrp_sync_group {name}", f"not converted: {exc}")
            findings = sorted(conv.findings, key=position)
            header = [*header[:2], *(str(f) for f in findings)]
            groups = []
            text = _render(global_keys, conv.drafts, header, scripts, trackers)
        # The promise of this module: the output loads. Should it not (a bug), say so in one line.
        try:
            _load(
                _render(global_keys, conv.drafts, scripts=scripts, trackers=trackers) + _render_groups(groups)
            )
        except ConfigError as exc:
            findings.append(
                Finding(None, "import-keepalived", "not carried over", f"the output does not load: {exc}")
            )
            return Conversion("", findings, 0, parsed.files)
    return Conversion(text, findings, len(conv.drafts), parsed.files)


def _tracks(draft: _Draft, name: str) -> bool:
    return any(_track_name(t) == name for t in draft.keys.get("track_script", []))


def convert(path: str | Path, config_id: str | None = None) -> Conversion:
    """Read the keepalived configuration at ``path`` (with its includes) and convert it."""
    return convert_parsed(parse_file(path, config_id), str(path))


def main(path: str, output: str | None, allow_partial: bool, config_id: str | None) -> int:
    """The ``import-keepalived`` subcommand: TOML on stdout (or ``output``), findings on stderr."""
    try:
        conversion = convert(path, config_id)
    except KeepalivedConfError as exc:
        print(f"vrrpd: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    for finding in conversion.findings:
        print(f"vrrpd: {finding}", file=sys.stderr)
    lost = len(conversion.lost)
    summary = (
        f"vrrpd: import-keepalived: {conversion.instances} instance(s) converted from "
        f"{len(conversion.files)} file(s); {lost} item(s) not carried over"
    )
    if conversion.instances == 0:
        print(f"{summary}; no vrrp_instance could be converted, nothing written", file=sys.stderr)
        return EXIT_PARTIAL
    if lost and not allow_partial:
        print(f"{summary}; nothing written (--allow-partial writes it anyway)", file=sys.stderr)
        return EXIT_PARTIAL
    print(summary, file=sys.stderr)
    if output is None:
        sys.stdout.write(conversion.toml)
    else:
        Path(output).write_text(conversion.toml, encoding="utf-8")
    return 0
