"""`vrrpd status`: the daemon's state as a stable JSON document, and its rendering as a human table.

Owns the status schema (`SCHEMA_VERSION`, documented in docs/operations.md — add fields freely, but
renaming or removing one, or changing a meaning, bumps the version), `snapshot` which builds it from a
running daemon at request time, `render` for humans, and the CLI front of ``vrrpd status`` and
``vrrpd reload`` (finding the control socket, one-line errors). Nothing here changes the daemon.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import tomllib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vrrpd import __version__
from vrrpd.config import ConfigError, load_config
from vrrpd.ops.control import DEFAULT_TIMEOUT, CommandError, ControlError, Encoded, request
from vrrpd.ops.view import DaemonView, InstanceView

if TYPE_CHECKING:
    import argparse  # annotations only: `vrrpd run` does not import argparse (issue 17)

SCHEMA_VERSION = 1
DEFAULT_SOCKET = "/run/vrrpd/vrrpd.sock"
DEFAULT_CONFIG = "/etc/vrrpd/vrrpd.toml"


def iso(wall: float | None) -> str | None:
    """A wall-clock time as ISO 8601 UTC with milliseconds ("2026-01-02T03:04:05.678Z"), or None."""
    if wall is None:
        return None
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- building the document (in the daemon) ---------------------------------------------------------------


def snapshot(daemon: DaemonView, loop_now: float) -> dict[str, Any]:
    """The status document; `loop_now` is the event loop's clock, to turn loop times into wall times."""
    for iface in daemon.interfaces.values():
        iface.tally()
    wall_now = time.time()
    wall = _wall_of(wall_now, loop_now)
    return {
        **_head(daemon, wall_now),
        "instances": [_instance(inst, wall) for inst in daemon.instances],
        "interfaces": _interfaces(daemon),
    }


def encoded(daemon: DaemonView, loop_now: float) -> Encoded:
    """`snapshot` as compact JSON text, byte for byte ``json.dumps(snapshot(...), separators=(",", ":"))``,
    built one instance at a time: the document of hundreds of instances as Python objects is several
    times its text (about 4 KiB an instance against 0.7), and the daemon's peak memory is what counts."""
    for iface in daemon.interfaces.values():
        iface.tally()
    wall_now = time.time()
    wall = _wall_of(wall_now, loop_now)
    pieces = [_dumps(_head(daemon, wall_now))[:-1], ',"instances":[']
    for i, inst in enumerate(daemon.instances):
        pieces.append(("," if i else "") + _dumps(_instance(inst, wall)))
    pieces.append('],"interfaces":' + _dumps(_interfaces(daemon)) + "}")
    return Encoded(pieces)


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def _wall_of(wall_now: float, loop_now: float) -> Callable[[float | None], str | None]:
    def wall(loop_time: float | None) -> str | None:
        return None if loop_time is None else iso(wall_now - (loop_now - loop_time))

    return wall


def _head(daemon: DaemonView, wall_now: float) -> dict[str, Any]:
    g = daemon.config.global_
    reloads = daemon.reloads
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": iso(wall_now),
        "daemon": {
            "version": __version__,
            "router_id": g.router_id,
            "pid": os.getpid(),
            "started_at": iso(daemon.started_at),
            "uptime_seconds": round(wall_now - daemon.started_at, 3),
            # Tasks alive in the daemon's loop (this request's handler included): a leak shows as growth.
            "asyncio_tasks": len(asyncio.all_tasks()),
            "ready": daemon.ready,
            "config": daemon.config.source,
            "control_socket": str(g.control_socket),
            "metrics_listen": str(g.metrics_listen) if g.metrics_listen else None,
            "notify_fifo": None
            if daemon.fifo is None
            else {"path": daemon.fifo.path, "written": daemon.fifo.written, "dropped": daemon.fifo.dropped},
            "reloads": {
                "succeeded": reloads.succeeded,
                "failed": reloads.failed,
                "last_at": iso(reloads.last_at),
                "last_ok": reloads.last_ok,
                "last_error": reloads.last_error,
                "last_changes": reloads.last_changes,
            },
        },
    }


def _interfaces(daemon: DaemonView) -> list[dict[str, Any]]:
    return [
        {
            "name": iface.name,
            "ifindex": iface.ifindex,
            "up": iface.up,
            "source": str(iface.src) if iface.src is not None else None,
            "source6": str(iface.src6) if iface.src6 is not None else None,
            "drops": dict(sorted(iface.drops.items())),
        }
        for iface in daemon.interfaces.values()
    ]


def _tcp_target(host: IPv4Address | IPv6Address, port: int) -> str:
    return f"{host}:{port}" if host.version == 4 else f"[{host}]:{port}"


