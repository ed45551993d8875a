"""Helpers for the namespace tests: write a node's TOML, start `vrrpd run` in it, read the wire."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from vrrpd.testing.lab import Lab, Process, wait_until
from vrrpd.testing.sniff import Event, VrrpEvent

VIP = "192.0.2.100"


def toml_value(value: Any) -> str:
    """Render a Python value as TOML (the few types our configs use)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return str(value)


def config_text(lab: Lab, node: str, check: dict[str, Any] | None = None, **instance: Any) -> str:
    """One instance on eth0, VIP 192.0.2.100/24, VRID 51; keyword arguments override instance keys."""
    keys: dict[str, Any] = {
        "name": "VI_1",
        "interface": "eth0",
        "virtual_router_id": 51,
        "priority": 100,
        "advert_int": 1,
        "virtual_ipaddress": [f"{VIP}/24"],
        "garp_master_delay": 0,
    } | instance
    lines = [
        "[global]",
        f'router_id = "{node}"',
        f'control_socket = "{lab.log_dir}/{node}.sock"',
        "",
        "[[vrrp_instance]]",
        *(f"{k} = {toml_value(v)}" for k, v in keys.items()),
    ]
    if check:
        lines += ["", "[vrrp_instance.check]", *(f"{k} = {toml_value(v)}" for k, v in check.items())]
    return "\n".join(lines) + "\n"


# Run a command without CAP_BPF and CAP_SYS_ADMIN (dropped from the bounding set before the exec), as a
# daemon on a host or container that does not grant them: the kernel then refuses eBPF (EPERM).
WITHOUT_BPF: tuple[str, ...] = ("capsh", "--drop=cap_bpf,cap_sys_admin", "--", "-c", 'exec "$0" "$@"')


def start_vrrpd(lab: Lab, node: str, text: str, tag: str = "", wrapper: Sequence[str] = ()) -> Process:
    """Write `text` as the node's config and start `vrrpd run` on it (JSON logs to the lab's log dir);
    `wrapper` goes in front of the command (e.g. WITHOUT_BPF)."""
    path = Path(lab.log_dir) / f"{node}{tag}.toml"
    path.write_text(text)
    return lab.spawn(
        node,
        [*wrapper, sys.executable, "-m", "vrrpd", "run", "--config", str(path)],
        env={"VRRPD_LOG_FORMAT": "json"},
        log_path=Path(lab.log_dir) / f"{node}{tag}-vrrpd.log",
    )


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Poll `predicate` until true or `timeout` seconds pass (bounded: at most timeout/step polls)."""
    return wait_until(predicate, timeout, step)


def single_holder(lab: Lab, vip: str = VIP) -> str | None:
    """The one node holding `vip`, or None if zero or several do."""
    holders = lab.holders(vip)
    return holders[0] if len(holders) == 1 else None


def wait_holder(lab: Lab, expected: str | None = None, timeout: float = 12.0, vip: str = VIP) -> str:
    """Wait until exactly one node (`expected`, if given) holds the VIP; fail with the holders if not."""

    def ok() -> bool:
        h = single_holder(lab, vip)
        return h is not None and (expected is None or h == expected)

    if not wait_for(ok, timeout):
        raise AssertionError(f"expected single holder {expected or 'any'} of {vip}, got {lab.holders(vip)}")
    holder = single_holder(lab, vip)
    assert holder is not None
    return holder


def adverts(events: Iterable[Event], src: str | None = None, vrid: int = 51) -> list[VrrpEvent]:
    """The VRRP adverts in a capture, optionally from one source address."""
    return [
        e for e in events if isinstance(e, VrrpEvent) and e.vrid == vrid and (src is None or e.src_ip == src)
    ]


def handover_gap(events: Sequence[Event], old_ip: str, new_ip: str) -> tuple[VrrpEvent, VrrpEvent]:
    """(the old master's last advert before the new master's first, the new master's first advert)."""
    new = adverts(events, new_ip)
    assert new, f"no advert from {new_ip} in the capture"
    first_new = new[0]
    old = [e for e in adverts(events, old_ip) if e.time < first_new.time]
    assert old, f"no advert from {old_ip} before {new_ip}'s first"
    return old[-1], first_new


TCP_LISTENER = (
    "import socket,sys,time\n"
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(16); s.settimeout(0.5)\n"
    "end=time.monotonic()+float(sys.argv[2])\n"
    "while time.monotonic()<end:\n"
    "    try: c,_=s.accept(); c.close()\n"
    "    except OSError: pass\n"
)


def start_listener(lab: Lab, node: str, port: int, seconds: float = 120.0) -> Process:
    """A bounded TCP listener in `node` (what a watch-port check probes)."""
    return lab.spawn(node, [sys.executable, "-c", TCP_LISTENER, str(port), str(seconds)])


def log_events(proc: Process) -> list[dict[str, Any]]:
    """The JSON log lines a daemon wrote (non-JSON lines are skipped)."""
    import json

    out = []
    for line in proc.log_text().splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def became_master(proc: Process) -> list[dict[str, Any]]:
    """The daemon's transitions to MASTER so far (from its log: one too brief for a holder probe shows)."""
    return [e for e in log_events(proc) if e.get("event") == "state_change" and e.get("new") == "MASTER"]


def stop_all(procs: Sequence[Process], timeout: float = 5.0) -> None:
    """SIGTERM every daemon and wait (bounded)."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        p.wait(timeout=timeout)
