"""Configuration: a TOML file plus ``VRRPD_*`` environment variables, validated into frozen structs.

This module owns the configuration contract (keys, types, ranges, cross-field rules) and turns every
mistake into a ``ConfigError`` whose text is one line: source, key path, value, what is allowed. It
reads the filesystem only to check that notify/check scripts are executable, and the host only in
``check_interfaces``; it must not open sockets or start anything.

Precedence: environment (``VRRPD_<KEY>``, ``[global]`` keys only) > file > built-in default.

Validation walks the TOML tables itself and asks msgspec about one key at a time (types, ``Meta``
bounds and patterns), so that every wrong key is reported, not only the first one msgspec meets;
addresses and paths are not TOML types and are converted by the ``_Parse`` function of their field.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
import socket
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, TypeVar

import msgspec
from msgspec import Meta, Struct

__all__ = [
    "ENV_ALLOWLIST",
    "ENV_PREFIX",
    "MAX_EXCLUDED",
    "CheckConfig",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "GlobalConfig",
    "InstanceConfig",
    "ListenAddress",
    "check_interfaces",
    "describe",
    "fields_of",
    "from_dict",
    "load_config",
    "parse_config",
    "to_dict",
]

ENV_PREFIX = "VRRPD_"
# VRRPD_* variables that are not [global] keys but are still legitimate: the CLI's default config
# path, and the test lab's namespace prefix (inherited by the daemons a lab starts).
ENV_ALLOWLIST = frozenset({"VRRPD_CONFIG", "VRRPD_LAB_PREFIX"})

# Keeps the one error line readable when several problems are reported together.
_MAX_ISSUES = 5
# Excluded VIPs are not in adverts, so §5.3.5's 255 does not bound them; this bound keeps one instance's
# takeover (one netlink batch per 128 addresses, garp_master_repeat GARPs each) in the tens of milliseconds.
MAX_EXCLUDED = 4096
# sun_path is 108 bytes including the terminating NUL.
_MAX_SOCKET_PATH = 107

# ---------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True)
class ConfigIssue:
    """One problem: where it came from, which key, the offending value (rendered), what is allowed."""

    source: str
    problem: str
    key: str | None = None
    value: str | None = None

    def __str__(self) -> str:
        parts = [self.source]
        if self.key is not None:
            parts.append(self.key if self.value is None else f"{self.key} = {self.value}")
        parts.append(self.problem)
        return _one_line(": ".join(parts))


class ConfigError(Exception):
    """A configuration mistake; ``str()`` is exactly one line meant to be shown to the operator."""

    def __init__(self, *issues: ConfigIssue) -> None:
        if not issues:
            raise ValueError("ConfigError needs at least one issue")
        self.issues = issues
        super().__init__(str(self))

    def __str__(self) -> str:
        shown = "; ".join(str(issue) for issue in self.issues[:_MAX_ISSUES])
        hidden = len(self.issues) - _MAX_ISSUES
        return shown if hidden <= 0 else f"{shown}; (and {hidden} more)"


def _one_line(text: str) -> str:
    return " ".join(text.split())


class _Invalid(ValueError):
    """Raised by a value parser; the message is already the "what is allowed" text."""


class _Rule(ValueError):
    """A cross-field rule broken in ``__post_init__``: the key path (relative to the table) and value."""

    def __init__(self, key: tuple[str | int, ...], value: object, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.value = value


# ---------------------------------------------------------------------------------------------
# Value types

_IPV4_ADDRESS = "an IPv4 address such as 192.0.2.11"
_VIP = 'an IPv4 address with an optional prefix such as "192.0.2.100/24" (default /32)'


@dataclass(frozen=True, slots=True)
class _Parse:
    """``Annotated`` metadata: converts the TOML value (``each``: every item of an array) to the field's type.

    Raises ``_Invalid``; msgspec then still checks the result against the field's type and ``Meta``.
    """

    func: Callable[[object], object]
    each: bool = False


def _ipv4(value: object, allowed: str) -> IPv4Address:
    if not isinstance(value, str):
        raise _Invalid(f"must be {allowed}")
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise _Invalid(f"must be {allowed}") from None
    if address.version == 6:
        raise _Invalid(f"IPv6 is not supported yet (VRRPv3); must be {allowed}")
    assert isinstance(address, IPv4Address)
    return address


def _unicast(address: IPv4Address, allowed: str) -> None:
    # A VIP, peer or check target must be something a host can actually own or reach.
    if address.is_multicast or address.is_unspecified or address.is_loopback:
        raise _Invalid(f"must be a unicast address, not {address}; must be {allowed}")
    if address == IPv4Address("255.255.255.255"):
        raise _Invalid(f"must be a unicast address, not the broadcast address; must be {allowed}")


def _parse_host(value: object) -> IPv4Address:
    address = _ipv4(value, _IPV4_ADDRESS)
    _unicast(address, _IPV4_ADDRESS)
    return address


def _parse_check_host(value: object) -> IPv4Address:
    # A health check may probe a service bound to loopback (keepalived's `</dev/tcp/127.0.0.1/80`):
    # only addresses nothing can listen on are refused.
    address = _ipv4(value, _IPV4_ADDRESS)
    if address.is_multicast or address.is_unspecified or address == IPv4Address("255.255.255.255"):
        raise _Invalid(f"must be an address a service can listen on, not {address}; must be {_IPV4_ADDRESS}")
    return address


def _parse_vip(value: object) -> IPv4Interface:
    if not isinstance(value, str):
        raise _Invalid(f"must be {_VIP}")
    try:
        iface = ipaddress.ip_interface(value)
    except ValueError:
        raise _Invalid(f"must be {_VIP}") from None
    if iface.version == 6:
        raise _Invalid(f"IPv6 is not supported yet (VRRPv3); must be {_VIP}")
    assert isinstance(iface, IPv4Interface)
    _unicast(iface.ip, _VIP)
    net = iface.network
    if net.prefixlen <= 30 and iface.ip in (net.network_address, net.broadcast_address):
        raise _Invalid(f"{iface.ip} is the network or broadcast address of {net}; must be {_VIP}")
    return iface


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
        raise _Invalid(f"must be {_LISTEN}")
    if value == "":
        return None
    match = _LISTEN_RE.match(value)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise _Invalid(f"must be {_LISTEN}")
    host = match["v6"] or match["host"]
    if match["v6"] is not None:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _Invalid(f"must be {_LISTEN}") from None
    return ListenAddress(host, int(match["port"]))


def _parse_socket_path(value: object) -> Path:
    if not isinstance(value, str) or value in ("", ".") or "\x00" in value:
        raise _Invalid("must be a file path for the control socket")
    if len(os.fsencode(value)) > _MAX_SOCKET_PATH:
        raise _Invalid(f"must be at most {_MAX_SOCKET_PATH} bytes long (a Unix socket path limit)")
    return Path(value)


def _parse_fifo(value: object) -> Path | None:
    if not isinstance(value, str):
        raise _Invalid('must be a file path for the notify FIFO, or "" for off')
    if value == "":
        return None
    if "\x00" in value:
        raise _Invalid("must be a file path for the notify FIFO (no NUL characters)")
    return Path(value)


def _parse_executable(value: object) -> Path:
    if not isinstance(value, str) or "\x00" in value:
        raise _Invalid("must be an absolute path to an executable file")
    path = Path(value)
    if not path.is_absolute():
        raise _Invalid("must be an absolute path to an executable file")
    if not path.is_file():
        raise _Invalid("no such file; must be an absolute path to an executable file")
    if not os.access(path, os.X_OK):
        raise _Invalid("file is not executable (chmod +x?); must be an executable file")
    return path


_EXECUTABLE = "an absolute path to an executable file"

# ---------------------------------------------------------------------------------------------
# Structs. Each field's Meta description is the "what is allowed" text of its error messages.
# The walk below reports unknown and missing keys itself; forbid_unknown_fields keeps msgspec's own
# decoders (msgspec.convert, msgspec.json) to the same contract.


class CheckConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[vrrp_instance.check]``: a health check that lowers the priority or forces FAULT."""

    tcp_port: Annotated[int, Meta(ge=1, le=65535, description="a TCP port 1..65535")] | None = None
    script: Annotated[Path, _Parse(_parse_executable), Meta(description=_EXECUTABLE)] | None = None
    host: Annotated[IPv4Address, _Parse(_parse_check_host), Meta(description=_IPV4_ADDRESS)] | None = None
    interval: Annotated[float, Meta(gt=0, le=3600, description="a number of seconds > 0 and <= 3600")] = 2.0
    timeout: Annotated[float, Meta(gt=0, le=3600, description="a number of seconds > 0 and <= 3600")] = 1.0
    rise: Annotated[int, Meta(ge=1, le=255, description="an integer 1..255")] = 1
    fall: Annotated[int, Meta(ge=1, le=255, description="an integer 1..255")] = 1
    weight: Annotated[int, Meta(ge=0, le=253, description="an integer 0..253")] = 0

    def __post_init__(self) -> None:
        if (self.tcp_port is None) == (self.script is None):
            both = self.tcp_port is not None
            raise _Rule(
                ("tcp_port",) if both else (),
                self.tcp_port if both else None,
                "set exactly one of tcp_port and script" + (", not both" if both else ""),
            )
        if self.host is not None and self.script is not None:
            raise _Rule(("host",), str(self.host), "host applies only to a tcp_port check")
        if self.timeout > self.interval:
            raise _Rule(
                ("timeout",),
                self.timeout,
                f"must not exceed interval ({self.interval:g}): checks would overlap",
            )


class InstanceConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One ``[[vrrp_instance]]``: a virtual router (interface, VRID) and what it does on transitions."""

    name: Annotated[
        str,
        Meta(
            pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
            description="a name of 1..64 letters, digits, '_', '.', ':' or '-' (starting alphanumeric)",
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
    advert_int: Annotated[int, Meta(ge=1, le=255, description="an integer number of seconds 1..255")] = 1
    preempt: Annotated[bool, Meta(description="true or false")] = True
    preempt_delay: Annotated[
        float, Meta(ge=0, le=3600, description="a number of seconds >= 0 and <= 3600")
    ] = 0.0
    virtual_ipaddress: Annotated[
        tuple[IPv4Interface, ...],
        _Parse(_parse_vip, each=True),
        Meta(min_length=1, max_length=255, description=f"a list of 1..255 addresses, each {_VIP}"),
    ]
    # keepalived's eVIPs: installed, removed and announced like the others, but not carried in adverts
    # (§5.3.5's one-octet count caps an advert at 255 addresses).
    virtual_ipaddress_excluded: Annotated[
        tuple[IPv4Interface, ...],
        _Parse(_parse_vip, each=True),
        Meta(
            max_length=MAX_EXCLUDED,
            description=f"a list of 0..{MAX_EXCLUDED} addresses (not carried in adverts), each {_VIP}",
        ),
    ] = ()
    auth_pass: (
        Annotated[
            str, Meta(pattern=r"^[!-~]{1,8}$", description="1..8 printable ASCII characters without spaces")
        ]
        | None
    ) = None
    unicast_peer: Annotated[
        tuple[IPv4Address, ...],
        _Parse(_parse_host, each=True),
        Meta(description=f"a list of addresses, each {_IPV4_ADDRESS}"),
    ] = ()
    unicast_src_ip: Annotated[IPv4Address, _Parse(_parse_host), Meta(description=_IPV4_ADDRESS)] | None = None
    notify: Annotated[Path, _Parse(_parse_executable), Meta(description=_EXECUTABLE)] | None = None
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
    check: Annotated[CheckConfig, Meta(description="a [vrrp_instance.check] table")] | None = None

    def __repr__(self) -> str:
        # Keep the password out of logged reprs (str() is the repr too).
        shown = (f"{name}={getattr(self, name)!r}" for name in self.__struct_fields__ if name != "auth_pass")
        return f"{type(self).__name__}({', '.join(shown)})"

    @property
    def vips(self) -> tuple[IPv4Interface, ...]:
        """Every virtual IP address this instance installs as master, with its prefix: the advertised
        ones (``virtual_ipaddress``) first, then the excluded ones."""
        return self.virtual_ipaddress + self.virtual_ipaddress_excluded

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
        seen: dict[IPv4Address, str] = {}
        for key in ("virtual_ipaddress", "virtual_ipaddress_excluded"):
            for index, vip in enumerate(getattr(self, key)):
                if vip.ip in seen:
                    raise _Rule((key, index), str(vip), f"duplicate of {seen[vip.ip]}")
                seen[vip.ip] = f"{key}[{index}]"
        peers: set[IPv4Address] = set()
        for index, peer in enumerate(self.unicast_peer):
            where = ("unicast_peer", index)
            if peer in peers:
                raise _Rule(where, str(peer), "listed twice")
            if peer == self.unicast_src_ip:
                raise _Rule(where, str(peer), "is unicast_src_ip: a router cannot peer with itself")
            if peer in seen:
                raise _Rule(where, str(peer), "is one of this instance's virtual addresses")
            peers.add(peer)
        if self.unicast_src_ip is not None and not self.unicast_peer:
            raise _Rule(
                ("unicast_src_ip",),
                str(self.unicast_src_ip),
                "applies only with unicast_peer (multicast adverts use the primary address)",
            )
        if self.is_owner and self.check is not None and self.check.weight != 0:
            raise _Rule(
                ("check", "weight"),
                self.check.weight,
                "must be 0 with priority 255: an address owner's priority cannot change "
                "(a failing check puts it in FAULT instead)",
            )


class GlobalConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[global]``: daemon-wide settings; each key may be overridden by ``VRRPD_<KEY>``."""

    router_id: Annotated[
        str,
        Meta(pattern=r"^[^\x00-\x1f\x7f]{1,64}$", description="1..64 characters without control characters"),
    ] = msgspec.field(default_factory=socket.gethostname)
    control_socket: Annotated[
        Path,
        _Parse(_parse_socket_path),
        Meta(description=f"a path of at most {_MAX_SOCKET_PATH} bytes"),
    ] = Path("/run/vrrpd/vrrpd.sock")
    log_format: Annotated[
        Literal["auto", "json", "console"], Meta(description='one of "auto", "json", "console"')
    ] = "auto"
    metrics_listen: Annotated[ListenAddress, _Parse(_parse_listen), Meta(description=_LISTEN)] | None = None
    notify_fifo: (
        Annotated[
            Path,
            _Parse(_parse_fifo),
            Meta(description='a file path for the notify FIFO (created if missing), or "" for off'),
        ]
        | None
    ) = None


