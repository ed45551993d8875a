"""Start-up checks of what the process may do: refuse in one line what could only fail later.

Without CAP_NET_ADMIN a daemon elects itself, advertises, and installs nothing (every VIP add is EPERM):
the backups hear its adverts and never take over, so nobody serves the VIP. Docker and containerd grant
NET_RAW but not NET_ADMIN by default, so a container running as root lacks it too. Without CAP_NET_RAW the
VRRP and ARP sockets cannot be opened. Both are read from the effective set in /proc/self/status
(``CapEff``), which is what the kernel checks: being root is neither needed nor enough.

Owns only that check and its wording; it does not drop or raise privileges.
"""

from __future__ import annotations

import os
import pwd
from typing import Final

CAP_NET_ADMIN: Final = 12
CAP_NET_RAW: Final = 13
# What each capability is needed for, in the order an operator should read them.
NEEDED: Final = (
    (CAP_NET_ADMIN, "CAP_NET_ADMIN", "add and remove the virtual addresses"),
    (CAP_NET_RAW, "CAP_NET_RAW", "open the VRRP and ARP sockets"),
)
STATUS_FILE: Final = "/proc/self/status"


def effective_capabilities(status_text: str) -> int | None:
    """The ``CapEff`` mask of a /proc/<pid>/status text, or None if it has none (not Linux)."""
    for line in status_text.splitlines():
        key, _, value = line.partition(":")
        if key == "CapEff":
            try:
                return int(value.strip(), 16)
            except ValueError:
                return None
    return None


def refusal(status_text: str | None = None, euid: int | None = None) -> str | None:
    """One line saying why this process cannot run the daemon, or None when it can.

    `status_text` and `euid` default to this process's own (/proc/self/status, os.geteuid()); tests pass
    them. A system without /proc (or without CapEff) is not refused: the sockets will say so.
    """
    if status_text is None:
        try:
            with open(STATUS_FILE, encoding="ascii", errors="replace") as f:
                status_text = f.read()
        except OSError:
            return None
    caps = effective_capabilities(status_text)
    if caps is None:
        return None
    missing = [(name, why) for bit, name, why in NEEDED if not caps >> bit & 1]
    if not missing:
        return None
    names = " and ".join(name for name, _ in missing)
    needs = "; ".join(f"{name} to {why}" for name, why in missing)
    uid = os.geteuid() if euid is None else euid
    if uid != 0:
        return (
            f"running as user {_user(uid)}, not root, without {names} (needed: {needs}): run as root,"
            " or grant CAP_NET_ADMIN and CAP_NET_RAW (systemd AmbientCapabilities=, setpriv --ambient-caps)"
        )
    plural = "capabilities" if len(missing) > 1 else "capability"
    grant = " ".join(f"--cap-add {name.removeprefix('CAP_')}" for name, _ in missing)
    return (
        f"missing {plural} {names} (needed: {needs}; effective set CapEff={caps:#x}): grant it,"
        f" e.g. docker run {grant}, or Kubernetes securityContext.capabilities.add"
    )


def _user(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"