def _instance(inst: InstanceView, wall: Callable[[float | None], str | None]) -> dict[str, Any]:
    cfg, counters = inst.config, inst.counters
    check: dict[str, Any] | None = None
    if cfg.check is not None:
        c = cfg.check
        probe = inst.checker
        check = {
            "type": "tcp" if c.tcp_port is not None else "script",
            # The checker knows the address it really probes (an IPv6 instance's default target is
            # the interface's IPv4 address when it has one, else its link-local one with the scope).
            "target": probe.target
            if probe is not None and probe.target
            else _tcp_target(c.host or inst.primary, c.tcp_port)
            if c.tcp_port is not None
            else str(c.script),
            "up": inst.health,
            "weight": c.weight,
            "last_result": None if probe is None else probe.last_result,
            "last_detail": (probe.last_detail if probe is not None and probe.last_run is not None else None),
            "last_run_at": None if probe is None else wall(probe.last_run),
        }
    last = inst.last_transition
    return {
        "name": inst.name,
        "interface": cfg.interface,
        "vrid": cfg.virtual_router_id,
        "family": cfg.family,
        "source": str(inst.primary),
        "state": inst.state.value,
        "priority": {"base": cfg.priority, "effective": inst.priority},
        "master": str(inst.master) if inst.master else None,
        "advert_int": cfg.advert_int,
        "vips": [str(v) for v in cfg.vips],
        "vips_excluded": [str(v) for v in cfg.excluded_vips],
        "vips_held": [str(v) for v in inst.vips_held],
        "faults": sorted(f.value for f in inst.faults),
        "check": check,
        "last_transition": None
        if last is None
        else {"from": last.old, "to": last.new, "reason": last.reason, "at": iso(last.wall_time)},
        "counters": {
            "adverts_sent": counters.adverts_sent,
            "adverts_received": counters.adverts_received,
            "transitions": counters.transitions,
            "garps_sent": counters.garps_sent,
            "send_errors": counters.send_errors,
            "netlink_errors": counters.netlink_errors,
            "vips_restored": counters.vips_restored,
            "vips_unexpected_removed": counters.vips_unexpected_removed,
            "drops": dict(sorted(counters.drops.items())),
            "conflicts_detected": dict(sorted(inst.conflicts.detected.items())),
        },
        "conflicts": [
            {
                "kind": c.kind.value,
                "source": str(c.source),
                "detail": c.detail,
                "first_seen": wall(c.first_seen),
                "last_seen": wall(c.last_seen),
                "adverts": c.adverts,
            }
            for c in inst.conflicts.active()
        ],
    }


# -- rendering (in the CLI) ------------------------------------------------------------------------------


def _ago(stamp: str | None, now: datetime) -> str:
    if stamp is None:
        return "-"
    seconds = max(0.0, (now - datetime.fromisoformat(stamp.replace("Z", "+00:00"))).total_seconds())
    return f"{_duration(seconds)} ago"


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _table(rows: list[list[str]], right: frozenset[int]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            (cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])) for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    ]


def render(status: dict[str, Any]) -> str:
    """The human view of a status document: a header line, one row per instance, then details."""
    now = datetime.fromisoformat(str(status["generated_at"]).replace("Z", "+00:00"))
    d = status["daemon"]
    rel = d["reloads"]
    reload_text = ""
    if rel["succeeded"] or rel["failed"]:
        outcome = "ok" if rel["last_ok"] else "FAILED (running configuration kept)"
        counts = f"{rel['succeeded']} ok/{rel['failed']} failed"
        reload_text = f", reloads {counts}, last {outcome} {_ago(rel['last_at'], now)}"
    lines = [
        f"vrrpd {d['version']} on {d['router_id']} (pid {d['pid']}), up {_duration(d['uptime_seconds'])}, "
        f"config {d['config']}{reload_text}",
        "",
    ]
    rows = [
        [
            "INSTANCE",
            "IFACE",
            "VRID",
            "STATE",
            "PRIO",
            "MASTER",
            "VIPS",
            "CHECK",
            "LAST TRANSITION",
            "SENT",
            "RECV",
            "DROPS",
            "CONFLICTS",
        ]
    ]
    details: list[str] = []
    for inst in status["instances"]:
        prio = inst["priority"]
        prio_text = str(prio["effective"])
        if prio["effective"] != prio["base"]:
            prio_text += f" (base {prio['base']})"
        check = inst["check"]
        check_text = "-" if check is None else {True: "up", False: "DOWN", None: "?"}[check["up"]]
        last = inst["last_transition"]
        last_text = (
            "-" if last is None else f"{last['from']}->{last['to']} {last['reason']} {_ago(last['at'], now)}"
        )
        counters = inst["counters"]
        conflicts = inst["conflicts"]
        rows.append(
            [
                inst["name"],
                inst["interface"],
                str(inst["vrid"]),
                inst["state"],
                prio_text,
                inst["master"] or "-",
                ",".join(inst["vips"]),
                check_text,
                last_text,
                str(counters["adverts_sent"]),
                str(counters["adverts_received"]),
                str(sum(counters["drops"].values())),
                str(len(conflicts)) if conflicts else "-",
            ]
        )
        name = inst["name"]
        for c in conflicts:
            details.append(
                f"  {name}: CONFLICT {c['kind']} from {c['source']}: {c['detail']} "
                f"(since {_ago(c['first_seen'], now)}, {c['adverts']} adverts)"
            )
        if inst["faults"]:
            details.append(f"  {name}: fault: {', '.join(inst['faults'])}")
        if check is not None and check["last_result"] is not None:
            result = "passed" if check["last_result"] else "failed"
            details.append(
                f"  {name}: check {check['type']} {check['target']}: last run {result} "
                f"{_ago(check['last_run_at'], now)} ({check['last_detail']})"
            )
        if counters["drops"]:
            drops = ", ".join(f"{reason} {n}" for reason, n in counters["drops"].items())
            details.append(f"  {name}: drops: {drops}")
    lines += _table(rows, right=frozenset({2, 9, 10, 11}))
    if details:
        lines += ["", *details]
    if rel["last_error"] and not rel["last_ok"]:
        lines += ["", f"last reload failed: {rel['last_error']}"]
    return "\n".join(lines)


