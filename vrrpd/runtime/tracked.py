"""keepalived's tracked files and tracked processes: what their value or status is, and when it changes.

Owns, for the daemon, the I/O behind `[[vrrp_track_file]]` and `[[vrrp_track_process]]`:

* `FileWatch` reads each tracked file's integer as keepalived does (C's ``strtol`` with base 0 on the
  first 127 bytes: ``0x10`` is 16, ``010`` is 8, trailing text ignored; missing, empty or unreadable is 0;
  a number outside 32 bits is ignored and the last value kept) and re-reads it when the kernel says it
  was written, renamed or deleted (inotify on its directory, keepalived's ``IN_CLOSE_WRITE | IN_DELETE |
  IN_MOVE``): no polling, nothing to do while nothing changes. ``init_file`` writes the file at start.
* `ProcessWatch` counts the processes matching each ``[[vrrp_track_process]]`` and reports whether the
  count is within ``quorum``..``quorum_max``, with keepalived's ``terminate_delay`` / ``fork_delay``.
  keepalived learns of forks, execs and exits from the kernel's proc connector (NETLINK_CONNECTOR), but
  the kernel delivers that only in the initial network namespace — not in a container or a lab namespace,
  where keepalived's track_process does not work at all. vrrpd instead watches each counted process with a
  pidfd (an exit is seen at once, at no cost while it runs) and finds new or changed processes by a scan
  of /proc every `SCAN_INTERVAL` seconds (a start is seen within that; the cost is in docs).

What a value does to an instance's priority is `vrrpd.protocol.tracking`'s; this module only reports
(name, value) through its callback. It must not decide priorities or states.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from vrrpd import logs
from vrrpd.config import VrrpTrackFileConfig, VrrpTrackProcessConfig

log = logs.get_logger("vrrpd.runtime.tracked")

# A new process is found by this periodic /proc scan (exits are seen at once through pidfds).
SCAN_INTERVAL = 1.0

# <sys/inotify.h>
_IN_CLOSE_WRITE = 0x00000008
_IN_MOVED_FROM = 0x00000040
_IN_MOVED_TO = 0x00000080
_IN_DELETE = 0x00000200
_IN_ISDIR = 0x40000000
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of NUL-padded name

_STRTOL = re.compile(rb"\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_INT32_MIN, _INT32_LIMIT = -(2**31), 2**31  # keepalived accepts up to INT32_MAX + 1
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


def parse_value(data: bytes) -> int | None:
    """A tracked file's content as keepalived reads it: ``strtol(buf, NULL, 0)``; None when keepalived
    ignores it (out of range), 0 when nothing parses."""
    match = _STRTOL.match(data)
    if match is None:
        return 0
    digits = match[2]
    if digits[:2] in (b"0x", b"0X"):
        value = int(digits[2:], 16)
    elif digits[:1] == b"0" and len(digits) > 1:
        value = int(digits[1:], 8)
    else:
        value = int(digits)
    if match[1] == b"-":
        value = -value
    if not _LONG_MIN <= value <= _LONG_MAX or not _INT32_MIN <= value <= _INT32_LIMIT:
        return None  # strtol's ERANGE, or keepalived's "Invalid number ... ignoring"
    return value


def read_value(path: str) -> int | None:
    """The value of the file at `path` now (0 if it cannot be read); None: keep the last one."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return 0
    try:
        data = os.read(fd, 127)
    except OSError:
        return 0
    finally:
        os.close(fd)
    return parse_value(data)


def init_file(spec: VrrpTrackFileConfig, *, reload: bool) -> str | None:
    """keepalived's ``init_file``: write the value if the file is missing (or always, with overwrite,
    except on a reload); an error line, or None."""
    if spec.init_file is None:
        return None
    exists = os.path.lexists(spec.file)
    if exists and (not spec.init_file_overwrite or reload):
        return None
    if exists and not os.path.isfile(spec.file):
        return f"{spec.file} is not a regular file"
    try:
        with open(spec.file, "w", encoding="ascii") as out:
            out.write(f"{spec.init_file}\n")
    except OSError as exc:
        return f"{spec.file}: {exc.strerror or exc}"
    return None


