"""Configuration schema: the msgspec structs of every table and the parsers of non-TOML values.

This module owns the configuration contract (keys, types, ranges, cross-field rules). Each field's
``Meta`` description is the "what is allowed" text of its error message; addresses and paths are not
TOML types and are converted by the ``Parse`` function of their field. It reads the filesystem only to
check that notify/check scripts are executable; it must not open sockets or start anything.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface
from pathlib import Path
from typing import Annotated, Literal, NamedTuple, TypeVar

import msgspec
from msgspec import Meta, Struct

from vrrpd.config.errors import InvalidValue, RuleBroken
from vrrpd.config.lines import line_of, unpack
from vrrpd.config.programs import SEARCH_PATH, CommandError, resolve, split_command

# Excluded VIPs are not in adverts, so §5.3.5's 255 does not bound them; this bound keeps one instance's
# takeover (one netlink batch per 128 addresses, garp_master_repeat GARPs each) in the tens of milliseconds.
MAX_EXCLUDED = 4096
# Virtual routes and rules go one netlink request each on every takeover: keep that in milliseconds.
MAX_ROUTES = 256
# sun_path is 108 bytes including the terminating NUL.
_MAX_SOCKET_PATH = 107

# ---------------------------------------------------------------------------------------------
# Value types

_IPV4_ADDRESS = "an IPv4 address such as 192.0.2.11"
_HOST = "an IPv4 or IPv6 address such as 192.0.2.11 or 2001:db8::11"
_VIP = (
    'an IPv4 or IPv6 address with an optional prefix such as "192.0.2.100/24" or "2001:db8::100/64" '
    "(default /32 or /128)"
)
# RFC 5798 §5.2.7: a 12-bit count of centiseconds; RFC 3768 §5.3.7: an 8-bit count of seconds.
_V3_INTERVAL = "0.01..40.95 seconds in steps of 0.01 (VRRPv3 counts centiseconds)"
_ADVERT_INT = f"a number of seconds: a whole number 1..255 with version 2, {_V3_INTERVAL} with version 3"
IPAddress = IPv4Address | IPv6Address
IPInterface = IPv4Interface | IPv6Interface


@dataclass(frozen=True, slots=True)
class Parse:
    """``Annotated`` metadata: converts the TOML value (``each``: every item of an array) to the field's type.

    Raises ``InvalidValue``; msgspec then still checks the result against the field's type and ``Meta``.
    """

    func: Callable[[object], object]
    each: bool = False
    # With ``each``: an item that is a table is validated key by key as the array's struct (so an error
    # names the key inside it, e.g. ``virtual_ipaddress[0].scope``); any other item goes to ``func``.
    tables: bool = False


def _ip(value: object, allowed: str) -> IPAddress:
    if not isinstance(value, str):
        raise InvalidValue(f"must be {allowed}")
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise InvalidValue(f"must be {allowed}") from None


def _ipv4(value: object, allowed: str) -> IPv4Address:
    address = _ip(value, allowed)
    if address.version == 6:
        raise InvalidValue(f"IPv6 is not supported here; must be {allowed}")
    assert isinstance(address, IPv4Address)
    return address


def _unicast(address: IPAddress, allowed: str) -> None:
    # A VIP, peer or check target must be something a host can actually own or reach.
    if address.is_multicast or address.is_unspecified or address.is_loopback:
        raise InvalidValue(f"must be a unicast address, not {address}; must be {allowed}")
    if address == IPv4Address("255.255.255.255"):
        raise InvalidValue(f"must be a unicast address, not the broadcast address; must be {allowed}")


def _parse_host(value: object) -> IPAddress:
    address = _ip(value, _HOST)
    _unicast(address, _HOST)
    return address


def _parse_check_host(value: object) -> IPAddress:
    # A health check may probe a service bound to loopback (keepalived's `</dev/tcp/127.0.0.1/80`, or
    # ::1): only addresses nothing can listen on are refused. An IPv6 link-local one is reached through
    # the instance's interface.
    address = _ip(value, _HOST)
    if address.is_multicast or address.is_unspecified or address == IPv4Address("255.255.255.255"):
        raise InvalidValue(f"must be an address a service can listen on, not {address}; must be {_HOST}")
    return address


def _parse_vip(value: object) -> IPInterface:
    if not isinstance(value, str):
        raise InvalidValue(f"must be {_VIP}")
    try:
        iface = ipaddress.ip_interface(value)
    except ValueError:
        raise InvalidValue(f"must be {_VIP}") from None
    _unicast(iface.ip, _VIP)
    net = iface.network
    # The broadcast address of its own prefix is the kernel's broadcast route, never reached as a host.
    # The network address is an ordinary address to Linux (no subnet-zero broadcast route): keepalived
    # installs it, and so does vrrpd (neutron's l3 HA configurations use such VIPs).
    if iface.version == 4 and net.prefixlen <= 30 and iface.ip == net.broadcast_address:
        raise InvalidValue(f"{iface.ip} is the broadcast address of {net}; must be {_VIP}")
    return iface


def _parse_version(value: object) -> int:
    if type(value) is not int or value not in (2, 3):  # not 3.0, not true
        raise InvalidValue("must be 2 or 3")
    return value


class ListenAddress(NamedTuple):
    """A ``host:port`` to listen on (host is an IP literal or a name; IPv6 goes in brackets)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


_LISTEN = 'a "host:port" such as "127.0.0.1:9650" (IPv6 as "[::1]:9650"), or "" for off'
_LISTEN_RE = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]\s]+)):(?P<port>[0-9]{1,5})$")


def _parse_listen(value: object) -> ListenAddress | None:
    if not isinstance(value, str):
        raise InvalidValue(f"must be {_LISTEN}")
    if value == "":
        return None
    match = _LISTEN_RE.match(value)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise InvalidValue(f"must be {_LISTEN}")
    host = match["v6"] or match["host"]
    if match["v6"] is not None:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidValue(f"must be {_LISTEN}") from None
    return ListenAddress(host, int(match["port"]))


def _parse_socket_path(value: object) -> Path:
    if not isinstance(value, str) or value in ("", ".") or "\x00" in value:
        raise InvalidValue("must be a file path for the control socket")
    if len(os.fsencode(value)) > _MAX_SOCKET_PATH:
        raise InvalidValue(f"must be at most {_MAX_SOCKET_PATH} bytes long (a Unix socket path limit)")
    return Path(value)


def _parse_fifo(value: object) -> Path | None:
    if not isinstance(value, str):
        raise InvalidValue('must be a file path for the notify FIFO, or "" for off')
    if value == "":
        return None
    if "\x00" in value:
        raise InvalidValue("must be a file path for the notify FIFO (no NUL characters)")
    return Path(value)


# False while validating a configuration meant for another host (check-config --no-file-check): the
# programs it names need not exist here, only be absolute paths.
FILES_CHECKED: ContextVar[bool] = ContextVar("FILES_CHECKED", default=True)


def _parse_executable(value: object) -> Path:
    if not isinstance(value, str) or "\x00" in value:
        raise InvalidValue("must be an absolute path to an executable file")
    path = Path(value)
    if not path.is_absolute():
        raise InvalidValue("must be an absolute path to an executable file")
    if not FILES_CHECKED.get():
        return path
    if not path.is_file():
        raise InvalidValue("no such file; must be an absolute path to an executable file")
    if not os.access(path, os.X_OK):
        raise InvalidValue("file is not executable (chmod +x?); must be an executable file")
    return path


_EXECUTABLE = "an absolute path to an executable file"

_COMMAND = (
    "a command: a string split into words as keepalived splits it (quotes group, no shell), or an "
    "array of words; the program is an absolute path to an executable file or a name found in "
    + ":".join(SEARCH_PATH)
)


def _parse_command(value: object) -> tuple[str, ...]:
    """A program and its arguments (keepalived's ``script``/``notify`` line), the program resolved."""
    if isinstance(value, str):
        try:
            argv = split_command(value)
        except CommandError as exc:
            raise InvalidValue(f"{exc}; must be {_COMMAND}") from None
    elif isinstance(value, list) and all(isinstance(word, str) for word in value):
        argv = list(value)
    else:
        raise InvalidValue(f"must be {_COMMAND}")
    if not argv or not argv[0] or any("\x00" in word for word in argv):
        raise InvalidValue(f"empty command; must be {_COMMAND}")
    if not FILES_CHECKED.get():
        # For another host (check-config --no-file-check, import-keepalived): the program is found there.
        if "/" in argv[0] and not argv[0].startswith("/"):
            raise InvalidValue(f"{argv[0]!r} is a relative path; must be {_COMMAND}")
        return tuple(argv)
    program = resolve(argv[0])
    if program is None:
        raise InvalidValue(
            f"{argv[0]!r} is not an absolute path and is not found in the PATH; must be {_COMMAND}"
        )
    if not program.is_absolute():
        raise InvalidValue(f"{argv[0]!r} is a relative path; must be {_COMMAND}")
    if not program.is_file():
        raise InvalidValue(f"{program}: no such file; must be {_COMMAND}")
    if not os.access(program, os.X_OK):
        raise InvalidValue(f"{program}: file is not executable (chmod +x?); must be {_COMMAND}")
    return (str(program), *argv[1:])


