"""CPU time and memory of a daemon's whole process tree, read from /proc.

keepalived forks a VRRP child (and can fork checkers), so every figure here sums the tree rooted at the
pid we started. CPU is the scheduler's run time of every thread of the live processes
(`/proc/PID/task/TID/schedstat`, nanoseconds: utime+stime in `stat` are whole clock ticks, 10 ms, too
coarse for a backup that uses a few ticks a minute) plus cutime+cstime of children already reaped, in
seconds; memory is VmHWM/VmRSS (peak/current resident set, summed over every process of the tree —
shared pages count once per process, as `ps` would) and Pss (shared pages split between their users:
the fairer total). Receive-queue overflow is the `drops` column of the raw sockets for IP protocol 112
that the tree holds (`/proc/PID/net/raw` and `raw6`, the kernel's sk_drops: datagrams refused because
the socket's receive buffer was full), whatever the daemon itself counts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:  # gone between listing and reading
        return None
    # comm (field 2) may hold spaces and parentheses: split after the last ')'.
    return text[text.rindex(")") + 2 :].split()


def tree(root: int) -> list[int]:
    """`root` and all its descendants that are alive now."""
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))  # fields[1] is ppid
    found: list[int] = []
    todo = [root]
    while todo and len(found) < 10_000:  # bounded: a pid tree cannot be that large here
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return [p for p in found if (_PROC / str(p)).exists()]


def _run_ns(pid: int) -> int | None:
    """Nanoseconds on a CPU of every thread of `pid` so far (schedstat), or None if unreadable."""
    total = 0
    try:
        for task in (_PROC / str(pid) / "task").iterdir():
            total += int((task / "schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return total


def cpu_seconds(root: int) -> float:
    """CPU seconds consumed so far by the tree (reaped children included)."""
    total = 0.0
    for pid in tree(root):
        fields = _stat_fields(pid)
        if fields is None:
            continue
        # utime, stime, cutime, cstime: fields 14..17 of proc(5) stat, 11..14 after the ')' split.
        run_ns = _run_ns(pid)
        own = sum(int(v) for v in fields[11:13]) / CLK_TCK if run_ns is None else run_ns / 1e9
        total += own + sum(int(v) for v in fields[13:15]) / CLK_TCK
    return total


VRRP_PROTOCOL = 112


def _socket_inodes(pid: int) -> set[int]:
    found: set[int] = set()
    try:
        fds = list((_PROC / str(pid) / "fd").iterdir())
    except OSError:
        return found
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(int(target[8:-1]))
    return found


def raw_drops(table: str, inodes: set[int], protocol: int = VRRP_PROTOCOL) -> tuple[int, int]:
    """(drops summed, sockets) over the rows of a /proc/net/raw or raw6 `table` whose socket is one of
    `inodes` and whose protocol (the local "port" of a raw socket) is `protocol`."""
    drops = sockets = 0
    for line in table.splitlines()[1:]:
        cols = line.split()
        # sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
        if len(cols) < 13 or not cols[9].isdigit():
            continue
        if int(cols[1].rsplit(":", 1)[1], 16) != protocol or int(cols[9]) not in inodes:
            continue
        drops += int(cols[-1])
        sockets += 1
    return drops, sockets


def socket_drops(root: int) -> tuple[int, int]:
    """(datagrams dropped so far, sockets) over the tree's raw sockets for IP protocol 112 (IPv4 and
    IPv6), read from the tree's own network namespace."""
    pids = tree(root)
    inodes: set[int] = set()
    for pid in pids:
        inodes |= _socket_inodes(pid)
    drops = sockets = 0
    for name in ("raw", "raw6"):
        try:
            table = (_PROC / str(root) / "net" / name).read_text()
        except OSError:
            continue
        d, n = raw_drops(table, inodes)
        drops, sockets = drops + d, sockets + n
    return drops, sockets


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in (_PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid: int) -> int:
    try:
        for line in (_PROC / str(pid) / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass(frozen=True)
class Memory:
    """Memory of a process tree in MiB."""

    hwm: float  # sum of VmHWM (peak RSS of each process)
    rss: float  # sum of VmRSS now
    pss: float  # sum of Pss now (shared pages divided between processes)
    processes: int


def memory(root: int) -> Memory:
    pids = tree(root)
    hwm = sum(_status_kb(p, "VmHWM") for p in pids)
    rss = sum(_status_kb(p, "VmRSS") for p in pids)
    pss = sum(_pss_kb(p) for p in pids)
    return Memory(hwm / 1024, rss / 1024, pss / 1024, len(pids))
