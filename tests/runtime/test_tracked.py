"""keepalived's track_file and track_process (issue 14): the values, the arithmetic, the matching.

The arithmetic is keepalived 2.2.7's (track_file.c: process_update_vrrp_track_file_status; vrrp_track.c:
initialise_vrrp_file_tracking_priorities, process_update_track_process_status); the process matching is
track_process.c's read_procs / check_params.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from vrrpd.config import ConfigError, VrrpTrackFileConfig, VrrpTrackProcessConfig, parse_config
from vrrpd.protocol.tracking import Tracked, contribution, effective_priority, faulted
from vrrpd.runtime.tracked import FileWatch, ProcessWatch, ProcInfo, matches, parse_value, read_proc

# -- the file's value ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (b"5\n", 5),
        (b"  -12 trailing", -12),
        (b"0x10", 16),
        (b"010", 8),  # strtol base 0: octal
        (b"08", 0),  # octal stops at 8
        (b"", 0),
        (b"abc", 0),
        (b"+7", 7),
        (b"2147483648", 2147483648),  # keepalived accepts INT32_MAX + 1
        (b"2147483649", None),  # "Invalid number ... ignoring": the last value stays
        (b"-2147483649", None),
        (b"99999999999999999999", None),  # strtol's ERANGE
    ],
)
def test_a_file_is_read_as_keepalived_strtol_reads_it(text: bytes, value: int | None) -> None:
    assert parse_value(text) == value


# -- what a value does ------------------------------------------------------------------------------


def test_a_weighted_file_adds_value_times_weight_capped_at_253_and_faults_at_minus_254() -> None:
    w2 = Tracked(2, file=True)
    assert contribution(w2, 10) == 20
    assert contribution(w2, 200) == 253  # capped, as keepalived's status > 253
    assert not faulted(w2, -126)  # -252
    assert contribution(w2, -126) == -252
    assert faulted(w2, -127)  # -254: FAULT
    assert contribution(w2, -127) == 0  # no term while in FAULT (keepalived subtracts it)
    reverse = Tracked(2, reverse=True, file=True)
    assert contribution(reverse, 10) == -20
    assert faulted(reverse, 127)
    assert effective_priority(100, [(w2, 10), (Tracked(-1, file=True), 30)]) == 90
    assert effective_priority(255, [(w2, -100)]) == 255  # the owner keeps 255


def test_a_weight_zero_file_is_fault_while_not_zero_and_reverse_while_zero() -> None:
    zero = Tracked(0, file=True)
    assert not faulted(zero, 0) and faulted(zero, 1) and faulted(zero, -3)
    rev = Tracked(0, reverse=True, file=True)
    assert faulted(rev, 0) and not faulted(rev, 4)
    assert not faulted(zero, None)  # not read yet counts as 0, as keepalived's initial last_status


# -- configuration -------------------------------------------------------------------------------------

BASE = """
[[vrrp_track_file]]
name = "f"
file = "/run/f"
{file_extra}

[[vrrp_track_process]]
name = "p"
process = "haproxy"
weight = 10