class Config(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The whole configuration: ``[global]`` and at least one ``[[vrrp_instance]]``."""

    global_: Annotated[GlobalConfig, Meta(description="a [global] table")] = msgspec.field(
        name="global", default_factory=GlobalConfig
    )
    vrrp_instance: Annotated[
        tuple[InstanceConfig, ...], Meta(min_length=1, description="at least one [[vrrp_instance]] table")
    ]
    # Not a configuration key (a leading "_" keeps a field out of the TOML schema): see ``source``.
    _source: str = "<config>"

    @property
    def source(self) -> str:
        """Where this configuration was read from (a file path), for error messages."""
        return self._source

    def __post_init__(self) -> None:
        names: dict[str, int] = {}
        routers: dict[tuple[str, int], int] = {}
        vips: dict[IPv4Address, int] = {}
        for index, inst in enumerate(self.vrrp_instance):
            here: tuple[str | int, ...] = ("vrrp_instance", index)
            if inst.name in names:
                first = names[inst.name]
                raise _Rule((*here, "name"), inst.name, f"also used by vrrp_instance[{first}]")
            names[inst.name] = index
            router = (inst.interface, inst.virtual_router_id)
            if router in routers:
                first = routers[router]
                raise _Rule(
                    (*here, "virtual_router_id"),
                    inst.virtual_router_id,
                    f"VRID {inst.virtual_router_id} on {inst.interface} is already used by "
                    f"vrrp_instance[{first}] ({self.vrrp_instance[first].name})",
                )
            routers[router] = index
            for key in ("virtual_ipaddress", "virtual_ipaddress_excluded"):
                for vip_index, vip in enumerate(getattr(inst, key)):
                    if vip.ip in vips:
                        first = vips[vip.ip]
                        raise _Rule(
                            (*here, key, vip_index),
                            str(vip),
                            f"{vip.ip} is already a virtual address of vrrp_instance[{first}] "
                            f"({self.vrrp_instance[first].name})",
                        )
                    vips[vip.ip] = index


# ---------------------------------------------------------------------------------------------
# Validation: the walk over the TOML tables

_Loc = tuple[str | int, ...]
_S = TypeVar("_S", bound=Struct)


@dataclass(frozen=True, slots=True)
class _Field:
    """One key of a table, as read once from its struct's annotations."""

    name: str  # the attribute
    key: str  # the TOML key
    type: Any  # what msgspec checks the (parsed) value against
    required: bool
    allowed: str  # the Meta description
    parse: _Parse | None
    table: type[Struct] | None  # a nested table, or (many) an array of tables
    many: bool


class _Problem(NamedTuple):
    loc: _Loc
    problem: str
    value: object = None  # None: nothing to show (TOML has no null)


# A key whose value failed: its problems are recorded, the struct is not built.
_FAILED: Any = object()
_SCHEMAS: dict[type[Struct], dict[str, _Field]] = {}


def _schema(cls: type[Struct]) -> dict[str, _Field]:
    """The TOML keys of ``cls`` in declaration order; a field named ``_x`` is not a key."""
    schema = _SCHEMAS.get(cls)
    if schema is None:
        schema = {f.encode_name: _field(f) for f in msgspec.structs.fields(cls) if not f.name.startswith("_")}
        _SCHEMAS[cls] = schema
    return schema


def _field(info: msgspec.structs.FieldInfo) -> _Field:
    # The metadata sits on the field's type or on the non-None member of its Optional.
    members = typing.get_args(info.type) if _is_union(info.type) else (info.type,)
    metadata: list[object] = []
    table: type[Struct] | None = None
    many = False
    for member in members:
        bare = member
        if typing.get_origin(bare) is Annotated:
            metadata += bare.__metadata__
            bare = typing.get_args(bare)[0]
        item = typing.get_args(bare)[0] if typing.get_origin(bare) is tuple else None
        if _is_struct(bare):
            table = bare
        elif _is_struct(item):
            table, many = item, True
    allowed = next((m.description for m in metadata if isinstance(m, Meta) and m.description), None)
    return _Field(
        name=info.name,
        key=info.encode_name,
        type=info.type,
        required=info.required,
        allowed=allowed or "a valid value",
        parse=next((m for m in metadata if isinstance(m, _Parse)), None),
        table=table,
        many=many,
    )


def _is_union(tp: object) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _is_struct(tp: object) -> typing.TypeGuard[type[Struct]]:
    return isinstance(tp, type) and issubclass(tp, Struct)


def _table(
    cls: type[_S], data: dict[str, Any], loc: _Loc, problems: list[_Problem], **extra: Any
) -> _S | None:
    """One table validated into ``cls``; on failure None, with every problem found appended."""
    schema = _schema(cls)
    before = len(problems)
    values: dict[str, Any] = {}
    for key, field in schema.items():
        if key in data:
            value = _value(field, data[key], (*loc, key), problems)
            if value is not _FAILED:
                values[field.name] = value
        elif field.required:
            problems.append(_Problem((*loc, key), f"missing (required: {field.allowed})"))
    for key, value in data.items():
        if key not in schema:
            problems.append(_Problem((*loc, key), _unknown_key(key, schema), value))
    if len(problems) > before:
        return None
    try:
        return cls(**values, **extra)
    except _Rule as rule:  # __post_init__: the cross-field rules
        problems.append(_Problem((*loc, *rule.key), str(rule), rule.value))
        return None


def _value(field: _Field, raw: object, loc: _Loc, problems: list[_Problem]) -> Any:
    """One key's value, converted and checked; ``_FAILED`` once its problems are appended."""
    before = len(problems)
    value = raw
    if field.parse is not None and not field.parse.each:
        value = _parsed(field.parse.func, raw, loc, problems)
    elif field.parse is not None and isinstance(raw, list):
        value = tuple(_parsed(field.parse.func, item, (*loc, i), problems) for i, item in enumerate(raw))
    elif field.table is not None and field.many and isinstance(raw, list):
        value = tuple(_nested(field, item, (*loc, i), problems) for i, item in enumerate(raw))
    elif field.table is not None and not field.many and isinstance(raw, dict):
        value = _table(field.table, raw, loc, problems)
    # Anything else (a string where an array belongs...) is left for msgspec to refuse.
    if len(problems) > before:
        return _FAILED
    try:
        return msgspec.convert(value, field.type)
    except msgspec.ValidationError:
        problems.append(_Problem(loc, f"must be {field.allowed}", raw))
        return _FAILED


def _parsed(parse: Callable[[object], object], raw: object, loc: _Loc, problems: list[_Problem]) -> object:
    try:
        return parse(raw)
    except _Invalid as exc:
        problems.append(_Problem(loc, str(exc), raw))
        return None


def _nested(field: _Field, raw: object, loc: _Loc, problems: list[_Problem]) -> object:
    assert field.table is not None
    if not isinstance(raw, dict):
        problems.append(_Problem(loc, f"must be {field.allowed}", raw))
        return None
    return _table(field.table, raw, loc, problems)


def _unknown_key(key: str, schema: Mapping[str, _Field]) -> str:
    known = sorted(schema)
    guess = difflib.get_close_matches(key, known, n=1)
    # A close match is the likely typo; otherwise list what this table accepts.
    return f'unknown key; did you mean "{guess[0]}"?' if guess else f"unknown key (known: {', '.join(known)})"


def _validate(cls: type[_S], data: Mapping[str, Any], source: str, env_keys: Mapping[str, str]) -> _S:
    problems: list[_Problem] = []
    extra = {"_source": source} if cls is Config else {}
    result = _table(cls, dict(data), (), problems, **extra)
    if result is None:
        raise ConfigError(*(_issue(problem, source, env_keys) for problem in problems))
    return result


def from_dict(cls: type[_S], data: Mapping[str, Any], source: str = "<dict>") -> _S:
    """Validate ``data`` (a table as ``tomllib`` returns it) into ``cls``; raises ``ConfigError``."""
    return _validate(cls, data, source, {})


def to_dict(model: Struct) -> dict[str, Any]:
    """``model`` as JSON-compatible builtins keyed as in the file; addresses and paths as strings, no None."""
    return _without_none(msgspec.to_builtins(model, enc_hook=str))  # type: ignore[no-any-return]


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None and not k.startswith("_")}
    if isinstance(value, list | tuple):  # to_builtins keeps tuples: JSON has only arrays
        return [_without_none(item) for item in value]
    return value


