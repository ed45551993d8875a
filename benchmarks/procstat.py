"""CPU time and memory of a daemon's whole process tree, read from /proc.

keepalived forks a VRRP child (and can fork checkers), so every figure here sums the tree rooted at the
pid we started. CPU is utime+stime of the live processes plus cutime+cstime (children already reaped),
in seconds; memory is VmHWM/VmRSS (peak/current resident set, summed — shared pages count once per
process, as `ps` would) and Pss (shared pages split between their users: the fairer total).
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


def cpu_seconds(root: int) -> float:
    """User+system CPU seconds consumed so far by the tree (reaped children included)."""
    total = 0
    for pid in tree(root):
        fields = _stat_fields(pid)
        if fields is not None:
            # utime, stime, cutime, cstime: fields 14..17 of proc(5) stat, 11..14 after the ')' split.
            total += sum(int(v) for v in fields[11:15])
    return total / CLK_TCK


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
