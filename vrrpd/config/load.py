"""Loading: TOML text plus ``VRRPD_*`` environment variables, validated into a ``Config``.

Precedence: environment (``VRRPD_<KEY>``, ``[global]`` keys only) > file > built-in default.

Validation walks the TOML tables itself and asks msgspec about one key at a time (types, ``Meta``
bounds and patterns), so that every wrong key is reported, not only the first one msgspec meets.
Every mistake becomes a ``ConfigError`` whose text is one line: source, key path, value, what is allowed.
It reads the host only in ``check_interfaces``.
"""

from __future__ import annotations

import functools
import json
import operator
import os
import re
import socket
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from pathlib import Path
from typing import Annotated, Any, NamedTuple, TypeVar

import msgspec
from msgspec import Meta, Struct

from vrrpd.config import lines as lines_
from vrrpd.config.errors import ConfigError, ConfigIssue, InvalidValue, RuleBroken
from vrrpd.config.programs import ids_of, insecure_component, needs_protection
from vrrpd.config.schema import FILES_CHECKED, Config, GlobalConfig, Parse
from vrrpd.config.servicelinks import is_service_link

ENV_PREFIX = "VRRPD_"
# VRRPD_* variables that are not [global] keys but are still legitimate: the CLI's default config
# path, and the test lab's namespace prefix (inherited by the daemons a lab starts).
ENV_ALLOWLIST = frozenset({"VRRPD_CONFIG", "VRRPD_LAB_PREFIX"})
# The source of a configuration built from the pod environment (--openshift): no file to re-read.
FROM_ENVIRONMENT = "environment (--openshift)"
# Parsing is pure Python (~5 MB/s): a 92 MB file took 23 s. The largest real configuration (255
# instances of 255 VIPs) is about 1.3 MB; past this bound a file is refused before it is parsed.
MAX_CONFIG_BYTES = 4 * 1024 * 1024
# Arrays and tables inside each other: a configuration needs 5 (vrrp_instance[0].check.key = [..]).
# tomllib recurses per level and ends in a RecursionError near 300; refused in one line long before.
MAX_NESTING = 16
# Keys whose value may be a credential: auth_pass, its misspellings (auth_pas, authpass) and other
# tools' names (password, secret, token...). Their values are never echoed, not even for an unknown key.
_SECRET_LIKE = re.compile(r"pass|pw|secret|token|auth|cred|key|priv", re.IGNORECASE)
_NOT_SECRET = frozenset({"auth_type"})  # names a mechanism (PASS or AH): shown, so a typo can be seen

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
    parse: Parse | None
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
        type=_checkable(info.type),
        required=info.required,
        allowed=allowed or "a valid value",
        parse=next((m for m in metadata if isinstance(m, Parse)), None),
        table=table,
        many=many,
    )


_IP_TYPES = (IPv4Address, IPv6Address, IPv4Interface, IPv6Interface)


def _checkable(tp: Any) -> Any:
    """`tp` as msgspec can check it: a union of IPv4 and IPv6 types (a custom type each, which msgspec
    refuses to mix) becomes Any — its ``Parse`` function has converted and judged the value already —
    keeping the ``Meta`` bounds around it (an address list's length); so does a nested table, which its
    own walk has built (msgspec would inspect the struct's fields, those unions included)."""
    if _is_struct(tp):
        return Any
    if typing.get_origin(tp) is Annotated:
        base, *metadata = typing.get_args(tp)
        return Annotated[(_checkable(base), *metadata)]
    args = typing.get_args(tp)
    if _is_union(tp):
        if sum(arg in _IP_TYPES for arg in args) > 1:
            return Any
        return functools.reduce(operator.or_, (_checkable(arg) for arg in args))
    if typing.get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis:
        return tuple[_checkable(args[0]), ...]  # type: ignore[misc]
    return tp


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
    except RuleBroken as rule:  # __post_init__: the cross-field rules
        problems.append(_Problem((*loc, *rule.key), str(rule), rule.value))
        return None