_USER = "a user name (or numeric id) that exists on this host"
_SCRIPT_NAME = "a name of 1..128 printable characters without spaces"

# ---------------------------------------------------------------------------------------------
# Virtual routes and rules (keepalived's virtual_routes / virtual_rules): installed after the VIPs on
# becoming MASTER, removed before them on leaving it.

_NETWORK = 'an IPv4 network such as "198.51.100.0/24" (a host address without a prefix is /32), or "default"'
_IFNAME = "a network interface name (1..15 characters, no '/', ':' or spaces)"
_IFNAME_RE = r"^[^\x00-\x20\x7f/:]{1,15}$"
_U32 = 2**32 - 1
# Tables 0 (unspec), 253 (default), 255 (local) are the kernel's own; "main" is 254.
_TABLE = "a routing table number 1..4294967295 except 253 and 255 (254 = main)"


# keepalived's per-VIP options (`ip address add` words): dev, label, scope, brd and no_track.
_SCOPE_NAMES = ("global", "site", "link", "host", "nowhere")
_LABEL = "an address label of 1..15 characters without spaces (IPv4 only)"
_BRD = "an IPv4 broadcast address such as 192.0.2.255 (IPv4 only)"


def _parse_brd(value: object) -> IPv4Address:
    return _ipv4(value, _BRD)


# An address's or a route's scope, by the names `ip` uses (rtnetlink's RT_SCOPE_*).
Scope = Annotated[
    Literal["global", "site", "link", "host", "nowhere"],
    Meta(description='one of "global", "site", "link", "host", "nowhere"'),
]


class VipConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """One virtual address with keepalived's per-VIP options: an entry of ``virtual_ipaddress`` (or
    ``virtual_ipaddress_excluded``) written as a table, e.g.
    ``{ address = "192.0.2.10/24", dev = "eth1", label = "eth1:vip", scope = "link", no_track = true }``.

    ``dev``: the interface the address is installed on (default: the instance's, or its virtual MAC
    interface). ``label``, ``scope``, ``brd``: as ``ip address add`` takes them. Unless ``no_track``, the
    instance follows ``dev``'s link as a weight-0 tracked interface (FAULT while it is down) and puts the
    address back when someone deletes it — keepalived's rules; with ``no_track`` neither.
    """

    address: Annotated[IPInterface, Parse(_parse_vip), Meta(description=_VIP)]
    dev: Annotated[str, Meta(pattern=_IFNAME_RE, description=_IFNAME)] | None = None
    label: Annotated[str, Meta(pattern=r"^[!-~]{1,15}$", description=_LABEL)] | None = None
    scope: Scope | None = None
    brd: Annotated[IPv4Address, Parse(_parse_brd), Meta(description=_BRD)] | None = None
    no_track: Annotated[bool, Meta(description="true or false")] = False

    def __post_init__(self) -> None:
        if self.address.version == 6:
            # keepalived: "Cannot specify scope/label for IPv6 addresses - ignoring", and a broadcast
            # for IPv6 skips the VIP; refused here rather than silently dropped.
            for key in ("label", "scope", "brd"):
                value = getattr(self, key)
                if value is not None:
                    raise RuleBroken((key,), str(value), "applies to IPv4 addresses only")

    @property
    def plain(self) -> bool:
        """No option set: the address alone says everything (written as a string)."""
        return self == VipConfig(address=self.address)

    def __str__(self) -> str:
        # keepalived's and ip(8)'s word order: ADDR[/LEN] [brd B] [dev D] [scope S] [label L] [no_track].
        parts = [str(self.address)]
        for key in ("brd", "dev", "scope", "label"):
            value = getattr(self, key)
            if value is not None:
                parts += [key, str(value)]
        if self.no_track:
            parts.append("no_track")
        return " ".join(parts)


_VIP_ENTRY = (
    f'{_VIP}, or a table {{ address = "...", dev = "...", label = "...", scope = "...", brd = "...", '
    "no_track = true }"
)


def _parse_vip_entry(value: object) -> VipConfig:
    if isinstance(value, str):
        return VipConfig(address=_parse_vip(value))
    if isinstance(value, dict):  # another decoder than the load walk (which walks the table itself)
        try:
            return msgspec.convert(value, VipConfig)
        except msgspec.ValidationError as exc:
            raise InvalidValue(f"{exc}; must be {_VIP_ENTRY}") from None
    raise InvalidValue(f"must be {_VIP_ENTRY}")


def _parse_network(value: object) -> IPv4Network:
    if value == "default":
        return IPv4Network("0.0.0.0/0")
    if not isinstance(value, str):
        raise InvalidValue(f"must be {_NETWORK}")
    try:
        net = ipaddress.ip_network(value)
    except ValueError as exc:
        detail = "host bits set" if "host bits set" in str(exc) else None
        hint = f" ({detail}: write the network address)" if detail else ""
        raise InvalidValue(f"must be {_NETWORK}{hint}") from None
    if net.version == 6:
        raise InvalidValue(f"IPv6 is not supported yet (VRRPv3); must be {_NETWORK}")
    assert isinstance(net, IPv4Network)
    return net


def _check_table(table: int | None, where: str) -> None:
    if table is not None and table in (253, 255):
        raise RuleBroken((where,), table, f"must be {_TABLE}")


class RouteConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One ``[[vrrp_instance.virtual_routes]]``: a route the master installs with its VIPs."""

    to: Annotated[IPv4Network, Parse(_parse_network), Meta(description=_NETWORK)]
    via: Annotated[IPv4Address, Parse(_parse_host), Meta(description=_IPV4_ADDRESS)] | None = None
    dev: Annotated[str, Meta(pattern=_IFNAME_RE, description=_IFNAME)] | None = None
    src: Annotated[IPv4Address, Parse(_parse_host), Meta(description=_IPV4_ADDRESS)] | None = None
    metric: Annotated[int, Meta(ge=0, le=_U32, description="an integer 0..4294967295")] | None = None
    table: Annotated[int, Meta(ge=1, le=_U32, description=_TABLE)] | None = None
    scope: Scope | None = None
    type: Annotated[
        Literal["unicast", "blackhole", "unreachable", "prohibit"],
        Meta(description='one of "unicast", "blackhole", "unreachable", "prohibit"'),
    ] = "unicast"

    def __post_init__(self) -> None:
        _check_table(self.table, "table")
        if self.type == "unicast" and self.via is None and self.dev is None:
            raise RuleBroken((), None, "a unicast route needs via, dev or both (the kernel has no next hop)")
        if self.type != "unicast" and (self.via is not None or self.dev is not None):
            raise RuleBroken(("type",), self.type, "a route of this type has no next hop: remove via and dev")

    def __str__(self) -> str:
        parts: list[str] = [] if self.type == "unicast" else [self.type]
        parts.append("default" if self.to.prefixlen == 0 else str(self.to))
        for key in ("via", "dev", "src", "metric", "table", "scope"):
            value = getattr(self, key)
            if value is not None:
                parts += [key, str(value)]
        return " ".join(parts)


class RuleConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One ``[[vrrp_instance.virtual_rules]]``: a policy-routing rule the master installs with its VIPs."""

    from_: Annotated[IPv4Network, Parse(_parse_network), Meta(description=_NETWORK)] | None = msgspec.field(
        default=None, name="from"
    )
    to: Annotated[IPv4Network, Parse(_parse_network), Meta(description=_NETWORK)] | None = None
    iif: Annotated[str, Meta(pattern=_IFNAME_RE, description=_IFNAME)] | None = None
    oif: Annotated[str, Meta(pattern=_IFNAME_RE, description=_IFNAME)] | None = None
    fwmark: Annotated[int, Meta(ge=0, le=_U32, description="an integer 0..4294967295")] | None = None
    priority: Annotated[int, Meta(ge=1, le=32765, description="an integer 1..32765")] | None = None
    table: Annotated[int, Meta(ge=1, le=_U32, description=_TABLE)] | None = None
    type: Annotated[
        Literal["table", "blackhole", "unreachable", "prohibit"],
        Meta(description='one of "table", "blackhole", "unreachable", "prohibit"'),
    ] = "table"

    def __post_init__(self) -> None:
        _check_table(self.table, "table")
        if self.type == "table" and self.table is None:
            raise RuleBroken((), None, 'a rule needs a table to look up (or type "blackhole", ...)')
        if self.type != "table" and self.table is not None:
            raise RuleBroken(("table",), self.table, f'a rule of type "{self.type}" looks up no table')

    def __str__(self) -> str:
        parts: list[str] = []
        for key, value in (("from", self.from_), ("to", self.to), ("iif", self.iif), ("oif", self.oif)):
            if value is not None:
                parts += [key, str(value)]
        if self.fwmark is not None:
            parts += ["fwmark", hex(self.fwmark)]
        if self.priority is not None:
            parts += ["priority", str(self.priority)]
        parts += ["table", str(self.table)] if self.type == "table" else [self.type]
        return " ".join(parts)