[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 1
priority = {priority}
virtual_ipaddress = ["192.0.2.1"]
track_file = [{track_file}]
track_process = ["p"]
"""


def _config(file_extra: str = "", track_file: str = '"f"', priority: int = 100) -> str:
    return BASE.format(file_extra=file_extra, track_file=track_file, priority=priority)


def test_weights_are_resolved_into_the_instance_entries() -> None:
    config = parse_config(_config(track_file='{ name = "f", reverse = true }'), "t.toml", env={})
    (inst,) = config.vrrp_instance
    assert (inst.track_file[0].weight, inst.track_file[0].reverse) == (1, True)  # keepalived's default 1
    assert (inst.track_process[0].weight, inst.track_process[0].reverse) == (10, False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            _config(track_file='"g"'),
            'track_file[0] = "g": no [[vrrp_track_file]] has this name',
        ),
        (_config(priority=255), "keepalived ignores an address owner's weighted tracked files"),
        (_config(file_extra="init_file_overwrite = true"), "applies only with init_file"),
        (_config(file_extra="weight = 255"), "vrrp_track_file[0].weight = 255: must be an integer -254..254"),
    ],
)
def test_bad_tracking_is_one_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "t.toml", env={})
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_a_sync_groups_tracking_goes_to_every_member() -> None:
    text = (
        _config()
        + """
[[vrrp_instance]]
name = "VI_2"
interface = "eth0"
virtual_router_id = 2
virtual_ipaddress = ["192.0.2.2"]

[[vrrp_sync_group]]
name = "G"
group = ["VI_1", "VI_2"]
tracking_weight = true
track_file = [{ name = "f", weight = 0 }]
track_process = ["p"]
track_interface = ["eth1"]
"""
    )
    config = parse_config(text, "t.toml", env={})
    vi1, vi2 = config.vrrp_instance
    assert [(t.name, t.weight) for t in vi2.track_file] == [("f", 0)]
    assert [t.name for t in vi2.track_process] == ["p"] and [t.name for t in vi2.track_interface] == ["eth1"]
    assert [(t.name, t.weight) for t in vi1.track_file] == [("f", 1)]  # its own entry wins


# -- processes -----------------------------------------------------------------------------------------


def _spec(**keys: object) -> VrrpTrackProcessConfig:
    return msgspec.convert({"name": "p", "process": "haproxy", **keys}, VrrpTrackProcessConfig)


def _proc(pid: int, comm: str = "haproxy", argv: tuple[str, ...] = (), ppid: int = 1) -> ProcInfo:
    return ProcInfo(pid, ppid, comm, tuple(a.encode() for a in argv))


def test_process_matching_is_keepalived_s() -> None:
    comm = _spec()
    assert matches(comm, _proc(1)) and not matches(comm, _proc(1, comm="haproxy2"))
    full = _spec(process="/usr/sbin/haproxy", full_command=True)
    assert matches(full, _proc(1, argv=("/usr/sbin/haproxy", "-f", "x")))
    assert not matches(full, _proc(1, argv=("haproxy",)))
    exact = _spec(process="/usr/sbin/haproxy", parameters=["-f", "/etc/h.cfg"])
    assert matches(exact, _proc(1, argv=("/usr/sbin/haproxy", "-f", "/etc/h.cfg")))
    assert not matches(exact, _proc(1, argv=("/usr/sbin/haproxy", "-f", "/etc/h.cfg", "-D")))
    partial = _spec(process="/usr/sbin/haproxy", parameters=["-f"], param_match="partial")
    assert matches(partial, _proc(1, argv=("/usr/sbin/haproxy", "-f", "x")))
    assert not matches(partial, _proc(1, argv=("/usr/sbin/haproxy", "-fx")))
    initial = _spec(process="/usr/sbin/haproxy", parameters=["-f", "/etc/h"], param_match="initial")
    assert matches(initial, _proc(1, argv=("/usr/sbin/haproxy", "-f", "/etc/h.cfg")))
    assert not matches(initial, _proc(1, argv=("/usr/sbin/haproxy", "-x", "/etc/h.cfg")))


def test_quorum_and_delays() -> None:
    loop = asyncio.new_event_loop()
    try:
        changes: list[tuple[str, bool]] = []
        spec = _spec(quorum=2, quorum_max=3, terminate_delay=0.05)
        watch = ProcessWatch([spec], lambda n, up: changes.append((n, up)), loop, scan_interval=3600)
        watch.update([_proc(10), _proc(11)])
        assert changes == [("p", True)]
        watch.update([_proc(10)])  # below quorum: waits terminate_delay
        assert changes == [("p", True)]
        watch.update([_proc(10), _proc(12)])  # back within the delay: nothing happened
        loop.run_until_complete(asyncio.sleep(0.1))
        assert changes == [("p", True)]
        watch.update([_proc(10)])
        loop.run_until_complete(asyncio.sleep(0.1))
        assert changes == [("p", True), ("p", False)]
        watch.update([_proc(10), _proc(11), _proc(12), _proc(13)])  # above quorum_max: still down
        assert changes[-1] == ("p", False)
        watch.close()
        none = _spec(quorum_max=0)  # keepalived: quorum_max 0 means "must not run"
        seen: list[bool] = []
        other = ProcessWatch([none], lambda _n, up: seen.append(up), loop, scan_interval=3600)
        other.update([])
        other.update([_proc(5)])
        assert seen == [True, False]
        other.close()
    finally:
        loop.close()


def test_a_scan_sees_this_process_and_an_exit_is_seen_at_once_through_its_pidfd() -> None:
    me = read_proc(os.getpid(), True)
    assert me is not None and me.argv[0] == os.fsencode(sys.executable)
    child = subprocess.Popen(["sleep", "30"])
    time.sleep(0.05)  # exec'd
    loop = asyncio.new_event_loop()
    try:
        changes: list[bool] = []
        spec = _spec(process="sleep", full_command=True, parameters=["30"])
        watch = ProcessWatch([spec], lambda _n, up: changes.append(up), loop, scan_interval=3600)
        watch.open()
        assert watch.status == {"p": True}
        child.kill()
        child.wait()
        start = time.monotonic()
        loop.run_until_complete(asyncio.sleep(0.05))
        assert changes == [False]  # no scan ran (the scan interval is an hour): the pidfd said so
        assert time.monotonic() - start < 1
        watch.close()
    finally:
        if child.poll() is None:
            child.kill()
        loop.close()


def test_a_file_change_is_seen_through_inotify(tmp_path: Path) -> None:
    path = tmp_path / "value"
    path.write_text("3\n")
    spec = msgspec.convert({"name": "f", "file": str(path)}, VrrpTrackFileConfig)
    loop = asyncio.new_event_loop()
    try:
        seen: list[tuple[str, int]] = []
        watch = FileWatch([spec], lambda n, v: seen.append((n, v)), loop)
        watch.open()
        assert watch.values == {"f": 3}
        path.write_text("-7\n")
        loop.run_until_complete(asyncio.sleep(0.05))
        tmp = tmp_path / "new"
        tmp.write_text("0x20")
        tmp.rename(path)  # IN_MOVED_TO
        loop.run_until_complete(asyncio.sleep(0.05))
        path.unlink()  # gone: 0
        loop.run_until_complete(asyncio.sleep(0.05))
        assert seen == [("f", -7), ("f", 32), ("f", 0)]
        watch.close()
    finally:
        loop.close()
