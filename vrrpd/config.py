"""Configuration: a TOML file plus ``VRRPD_*`` environment variables, validated into frozen models.

This module owns the configuration contract (keys, types, ranges, cross-field rules) and turns every
mistake into a ``ConfigError`` whose text is one line: source, key path, value, what is allowed. It
reads the filesystem only to check that notify/check scripts are executable, and the host only in
``check_interfaces``; it must not open sockets or start anything.

Precedence: environment (``VRRPD_<KEY>``, ``[global]`` keys only) > file > built-in default.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "ENV_ALLOWLIST",
    "ENV_PREFIX",
    "CheckConfig",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "GlobalConfig",
    "InstanceConfig",
    "ListenAddress",
    "check_interfaces",
    "describe",
    "load_config",
    "parse_config",
]

ENV_PREFIX = "VRRPD_"
# VRRPD_* variables that are not [global] keys but are still legitimate: the CLI's default config
# path, and the test lab's namespace prefix (inherited by the daemons a lab starts).
ENV_ALLOWLIST = frozenset({"VRRPD_CONFIG", "VRRPD_LAB_PREFIX"})

# Error types raised by our own validators: their message is already the "what is allowed" text.
_VALUE_ERROR = "vrrpd_value"
# Cross-field rules: the context carries the key path (relative to the failing model) and value.
_RULE_ERROR = "vrrpd_rule"

# Keeps the one error line readable when several problems are reported together.
_MAX_ISSUES = 5
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


def _invalid(message: str) -> PydanticCustomError:
    return PydanticCustomError(_VALUE_ERROR, message)


def _rule(key: tuple[str | int, ...], value: object, message: str) -> PydanticCustomError:
    return PydanticCustomError(_RULE_ERROR, message, {"loc": key, "value": value})


# ---------------------------------------------------------------------------------------------
# Value types

_IPV4_ADDRESS = "an IPv4 address such as 192.0.2.11"
_VIP = 'an IPv4 address with an optional prefix such as "192.0.2.100/24" (default /32)'


def _ipv4(value: object, allowed: str) -> IPv4Address:
    if isinstance(value, IPv4Address):
        return value
    if not isinstance(value, str):
        raise _invalid(f"must be {allowed}")
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise _invalid(f"must be {allowed}") from None
    if address.version == 6:
        raise _invalid(f"IPv6 is not supported yet (VRRPv3); must be {allowed}")
    assert isinstance(address, IPv4Address)
    return address


def _unicast(address: IPv4Address, allowed: str) -> None:
    # A VIP, peer or check target must be something a host can actually own or reach.
    if address.is_multicast or address.is_unspecified or address.is_loopback:
        raise _invalid(f"must be a unicast address, not {address}; must be {allowed}")
    if address == IPv4Address("255.255.255.255"):
        raise _invalid(f"must be a unicast address, not the broadcast address; must be {allowed}")


def _parse_host(value: object) -> IPv4Address:
    address = _ipv4(value, _IPV4_ADDRESS)
    _unicast(address, _IPV4_ADDRESS)
    return address


def _parse_check_host(value: object) -> IPv4Address:
    # A health check may probe a service bound to loopback (keepalived's `</dev/tcp/127.0.0.1/80`):
    # only addresses nothing can listen on are refused.
    address = _ipv4(value, _IPV4_ADDRESS)
    if address.is_multicast or address.is_unspecified or address == IPv4Address("255.255.255.255"):
        raise _invalid(f"must be an address a service can listen on, not {address}; must be {_IPV4_ADDRESS}")
    return address


def _parse_vip(value: object) -> IPv4Interface:
    if isinstance(value, IPv4Interface):
        return value
    if not isinstance(value, str):
        raise _invalid(f"must be {_VIP}")
    try:
        iface = ipaddress.ip_interface(value)
    except ValueError:
        raise _invalid(f"must be {_VIP}") from None
    if iface.version == 6:
        raise _invalid(f"IPv6 is not supported yet (VRRPv3); must be {_VIP}")
    assert isinstance(iface, IPv4Interface)
    _unicast(iface.ip, _VIP)
    net = iface.network
    if net.prefixlen <= 30 and iface.ip in (net.network_address, net.broadcast_address):
        raise _invalid(f"{iface.ip} is the network or broadcast address of {net}; must be {_VIP}")
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
    if value is None or isinstance(value, ListenAddress):
        return value
    if not isinstance(value, str):
        raise _invalid(f"must be {_LISTEN}")
    if value == "":
        return None
    match = _LISTEN_RE.match(value)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise _invalid(f"must be {_LISTEN}")
    host = match["v6"] or match["host"]
    if match["v6"] is not None:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _invalid(f"must be {_LISTEN}") from None
    return ListenAddress(host, int(match["port"]))


def _check_socket_path(path: Path) -> Path:
    if str(path) in ("", "."):
        raise _invalid("must be a file path for the control socket")
    if len(os.fsencode(path)) > _MAX_SOCKET_PATH:
        raise _invalid(f"must be at most {_MAX_SOCKET_PATH} bytes long (a Unix socket path limit)")
    return path


def _parse_fifo(value: object) -> Path | None:
    if value is None or isinstance(value, Path):
        return value
    if not isinstance(value, str):
        raise _invalid('must be a file path for the notify FIFO, or "" for off')
    if value == "":
        return None
    if "\x00" in value:
        raise _invalid("must be a file path for the notify FIFO (no NUL characters)")
    return Path(value)


def _check_executable(path: Path) -> Path:
    if not path.is_absolute():
        raise _invalid("must be an absolute path to an executable file")
    if not path.is_file():
        raise _invalid("no such file; must be an absolute path to an executable file")
    if not os.access(path, os.X_OK):
        raise _invalid("file is not executable (chmod +x?); must be an executable file")
    return path


Host = Annotated[IPv4Address, BeforeValidator(_parse_host)]
CheckHost = Annotated[IPv4Address, BeforeValidator(_parse_check_host)]
VirtualAddress = Annotated[IPv4Interface, BeforeValidator(_parse_vip)]
Executable = Annotated[Path, AfterValidator(_check_executable)]

# ---------------------------------------------------------------------------------------------
# Models. Each Field's description is the "what is allowed" text of its error messages and docs.

_MODEL_CONFIG = ConfigDict(strict=True, extra="forbid", frozen=True)


class CheckConfig(BaseModel):
    """``[vrrp_instance.check]``: a health check that lowers the priority or forces FAULT."""

    model_config = _MODEL_CONFIG

    tcp_port: int | None = Field(default=None, ge=1, le=65535, description="a TCP port 1..65535")
    script: Executable | None = Field(
        default=None, strict=False, description="an absolute path to an executable file"
    )
    host: CheckHost | None = Field(default=None, description=_IPV4_ADDRESS)
    interval: float = Field(default=2.0, gt=0, le=3600, description="a number of seconds > 0 and <= 3600")
    timeout: float = Field(default=1.0, gt=0, le=3600, description="a number of seconds > 0 and <= 3600")
    rise: int = Field(default=1, ge=1, le=255, description="an integer 1..255")
    fall: int = Field(default=1, ge=1, le=255, description="an integer 1..255")
    weight: int = Field(default=0, ge=0, le=253, description="an integer 0..253")

    @model_validator(mode="after")
    def _one_kind(self) -> CheckConfig:
        if (self.tcp_port is None) == (self.script is None):
            both = self.tcp_port is not None
            raise _rule(
                ("tcp_port",) if both else (),
                self.tcp_port if both else None,
                "set exactly one of tcp_port and script" + (", not both" if both else ""),
            )
        if self.host is not None and self.script is not None:
            raise _rule(("host",), str(self.host), "host applies only to a tcp_port check")
        if self.timeout > self.interval:
            raise _rule(
                ("timeout",),
                self.timeout,
                f"must not exceed interval ({self.interval:g}): checks would overlap",
            )
        return self


class InstanceConfig(BaseModel):
    """One ``[[vrrp_instance]]``: a virtual router (interface, VRID) and what it does on transitions."""

    model_config = _MODEL_CONFIG

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
        description="a name of 1..64 letters, digits, '_', '.', ':' or '-' (starting alphanumeric)",
    )
    interface: str = Field(
        pattern=r"^[^\x00-\x20\x7f/:]{1,15}$",
        description="a network interface name (1..15 characters, no '/', ':' or spaces)",
    )
    virtual_router_id: int = Field(ge=1, le=255, description="an integer 1..255")
    priority: int = Field(default=100, ge=1, le=255, description="an integer 1..255 (255 = address owner)")
    advert_int: int = Field(default=1, ge=1, le=255, description="an integer number of seconds 1..255")
    preempt: bool = Field(default=True, description="true or false")
    preempt_delay: float = Field(
        default=0.0, ge=0, le=3600, description="a number of seconds >= 0 and <= 3600"
    )
    virtual_ipaddress: tuple[VirtualAddress, ...] = Field(
        min_length=1,
        max_length=255,
        strict=False,
        description=f"a list of 1..255 addresses, each {_VIP}",
    )
    auth_pass: str | None = Field(
        default=None,
        pattern=r"^[!-~]{1,8}$",
        repr=False,  # keep the password out of logged reprs
        description="1..8 printable ASCII characters without spaces",
    )
    unicast_peer: tuple[Host, ...] = Field(
        default=(), strict=False, description=f"a list of addresses, each {_IPV4_ADDRESS}"
    )
    unicast_src_ip: Host | None = Field(default=None, description=_IPV4_ADDRESS)
    notify: Executable | None = Field(
        default=None, strict=False, description="an absolute path to an executable file"
    )
    notify_timeout: float = Field(
        default=10.0, gt=0, le=3600, description="a number of seconds > 0 and <= 3600"
    )
    garp_master_repeat: int = Field(default=5, ge=1, le=100, description="an integer 1..100")
    garp_master_delay: float = Field(
        default=5.0, ge=0, le=3600, description="a number of seconds >= 0 and <= 3600 (0 = no second burst)"
    )
    garp_master_refresh: float = Field(
        default=0.0, ge=0, le=86400, description="a number of seconds >= 0 and <= 86400 (0 = off)"
    )
    check: CheckConfig | None = Field(default=None, description="a [vrrp_instance.check] table")

    @property
    def vips(self) -> tuple[IPv4Interface, ...]:
        """The virtual IP addresses with their prefixes."""
        return self.virtual_ipaddress

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

    @model_validator(mode="after")
    def _consistent(self) -> InstanceConfig:
        seen: dict[IPv4Address, int] = {}
        for index, vip in enumerate(self.virtual_ipaddress):
            if vip.ip in seen:
                raise _rule(
                    ("virtual_ipaddress", index),
                    str(vip),
                    f"duplicate of virtual_ipaddress[{seen[vip.ip]}]",
                )
            seen[vip.ip] = index
        peers: set[IPv4Address] = set()
        for index, peer in enumerate(self.unicast_peer):
            where = ("unicast_peer", index)
            if peer in peers:
                raise _rule(where, str(peer), "listed twice")
            if peer == self.unicast_src_ip:
                raise _rule(where, str(peer), "is unicast_src_ip: a router cannot peer with itself")
            if peer in seen:
                raise _rule(where, str(peer), "is one of this instance's virtual addresses")
            peers.add(peer)
        if self.unicast_src_ip is not None and not self.unicast_peer:
            raise _rule(
                ("unicast_src_ip",),
                str(self.unicast_src_ip),
                "applies only with unicast_peer (multicast adverts use the primary address)",
            )
        if self.is_owner and self.check is not None and self.check.weight != 0:
            raise _rule(
                ("check", "weight"),
                self.check.weight,
                "must be 0 with priority 255: an address owner's priority cannot change "
                "(a failing check puts it in FAULT instead)",
            )
        return self


class GlobalConfig(BaseModel):
    """``[global]``: daemon-wide settings; each key may be overridden by ``VRRPD_<KEY>``."""

    model_config = _MODEL_CONFIG

    router_id: str = Field(
        default_factory=socket.gethostname,
        pattern=r"^[^\x00-\x1f\x7f]{1,64}$",
        description="1..64 characters without control characters",
    )
    control_socket: Annotated[Path, AfterValidator(_check_socket_path)] = Field(
        default=Path("/run/vrrpd/vrrpd.sock"),
        strict=False,
        description=f"a path of at most {_MAX_SOCKET_PATH} bytes",
    )
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description='one of "auto", "json", "console"'
    )
    metrics_listen: Annotated[ListenAddress | None, BeforeValidator(_parse_listen)] = Field(
        default=None, description=_LISTEN
    )
    notify_fifo: Annotated[Path | None, BeforeValidator(_parse_fifo)] = Field(
        default=None,
        description='a file path for the notify FIFO (created if missing), or "" for off',
    )


class Config(BaseModel):
    """The whole configuration: ``[global]`` and at least one ``[[vrrp_instance]]``."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True)

    global_: GlobalConfig = Field(
        default_factory=GlobalConfig, alias="global", description="a [global] table"
    )
    vrrp_instance: tuple[InstanceConfig, ...] = Field(
        min_length=1, strict=False, description="at least one [[vrrp_instance]] table"
    )

    _source: str = PrivateAttr(default="<config>")

    @property
    def source(self) -> str:
        """Where this configuration was read from (a file path), for error messages."""
        return self._source

    @model_validator(mode="after")
    def _distinct(self) -> Config:
        names: dict[str, int] = {}
        routers: dict[tuple[str, int], int] = {}
        vips: dict[IPv4Address, int] = {}
        for index, inst in enumerate(self.vrrp_instance):
            here: tuple[str | int, ...] = ("vrrp_instance", index)
            if inst.name in names:
                first = names[inst.name]
                raise _rule((*here, "name"), inst.name, f"also used by vrrp_instance[{first}]")
            names[inst.name] = index
            router = (inst.interface, inst.virtual_router_id)
            if router in routers:
                first = routers[router]
                raise _rule(
                    (*here, "virtual_router_id"),
                    inst.virtual_router_id,
                    f"VRID {inst.virtual_router_id} on {inst.interface} is already used by "
                    f"vrrp_instance[{first}] ({self.vrrp_instance[first].name})",
                )
            routers[router] = index
            for vip_index, vip in enumerate(inst.virtual_ipaddress):
                if vip.ip in vips:
                    first = vips[vip.ip]
                    raise _rule(
                        (*here, "virtual_ipaddress", vip_index),
                        str(vip),
                        f"{vip.ip} is already a virtual address of vrrp_instance[{first}] "
                        f"({self.vrrp_instance[first].name})",
                    )
                vips[vip.ip] = index
        return self