def fields_of(cls: type[Struct]) -> tuple[str, ...]:
    """The attribute names of a configuration struct, in declaration order."""
    return tuple(name for name in cls.__struct_fields__ if not name.startswith("_"))


# ---------------------------------------------------------------------------------------------
# Loading


def _global_env_vars() -> dict[str, str]:
    return {f"{ENV_PREFIX}{key.upper()}": key for key in _schema(GlobalConfig)}


def _environment(env: Mapping[str, str]) -> dict[str, str]:
    """The ``[global]`` overrides found in ``env``; any other ``VRRPD_*`` name is an error."""
    known = _global_env_vars()
    overrides: dict[str, str] = {}
    issues: list[ConfigIssue] = []
    for var in sorted(env):
        if not var.startswith(ENV_PREFIX) or var in ENV_ALLOWLIST:
            continue
        if var in known:
            overrides[known[var]] = env[var]
            continue
        allowed = sorted([*known, *ENV_ALLOWLIST])
        guess = difflib.get_close_matches(var, allowed, n=1)
        hint = f"did you mean {guess[0]}? " if guess else ""
        issues.append(
            ConfigIssue(
                source=var,
                problem=f"unknown vrrpd environment variable; {hint}(known: {', '.join(allowed)})",
            )
        )
    if issues:
        raise ConfigError(*issues)
    return overrides