def _value(field: _Field, raw: object, loc: _Loc, problems: list[_Problem]) -> Any:
    """One key's value, converted and checked; ``_FAILED`` once its problems are appended."""
    before = len(problems)
    value = raw
    if field.parse is not None and not field.parse.each:
        value = _parsed(field.parse.func, raw, loc, problems)
    elif field.parse is not None and isinstance(raw, list):
        value = tuple(
            _nested(field, item, (*loc, i), problems)
            if field.parse.tables and isinstance(item, dict)
            else _parsed(field.parse.func, item, (*loc, i), problems)
            for i, item in enumerate(raw)
        )
    elif field.table is not None and field.many and isinstance(raw, list):
        value = tuple(_nested(field, item, (*loc, i), problems) for i, item in enumerate(raw))
    elif field.table is not None and not field.many and isinstance(raw, dict):
        value = _table(field.table, raw, loc, problems)
    elif field.table is not None:  # a table, or an array of them, is all a table key can be
        problems.append(_Problem(loc, f"must be {field.allowed}", raw))
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
    except InvalidValue as exc:
        problems.append(_Problem(loc, str(exc), raw))
        return None


def _nested(field: _Field, raw: object, loc: _Loc, problems: list[_Problem]) -> object:
    assert field.table is not None
    if not isinstance(raw, dict):
        problems.append(_Problem(loc, f"must be {field.allowed}", raw))
        return None
    return _table(field.table, raw, loc, problems)


def _unknown_key(key: str, schema: Mapping[str, _Field]) -> str:
    from difflib import get_close_matches  # noqa: PLC0415 - error path: ~0.3 MiB vrrpd run need not carry

    known = sorted(schema)
    guess = get_close_matches(key, known, n=1)
    # A close match is the likely typo; otherwise list what this table accepts.
    return f'unknown key; did you mean "{guess[0]}"?' if guess else f"unknown key (known: {', '.join(known)})"


# [global] keys whose value is a number (VRRPD_VERSION=3 means version = 3).
_INTEGER_KEYS = frozenset({"version"})


def _with_default_version(data: dict[str, Any]) -> dict[str, Any]:
    """Every ``[[vrrp_instance]]`` without a ``version`` of its own takes ``[global]``'s (keepalived's
    ``vrrp_version``), so that the instance's own rules (IPv6, intervals, auth) judge the resolved one."""
    table = data.get("global")
    raw = table.get("version") if isinstance(table, dict) else None
    instances = data.get("vrrp_instance")
    # A bad [global] version is reported there; the instances then keep their own default.
    if type(raw) is not int or raw not in (2, 3) or not isinstance(instances, list):
        return data
    version = raw
    filled = [
        inst | {"version": version} if isinstance(inst, dict) and "version" not in inst else inst
        for inst in instances
    ]
    return {**data, "vrrp_instance": filled}


def _validate(
    cls: type[_S],
    data: Mapping[str, Any],
    source: str,
    env_keys: Mapping[str, object],
    lines: Mapping[str, int] | None = None,
) -> _S:
    problems: list[_Problem] = []
    extra: dict[str, Any] = {"_source": source, "_lines": lines_.pack(lines or {})} if cls is Config else {}
    table = _with_default_version(dict(data)) if cls is Config else dict(data)
    result = _table(cls, table, (), problems, **extra)
    if result is None:
        raise ConfigError(*(_issue(problem, source, env_keys, lines or {}) for problem in problems))
    return result


def from_dict(cls: type[_S], data: Mapping[str, Any], source: str = "<dict>") -> _S:
    """Validate ``data`` (a table as ``tomllib`` returns it) into ``cls``; raises ``ConfigError``."""
    return _validate(cls, data, source, {})


def to_dict(model: Struct) -> dict[str, Any]:
    """``model`` as JSON-compatible builtins keyed as in the file; addresses and paths as strings, no None."""
    return _without_none(msgspec.to_builtins(model, enc_hook=str))  # type: ignore[no-any-return]


# Arrays whose entries are an address or a table of options (`schema.VipConfig`): a table with nothing
# but its address is written as the address, the file's usual form.
_VIP_ARRAYS = frozenset({"virtual_ipaddress", "virtual_ipaddress_excluded"})


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _without_none(v) for k, v in value.items() if v is not None and not k.startswith("_")}
        for key in _VIP_ARRAYS & out.keys():
            out[key] = [
                v["address"] if isinstance(v, dict) and v.keys() == {"address"} else v for v in out[key]
            ]
        return out
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