# Where each error location points in the schema, to find the field's "allowed" description.
_SECTIONS: dict[str, type[BaseModel]] = {
    "": Config,
    "global": GlobalConfig,
    "vrrp_instance": InstanceConfig,
    "vrrp_instance.check": CheckConfig,
}

# ---------------------------------------------------------------------------------------------
# Loading


def _global_env_vars() -> dict[str, str]:
    return {f"{ENV_PREFIX}{key.upper()}": key for key in GlobalConfig.model_fields}


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
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        errors = _drop_length_echoes(exc.errors())
        raise ConfigError(*(_translate(error, source, overrides) for error in errors)) from None
    config._source = source
    return config


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
# Error translation

_TOML_POSITION = re.compile(r"^(?P<msg>.*) \(at line (?P<line>\d+), column (?P<col>\d+)\)$")


def _syntax_issue(source: str, message: str) -> ConfigIssue:
    match = _TOML_POSITION.match(message)
    if match is None:  # e.g. "(at end of document)": keep tomllib's wording
        return ConfigIssue(source, f"TOML syntax error: {message}")
    where = f"line {match['line']}, column {match['col']}"
    return ConfigIssue(source, f"{where}: TOML syntax error: {match['msg']}")


def _drop_length_echoes(errors: list[Any]) -> list[Any]:
    """Drop a list's "too short" error caused only by its own invalid items.

    pydantic counts items that validated, so one bad instance also yields "at least one instance".
    """
    deeper = [tuple(error["loc"]) for error in errors]

    def echo(error: Any) -> bool:
        loc = tuple(error["loc"])
        return error["type"] == "too_short" and any(
            len(other) > len(loc) and other[: len(loc)] == loc for other in deeper
        )

    return [error for error in errors if not echo(error)]


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