# -- the CLI ---------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The socket-finding options shared by ``status`` and ``reload``."""
    parser.add_argument("--socket", metavar="PATH", help="control socket of the daemon")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="read the control socket path from this configuration file",
    )


def socket_path(socket_arg: str | None, config_arg: str | None) -> str:
    """--socket, else --config's control_socket, else $VRRPD_CONTROL_SOCKET, else the default config's
    control_socket when that file loads, else /run/vrrpd/vrrpd.sock. Raises ConfigError for --config."""
    if socket_arg:
        return socket_arg
    if config_arg:
        try:
            return str(load_config(config_arg).global_.control_socket)
        except ConfigError:
            # `vrrpd reload` of a broken file must still reach the daemon: it logs and counts the refusal
            # and answers with the same one-line error. Only when even the socket cannot be told, fail here.
            raw = _raw_socket(config_arg)
            if raw is None:
                raise
            return raw
    env = os.environ.get("VRRPD_CONTROL_SOCKET")
    if env:
        return env
    default_config = os.environ.get("VRRPD_CONFIG", DEFAULT_CONFIG)
    if Path(default_config).is_file():
        try:
            return str(load_config(default_config).global_.control_socket)
        except ConfigError:
            pass  # an unreadable default file must not stop `status`; fall back to the default path
    return DEFAULT_SOCKET


def _raw_socket(config_path: str) -> str | None:
    """``[global] control_socket`` of a file that does not validate as a whole (env first), or None."""
    env = os.environ.get("VRRPD_CONTROL_SOCKET")
    if env:
        return env
    try:
        data = tomllib.loads(Path(config_path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    table = data.get("global", {})
    value = table.get("control_socket", DEFAULT_SOCKET) if isinstance(table, dict) else None
    return value if isinstance(value, str) and value else None


# A reload reads up to MAX_CONFIG_BYTES (seconds of parsing, off the daemon's loop) and may stop instances
# (each bounded by 10 s): the status request's 5 s would give up on a reload that is still working.
RELOAD_TIMEOUT = 30.0


def _ask(path: str, command: str, timeout: float = DEFAULT_TIMEOUT) -> Any:
    try:
        return request(path, command, timeout)
    except ControlError as exc:
        raise SystemExit(f"vrrpd: cannot reach the daemon at {path}: {exc}") from None
    except CommandError as exc:
        raise SystemExit(f"vrrpd: {command} failed: {exc}") from None


def status_main(args: argparse.Namespace) -> int:
    """``vrrpd status [--json]``: print the daemon's status; 1 with one line if it cannot be reached."""
    path = socket_path(args.socket, args.config)
    try:
        result = _ask(path, "status")
    except SystemExit as exc:
        print(exc.code, file=sys.stderr)
        return 1
    return _print(json.dumps(result, indent=2) if args.json else render(result))


def _print(text: str) -> int:
    try:
        print(text, flush=True)
    except BrokenPipeError:  # `vrrpd status | head`: the reader had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def reload_main(args: argparse.Namespace) -> int:
    """``vrrpd reload``: ask the daemon to reload its file; prints what changed, or why it refused."""
    path = socket_path(args.socket, args.config)
    try:
        result = _ask(path, "reload", RELOAD_TIMEOUT)
    except SystemExit as exc:
        print(exc.code, file=sys.stderr)
        return 1
    changes: dict[str, Sequence[str]] = result.get("changes", {}) if isinstance(result, dict) else {}
    parts = [f"{kind}: {', '.join(names)}" for kind, names in changes.items()]
    _print("reloaded; " + ("; ".join(parts) if parts else "nothing changed"))
    return 1 if "failed" in changes else 0  # applied, but some part could not be (listed)