def parse_config(text: str, source: str, env: Mapping[str, str] | None = None) -> Config:
    """Validate TOML ``text``; ``source`` names it in errors; ``env`` defaults to ``os.environ``."""
    environment = os.environ if env is None else env
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_syntax_issue(source, str(exc))) from None
    overrides = _environment(environment)
    if overrides:
        table = data.get("global", {})
        # A non-table [global] is left for validation to report.
        if isinstance(table, dict):
            data["global"] = {**table, **overrides}
    return _validate(Config, data, source, overrides)


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the TOML file at ``path`` (does not check that interfaces exist)."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ConfigError(ConfigIssue(source, f"cannot read file: {reason}")) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            ConfigIssue(source, f"not UTF-8 text (invalid byte at offset {exc.start})")
        ) from None
    return parse_config(text, source, env)


def check_interfaces(config: Config) -> None:
    """Raise ``ConfigError`` naming every instance whose interface does not exist on this host."""
    issues: list[ConfigIssue] = []
    for index, inst in enumerate(config.vrrp_instance):
        try:
            socket.if_nametoindex(inst.interface)
        except OSError:
            issues.append(
                ConfigIssue(
                    source=config.source,
                    key=f"vrrp_instance[{index}].interface",
                    value=_render(inst.interface),
                    problem="no such network interface on this host",
                )
            )
    if issues:
        raise ConfigError(*issues)