# Structs. Each field's Meta description is the "what is allowed" text of its error messages.
# The walk below reports unknown and missing keys itself; forbid_unknown_fields keeps msgspec's own
# decoders (msgspec.convert, msgspec.json) to the same contract.


class HealthCheckConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[vrrp_instance.check]``: a health check that lowers the priority or forces FAULT."""

    tcp_port: Annotated[int, Meta(ge=1, le=65535, description="a TCP port 1..65535")] | None = None
    script: Annotated[Path, Parse(_parse_executable), Meta(description=_EXECUTABLE)] | None = None
    host: Annotated[IPAddress, Parse(_parse_check_host), Meta(description=_HOST)] | None = None
    interval: Annotated[float, Meta(gt=0, le=3600, description="a number of seconds > 0 and <= 3600")] = 2.0
    timeout: Annotated[float, Meta(gt=0, le=3600, description="a number of seconds > 0 and <= 3600")] = 1.0
    rise: Annotated[int, Meta(ge=1, le=255, description="an integer 1..255")] = 1
    fall: Annotated[int, Meta(ge=1, le=255, description="an integer 1..255")] = 1
    weight: Annotated[int, Meta(ge=0, le=253, description="an integer 0..253")] = 0

    def __post_init__(self) -> None:
        if (self.tcp_port is None) == (self.script is None):
            both = self.tcp_port is not None
            raise RuleBroken(
                ("tcp_port",) if both else (),
                self.tcp_port if both else None,
                "set exactly one of tcp_port and script" + (", not both" if both else ""),
            )
        if self.host is not None and self.script is not None:
            raise RuleBroken(("host",), str(self.host), "host applies only to a tcp_port check")
        if self.timeout > self.interval:
            raise RuleBroken(
                ("timeout",),
                self.timeout,
                f"must not exceed interval ({self.interval:g}): checks would overlap",
            )


_WEIGHT = "an integer -253..253"


class VrrpScriptConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One ``[[vrrp_script]]``: a named check run once and tracked by any number of instances.

    keepalived's ``vrrp_script`` exactly: every ``interval`` seconds the command runs (no shell) for at
    most ``timeout`` seconds (default: the interval); exit status 0 is a success. The first result counts
    at once, then ``rise`` consecutive successes make it OK and ``fall`` consecutive failures make it
    failed (``init_fail``: it starts failed). What a result does to an instance is its weight
    (`vrrpd.protocol.tracking`): ``weight > 0`` is added to the priority while OK, ``weight < 0`` while
    failed, ``weight_reverse`` negates it, and weight 0 puts the instance in FAULT while failed.
    """

    name: Annotated[str, Meta(pattern=r"^[!-~]{1,128}$", description=_SCRIPT_NAME)]
    script: Annotated[tuple[str, ...], Parse(_parse_command), Meta(description=_COMMAND)]
    interval: Annotated[float, Meta(gt=0, le=3600, description="a number of seconds > 0 and <= 3600")] = 1.0
    timeout: (
        Annotated[float, Meta(gt=0, le=3600, description="a number of seconds > 0 and <= 3600")] | None
    ) = None
    rise: Annotated[int, Meta(ge=1, le=65535, description="an integer 1..65535")] = 1
    fall: Annotated[int, Meta(ge=1, le=65535, description="an integer 1..65535")] = 1
    weight: Annotated[int, Meta(ge=-253, le=253, description=_WEIGHT)] = 0
    weight_reverse: Annotated[bool, Meta(description="true or false")] = False
    user: Annotated[str, Meta(pattern=r"^[^\x00-\x20:]{1,64}$", description=_USER)] | None = None
    group: Annotated[str, Meta(pattern=r"^[^\x00-\x20:]{1,64}$", description="a group name or id")] | None = (
        None
    )
    init_fail: Annotated[bool, Meta(description="true or false")] = False

    @property
    def run_timeout(self) -> float:
        """How long one run may take: ``timeout``, else keepalived's default, the interval."""
        return self.timeout if self.timeout is not None else self.interval

    def __post_init__(self) -> None:
        if self.group is not None and self.user is None:
            raise RuleBroken(
                ("group",), self.group, "applies only with user (as keepalived's user USER GROUP)"
            )