def _fields(section: str) -> dict[str, Any]:
    model = _SECTIONS.get(section)
    if model is None:
        return {}
    return {info.alias or name: info for name, info in model.model_fields.items()}


def _translate(error: Any, source: str, env_keys: Mapping[str, str]) -> ConfigIssue:
    loc: tuple[str | int, ...] = tuple(error["loc"])
    ctx: dict[str, Any] = error.get("ctx") or {}
    value: object = error.get("input")
    if error["type"] == _RULE_ERROR:
        loc = (*loc, *ctx.get("loc", ()))
        value = ctx.get("value")
    names = [part for part in loc if isinstance(part, str)]
    section, field = ".".join(names[:-1]), (names[-1] if names else "")
    info = _fields(section).get(field)
    allowed = getattr(info, "description", None) or "a valid value"
    key = _key_path(loc)
    if len(loc) == 2 and loc[0] == "global" and loc[1] in env_keys:
        source = f"{ENV_PREFIX}{str(loc[1]).upper()}"
    kind = error["type"]
    if kind in (_VALUE_ERROR, _RULE_ERROR):
        problem = str(error["msg"])
    elif kind == "missing":
        return ConfigIssue(source, f"missing (required: {allowed})", key)
    elif kind == "extra_forbidden":
        known = sorted(_fields(section))
        guess = difflib.get_close_matches(field, known, n=1)
        # A close match is the likely typo; otherwise list what this table accepts.
        problem = (
            f'unknown key; did you mean "{guess[0]}"?'
            if guess
            else f"unknown key (known: {', '.join(known)})"
        )
    else:
        problem = f"must be {allowed}"
    shown = None if value is None else _render(value, key)
    return ConfigIssue(source, problem, key, shown)


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
            f"  vips: {', '.join(map(str, inst.vips))}",
            f"  auth: {'yes (PASS)' if inst.auth_pass is not None else 'no'}; adverts: {adverts}",
            f"  check: {_describe_check(inst.check) if inst.check else 'none'}",
            f"  notify: {inst.notify or 'none'} (timeout {_seconds(inst.notify_timeout)})",
            f"  garp: {inst.garp_master_repeat} on becoming master, second burst after {second}, "
            f"refresh {refresh}",
        ]
    return "\n".join(lines)