def _environment(env: Mapping[str, str]) -> dict[str, str | int]:
    """The ``[global]`` overrides found in ``env``; any other ``VRRPD_*`` name is an error."""
    known = _global_env_vars()
    overrides: dict[str, str | int] = {}
    issues: list[ConfigIssue] = []
    for var in sorted(env):
        if not var.startswith(ENV_PREFIX) or var in ENV_ALLOWLIST:
            continue
        if var not in known and is_service_link(var, env[var]):
            continue  # injected by a Service named vrrpd[-…] (docs/openshift.md): not ours to judge
        if var in known:
            # The environment has only strings; the one integer key takes its digits as a number.
            value = env[var]
            overrides[known[var]] = int(value) if known[var] in _INTEGER_KEYS and value.isdigit() else value
            continue
        from difflib import get_close_matches  # noqa: PLC0415 - error path, as in _unknown_key

        allowed = sorted([*known, *ENV_ALLOWLIST])
        guess = get_close_matches(var, allowed, n=1)
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


def parse_config(
    text: str, source: str, env: Mapping[str, str] | None = None, check_files: bool = True
) -> Config:
    """Validate TOML ``text``; ``source`` names it in errors; ``env`` defaults to ``os.environ``.

    ``check_files`` False: programs (check, notify) need only be absolute paths, not exist here.
    """
    environment = os.environ if env is None else env
    too_deep = ConfigIssue(source, f"nested deeper than {MAX_NESTING} levels of arrays and tables")
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_syntax_issue(source, str(exc))) from None
    except RecursionError:
        raise ConfigError(too_deep) from None
    if _deeper_than(data, MAX_NESTING):
        raise ConfigError(too_deep)
    overrides = _environment(environment)
    if overrides:
        table = data.get("global", {})
        # A non-table [global] is left for validation to report.
        if isinstance(table, dict):
            data["global"] = {**table, **overrides}
    token = FILES_CHECKED.set(check_files)
    try:
        return _validate(Config, data, source, overrides, lines_.key_lines(text))
    finally:
        FILES_CHECKED.reset(token)


def load_config(path: str | Path, env: Mapping[str, str] | None = None, check_files: bool = True) -> Config:
    """Read and validate the TOML file at ``path`` (does not check that interfaces exist)."""
    source = str(path)
    try:
        with Path(path).open("rb") as file:
            raw = file.read(MAX_CONFIG_BYTES + 1)  # never more: a huge file is not read into memory
            size = os.fstat(file.fileno()).st_size
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ConfigError(ConfigIssue(source, f"cannot read file: {reason}")) from None
    if len(raw) > MAX_CONFIG_BYTES:
        what = f"{size} bytes" if size > MAX_CONFIG_BYTES else "too long"  # a pipe has no size
        limit = f"{MAX_CONFIG_BYTES} bytes ({MAX_CONFIG_BYTES >> 20} MiB)"
        raise ConfigError(ConfigIssue(source, f"file is {what}; the limit is {limit}"))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            ConfigIssue(source, f"not UTF-8 text (invalid byte at offset {exc.start})")
        ) from None
    return parse_config(text, source, env, check_files)


def _deeper_than(data: object, limit: int) -> bool:
    """True if arrays and tables nest more than ``limit`` levels (the document itself is level 1).

    Iterative: a recursive walk would fail the same way as the parser on a hostile file.
    """
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children = value.values() if isinstance(value, dict) else value
        assert isinstance(children, Iterable)
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def check_interfaces(config: Config) -> None:
    """Raise ``ConfigError`` naming every instance whose interface does not exist on this host."""
    issues: list[ConfigIssue] = []
    for index, inst in enumerate(config.vrrp_instance):
        try:
            socket.if_nametoindex(inst.interface)
        except OSError:
            issues.append(
                ConfigIssue(
                    source=config.where(f"vrrp_instance[{index}].interface"),
                    key=f"vrrp_instance[{index}].interface",
                    value=_render(inst.interface),
                    problem="no such network interface on this host",
                )
            )
    if issues:
        raise ConfigError(*issues)