class FileWatch:
    """The tracked files: their values now, and `changed(name, value)` whenever one changes."""

    def __init__(
        self,
        specs: Sequence[VrrpTrackFileConfig],
        changed: Callable[[str, int], None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.specs = list(specs)
        self.values: dict[str, int] = {}
        self._changed = changed
        self._loop = loop
        self._fd = -1
        self._watch: dict[int, dict[str, list[str]]] = {}  # wd -> file name in that directory -> specs
        self._paths: dict[str, str] = {}  # spec name -> resolved path

    def open(self) -> None:
        """Read every file and start watching (call before the instances start)."""
        specs = self.specs
        if not specs:
            return
        import ctypes  # noqa: PLC0415 - start-up time only daemons with tracked files pay

        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            log.error("track_file_unwatched", error=os.strerror(ctypes.get_errno()))
        self._fd = fd
        by_dir: dict[str, int] = {}
        for spec in specs:
            path = os.path.realpath(spec.file)  # keepalived follows a link to the file it names
            self._paths[spec.name] = path
            directory, base = os.path.split(path)
            if not os.path.isdir(directory):
                log.warning("track_file_directory_missing", track_file=spec.name, file=spec.file)
            elif fd >= 0:
                wd = by_dir.get(directory)
                if wd is None:
                    mask = _IN_CLOSE_WRITE | _IN_DELETE | _IN_MOVED_FROM | _IN_MOVED_TO
                    wd = libc.inotify_add_watch(fd, os.fsencode(directory), mask)
                    if wd < 0:
                        error = os.strerror(ctypes.get_errno())
                        log.error("track_file_unwatched", track_file=spec.name, file=spec.file, error=error)
                        continue
                    by_dir[directory] = wd
                self._watch.setdefault(wd, {}).setdefault(base, []).append(spec.name)
            value = read_value(path)
            self.values[spec.name] = 0 if value is None else value
        if fd >= 0:
            self._loop.add_reader(fd, self._read)

    def close(self) -> None:
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                log.error("track_file_read_failed", error=str(exc))
                return
            if not data:
                return
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0")
                offset += _EVENT.size + length
                if mask & _IN_ISDIR:
                    continue
                for spec_name in self._watch.get(wd, {}).get(os.fsdecode(name), []):
                    if mask & (_IN_DELETE | _IN_MOVED_FROM):
                        value: int | None = 0  # keepalived: gone counts as 0
                    else:
                        value = read_value(self._paths[spec_name])
                    self._set(spec_name, value)

    def _set(self, name: str, value: int | None) -> None:
        if value is None:
            log.warning("track_file_invalid_number", track_file=name, detail="ignored; the last value stays")
            return
        if self.values.get(name) == value:
            return
        self.values[name] = value
        log.info("track_file_changed", track_file=name, value=value)
        self._changed(name, value)


# ---------------------------------------------------------------------------------------------------
# Processes


@dataclass(frozen=True, slots=True)
class ProcInfo:
    """What a /proc scan knows of one process."""

    pid: int
    ppid: int
    comm: str
    argv: tuple[bytes, ...]  # /proc/PID/cmdline split at NULs (empty for a kernel thread or zombie)


def matches(spec: VrrpTrackProcessConfig, proc: ProcInfo) -> bool:
    """keepalived's process match (track_process.c: read_procs / check_params): ``process`` against the
    comm name, or with the command line against argv[0], then the arguments by ``param_match``."""
    if not spec.by_command_line:
        return proc.comm == spec.process
    if not proc.argv or proc.argv[0] != os.fsencode(spec.process):
        return False
    match = spec.match
    if match is None:
        return True
    wanted = b"".join(os.fsencode(p) + b"\0" for p in spec.parameters)
    actual = b"".join(a + b"\0" for a in proc.argv[1:])
    if match == "exact":
        return actual == wanted
    if not wanted:
        return True
    if match == "partial":
        return actual.startswith(wanted)
    return actual.startswith(wanted[:-1])  # initial: the last parameter may be a prefix


def scan(need_cmdline: bool) -> list[ProcInfo]:
    """Every live (not zombie) process of this PID namespace's /proc."""
    found = []
    with os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            info = read_proc(int(entry.name), need_cmdline)
            if info is not None:
                found.append(info)
    return found


def read_proc(pid: int, need_cmdline: bool) -> ProcInfo | None:
    """One process's comm, parent and (if asked) command line; None if it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read(512)
        argv: tuple[bytes, ...] = ()
        if need_cmdline:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read(65536)
            argv = tuple(cmdline.split(b"\0")[:-1]) if cmdline else ()
    except OSError:
        return None
    open_paren, close_paren = stat.find(b"("), stat.rfind(b")")
    rest = stat[close_paren + 2 :].split()
    if open_paren < 0 or close_paren < 0 or len(rest) < 2 or rest[0] == b"Z":
        return None
    return ProcInfo(pid, int(rest[1]), os.fsdecode(stat[open_paren + 1 : close_paren]), argv)


@dataclass
class _Tracked:
    spec: VrrpTrackProcessConfig
    pids: set[int] = field(default_factory=set)
    up: bool = False
    timer: asyncio.TimerHandle | None = None

    def in_quorum(self) -> bool:
        low, high = self.spec.bounds
        return low <= len(self.pids) and (high is None or len(self.pids) <= high)


class ProcessWatch:
    """The tracked processes: whether each has its quorum now, and `changed(name, up)` on a change."""

    def __init__(
        self,
        specs: Sequence[VrrpTrackProcessConfig],
        changed: Callable[[str, bool], None],
        loop: asyncio.AbstractEventLoop,
        scan_interval: float = SCAN_INTERVAL,
    ) -> None:
        self._tracked = {spec.name: _Tracked(spec) for spec in specs}
        self._changed = changed
        self._loop = loop
        self._interval = scan_interval
        self._need_cmdline = any(spec.by_command_line for spec in specs)
        self._pidfds: dict[int, int] = {}  # pid -> pidfd
        self._scan_timer: asyncio.TimerHandle | None = None
        self.scans = 0

    @property
    def status(self) -> dict[str, bool]:
        return {name: t.up for name, t in self._tracked.items()}

    def open(self) -> None:
        """The first count, without delays (keepalived's initial read), then the watching."""
        if not self._tracked:
            return
        procs = scan(self._need_cmdline)
        self.scans += 1
        for tracked in self._tracked.values():
            tracked.pids = {p.pid for p in procs if matches(tracked.spec, p)}
            tracked.up = tracked.in_quorum()
        self._watch_pids()
        self._scan_timer = self._loop.call_later(self._interval, self._rescan)

    def close(self) -> None:
        if self._scan_timer is not None:
            self._scan_timer.cancel()
            self._scan_timer = None
        for tracked in self._tracked.values():
            if tracked.timer is not None:
                tracked.timer.cancel()
                tracked.timer = None
        for pid in list(self._pidfds):
            self._unwatch(pid)

    def _rescan(self) -> None:
        self._scan_timer = self._loop.call_later(self._interval, self._rescan)
        self.update(scan(self._need_cmdline))

    def update(self, procs: Iterable[ProcInfo]) -> None:
        """Apply one scan's result: the processes that match each spec now."""
        self.scans += 1
        procs = list(procs)
        for tracked in self._tracked.values():
            before = tracked.pids
            now = {p.pid for p in procs if matches(tracked.spec, p)}
            forked = any(p.ppid in before for p in procs if p.pid in now - before)
            tracked.pids = now
            self._evaluate(tracked, forked=forked)
        self._watch_pids()

    def _exited(self, pid: int) -> None:
        self._unwatch(pid)
        for tracked in self._tracked.values():
            if pid in tracked.pids:
                tracked.pids.discard(pid)
                self._evaluate(tracked, forked=False)

    def _evaluate(self, tracked: _Tracked, *, forked: bool) -> None:
        """keepalived's quorum rules: a loss waits terminate_delay, a gain by a fork of a counted process
        waits fork_delay (a new exec counts at once); coming back within the delay cancels it."""
        wanted = tracked.in_quorum()
        if wanted == tracked.up:
            if tracked.timer is not None:
                tracked.timer.cancel()
                tracked.timer = None
            return
        terminate, fork = tracked.spec.delays
        delay = terminate if not wanted else fork if forked else 0.0
        if delay > 0:
            if tracked.timer is None:
                tracked.timer = self._loop.call_later(delay, self._delayed, tracked)
            return
        self._set(tracked, wanted)

    def _delayed(self, tracked: _Tracked) -> None:
        tracked.timer = None
        self._set(tracked, tracked.in_quorum())

    def _set(self, tracked: _Tracked, up: bool) -> None:
        if up == tracked.up:
            return
        tracked.up = up
        name = tracked.spec.name
        log.info("track_process_changed", track_process=name, quorum=up, processes=len(tracked.pids))
        self._changed(name, up)

    def _watch_pids(self) -> None:
        wanted = set().union(*(t.pids for t in self._tracked.values()))
        for pid in set(self._pidfds) - wanted:
            self._unwatch(pid)
        for pid in wanted - set(self._pidfds):
            try:
                fd = os.pidfd_open(pid)
            except OSError:  # gone already: the next scan drops it
                continue
            self._pidfds[pid] = fd
            self._loop.add_reader(fd, self._exited, pid)

    def _unwatch(self, pid: int) -> None:
        fd = self._pidfds.pop(pid, None)
        if fd is not None:
            self._loop.remove_reader(fd)
            with contextlib.suppress(OSError):
                os.close(fd)