# ---------------------------------------------------------------------------------------------
# Error rendering

_TOML_POSITION = re.compile(r"^(?P<msg>.*) \(at line (?P<line>\d+), column (?P<col>\d+)\)$")


def _syntax_issue(source: str, message: str) -> ConfigIssue:
    match = _TOML_POSITION.match(message)
    if match is None:  # e.g. "(at end of document)": keep tomllib's wording
        return ConfigIssue(source, f"TOML syntax error: {message}")
    where = f"line {match['line']}, column {match['col']}"
    return ConfigIssue(source, f"{where}: TOML syntax error: {match['msg']}")


def _issue(problem: _Problem, source: str, env_keys: Mapping[str, str]) -> ConfigIssue:
    loc = problem.loc
    key = _key_path(loc)
    if len(loc) == 2 and loc[0] == "global" and loc[1] in env_keys:
        source = f"{ENV_PREFIX}{str(loc[1]).upper()}"
    shown = None if problem.value is None else _render(problem.value, key)
    return ConfigIssue(source, problem.problem, key or None, shown)


def _key_path(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _render(value: object, key: str = "") -> str:
    if key.endswith("auth_pass"):
        return "<hidden>"  # never echo a password, even a wrong one
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "(a table)"
    if isinstance(value, list | tuple):
        text = "[" + ", ".join(_render(item) for item in value) + "]"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = json.dumps(str(value), ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


# ---------------------------------------------------------------------------------------------
# Human summary


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _describe_check(check: CheckConfig) -> str:
    if check.tcp_port is not None:
        target = f"{check.host or '<interface primary address>'}:{check.tcp_port}"
        what = f"tcp connect {target}"
    else:
        what = f"script {check.script}"
    effect = "FAULT" if check.weight == 0 else f"priority -{check.weight}"
    return (
        f"{what} every {_seconds(check.interval)} (timeout {_seconds(check.timeout)}, "
        f"rise {check.rise}, fall {check.fall}) -> on failure: {effect}"
    )


def describe(config: Config) -> str:
    """The resolved configuration for ``check-config``; never includes the password itself."""
    g = config.global_
    lines = [
        f"config {config.source}",
        f"router_id {g.router_id}; control_socket {g.control_socket}; log_format {g.log_format}; "
        f"metrics {g.metrics_listen or 'off'}; notify_fifo {g.notify_fifo or 'off'}",
    ]
    for inst in config.vrrp_instance:
        priority = f"{inst.priority} (address owner)" if inst.is_owner else str(inst.priority)
        preempt = f"yes (delay {_seconds(inst.preempt_delay)})" if inst.preempt else "no"
        if inst.unicast_peer:
            src = inst.unicast_src_ip or "<interface primary address>"
            adverts = f"unicast to {', '.join(map(str, inst.unicast_peer))} from {src}"
        else:
            adverts = "multicast 224.0.0.18"
        refresh = _seconds(inst.garp_master_refresh) if inst.garp_master_refresh else "off"
        second = _seconds(inst.garp_master_delay) if inst.garp_master_delay else "none"
        lines += [
            f"instance {inst.name}: interface {inst.interface}, vrid {inst.virtual_router_id}, "
            f"priority {priority}, advert_int {inst.advert_int}s, preempt {preempt}",
            f"  vips: {', '.join(map(str, inst.virtual_ipaddress))}",
            *(
                [f"  excluded vips (not in adverts): {', '.join(map(str, inst.virtual_ipaddress_excluded))}"]
                if inst.virtual_ipaddress_excluded
                else []
            ),
            f"  auth: {'yes (PASS)' if inst.auth_pass is not None else 'no'}; adverts: {adverts}",
            f"  check: {_describe_check(inst.check) if inst.check else 'none'}",
            f"  notify: {inst.notify or 'none'} (timeout {_seconds(inst.notify_timeout)})",
            f"  garp: {inst.garp_master_repeat} on becoming master, second burst after {second}, "
            f"refresh {refresh}",
        ]
    return "\n".join(lines)