class TrackScript(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One entry of an instance's ``track_script``: a ``[[vrrp_script]]`` name, optionally with this
    instance's own weight and reverse flag (keepalived: ``name weight N [reverse|noreverse]``)."""

    name: Annotated[str, Meta(pattern=r"^[!-~]{1,128}$", description=_SCRIPT_NAME)]
    weight: Annotated[int, Meta(ge=-253, le=253, description=_WEIGHT)] | None = None
    reverse: Annotated[bool, Meta(description="true or false")] | None = None


_T = TypeVar("_T", bound=Struct)


def _name_or_table(cls: type[_T], allowed: str) -> Callable[[object], _T]:
    """A parser for a tracked-object entry: a bare name, or a table of ``cls``'s keys (keepalived's
    ``name weight N [reverse]`` line)."""

    def parse(value: object) -> _T:
        if isinstance(value, str):
            value = {"name": value}
        if not isinstance(value, dict):
            raise InvalidValue(f"must be {allowed}")
        try:
            return msgspec.convert(value, cls)
        except msgspec.ValidationError as exc:
            raise InvalidValue(f"{exc}; must be {allowed}") from None

    return parse


_TRACK = 'a [[vrrp_script]] name, or a table { name = "...", weight = N, reverse = true|false }'
_parse_track = _name_or_table(TrackScript, _TRACK)


class TrackInterface(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One entry of ``track_interface``: another interface whose link state this instance follows, as a
    tracked script (keepalived: weight 0 = FAULT while it is down; weight > 0 added while up, < 0 while
    down; ``reverse`` negates)."""

    name: Annotated[str, Meta(pattern=_IFNAME_RE, description=_IFNAME)]
    weight: Annotated[int, Meta(ge=-253, le=253, description=_WEIGHT)] = 0
    reverse: Annotated[bool, Meta(description="true or false")] = False


_TRACK_IF = 'an interface name, or a table { name = "...", weight = N, reverse = true|false }'
_parse_track_interface = _name_or_table(TrackInterface, _TRACK_IF)

_FILE_WEIGHT = "an integer -254..254"


class VrrpTrackFileConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One ``[[vrrp_track_file]]``: keepalived's ``track_file`` (``vrrp_track_file``) block.

    The file holds an integer (read as C's strtol does; missing, empty or unreadable: 0), re-read each
    time it is written, renamed or deleted. A tracking instance adds ``value × weight`` (negated with
    ``weight_reverse``), at most 253; -254 or less is FAULT; with weight 0 any value but 0 is FAULT
    (`vrrpd.protocol.tracking`).
    """

    name: Annotated[str, Meta(pattern=r"^[!-~]{1,128}$", description=_SCRIPT_NAME)]
    file: Annotated[
        str,
        Meta(pattern=r"^/[^\x00]*$", description="an absolute file path (its directory must exist)"),
    ]
    # keepalived's default weight of a track_file is 1: the file's value is added as it is.
    weight: Annotated[int, Meta(ge=-254, le=254, description=_FILE_WEIGHT)] = 1
    weight_reverse: Annotated[bool, Meta(description="true or false")] = False
    # keepalived's init_file [VALUE] [overwrite]: create the file with VALUE at start if it is missing
    # (or, with init_file_overwrite, always at start; never on a reload).
    init_file: Annotated[int, Meta(ge=-(2**31), le=2**31 - 1, description="a 32-bit integer")] | None = None
    init_file_overwrite: Annotated[bool, Meta(description="true or false")] = False

    def __post_init__(self) -> None:
        if self.init_file_overwrite and self.init_file is None:
            raise RuleBroken(
                ("init_file_overwrite",), True, "applies only with init_file (the value to write)"
            )


_PROCESS = "a process name (as in /proc/PID/comm, at most 15 characters) or, with full_command, argv[0]"


class VrrpTrackProcessConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One ``[[vrrp_track_process]]``: keepalived's ``vrrp_track_process``.

    The instances tracking it see it up while the number of processes matching ``process`` (and
    ``parameters``) is within ``quorum``..``quorum_max``; its weight acts as a ``vrrp_script``'s.
    """

    name: Annotated[str, Meta(pattern=r"^[!-~]{1,128}$", description=_SCRIPT_NAME)]
    process: Annotated[str, Meta(pattern=r"^[^\x00]{1,4095}$", description=_PROCESS)]
    parameters: Annotated[
        tuple[Annotated[str, Meta(pattern=r"^[^\x00]*$")], ...],
        Meta(description="a list of the process's arguments (after argv[0])"),
    ] = ()
    param_match: (
        Annotated[
            Literal["exact", "initial", "partial"], Meta(description='one of "exact", "initial", "partial"')
        ]
        | None
    ) = None
    full_command: Annotated[bool, Meta(description="true or false")] = False
    quorum: Annotated[int, Meta(ge=1, le=65535, description="an integer 1..65535")] = 1
    quorum_max: Annotated[int, Meta(ge=0, le=65535, description="an integer 0..65535")] | None = None
    delay: Annotated[float, Meta(gt=0, le=3600, description="a number of seconds > 0 and <= 3600")] | None = (
        None
    )
    terminate_delay: (
        Annotated[float, Meta(gt=0, le=3600, description="a number of seconds > 0 and <= 3600")] | None
    ) = None
    fork_delay: (
        Annotated[float, Meta(gt=0, le=3600, description="a number of seconds > 0 and <= 3600")] | None
    ) = None
    weight: Annotated[int, Meta(ge=-254, le=254, description=_FILE_WEIGHT)] = 0
    weight_reverse: Annotated[bool, Meta(description="true or false")] = False

    @property
    def bounds(self) -> tuple[int, int | None]:
        """(least, most) matching processes for the process to be up; quorum_max 0 means "not running"."""
        if self.quorum_max == 0:
            return 0, 0
        return self.quorum, self.quorum_max

    @property
    def match(self) -> Literal["exact", "initial", "partial"] | None:
        """How the arguments are compared: param_match, else "exact" when parameters are given."""
        if self.param_match is not None:
            return self.param_match
        return "exact" if self.parameters else None

    @property
    def by_command_line(self) -> bool:
        """Matched against /proc/PID/cmdline (argv[0] and the arguments) rather than comm."""
        return self.full_command or self.match is not None

    @property
    def delays(self) -> tuple[float, float]:
        """(terminate, fork) delay in seconds, 0 for none (``delay`` sets both)."""
        base = self.delay or 0.0
        return (
            self.terminate_delay if self.terminate_delay is not None else base,
            self.fork_delay if self.fork_delay is not None else base,
        )

    def __post_init__(self) -> None:
        if self.quorum_max is not None and self.quorum_max != 0 and self.quorum > self.quorum_max:
            raise RuleBroken(("quorum",), self.quorum, f"must not exceed quorum_max ({self.quorum_max})")
        if not self.by_command_line and len(self.process) > 15:
            raise RuleBroken(
                ("process",),
                self.process,
                "a process name (comm) has at most 15 characters: set full_command = true to match argv[0]",
            )


class TrackWeighted(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One entry of ``track_file`` / ``track_process``: a name, optionally with this instance's own
    weight and reverse flag (keepalived: ``name weight N [reverse|noreverse]``)."""

    name: Annotated[str, Meta(pattern=r"^[!-~]{1,128}$", description=_SCRIPT_NAME)]
    weight: Annotated[int, Meta(ge=-254, le=254, description=_FILE_WEIGHT)] | None = None
    reverse: Annotated[bool, Meta(description="true or false")] | None = None


_TRACK_FILE = 'a [[vrrp_track_file]] name, or a table { name = "...", weight = N, reverse = true|false }'
_TRACK_PROCESS = (
    'a [[vrrp_track_process]] name, or a table { name = "...", weight = N, reverse = true|false }'
)
_parse_track_file = _name_or_table(TrackWeighted, _TRACK_FILE)
_parse_track_process = _name_or_table(TrackWeighted, _TRACK_PROCESS)

# The tracking keys an instance and a sync group share (a group's reach every member).
TrackScripts = Annotated[
    tuple[TrackScript, ...], Parse(_parse_track, each=True), Meta(description=f"a list, each {_TRACK}")
]
TrackInterfaces = Annotated[
    tuple[TrackInterface, ...],
    Parse(_parse_track_interface, each=True),
    Meta(description=f"a list, each {_TRACK_IF}"),
]
TrackFiles = Annotated[
    tuple[TrackWeighted, ...],
    Parse(_parse_track_file, each=True),
    Meta(description=f"a list, each {_TRACK_FILE}"),
]
TrackProcesses = Annotated[
    tuple[TrackWeighted, ...],
    Parse(_parse_track_process, each=True),
    Meta(description=f"a list, each {_TRACK_PROCESS}"),
]


class InstanceConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One ``[[vrrp_instance]]``: a virtual router (interface, VRID) and what it does on transitions."""

    name: Annotated[
        str,
        Meta(
            # "/" too: keepalived-operator names instances namespace/service.
            pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$",
            description="a name of 1..64 letters, digits, '_', '.', ':', '/' or '-' (starting alphanumeric)",
        ),
    ]
    interface: Annotated[
        str,
        Meta(
            pattern=r"^[^\x00-\x20\x7f/:]{1,15}$",
            description="a network interface name (1..15 characters, no '/', ':' or spaces)",
        ),
    ]
    virtual_router_id: Annotated[int, Meta(ge=1, le=255, description="an integer 1..255")]
    priority: Annotated[int, Meta(ge=1, le=255, description="an integer 1..255 (255 = address owner)")] = 100
    # The [global] version when not set here (load.py fills it in before validation).
    version: Annotated[
        Literal[2, 3],
        Parse(_parse_version),
        Meta(description="2 or 3 (VRRPv3, RFC 5798: IPv6 and sub-second intervals)"),
    ] = 2
    # An int stays an int (2 is shown as 2, not 2.0); a fraction is for version 3 only (__post_init__).
    advert_int: (
        Annotated[int, Meta(ge=1, le=255, description=_ADVERT_INT)]
        | Annotated[float, Meta(gt=0, le=255, description=_ADVERT_INT)]
    ) = 1
    # RFC 5798 §6.1 Accept_Mode: whether a master that does not own the addresses accepts packets sent to
    # them. keepalived's default (true outside vrrp_strict); the RFC's default is false.
    accept: Annotated[bool, Meta(description="true or false")] = True
    preempt: Annotated[bool, Meta(description="true or false")] = True
    preempt_delay: Annotated[
        float, Meta(ge=0, le=3600, description="a number of seconds >= 0 and <= 3600")
    ] = 0.0
    # Empty (or omitted) is allowed, as in keepalived: a cloud-failover instance installs no address itself,
    # its notify program moves it through the provider's API; its adverts carry a count of 0.
    # Each entry an address string, or a table with keepalived's per-VIP options (`VipConfig`).
    virtual_ipaddress: Annotated[
        tuple[VipConfig, ...],
        Parse(_parse_vip_entry, each=True, tables=True),
        Meta(max_length=255, description=f"a list of 0..255 addresses, each {_VIP_ENTRY}"),
    ] = ()
    # keepalived's eVIPs: installed, removed and announced like the others, but not carried in adverts
    # (§5.3.5's one-octet count caps an advert at 255 addresses).
    virtual_ipaddress_excluded: Annotated[
        tuple[VipConfig, ...],
        Parse(_parse_vip_entry, each=True, tables=True),
        Meta(
            max_length=MAX_EXCLUDED,
            description=f"a list of 0..{MAX_EXCLUDED} addresses (not carried in adverts), each {_VIP_ENTRY}",
        ),
    ] = ()
    auth_pass: (
        Annotated[
            str, Meta(pattern=r"^[!-~]{1,8}$", description="1..8 printable ASCII characters without spaces")
        ]
        | None
    ) = None
    # keepalived's authentication { auth_type PASS | AH }: how auth_pass is used — the advert's text
    # password (RFC 2338 §5.3.6.1) or the key of an IPsec AH with HMAC-MD5-96 around it (§5.3.6.3).
    # Unset: PASS (when auth_pass is given).
    auth_type: (
        Annotated[Literal["PASS", "AH"], Meta(description='"PASS" or "AH" (with auth_pass)')] | None
    ) = None
    unicast_peer: Annotated[
        tuple[IPAddress, ...],
        Parse(_parse_host, each=True),
        Meta(description=f"a list of addresses, each {_HOST}"),
    ] = ()
    unicast_src_ip: Annotated[IPAddress, Parse(_parse_host), Meta(description=_HOST)] | None = None
    # keepalived's mcast_src_ip: the multicast adverts' source, and this router's address in §6.4.3's
    # tie-break, whether or not the interface holds it (keepalived writes it in the IP header).
    mcast_src_ip: Annotated[IPAddress, Parse(_parse_host), Meta(description=_HOST)] | None = None
    # keepalived's notify: called as COMMAND... INSTANCE <name> <STATE> <priority> on every change.
    notify: Annotated[tuple[str, ...], Parse(_parse_command), Meta(description=_COMMAND)] | None = None
    # keepalived's notify_master/backup/fault/stop: run as written, before `notify`, on entering the state.
    notify_master: Annotated[tuple[str, ...], Parse(_parse_command), Meta(description=_COMMAND)] | None = None
    notify_backup: Annotated[tuple[str, ...], Parse(_parse_command), Meta(description=_COMMAND)] | None = None
    notify_fault: Annotated[tuple[str, ...], Parse(_parse_command), Meta(description=_COMMAND)] | None = None
    notify_stop: Annotated[tuple[str, ...], Parse(_parse_command), Meta(description=_COMMAND)] | None = None
    notify_timeout: Annotated[
        float, Meta(gt=0, le=3600, description="a number of seconds > 0 and <= 3600")
    ] = 10.0
    garp_master_repeat: Annotated[int, Meta(ge=1, le=100, description="an integer 1..100")] = 5
    garp_master_delay: Annotated[
        float, Meta(ge=0, le=3600, description="a number of seconds >= 0 and <= 3600 (0 = no second burst)")
    ] = 5.0
    garp_master_refresh: Annotated[
        float, Meta(ge=0, le=86400, description="a number of seconds >= 0 and <= 86400 (0 = off)")
    ] = 0.0
    garp_master_refresh_repeat: Annotated[int, Meta(ge=1, le=100, description="an integer 1..100")] = 1
    # keepalived's skip_check_adv_addr: adverts from the master this backup follows skip §7.1's address check.
    skip_check_adv_addr: Annotated[bool, Meta(description="true or false")] = False
    # keepalived's garp_lower_prio_repeat/delay: GARPs a master sends on hearing a lower-priority advert.
    garp_lower_prio_repeat: Annotated[int, Meta(ge=0, le=100, description="an integer 0..100 (0 = none)")] = 5
    garp_lower_prio_delay: Annotated[
        float, Meta(ge=0, le=3600, description="a number of seconds >= 0 and <= 3600 (0 = no second burst)")
    ] = 5.0
    track_script: TrackScripts = ()
    check: Annotated[HealthCheckConfig, Meta(description="a [vrrp_instance.check] table")] | None = None
    # keepalived's virtual_routes / virtual_rules: present only while MASTER, like the VIPs.
    virtual_routes: Annotated[
        tuple[RouteConfig, ...],
        Meta(max_length=MAX_ROUTES, description="an array of [[vrrp_instance.virtual_routes]] tables"),
    ] = ()
    virtual_rules: Annotated[
        tuple[RuleConfig, ...],
        Meta(max_length=MAX_ROUTES, description="an array of [[vrrp_instance.virtual_rules]] tables"),
    ] = ()
    # keepalived's track_interface (other interfaces, with weights) and dont_track_primary (this
    # instance's own interface going down does not put it in FAULT).
    track_interface: TrackInterfaces = ()
    dont_track_primary: Annotated[bool, Meta(description="true or false")] = False
    # keepalived's track_file / track_process: [[vrrp_track_file]] / [[vrrp_track_process]] names.
    track_file: TrackFiles = ()
    track_process: TrackProcesses = ()
    # keepalived's use_vmac: the VIPs live on a macvlan carrying RFC 3768 §7.3's virtual MAC.
    use_vmac: Annotated[bool, Meta(description="true or false")] = False
    vmac_interface: Annotated[str, Meta(pattern=_IFNAME_RE, description=_IFNAME)] | None = None
    vmac_xmit_base: Annotated[bool, Meta(description="true or false")] = False

    def __repr__(self) -> str:
        # Keep the password out of logged reprs (str() is the repr too).
        shown = (f"{name}={getattr(self, name)!r}" for name in self.__struct_fields__ if name != "auth_pass")
        return f"{type(self).__name__}({', '.join(shown)})"

    @property
    def vips(self) -> tuple[IPInterface, ...]:
        """Every virtual IP address this instance installs as master, with its prefix: the advertised
        ones (``virtual_ipaddress``) first, then the excluded ones."""
        return tuple(v.address for v in self.vip_entries)

    @property
    def advertised_vips(self) -> tuple[IPInterface, ...]:
        """The addresses of ``virtual_ipaddress``: those the adverts carry."""
        return tuple(v.address for v in self.virtual_ipaddress)

    @property
    def excluded_vips(self) -> tuple[IPInterface, ...]:
        """The addresses of ``virtual_ipaddress_excluded``: installed, not advertised."""
        return tuple(v.address for v in self.virtual_ipaddress_excluded)

    @property
    def vip_entries(self) -> tuple[VipConfig, ...]:
        """Every VIP with its options, advertised ones first."""
        return self.virtual_ipaddress + self.virtual_ipaddress_excluded

    def vip_dev(self, vip: VipConfig) -> str | None:
        """The other interface ``vip`` lives on, or None: the instance's own (or its virtual MAC
        interface — keepalived puts a VIP whose dev is the instance's interface there too)."""
        return vip.dev if vip.dev is not None and vip.dev != self.interface else None

    @property
    def tracked_interfaces(self) -> tuple[TrackInterface, ...]:
        """``track_interface`` plus what keepalived tracks for the VIPs (vrrp.c, vrrp_complete_instance):
        the interface of each VIP on another device, unless the VIP is ``no_track``, at weight 0 (FAULT
        while it is down) — which also overrides a weighted track_interface entry of that interface, as
        keepalived's add_vrrp_to_interface does. A VIP on the instance's own interface adds nothing: that
        link is tracked already (or not, with dont_track_primary)."""
        devs = list(
            dict.fromkeys(d for v in self.vip_entries if not v.no_track for d in [self.vip_dev(v)] if d)
        )
        if not devs:
            return self.track_interface
        own = tuple(TrackInterface(name=t.name) if t.name in devs else t for t in self.track_interface)
        listed = {t.name for t in own}
        return own + tuple(TrackInterface(name=d) for d in devs if d not in listed)

    @property
    def vmac_name(self) -> str | None:
        """The macvlan's name with use_vmac (keepalived's default "vrrp.{VRID}"), else None."""
        if not self.use_vmac:
            return None
        return self.vmac_interface or f"vrrp.{self.virtual_router_id}"

    @property
    def family(self) -> int:
        """4 or 6: the address family of this virtual router (RFC 5798: one per instance), from its first
        address; 4 for an instance without any."""
        first = next(iter(self._addresses()), None)
        return 4 if first is None else first[1].version

    def _addresses(self) -> list[tuple[tuple[str | int, ...], IPAddress]]:
        """Every address of the instance with its key path, VIPs first."""
        found: list[tuple[tuple[str | int, ...], IPAddress]] = []
        for key in ("virtual_ipaddress", "virtual_ipaddress_excluded"):
            found += [((key, i), vip.address.ip) for i, vip in enumerate(getattr(self, key))]
        found += [(("unicast_peer", i), peer) for i, peer in enumerate(self.unicast_peer)]
        for key in ("unicast_src_ip", "mcast_src_ip"):
            if getattr(self, key) is not None:
                found.append(((key,), getattr(self, key)))
        return found

    @property
    def src_ip(self) -> IPAddress | None:
        """The configured advert source (unicast_src_ip or mcast_src_ip), None for the interface's own."""
        return self.unicast_src_ip or self.mcast_src_ip

    @property
    def is_owner(self) -> bool:
        """Priority 255: this router owns the addresses (RFC 3768 section 5.3.4)."""
        return self.priority == 255

    @property
    def auth_data(self) -> bytes | None:
        """The 8-byte Authentication Data field for auth type 1 (simple text), zero-padded."""
        if self.auth_pass is None:
            return None
        return self.auth_pass.encode("ascii").ljust(8, b"\0")

    def __post_init__(self) -> None:
        self._check_version()
        seen: dict[IPAddress, str] = {}
        for key in ("virtual_ipaddress", "virtual_ipaddress_excluded"):
            for index, entry in enumerate(getattr(self, key)):
                vip = entry.address
                if vip.ip in seen:
                    raise RuleBroken((key, index), str(vip), f"duplicate of {seen[vip.ip]}")
                seen[vip.ip] = f"{key}[{index}]"
        peers: set[IPAddress] = set()
        for index, peer in enumerate(self.unicast_peer):
            where = ("unicast_peer", index)
            if peer in peers:
                raise RuleBroken(where, str(peer), "listed twice")
            if peer == self.unicast_src_ip:
                raise RuleBroken(where, str(peer), "is unicast_src_ip: a router cannot peer with itself")
            if peer in seen:
                raise RuleBroken(where, str(peer), "is one of this instance's virtual addresses")
            peers.add(peer)
        if self.unicast_src_ip is not None and not self.unicast_peer:
            raise RuleBroken(
                ("unicast_src_ip",),
                str(self.unicast_src_ip),
                "applies only with unicast_peer (set mcast_src_ip for multicast adverts)",
            )
        if self.mcast_src_ip is not None and self.unicast_peer:
            raise RuleBroken(
                ("mcast_src_ip",), str(self.mcast_src_ip), "not with unicast_peer: set unicast_src_ip"
            )
        if isinstance(self.mcast_src_ip, IPv6Address) and not self.mcast_src_ip.is_link_local:
            raise RuleBroken(
                ("mcast_src_ip",),
                str(self.mcast_src_ip),
                "must be a link-local address: RFC 5798 §5.1.2.1 (IPv6 adverts leave from one)",
            )
        tracked: set[str] = set()
        for index, track in enumerate(self.track_script):
            if track.name in tracked:
                raise RuleBroken(("track_script", index), track.name, "tracked twice")
            tracked.add(track.name)
        tracked_ifs: set[str] = set()
        for index, track_if in enumerate(self.track_interface):
            if track_if.name in tracked_ifs:
                raise RuleBroken(("track_interface", index), track_if.name, "tracked twice")
            tracked_ifs.add(track_if.name)
        for key in ("track_file", "track_process"):
            names: set[str] = set()
            for index, entry in enumerate(getattr(self, key)):
                if entry.name in names:
                    raise RuleBroken((key, index), entry.name, "tracked twice")
                names.add(entry.name)
        if not self.use_vmac:
            for key in ("vmac_interface", "vmac_xmit_base"):
                if getattr(self, key):
                    raise RuleBroken((key,), getattr(self, key), "applies only with use_vmac = true")
        elif self.vmac_name == self.interface:
            raise RuleBroken(("vmac_interface",), self.vmac_name, "must differ from interface")
        elif self.unicast_peer and not self.vmac_xmit_base:
            # keepalived: "unicast with use_vmac requires vmac_xmit_base" (it sets it, with a warning).
            raise RuleBroken(
                ("vmac_xmit_base",),
                False,
                "must be true with unicast_peer: unicast adverts leave from interface",
            )
        if self.is_owner and self.check is not None and self.check.weight != 0:
            raise RuleBroken(
                ("check", "weight"),
                self.check.weight,
                "must be 0 with priority 255: an address owner's priority cannot change "
                "(a failing check puts it in FAULT instead)",
            )

    def _check_version(self) -> None:
        """What tells VRRPv2 and VRRPv3 apart: address family, interval resolution, authentication."""
        addresses = self._addresses()
        if addresses:
            first_key, first = addresses[0]
            for key, address in addresses:
                if address.version != first.version:
                    where = ".".join(str(k) if isinstance(k, str) else f"[{k}]" for k in first_key)
                    raise RuleBroken(
                        key,
                        str(address),
                        f"is IPv{address.version} but {where.replace('.[', '[')} is IPv{first.version}: "
                        "one address family per instance (as keepalived)",
                    )
            if first.version == 6 and self.version == 2:
                raise RuleBroken(
                    first_key,
                    str(first),
                    "IPv6 needs VRRPv3: set version = 3 (in this [[vrrp_instance]] or in [global])",
                )
        if self.version == 3 and not self.virtual_ipaddress:
            # keepalived refuses it too ("No VIP specified; at least one is required"): RFC 5798 §5.2.5
            # counts addresses from 1, and a VRRPv3 router is identified by them.
            raise RuleBroken(
                ("virtual_ipaddress",),
                [],
                "VRRPv3 needs at least one address (an instance without addresses is VRRPv2 only, as in "
                "keepalived)",
            )
        if self.version == 3 and self.auth_pass is not None:
            raise RuleBroken(
                ("auth_pass",),
                self.auth_pass,
                "VRRPv3 has no authentication (RFC 5798 §9): remove auth_pass, or use version = 2",
            )
        if self.auth_type is not None and self.auth_pass is None:
            raise RuleBroken(
                ("auth_type",),
                self.auth_type,
                "needs auth_pass (PASS: the password; AH: the HMAC-MD5 key); keepalived ignores "
                "authentication without one",
            )
        if self.version == 2 and self.advert_int != int(self.advert_int):
            raise RuleBroken(
                ("advert_int",),
                self.advert_int,
                "VRRPv2 advertises whole seconds: must be a whole number 1..255 "
                "(sub-second intervals need version = 3)",
            )
        centiseconds = self.advert_int * 100
        if self.version == 3 and (
            abs(centiseconds - round(centiseconds)) > 1e-6 or not 1 <= round(centiseconds) <= 4095
        ):
            raise RuleBroken(("advert_int",), self.advert_int, f"must be {_V3_INTERVAL}")


class SyncGroupConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One ``[[vrrp_sync_group]]``: instances that change state together (keepalived's vrrp_sync_group).

    One member in FAULT puts them all in FAULT; they become MASTER only all together; one preempted
    takes the others to BACKUP (`vrrpd.protocol.sync`). The notify programs get ``GROUP name STATE 0``.
    """

    name: Annotated[
        str,
        Meta(
            pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
            description="a name of 1..64 letters, digits, '_', '.', ':' or '-' (starting alphanumeric)",
        ),
    ]
    group: Annotated[
        tuple[str, ...], Meta(min_length=1, description="a list of 1 or more [[vrrp_instance]] names")
    ]
    notify: Annotated[tuple[str, ...], Parse(_parse_command), Meta(description=_COMMAND)] | None = None
    notify_master: Annotated[tuple[str, ...], Parse(_parse_command), Meta(description=_COMMAND)] | None = None
    notify_backup: Annotated[tuple[str, ...], Parse(_parse_command), Meta(description=_COMMAND)] | None = None
    notify_fault: Annotated[tuple[str, ...], Parse(_parse_command), Meta(description=_COMMAND)] | None = None
    notify_stop: Annotated[tuple[str, ...], Parse(_parse_command), Meta(description=_COMMAND)] | None = None
    notify_timeout: Annotated[
        float, Meta(gt=0, le=3600, description="a number of seconds > 0 and <= 3600")
    ] = 10.0
    # Tracked by every member (keepalived adds a group's track_script to each of its instances).
    track_script: TrackScripts = ()
    # keepalived's track_interface / track_file / track_process of a group: tracked by every member.
    track_interface: TrackInterfaces = ()
    track_file: TrackFiles = ()
    track_process: TrackProcesses = ()
    # keepalived's sync_group_tracking_weight: without it a member's weighted checks are ignored.
    tracking_weight: Annotated[bool, Meta(description="true or false")] = False

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for index, member in enumerate(self.group):
            if member in seen:
                raise RuleBroken(("group", index), member, "listed twice")
            seen.add(member)


class GlobalConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[global]``: daemon-wide settings; each key may be overridden by ``VRRPD_<KEY>``."""

    router_id: Annotated[
        str,
        Meta(pattern=r"^[^\x00-\x1f\x7f]{1,64}$", description="1..64 characters without control characters"),
    ] = msgspec.field(default_factory=socket.gethostname)
    control_socket: Annotated[
        Path,
        Parse(_parse_socket_path),
        Meta(description=f"a path of at most {_MAX_SOCKET_PATH} bytes"),
    ] = Path("/run/vrrpd/vrrpd.sock")
    log_format: Annotated[
        Literal["auto", "json", "console"], Meta(description='one of "auto", "json", "console"')
    ] = "auto"
    metrics_listen: Annotated[ListenAddress, Parse(_parse_listen), Meta(description=_LISTEN)] | None = None
    notify_fifo: (
        Annotated[
            Path,
            Parse(_parse_fifo),
            Meta(description='a file path for the notify FIFO (created if missing), or "" for off'),
        ]
        | None
    ) = None
    # keepalived's notify_fifo_script (vrrp_notify_fifo_script): a reader of the FIFO, started with its path
    # as the last argument once the FIFO exists, kept running (not restarted when it exits), stopped with
    # the daemon; run as script_user.
    notify_fifo_script: (
        Annotated[tuple[str, ...], Parse(_parse_command), Meta(description=_COMMAND)] | None
    ) = None
    # keepalived's enable_script_security: refuse to run a check or notify program as root (or group root)
    # when it, or a directory above it, can be changed by someone other than root.
    enable_script_security: Annotated[bool, Meta(description="true or false")] = False
    # keepalived's script_user USER [GROUP]: who runs the programs by default (unset: keepalived's rule,
    # the user keepalived_script if it exists, else root).
    script_user: Annotated[str, Meta(pattern=r"^[^\x00-\x20:]{1,64}$", description=_USER)] | None = None
    script_group: (
        Annotated[str, Meta(pattern=r"^[^\x00-\x20:]{1,64}$", description="a group name or id")] | None
    ) = None
    # keepalived's vrrp_garp_interval: the pause between two gratuitous ARPs on one interface.
    garp_interval: Annotated[
        float, Meta(ge=0, le=1, description="a number of seconds 0..1 (0 = no pause)")
    ] = 0.0
    # keepalived's vrrp_gna_interval: the same for the unsolicited Neighbor Advertisements of IPv6 VIPs.
    gna_interval: Annotated[
        float, Meta(ge=0, le=1, description="a number of seconds 0..1 (0 = no pause)")
    ] = 0.0
    # The default of every [[vrrp_instance]] that sets no version of its own (keepalived's vrrp_version).
    version: Annotated[
        Literal[2, 3],
        Parse(_parse_version),
        Meta(description="2 or 3 (the default VRRP version of every instance)"),
    ] = 2

    def __post_init__(self) -> None:
        if self.notify_fifo_script is not None and self.notify_fifo is None:
            raise RuleBroken(
                ("notify_fifo_script",),
                " ".join(self.notify_fifo_script),
                "applies only with notify_fifo (its path is the program's argument)",
            )


class Config(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The whole configuration: ``[global]`` and at least one ``[[vrrp_instance]]``."""

    global_: Annotated[GlobalConfig, Meta(description="a [global] table")] = msgspec.field(
        name="global", default_factory=GlobalConfig
    )
    vrrp_instance: Annotated[
        tuple[InstanceConfig, ...], Meta(min_length=1, description="at least one [[vrrp_instance]] table")
    ]
    vrrp_script: Annotated[
        tuple[VrrpScriptConfig, ...], Meta(description="[[vrrp_script]] tables (named checks)")
    ] = ()
    vrrp_sync_group: Annotated[
        tuple[SyncGroupConfig, ...], Meta(description="[[vrrp_sync_group]] tables")
    ] = ()
    vrrp_track_file: Annotated[
        tuple[VrrpTrackFileConfig, ...], Meta(description="[[vrrp_track_file]] tables (tracked files)")
    ] = ()
    vrrp_track_process: Annotated[
        tuple[VrrpTrackProcessConfig, ...],
        Meta(description="[[vrrp_track_process]] tables (tracked processes)"),
    ] = ()
    # Not a configuration key (a leading "_" keeps a field out of the TOML schema): see ``source``.
    _source: str = "<config>"
    # Not a key either: each key path's line in the file, for error messages (`vrrpd.config.lines.pack`).
    _lines: str = ""

    @property
    def source(self) -> str:
        """Where this configuration was read from (a file path), for error messages."""
        return self._source

    def where(self, key: str) -> str:
        """``source:line`` of a key path (``vrrp_instance[0].interface``), or its enclosing key's or
        table's line; just ``source`` when the file does not say (a key from the environment)."""
        line = line_of(unpack(self._lines), key)
        return self._source if line is None else f"{self._source}:{line}"

    def sync_group_of(self, instance: str) -> SyncGroupConfig | None:
        """The ``[[vrrp_sync_group]]`` an instance belongs to, if any."""
        return next((g for g in self.vrrp_sync_group if instance in g.group), None)

    def _check_sync_groups(self, script_names: Mapping[str, int]) -> None:
        instances = {inst.name: inst for inst in self.vrrp_instance}
        groups: dict[str, int] = {}
        member_of: dict[str, int] = {}
        for index, group in enumerate(self.vrrp_sync_group):
            here: tuple[str | int, ...] = ("vrrp_sync_group", index)
            if group.name in groups:
                raise RuleBroken(
                    (*here, "name"), group.name, f"also used by vrrp_sync_group[{groups[group.name]}]"
                )
            groups[group.name] = index
            for track_index, track in enumerate(group.track_script):
                if track.name not in script_names:
                    raise RuleBroken(
                        (*here, "track_script", track_index), track.name, "no [[vrrp_script]] has this name"
                    )
            for member_index, member in enumerate(group.group):
                where = (*here, "group", member_index)
                if member not in instances:
                    raise RuleBroken(where, member, "no [[vrrp_instance]] has this name")
                if member in member_of:
                    raise RuleBroken(where, member, f"already in vrrp_sync_group[{member_of[member]}]")
                member_of[member] = index
                inst = instances[member]
                if group.tracking_weight:
                    continue
                weighted = [t.name for t in inst.track_script if self._weight(t) != 0]
                weighted += [f"interface {t.name}" for t in inst.track_interface if t.weight != 0]
                weighted += [f"file {t.name}" for t in inst.track_file if self.file_weight(t)[0] != 0]
                if inst.check is not None and inst.check.weight != 0:
                    weighted.append("check")
                if weighted:
                    raise RuleBroken(
                        where,
                        member,
                        f"tracks {', '.join(weighted)} with a weight: keepalived ignores weighted checks of "
                        "a sync group member (set weight 0, or tracking_weight = true in the group)",
                    )

    def _track_group_scripts(self) -> None:
        """A group's track_script, track_interface, track_file and track_process lines are tracked by each
        of its members (keepalived adds them to each): written into the members' own lists here, once,
        so that everything downstream sees one list. A member's own entry of the same name wins."""
        keys = ("track_script", "track_interface", "track_file", "track_process")
        if not any(getattr(g, key) for g in self.vrrp_sync_group for key in keys):
            return
        instances = list(self.vrrp_instance)
        by_name = {inst.name: inst for inst in instances}
        for index, inst in enumerate(instances):
            group = self.sync_group_of(inst.name)
            if group is None:
                continue
            # keepalived (sync_group_tracking_init): a group's tracking keeps its weights, whatever
            # sync_group_tracking_weight says, unless a member is an address owner: then weight 0.
            owner = any(by_name[m].is_owner for m in group.group if m in by_name)
            changes: dict[str, object] = {}
            for key in keys:
                own = getattr(inst, key)
                names = {t.name for t in own}
                extra = tuple(
                    msgspec.structs.replace(t, weight=0) if owner else t
                    for t in getattr(group, key)
                    if t.name not in names
                )
                if extra:
                    changes[key] = own + extra
            if changes:
                instances[index] = msgspec.structs.replace(inst, **changes)
        msgspec.structs.force_setattr(self, "vrrp_instance", tuple(instances))

    def _name_default_vmacs(self) -> None:
        """Give each use_vmac instance without vmac_interface keepalived's default name: "vrrp.{VRID}",
        or when an earlier instance (or an interface or a named virtual MAC) has it, the next free one
        in keepalived's order — "vrrp6.{VRID}" first for IPv6, then "vrrp1.{VRID}", "vrrp2.{VRID}", …
        (keepalived's vrrp_complete_instance). An IPv4 and an IPv6 router sharing a VRID thus get
        vrrp.51 and vrrp6.51, as with keepalived."""
        taken = {i.interface for i in self.vrrp_instance}
        taken |= {i.vmac_interface for i in self.vrrp_instance if i.use_vmac and i.vmac_interface}
        instances = list(self.vrrp_instance)
        for index, inst in enumerate(instances):
            if not inst.use_vmac or inst.vmac_interface:
                continue
            vrid, num, name = inst.virtual_router_id, 0, f"vrrp.{inst.virtual_router_id}"
            while name in taken and num < 100:  # bounded: 100 names per VRID is more than any host has
                if inst.family == 6:
                    num = 6 if num == 0 else 1 if num == 6 else num + 2 if num == 5 else num + 1
                else:
                    num += 1
                name = f"vrrp{num}.{vrid}"
            taken.add(name)
            instances[index] = msgspec.structs.replace(inst, vmac_interface=name)
        msgspec.structs.force_setattr(self, "vrrp_instance", tuple(instances))

    def _check_tracked_names(self) -> None:
        """Every track_file / track_process entry names a table of its kind; names are unique."""
        for key, entry_key in (("vrrp_track_file", "track_file"), ("vrrp_track_process", "track_process")):
            defined: dict[str, int] = {}
            for index, table in enumerate(getattr(self, key)):
                if table.name in defined:
                    raise RuleBroken(
                        (key, index, "name"), table.name, f"also used by {key}[{defined[table.name]}]"
                    )
                defined[table.name] = index
            owners: list[tuple[str, int, InstanceConfig | SyncGroupConfig]]
            owners = [("vrrp_instance", i, inst) for i, inst in enumerate(self.vrrp_instance)]
            owners += [("vrrp_sync_group", i, g) for i, g in enumerate(self.vrrp_sync_group)]
            for where, index, owner in owners:
                for track_index, track in enumerate(getattr(owner, entry_key)):
                    if track.name not in defined:
                        raise RuleBroken(
                            (where, index, entry_key, track_index), track.name, f"no [[{key}]] has this name"
                        )

    def _resolve_tracked_weights(self) -> None:
        """Each instance's track_file / track_process entry gets its weight and reverse flag written in
        (its own, else its table's): the daemon reads the entry alone, and a reload that changes a
        table's weight changes the instances that track it."""
        instances = list(self.vrrp_instance)
        for index, inst in enumerate(instances):
            if not inst.track_file and not inst.track_process:
                continue
            files = tuple(
                TrackWeighted(name=t.name, weight=w, reverse=r)
                for t in inst.track_file
                for w, r in [self.file_weight(t)]
            )
            processes = tuple(
                TrackWeighted(name=t.name, weight=w, reverse=r)
                for t in inst.track_process
                for w, r in [self.process_weight(t)]
            )
            instances[index] = msgspec.structs.replace(inst, track_file=files, track_process=processes)
        msgspec.structs.force_setattr(self, "vrrp_instance", tuple(instances))

    def file_weight(self, track: TrackWeighted) -> tuple[int, bool]:
        """A track_file entry's (weight, reverse): its own, else its [[vrrp_track_file]]'s."""
        table = next(t for t in self.vrrp_track_file if t.name == track.name)
        return (
            track.weight if track.weight is not None else table.weight,
            track.reverse if track.reverse is not None else table.weight_reverse,
        )

    def process_weight(self, track: TrackWeighted) -> tuple[int, bool]:
        """A track_process entry's (weight, reverse): its own, else its [[vrrp_track_process]]'s."""
        table = next(t for t in self.vrrp_track_process if t.name == track.name)
        return (
            track.weight if track.weight is not None else table.weight,
            track.reverse if track.reverse is not None else table.weight_reverse,
        )

    def _weight(self, track: TrackScript) -> int:
        if track.weight is not None:
            return track.weight
        script = next((s for s in self.vrrp_script if s.name == track.name), None)
        return script.weight if script is not None else 0

    @property
    def scripts(self) -> dict[str, VrrpScriptConfig]:
        """The ``[[vrrp_script]]`` tables by name."""
        return {script.name: script for script in self.vrrp_script}

    def _one_source(self, sources: dict[tuple[str, int], int], index: int) -> None:
        """The IPv6 instances of one interface share its socket, so one advert source: with an
        mcast_src_ip, all of them must name the same (keepalived writes each instance's own into its IP
        header; vrrpd binds the interface's IPv6 socket to it). IPv4 instances each send from their own
        (the socket is told each send's source: `vrrpd.kernel.vrrp_socket`)."""
        inst = self.vrrp_instance[index]
        if inst.family == 4:
            return
        where = (inst.vmac_name if inst.use_vmac and not inst.vmac_xmit_base else None) or inst.interface
        first = sources.setdefault((where, inst.family), index)
        other = self.vrrp_instance[first]
        if first == index or (inst.mcast_src_ip is None and other.mcast_src_ip is None):
            return
        if inst.src_ip != other.src_ip:
            theirs = other.src_ip or "the interface's own address"
            raise RuleBroken(
                ("vrrp_instance", index, "mcast_src_ip"),
                str(inst.src_ip),
                f"vrrp_instance[{first}] ({other.name}) on {where} sends from {theirs}: vrrpd sends the"
                f" IPv{inst.family} adverts of an interface from one address (the same mcast_src_ip on each)",
            )

    def __post_init__(self) -> None:
        script_names: dict[str, int] = {}
        for index, script in enumerate(self.vrrp_script):
            if script.name in script_names:
                first = script_names[script.name]
                raise RuleBroken(
                    ("vrrp_script", index, "name"), script.name, f"also used by vrrp_script[{first}]"
                )
            script_names[script.name] = index
        for index, inst in enumerate(self.vrrp_instance):
            for track_index, track in enumerate(inst.track_script):
                if track.name not in script_names:
                    raise RuleBroken(
                        ("vrrp_instance", index, "track_script", track_index),
                        track.name,
                        "no [[vrrp_script]] has this name",
                    )
        self._check_tracked_names()
        self._check_sync_groups(script_names)
        self._track_group_scripts()
        self._resolve_tracked_weights()
        self._name_default_vmacs()
        for index, inst in enumerate(self.vrrp_instance):
            for track_index, tracked_file in enumerate(inst.track_file):
                if inst.is_owner and self.file_weight(tracked_file)[0] != 0:
                    raise RuleBroken(
                        ("vrrp_instance", index, "track_file", track_index),
                        tracked_file.name,
                        "has a weight with priority 255: keepalived ignores an address owner's weighted "
                        "tracked files (set weight 0: FAULT while the value is not 0)",
                    )
        names: dict[str, int] = {}
        routers: dict[tuple[str, int, int], int] = {}
        vips: dict[IPAddress, int] = {}
        vmacs: dict[str, int] = {}
        sources: dict[tuple[str, int], int] = {}
        for index, inst in enumerate(self.vrrp_instance):
            here: tuple[str | int, ...] = ("vrrp_instance", index)
            self._one_source(sources, index)
            vmac = inst.vmac_name
            if vmac is not None and (vmac in vmacs or vmac in {i.interface for i in self.vrrp_instance}):
                other = (
                    f"vrrp_instance[{vmacs[vmac]}]'s virtual MAC interface"
                    if vmac in vmacs
                    else "an interface"
                )
                raise RuleBroken((*here, "vmac_interface"), vmac, f"{vmac} is already {other}")
            if vmac is not None:
                vmacs[vmac] = index
            if inst.name in names:
                first = names[inst.name]
                raise RuleBroken((*here, "name"), inst.name, f"also used by vrrp_instance[{first}]")
            names[inst.name] = index
            # RFC 5798 §1: an IPv4 and an IPv6 virtual router may share a VRID; one family may not.
            router = (inst.interface, inst.virtual_router_id, inst.family)
            if router in routers:
                first = routers[router]
                raise RuleBroken(
                    (*here, "virtual_router_id"),
                    inst.virtual_router_id,
                    f"VRID {inst.virtual_router_id} on {inst.interface} is already used by "
                    f"vrrp_instance[{first}] ({self.vrrp_instance[first].name}) for IPv{inst.family}",
                )
            routers[router] = index
            for key in ("virtual_ipaddress", "virtual_ipaddress_excluded"):
                for vip_index, entry in enumerate(getattr(inst, key)):
                    vip = entry.address
                    if vip.ip in vips:
                        first = vips[vip.ip]
                        raise RuleBroken(
                            (*here, key, vip_index),
                            str(vip),
                            f"{vip.ip} is already a virtual address of vrrp_instance[{first}] "
                            f"({self.vrrp_instance[first].name})",
                        )
                    vips[vip.ip] = index