def programs_of(config: Config) -> list[tuple[str, tuple[str, ...], str | None, str | None]]:
    """Every program the configuration runs: (key path, command, user, group), user None for the
    global script_user's (or keepalived's default)."""
    g = config.global_
    out: list[tuple[str, tuple[str, ...], str | None, str | None]] = []
    for index, script in enumerate(config.vrrp_script):
        user, group = (
            (script.user, script.group) if script.user is not None else (g.script_user, g.script_group)
        )
        out.append((f"vrrp_script[{index}].script", script.script, user, group))
    if g.notify_fifo_script is not None:
        out.append(("global.notify_fifo_script", g.notify_fifo_script, g.script_user, g.script_group))
    for index, inst in enumerate(config.vrrp_instance):
        for key in ("notify", "notify_master", "notify_backup", "notify_fault", "notify_stop"):
            command = getattr(inst, key)
            if command is not None:
                out.append((f"vrrp_instance[{index}].{key}", command, g.script_user, g.script_group))
        if inst.check is not None and inst.check.script is not None:
            out.append((f"vrrp_instance[{index}].check.script", (str(inst.check.script),), None, None))
    return out


def check_programs(config: Config) -> list[str]:
    """keepalived's script security, on this host: every user named exists, and with
    ``enable_script_security`` no program that runs with root's power can be changed by anyone but
    root (the program, or a directory above it, or the file a link points to). Raises ``ConfigError``
    for each offence; without ``enable_script_security`` an unsafe program is only a warning line
    (returned), as keepalived's "SECURITY VIOLATION" log."""
    issues: list[ConfigIssue] = []
    warnings: list[str] = []
    secure = config.global_.enable_script_security
    for key, command, user, group in programs_of(config):
        try:
            uid, gid = ids_of(user, group)
        except LookupError as exc:
            issues.append(ConfigIssue(config.where(key), str(exc), key, _render(user)))
            continue
        program = Path(command[0])
        if not needs_protection(program, uid, gid):
            continue
        for path in dict.fromkeys((program, program.resolve())):
            unsafe = insecure_component(path)
            if unsafe is None:
                continue
            where, why = unsafe
            problem = f"{where} {why}: a program run as root must be changeable by root only"
            if secure:
                issues.append(
                    ConfigIssue(
                        config.where(key), f"{problem} (enable_script_security)", key, _render(str(program))
                    )
                )
            else:
                advice = "set enable_script_security to refuse it"
                warnings.append(f"{config.where(key)}: {key}: {program}: {problem} ({advice})")
            break
    if issues:
        raise ConfigError(*issues)
    return warnings


# ---------------------------------------------------------------------------------------------
# Error rendering

_TOML_POSITION = re.compile(r"^(?P<msg>.*) \(at line (?P<line>\d+), column (?P<col>\d+)\)$")


def _syntax_issue(source: str, message: str) -> ConfigIssue:
    match = _TOML_POSITION.match(message)
    if match is None:  # e.g. "(at end of document)": keep tomllib's wording
        return ConfigIssue(source, f"TOML syntax error: {message}")
    return ConfigIssue(
        f"{source}:{match['line']}", f"TOML syntax error at column {match['col']}: {match['msg']}"
    )


def _issue(
    problem: _Problem, source: str, env_keys: Mapping[str, object], lines: Mapping[str, int]
) -> ConfigIssue:
    loc = problem.loc
    key = _key_path(loc)
    if len(loc) == 2 and loc[0] == "global" and loc[1] in env_keys:
        source = f"{ENV_PREFIX}{str(loc[1]).upper()}"
    elif (line := lines_.line_of(lines, key)) is not None:
        source = f"{source}:{line}"  # as compilers and the keepalived importer name a place: file:line
    shown = None if problem.value is None else _render(problem.value, key)
    return ConfigIssue(source, problem.problem, key or None, shown)


_key_path = lines_.key_path


def _secret_like(key: str) -> bool:
    """Whether the last name in a key path (``vrrp_instance[0].auth_pas``) may name a credential."""
    names = [part for part in re.split(r"[.\[\]]", key) if part and not part.isdigit()]
    return bool(names) and names[-1] not in _NOT_SECRET and _SECRET_LIKE.search(names[-1]) is not None


def _render(value: object, key: str = "") -> str:
    if _secret_like(key):
        return "<hidden>"  # never echo a password, even a wrong one or under a misspelled key
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
