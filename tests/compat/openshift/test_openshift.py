"""``--openshift``: the ipfailover image's variables, one table per variable, against a fake host.

Each table holds values the image accepts (and what they become) and values it silently dropped or
rewrote, which vrrpd refuses with one line naming the variable, the value and what is allowed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from vrrpd.compat.openshift import env as openshift
from vrrpd.compat.openshift import spread
from vrrpd.compat.openshift.plan import Plan, load, load_for_cleanup
from vrrpd.compat.openshift.render import describe_plan
from vrrpd.config import ConfigError

A = IPv4Address
NODE = A("192.0.2.11")


class FakeHost:
    """A host with the given interfaces and primary addresses, and the device of its default route."""

    def __init__(
        self, interfaces: Mapping[str, IPv4Address | None] | None = None, route: str | None = "eth0"
    ) -> None:
        self.interfaces = dict(interfaces if interfaces is not None else {"lo": A("127.0.0.1"), "eth0": NODE})
        self.route = route

    def interface_names(self) -> list[str]:
        return list(self.interfaces)

    def primary_address(self, interface: str) -> IPv4Address | None:
        return self.interfaces[interface]

    def route_interface(self) -> str | None:
        return self.route


def env(**variables: str) -> dict[str, str]:
    """``OPENSHIFT_HA_<NAME>`` for each keyword (VIRTUAL_IPS defaults to one address)."""
    out = {"OPENSHIFT_HA_VIRTUAL_IPS": "192.0.2.100"}
    out |= {(k if k.startswith(("HA_", "VRRPD_")) else f"OPENSHIFT_HA_{k}"): v for k, v in variables.items()}
    return out


def settings(**variables: str) -> openshift.Settings:
    return openshift.parse_env(env(**variables))


def plan(*host: FakeHost, **variables: str) -> Plan:
    return load(env(**variables), host[0] if host else FakeHost())


def error(**variables: str) -> str:
    with pytest.raises(ConfigError) as info:
        plan(**variables)
    text = str(info.value)
    assert "\n" not in text
    return text


@pytest.fixture
def script(tmp_path: Path) -> str:
    path = tmp_path / "check.sh"
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return str(path)


# ---- OPENSHIFT_HA_VIRTUAL_IPS ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.2.3.4-6,1.2.3.9", ["1.2.3.4", "1.2.3.5", "1.2.3.6", "1.2.3.9"]),
        ("1.2.3.4", ["1.2.3.4"]),
        ("1.2.3.4, 1.2.3.5,\t1.2.3.6", ["1.2.3.4", "1.2.3.5", "1.2.3.6"]),  # the image deletes the spaces
        ("  1.2.3.4,,1.2.3.5 , ", ["1.2.3.4", "1.2.3.5"]),
        ("10.1.1.100-100", ["10.1.1.100"]),
        ("1.2.3.254-255", ["1.2.3.254", "1.2.3.255"]),  # .255 is a fine /32 VIP inside a larger net
        ("1.2.3.4-1.2.3.6", ["1.2.3.4", "1.2.3.5", "1.2.3.6"]),
        ("10.245.2.101-105", [f"10.245.2.{i}" for i in range(101, 106)]),
    ],
)
def test_virtual_ips_accepted(value: str, expected: list[str]) -> None:
    assert [str(v) for v in settings(VIRTUAL_IPS=value).vips] == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("1.2.3.6-4", "a reversed range; the image dropped it"),
        ("1.2.3.4-300", "at most 255; the image wrote 1.2.3.256 and beyond, which keepalived skipped"),
        (
            "1.2.3.4-1.2.4.6",
            "may only vary the last octet; the image kept only the end's last octet (1.2.3.4-6)",
        ),
        ("1.2.3", "is not an IPv4 address"),
        ("1.2.3.256", "is not an IPv4 address"),
        ("1.2.3.04", "a leading zero; the image wrote it and keepalived skipped it"),
        (
            "10.0.0.1/24",
            "a prefix length: each VIP is a /32 and the image deletes the '/' (the image read 10.0.0.124)",
        ),
        (
            "1.2.3.4 1.2.3.5",
            "spaces between entries: the image deletes spaces (the image wrote no VIP at all)",
        ),
        ("1.2.3.4-6 1.2.3.9", "the image deletes spaces (the image read 1.2.3.4 ... 1.2.3.9 (6 VIPs))"),
        ("1.2.3.4,1.2.3.x", "the image deletes 'x'"),
        (
            "2001:db8::a-c",
            "counts its last group in hexadecimal with bc, which reads only digits and upper-case",
        ),
        ("2001:db8::9-1", "a reversed range; the image dropped it"),
        ("2001:db8::g1", "the image deletes 'g'"),
        ("224.0.0.18", "not a unicast address"),
        ("127.0.0.1", "not a unicast address"),
        ("0.0.0.0", "not a unicast address"),
        ("255.255.255.255", "broadcast"),
        ("1.2.3.4,1.2.3.4", "listed twice"),
        ("1.2.3.4-5,1.2.3.5", "listed twice"),
        ("a.b.c.d", "is not an IPv4 address"),
        ("1.2.3.4-5-6", "the range end must be a last octet"),
        (" , ", "no address given"),
    ],
)
def test_virtual_ips_refused(value: str, problem: str) -> None:
    text = error(VIRTUAL_IPS=value)
    assert text.startswith("OPENSHIFT_HA_VIRTUAL_IPS")
    assert problem in text
    assert "IPv4 addresses and ranges" in text  # what is allowed


def test_ipv6_vips_are_vrrpv3_instances_as_keepalived_ran_them() -> None:
    p = plan(VIRTUAL_IPS="192.0.2.100, 2001:db8::9-B")  # hex, as the image's bc counts: ::9, ::a, ::b
    v4, *v6 = p.config.vrrp_instance
    assert (v4.version, v4.auth_pass, [str(v) for v in v4.vips]) == (2, "OpenShif", ["192.0.2.100/32"])
    assert [(i.version, i.auth_pass, [str(v) for v in i.vips]) for i in v6] == [
        (3, None, [f"2001:db8::{n}/128"]) for n in ("9", "a", "b")
    ]
    assert "IPv4 peers with IPv6 VIPs" in error(VIRTUAL_IPS="2001:db8::10", UNICAST_PEERS="192.0.2.12")


def test_virtual_ips_required() -> None:
    with pytest.raises(ConfigError, match=r"^OPENSHIFT_HA_VIRTUAL_IPS: missing \(required: "):
        load({}, FakeHost())


def test_this_nodes_own_address_is_not_a_vip() -> None:
    assert "this node's own address" in error(VIRTUAL_IPS="192.0.2.11,192.0.2.100")


# ---- OPENSHIFT_HA_VIP_GROUPS ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vips", "groups", "sizes"),
    [
        ("1.2.3.1-7", None, [1] * 7),  # unset: one VIP per group
        ("1.2.3.1-7", "0", [1] * 7),  # 0: the same (oadm's default)
        ("1.2.3.1-7", "3", [3, 2, 2]),
        ("1.2.3.1-7", "1", [7]),
        ("1.2.3.1-7", "7", [1] * 7),
        ("1.2.3.1-8", "3", [3, 3, 2]),
        ("1.2.3.1-2", "10", [1, 1]),  # more groups than VIPs: one each, with a note
    ],
)
def test_vip_groups(vips: str, groups: str | None, sizes: list[int]) -> None:
    extra = {} if groups is None else {"VIP_GROUPS": groups}
    s = settings(VIRTUAL_IPS=vips, **extra)
    assert [len(g) for g in s.groups] == sizes
    assert [v for g in s.groups for v in g] == list(s.vips)  # consecutive, in order: a group moves together
    assert (groups == "10") == any("only 2 VIPs" in n for n in s.notes)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("-1", "not a whole number"),
        ("three", "not a whole number"),
        ("1.5", "not a whole number"),
        ("256", "out of range 0..255"),
        ("03", "a leading zero: bash reads 03 as octal 3"),
        ("08", "a leading zero: bash reads 08 as octal, and fails on it"),
    ],
)
def test_vip_groups_refused(value: str, problem: str) -> None:
    assert error(VIP_GROUPS=value).startswith(
        f'OPENSHIFT_HA_VIP_GROUPS = "{value}": {problem}; the image made one group per VIP; must be an '
        "integer 0..255"
    )


# ---- OPENSHIFT_HA_CONFIG_NAME: names and authentication --------------------------------------------------


@pytest.mark.parametrize(
    ("name", "instance", "auth"),
    [
        (None, "OpenShift_IPFailover_VIP_1", "OpenShif"),
        ("ipf-ha-router-us-west", "ipf_ha_router_us_west_VIP_1", "ipf-ha-r"),
        ("ipf-ha-geo-cache", "ipf_ha_geo_cache_VIP_1", "ipf-ha-g"),
        ("arp", "arp_VIP_1", "arp"),
        ("a.b", "ab_VIP_1", "a.b"),  # the image's scrub drops the dot from the instance name only
    ],
)
def test_config_name(name: str | None, instance: str, auth: str) -> None:
    extra = {} if name is None else {"CONFIG_NAME": name}
    p = plan(VIRTUAL_IPS="192.0.2.100-101", **extra)
    assert [i.name for i in p.config.vrrp_instance] == [instance, instance.replace("_1", "_2")]
    assert {i.auth_pass for i in p.config.vrrp_instance} == {auth}  # keepalived truncates to 8


@pytest.mark.parametrize(
    ("value", "image"),
    [
        ("-lead", "the image named its instances _lead_VIP_<n> and authenticated with '-lead'"),
        ("has space", "the image named its instances hasspace_VIP_<n> and authenticated with 'has'"),
        ("x" * 57, f"the image named its instances {'x' * 57}_VIP_<n> and authenticated with 'xxxxxxxx'"),
        ("ünï", "the image named its instances n_VIP_<n>"),
    ],
)
def test_config_name_refused_with_what_the_image_did(value: str, image: str) -> None:
    text = error(CONFIG_NAME=value)
    assert text.startswith("OPENSHIFT_HA_CONFIG_NAME = ") and image in text


# ---- VRIDs: OPENSHIFT_HA_VRRP_ID_OFFSET and HA_EXCLUDED_VRRP_IDS -----------------------------------------


@pytest.mark.parametrize(
    ("offset", "excluded", "vrids"),
    [
        (None, None, [11, 12, 13]),  # the image's default offset: 10
        ("0", None, [1, 2, 3]),
        ("10", None, [11, 12, 13]),
        (" 7 ", None, [8, 9, 10]),
        ("0", "2", [1, 3, 4]),
        ("0", "2 3", [1, 4, 5]),
        ("0", " 1\t2 ", [3, 4, 5]),
        (None, "12 99", [11, 13, 14]),
        ("252", None, [253, 254, 255]),
    ],
)
def test_vrids(offset: str | None, excluded: str | None, vrids: list[int]) -> None:
    extra = {} if offset is None else {"VRRP_ID_OFFSET": offset}
    if excluded is not None:
        extra["HA_EXCLUDED_VRRP_IDS"] = excluded
    p = plan(VIRTUAL_IPS="192.0.2.100-102", **extra)
    assert [i.virtual_router_id for i in p.config.vrrp_instance] == vrids


@pytest.mark.parametrize(
    ("variables", "start", "problem"),
    [
        ({"VRRP_ID_OFFSET": "253"}, 'OPENSHIFT_HA_VRRP_ID_OFFSET = "253"', "need VRIDs up to 256"),
        ({"VRRP_ID_OFFSET": "252", "HA_EXCLUDED_VRRP_IDS": "254"}, "OPENSHIFT_HA_VRRP_ID_OFFSET", "skipping"),
        ({"VRRP_ID_OFFSET": "255"}, 'OPENSHIFT_HA_VRRP_ID_OFFSET = "255"', "integer 0..254"),
        ({"VRRP_ID_OFFSET": "-1"}, "OPENSHIFT_HA_VRRP_ID_OFFSET", "integer 0..254"),
        ({"VRRP_ID_OFFSET": "ten"}, "OPENSHIFT_HA_VRRP_ID_OFFSET", "integer 0..254"),
        (
            {"VRRP_ID_OFFSET": "010"},
            'OPENSHIFT_HA_VRRP_ID_OFFSET = "010": a leading zero: bash reads 010 as octal 8 (the image\'s '
            "VRIDs started at 9)",
            "integer 0..254",
        ),
        ({"VRRP_ID_OFFSET": "09"}, 'OPENSHIFT_HA_VRRP_ID_OFFSET = "09": a leading zero', "fails on it"),
        ({"HA_EXCLUDED_VRRP_IDS": "0"}, "HA_EXCLUDED_VRRP_IDS", "VRIDs 1..255"),
        (
            {"HA_EXCLUDED_VRRP_IDS": "12,13"},
            "HA_EXCLUDED_VRRP_IDS",
            "'12,13': the image splits this list at spaces",
        ),
        ({"HA_EXCLUDED_VRRP_IDS": "012"}, "HA_EXCLUDED_VRRP_IDS", "as text, so it excluded nothing"),
        ({"HA_EXCLUDED_VRRP_IDS": "5 x"}, "HA_EXCLUDED_VRRP_IDS", "'x'"),
    ],
)
def test_vrids_refused(variables: dict[str, str], start: str, problem: str) -> None:
    text = error(VIRTUAL_IPS="192.0.2.100-102", **variables)
    assert text.startswith(start) and problem in text


# ---- OPENSHIFT_HA_NETWORK_INTERFACE ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interfaces", "route", "chosen", "how"),
    [
        (["eth0"], "eth0", "eth0", "the device of the route to 8.8.8.8"),
        (["eth0", "eth1"], "eth0", "eth1", "the first of enp0s3, enp0s8, eth1, ens3"),
        (["ens3", "eth1", "enp0s8"], "ens3", "enp0s8", "the first of enp0s3, enp0s8, eth1, ens3"),
        (["bond0", "eth0"], "bond0", "bond0", "the device of the route to 8.8.8.8"),
    ],
)
def test_interface_unset_is_chosen_as_the_image_does_and_said(
    interfaces: list[str], route: str, chosen: str, how: str
) -> None:
    addresses = {name: A(f"192.0.2.{20 + i}") for i, name in enumerate(interfaces)}
    p = plan(FakeHost({"lo": A("127.0.0.1"), **addresses}, route))
    assert p.interface == chosen == p.config.vrrp_instance[0].interface
    (note,) = [n for n in p.notes if n.startswith("OPENSHIFT_HA_NETWORK_INTERFACE is unset")]
    assert f"interface {chosen}: " in note and how in note
    assert p.node == addresses[chosen]  # the spread and the check use the chosen interface's address


def test_interface_explicit_and_blank() -> None:
    host = FakeHost({"lo": A("127.0.0.1"), "eth0": NODE, "eth1": A("198.51.100.5")})
    assert plan(host, NETWORK_INTERFACE=" eth0 ").interface == "eth0"
    assert plan(host, NETWORK_INTERFACE="  ").interface == "eth1"  # blank is unset, as in the image


def test_interface_missing_is_refused_naming_the_images_choice() -> None:
    host = FakeHost({"lo": A("127.0.0.1"), "ens3": NODE, "ens4": A("198.51.100.5")}, route="ens4")
    with pytest.raises(ConfigError) as info:
        plan(host, NETWORK_INTERFACE="enp0s8")
    assert str(info.value) == (
        'OPENSHIFT_HA_NETWORK_INTERFACE = "enp0s8": no such interface on this host (the image used ens3 '
        "instead: the first of enp0s3, enp0s8, eth1, ens3 that exists on this host, as the image picks); "
        "this host has: ens3, ens4"
    )
    with pytest.raises(ConfigError) as info:
        plan(FakeHost({"lo": A("127.0.0.1"), "bond0": NODE}, route=None))
    assert str(info.value) == (
        "OPENSHIFT_HA_NETWORK_INTERFACE: not set, and none of enp0s3, enp0s8, eth1, ens3 exists and there "
        "is no default route (the image wrote an empty interface); set it to the interface that carries "
        "the VIPs (this host has: bond0)"
    )


@pytest.mark.parametrize("value", ["eth0:1", "a/b", "x" * 16, "two words"])
def test_interface_name_refused(value: str) -> None:
    assert error(NETWORK_INTERFACE=value).startswith("OPENSHIFT_HA_NETWORK_INTERFACE = ")


def test_interface_without_ipv4_is_refused() -> None:
    with pytest.raises(ConfigError, match="has no IPv4 address"):
        plan(FakeHost({"eth0": None}))


# ---- checks: OPENSHIFT_HA_MONITOR_PORT, _CHECK_SCRIPT, _CHECK_INTERVAL ------------------------------------


def test_monitor_port_default_80_tcp_check_on_own_address_fault_on_failure() -> None:
    check = plan().config.vrrp_instance[0].check
    assert check is not None
    assert (check.tcp_port, check.host, check.weight, check.interval, check.timeout) == (
        80,
        None,
        0,
        2.0,
        2.0,
    )
    # host None = the interface's primary address, which is the node's own (what the image checks).
    assert (check.rise, check.fall) == (1, 1)


def test_monitor_port_values() -> None:
    check = plan(MONITOR_PORT="9736").config.vrrp_instance[0].check
    assert check is not None and check.tcp_port == 9736
    assert plan(MONITOR_PORT="0").config.vrrp_instance[0].check is None


@pytest.mark.parametrize(
    ("value", "image"),
    [
        ("80a", "the image deleted all but the digits and checked port 80"),
        ("8o80", "the image deleted all but the digits and checked port 880"),
        ("-1", "the image deleted all but the digits and checked port 1"),
        ("65536", "the image's check could never connect (FAULT for ever)"),
        ("080", "the image's check could never connect (FAULT for ever)"),
        ("http", "the image's check could never connect (FAULT for ever)"),
    ],
)
def test_monitor_port_refused(value: str, image: str) -> None:
    assert error(MONITOR_PORT=value).startswith(
        f'OPENSHIFT_HA_MONITOR_PORT = "{value}": {image}; must be a TCP port'
    )


def test_check_script_replaces_tcp_check_as_one_vrrp_script(script: str) -> None:
    p = plan(CHECK_SCRIPT=script, MONITOR_PORT="9736", CHECK_INTERVAL="3", VIRTUAL_IPS="192.0.2.100-101")
    # As the image: one vrrp_script chk_<name>, tracked by every instance, run once per interval.
    (vrrp_script,) = p.config.vrrp_script
    assert (vrrp_script.name, vrrp_script.script, vrrp_script.interval) == (
        "chk_OpenShift_IPFailover",
        (script,),
        3,
    )
    assert (vrrp_script.run_timeout, vrrp_script.rise, vrrp_script.fall, vrrp_script.weight) == (3, 1, 1, 0)
    for inst in p.config.vrrp_instance:
        assert inst.check is None
        assert [t.name for t in inst.track_script] == ["chk_OpenShift_IPFailover"]
    assert any("replaces the TCP check" in n for n in p.notes)
    # Even with port 0 the script runs (the image: the script wins).
    assert plan(CHECK_SCRIPT=script, MONITOR_PORT="0").config.vrrp_script


@pytest.mark.parametrize(
    ("value", "argv"),
    [
        ("/bin/sh -c 'exit 0'", ("/bin/sh", "-c", "exit 0")),  # keepalived's quoting, no shell of its own
        ("env true", ("/usr/bin/env", "true")),  # a bare name, found in keepalived's PATH
    ],
)
def test_check_script_runs_as_keepalived_ran_it(value: str, argv: tuple[str, ...]) -> None:
    (vrrp_script,) = plan(CHECK_SCRIPT=value).config.vrrp_script
    assert vrrp_script.script[1:] == argv[1:]
    assert Path(vrrp_script.script[0]).name == Path(argv[0]).name


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("bin/check.sh", "'bin/check.sh' is a relative path"),
        ("no-such-check-program", "no such program in this container; the image's keepalived ran without"),
        (
            "/nonexistent/check.sh",
            "no such program in this container; the image's keepalived ran without any health check",
        ),
        ("/bin/check 'a", "(keepalived could not read it either)"),
        ('/bin/check "a"', "a double quote cuts the image's keepalived.conf line short"),
    ],
)
def test_check_script_refused(value: str, problem: str) -> None:
    text = error(CHECK_SCRIPT=value)
    assert text.startswith("OPENSHIFT_HA_CHECK_SCRIPT = ") and problem in text


def test_cleanup_needs_no_scripts() -> None:
    # A cleanup Job carries the Deployment's environment but not its ConfigMap with the scripts.
    variables = env(CHECK_SCRIPT="/etc/keepalive/check.sh", NOTIFY_SCRIPT="/etc/keepalive/notify.sh")
    p = load_for_cleanup(variables, FakeHost())
    assert [str(v) for v in p.config.vrrp_instance[0].vips] == ["192.0.2.100/32"]
    check = p.config.vrrp_instance[0].check
    assert (check is None or check.script is None) and p.config.vrrp_instance[0].notify is None
    with pytest.raises(ConfigError, match="no such program in this container"):
        load(variables, FakeHost())


def test_check_script_not_executable(tmp_path: Path) -> None:
    path = tmp_path / "x.sh"
    path.write_text("exit 0\n")
    assert "not executable" in error(CHECK_SCRIPT=str(path))


@pytest.mark.parametrize(
    ("value", "seconds", "note"),
    [
        ("2", 2.0, None),
        ("1", 1.0, None),
        ("10", 10.0, None),
        ("0", 1.0, "0 means 1 s, as keepalived read it"),
        ("1.5", 1.0, "1.5 is not a whole number: keepalived ignored it and checked every 1 s (its default)"),
        ("0.5", 1.0, "0.5 is not a whole number"),
    ],
)
def test_check_interval_is_what_keepalived_used(value: str, seconds: float, note: str | None) -> None:
    p = plan(CHECK_INTERVAL=value)
    check = p.config.vrrp_instance[0].check
    assert check is not None and check.interval == seconds == check.timeout
    noted = [n for n in p.notes if n.startswith("OPENSHIFT_HA_CHECK_INTERVAL")]
    assert (note is None and not noted) or (
        note is not None and note in noted[0] and "vrrpd uses 1 s" in noted[0]
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("-2", "not a number of seconds 1..3600"),
        ("two", "not a number of seconds"),
        ("3601", "more than vrrpd's"),
    ],
)
def test_check_interval_refused(value: str, problem: str) -> None:
    text = error(CHECK_INTERVAL=value)
    assert text.startswith(f'OPENSHIFT_HA_CHECK_INTERVAL = "{value}": {problem}')
    assert "keepalived ignored it (1 s); must be a whole number of seconds" in text


# ---- OPENSHIFT_HA_NOTIFY_SCRIPT -------------------------------------------------------------------------


def test_notify_script(script: str) -> None:
    instances = plan(NOTIFY_SCRIPT=script, VIRTUAL_IPS="192.0.2.100-101").config.vrrp_instance
    assert {" ".join(i.notify or ()) for i in instances} == {script}
    assert plan().config.vrrp_instance[0].notify is None
    assert error(NOTIFY_SCRIPT="./notify.sh").startswith(
        "OPENSHIFT_HA_NOTIFY_SCRIPT = \"./notify.sh\": './notify.sh' is a relative path"
    )
    # Arguments, as keepalived ran them (it appends INSTANCE <name> <state> <priority>).
    (inst,) = plan(NOTIFY_SCRIPT=f"{script} --tag 'ha a'").config.vrrp_instance
    assert inst.notify == (script, "--tag", "ha a")
    assert "keepalived ran without notifications" in error(NOTIFY_SCRIPT="/nonexistent/notify.sh")


# ---- OPENSHIFT_HA_PREEMPTION ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "preempt", "delay"),
    [
        (None, True, 300.0),
        ("preempt_delay 300", True, 300.0),
        ("preempt_delay 0", True, 0.0),
        ("  preempt_delay   60 ", True, 60.0),
        ("preempt_delay 1.5", True, 1.5),
        ("preempt_delay 1000", True, 1000.0),
        ("nopreempt", False, 0.0),
        ("preempt", True, 0.0),  # a keepalived keyword too: preempt at once
    ],
)
def test_preemption(value: str | None, preempt: bool, delay: float) -> None:
    extra = {} if value is None else {"PREEMPTION": value}
    inst = plan(**extra).config.vrrp_instance[0]
    assert (inst.preempt, inst.preempt_delay) == (preempt, delay)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("preempt_delay", "keepalived read 'preempt_delay' as an unknown keyword"),
        ("nopreempt 5", "keepalived read 'nopreempt' as an unknown keyword"),
        ("NOPREEMPT", "keepalived read 'NOPREEMPT' as an unknown keyword, ignored it and preempted at once"),
        ("3600.5", "keepalived read '3600.5' as an unknown keyword"),
        ("preempt_delay x", "preempt_delay 'x' is not 0..1000 seconds: keepalived refused it"),
        ("preempt_delay 1001", "preempt_delay '1001' is not 0..1000 seconds"),
        (" nopreempt", "spaces around nopreempt: the image did not recognise it"),
    ],
)
def test_preemption_refused(value: str, problem: str) -> None:
    assert error(PREEMPTION=value).startswith(f'OPENSHIFT_HA_PREEMPTION = "{value}": {problem}')


def test_preempt_delay_difference_is_said() -> None:
    (note,) = [n for n in plan().notes if n.startswith("preempt_delay 300")]
    assert "cleared preempt_delay on its state MASTER instances" in note
    assert not [n for n in plan(PREEMPTION="nopreempt").notes if "state MASTER" in n]


# ---- OPENSHIFT_HA_REPLICA_COUNT -------------------------------------------------------------------------


def test_replica_count() -> None:
    assert settings().replica_count == 1
    assert settings(REPLICA_COUNT="5").replica_count == 5
    for bad in ("0", "-1", "many", "05"):
        text = error(REPLICA_COUNT=bad)
        assert text.startswith(f'OPENSHIFT_HA_REPLICA_COUNT = "{bad}": ')
        assert "(the image counted 1); must be an integer 1..254" in text
    # With a peer list, a mismatch is pointed out (not refused: the list is what counts).
    p = plan(REPLICA_COUNT="5", UNICAST_PEERS="192.0.2.11,192.0.2.12")
    assert "peer list has 2 nodes" in describe_plan(p)


# ---- unicast: OPENSHIFT_HA_UNICAST_PEERS and _USE_UNICAST -----------------------------------------------


def test_unicast_peers_exclude_self_and_rank_exactly() -> None:
    p = plan(VIRTUAL_IPS="192.0.2.100-103", UNICAST_PEERS="192.0.2.11, 192.0.2.12,192.0.2.13,,192.0.2.14 ")
    assert p.method == "rank"
    assert {i.unicast_peer for i in p.config.vrrp_instance} == {
        (A("192.0.2.12"), A("192.0.2.13"), A("192.0.2.14"))
    }
    assert [g.expected_master for g in p.groups] == [A(f"192.0.2.{i}") for i in (11, 12, 13, 14)]
    assert [i.priority for i in p.config.vrrp_instance] == [254, 104, 154, 204]
    assert not [n for n in p.notes if "UNICAST_PEERS" in n]


def test_unicast_peers_without_self_is_noted() -> None:
    p = plan(UNICAST_PEERS="192.0.2.12,192.0.2.13")
    assert any("not in OPENSHIFT_HA_UNICAST_PEERS" in n for n in p.notes)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("192.0.2.12,2001:db8::2", "IPv6 is not supported yet"),
        ("192.0.2.12 192.0.2.13", "the image splits at commas only and keepalived took the first address"),
        ("192.0.2.12,192.0.2.12", "listed twice"),
        ("192.0.2.12,node-b", "is not an IPv4 address"),
        ("192.0.2.100", "also a VIP"),
        ("224.0.0.18", "not a unicast address"),
    ],
)
def test_unicast_peers_refused(value: str, problem: str) -> None:
    text = error(UNICAST_PEERS=value)
    assert text.startswith("OPENSHIFT_HA_UNICAST_PEERS = ") and problem in text


def test_use_unicast() -> None:
    # Image-compatible: peers mean unicast even with oadm's USE_UNICAST="false" (said aloud).
    p = plan(UNICAST_PEERS="192.0.2.12", USE_UNICAST="false")
    assert p.config.vrrp_instance[0].unicast_peer == (A("192.0.2.12"),)
    assert any("USE_UNICAST=false is ignored" in n for n in p.notes)
    assert plan(USE_UNICAST="false").config.vrrp_instance[0].unicast_peer == ()
    assert plan(UNICAST_PEERS="192.0.2.12", USE_UNICAST="TRUE").config.vrrp_instance[0].unicast_peer
    assert "set OPENSHIFT_HA_UNICAST_PEERS" in error(USE_UNICAST="true")
    assert error(USE_UNICAST="yes").startswith('OPENSHIFT_HA_USE_UNICAST = "yes": must be "true" or "false"')


# ---- spread: rendezvous, OPENSHIFT_HA_SPREAD_NODES --------------------------------------------------------


def test_rendezvous_without_a_node_list() -> None:
    p = plan(VIRTUAL_IPS="192.0.2.100-101")
    assert p.method == "rendezvous"
    assert [i.priority for i in p.config.vrrp_instance] == [
        spread.rendezvous_priority(NODE, 11),
        spread.rendezvous_priority(NODE, 12),
    ]
    assert all(g.expected_master is None for g in p.groups)
    assert all(i.unicast_peer == () for i in p.config.vrrp_instance)


def test_spread_nodes_give_rank_with_multicast() -> None:
    p = plan(VIRTUAL_IPS="192.0.2.100-103", SPREAD_NODES="192.0.2.14,192.0.2.13,192.0.2.12,192.0.2.11")
    assert p.method == "rank"
    assert all(i.unicast_peer == () for i in p.config.vrrp_instance)  # adverts stay multicast
    assert [g.expected_master for g in p.groups] == [A(f"192.0.2.{i}") for i in (11, 12, 13, 14)]
    assert "exact round-robin; adverts multicast" in describe_plan(p)


def test_spread_nodes_refused() -> None:
    assert "set only one of" in error(SPREAD_NODES="192.0.2.12", UNICAST_PEERS="192.0.2.12")
    assert "lists a VIP" in error(SPREAD_NODES="192.0.2.100")
    assert "IPv6" in error(SPREAD_NODES="2001:db8::1")


# ---- firewall: OPENSHIFT_HA_IPTABLES_CHAIN / _NFTABLES_RULE ----------------------------------------------


@pytest.mark.parametrize(
    ("variables", "on"),
    [
        ({}, False),
        ({"IPTABLES_CHAIN": "INPUT"}, True),
        ({"NFTABLES_RULE": "yes"}, True),
        ({"IPTABLES_CHAIN": " "}, False),
    ],
)
def test_firewall_flag(variables: dict[str, str], on: bool) -> None:
    s = settings(CONFIG_NAME="ipf-ha-geo-cache", **variables)
    assert s.firewall is on
    assert s.firewall_table == "vrrpd_ipf_ha_geo_cache"


# ---- unknown and ignored variables; several problems; VRRPD_* globals -------------------------------------


def test_unknown_variable_with_a_hint() -> None:
    text = error(MONITOR_PROT="80")
    assert text.startswith(
        "OPENSHIFT_HA_MONITOR_PROT: unknown ipfailover variable; did you mean OPENSHIFT_HA_MONITOR_PORT?"
    )


def test_service_links_never_stop_the_pod() -> None:
    # A Service named openshift-ha (or vrrpd) in the namespace: issue 13, item 14.
    links = {
        "OPENSHIFT_HA_SERVICE_HOST": "203.0.113.40",
        "OPENSHIFT_HA_SERVICE_PORT": "9650",
        "OPENSHIFT_HA_PORT": "tcp://203.0.113.40:9650",
        "OPENSHIFT_HA_PORT_9650_TCP_ADDR": "203.0.113.40",
        "VRRPD_SERVICE_HOST": "203.0.113.41",
        "VRRPD_PORT_9650_TCP": "tcp://203.0.113.41:9650",
    }
    p = load(env() | links, FakeHost())
    (note,) = [n for n in p.notes if "service-link" in n]
    assert note.startswith("ignored 4 Kubernetes service-link variable(s)") and "enableServiceLinks" in note
    # The same names with values no Service would inject are typos again.
    assert "OPENSHIFT_HA_SERVICE_HOST: unknown ipfailover variable" in error(SERVICE_HOST="yes")


def test_a_service_link_over_a_real_variable_is_named() -> None:
    # A Service named openshift-ha-monitor injects OPENSHIFT_HA_MONITOR_PORT=tcp://...
    text = error(MONITOR_PORT="tcp://203.0.113.40:80")
    assert text.startswith('OPENSHIFT_HA_MONITOR_PORT = "tcp://203.0.113.40:80": the image deleted all but')
    assert text.endswith(
        "looks like a Kubernetes service link (a Service named after the variable): set "
        "enableServiceLinks: false in the pod spec"
    )


def test_image_variables_without_meaning_here_are_noted() -> None:
    p = plan(SELECTOR="ha=1", ADMIN_EMAILS="root@localhost")
    assert len([n for n in p.notes if "is ignored" in n]) == 2


def test_all_problems_on_one_line() -> None:
    text = error(VIRTUAL_IPS="1.2.3.4-2", VRRP_ID_OFFSET="300", PREEMPTION="always")
    assert text.count("; OPENSHIFT_HA_") == 2
    assert "\n" not in text


def test_vrrpd_globals_apply(tmp_path: Path) -> None:
    p = plan(VRRPD_ROUTER_ID="node-a", VRRPD_METRICS_LISTEN="127.0.0.1:9650")
    assert p.config.global_.router_id == "node-a"
    assert str(p.config.global_.metrics_listen) == "127.0.0.1:9650"
    with pytest.raises(ConfigError, match=r"^VRRPD_LOG_FORMAT: global\.log_format"):
        plan(VRRPD_LOG_FORMAT="xml")


def test_rendered_toml_is_a_valid_file(tmp_path: Path, script: str) -> None:
    # `check-config --openshift --toml` is a migration path to a plain file: it must load as one.
    from vrrpd.config import load_config

    p = plan(
        VIRTUAL_IPS="192.0.2.100-104",
        VIP_GROUPS="2",
        NOTIFY_SCRIPT=script,
        CHECK_SCRIPT=f"{script} --quick",
        UNICAST_PEERS="192.0.2.12",
    )
    path = tmp_path / "vrrpd.toml"
    path.write_text(p.toml)
    loaded = load_config(path, env={})
    assert loaded.vrrp_instance == p.config.vrrp_instance
    assert loaded.vrrp_script == p.config.vrrp_script and loaded.vrrp_script[0].script == (script, "--quick")


# ---- the command line -----------------------------------------------------------------------------------


def vrrpd(*args: str, environ: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return subprocess.run(
        [sys.executable, "-m", "vrrpd", *args],
        env=base | dict(environ),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_config_openshift_prints_groups_priorities_masters() -> None:
    proc = vrrpd(
        "check-config",
        "--openshift",
        "--no-interface-check",
        "--node-address",
        "192.0.2.12",
        environ={
            "OPENSHIFT_HA_CONFIG_NAME": "ipf-ha-geo-cache",
            "OPENSHIFT_HA_VIRTUAL_IPS": "192.0.2.101-104",
            "OPENSHIFT_HA_VIP_GROUPS": "2",
            "OPENSHIFT_HA_MONITOR_PORT": "9736",
            "OPENSHIFT_HA_SPREAD_NODES": "192.0.2.11,192.0.2.12,192.0.2.13,192.0.2.14",
        },
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    vip1 = "ipf_ha_geo_cache_VIP_1: vrid 11, VIPs 192.0.2.101, 192.0.2.102; priority 204"
    vip2 = "ipf_ha_geo_cache_VIP_2: vrid 12, VIPs 192.0.2.103, 192.0.2.104; priority 254"
    assert f"{vip1}; expected master 192.0.2.11\n" in out
    assert f"{vip2}; expected master 192.0.2.12 (this node)\n" in out
    assert "auth: PASS 'ipf-ha-g'" in out
    assert "tcp 192.0.2.12:9736" in out


def test_check_config_openshift_toml() -> None:
    proc = vrrpd(
        "check-config",
        "--openshift",
        "--no-interface-check",
        "--node-address",
        "192.0.2.12",
        "--toml",
        environ={"OPENSHIFT_HA_VIRTUAL_IPS": "192.0.2.101"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("[[vrrp_instance]]") == 1 and 'auth_pass = "OpenShif"' in proc.stdout


@pytest.mark.parametrize(
    ("args", "environ", "start"),
    [
        (
            ["run", "--openshift"],
            {"OPENSHIFT_HA_VIRTUAL_IPS": "10.0.0.1-0"},
            'vrrpd: OPENSHIFT_HA_VIRTUAL_IPS = "10.0.0.1-0"',
        ),
        (
            ["check-config", "--openshift"],
            {"OPENSHIFT_HA_VIRTUAL_IPS": "2001:db8::5-3"},
            "vrrpd: OPENSHIFT_HA_VIRTUAL_IPS",
        ),
        (
            ["run", "--openshift"],
            {"OPENSHIFT_HA_VIRTUAL_IPS": "192.0.2.5", "OPENSHIFT_HA_NETWORK_INTERFACE": "vrrpd-none0"},
            "vrrpd: OPENSHIFT_HA_NETWORK_INTERFACE",
        ),
        (
            ["check-config", "--openshift", "--no-interface-check"],
            {"OPENSHIFT_HA_VIRTUAL_IPS": "192.0.2.5"},
            "vrrpd: --node-address",
        ),
        (
            ["check-config", "--openshift", "--no-interface-check", "--node-address", "x"],
            {"OPENSHIFT_HA_VIRTUAL_IPS": "192.0.2.5"},
            'vrrpd: --node-address = "x"',
        ),
        (["check-config", "--toml"], {}, "vrrpd: --node-address/--toml: apply only with --openshift"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], environ: dict[str, str], start: str) -> None:
    proc = vrrpd(*args, environ=environ)
    assert proc.returncode == 2
    assert proc.stderr.startswith(start), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_off_node_check_skips_host_local_files() -> None:
    # Migration step 1 (docs/openshift.md): the check script exists in the pod only.
    environ = {
        "OPENSHIFT_HA_VIRTUAL_IPS": "192.0.2.101",
        "OPENSHIFT_HA_CHECK_SCRIPT": "/etc/keepalive/check.sh",
        "OPENSHIFT_HA_NOTIFY_SCRIPT": "/etc/keepalive/notify.sh",
    }
    base = ["check-config", "--openshift", "--no-interface-check", "--node-address", "192.0.2.12"]
    refused = vrrpd(*base, environ=environ)
    assert refused.returncode == 2 and "no such program in this container" in refused.stderr
    proc = vrrpd(*base, "--no-file-check", environ=environ)
    assert proc.returncode == 0, proc.stderr
    assert "script /etc/keepalive/check.sh" in proc.stdout
    assert (
        vrrpd(
            *base, "--no-file-check", environ=environ | {"OPENSHIFT_HA_CHECK_SCRIPT": "x/check.sh"}
        ).returncode
        == 2
    )


def test_no_file_check_applies_to_a_configuration_file(tmp_path: Path) -> None:
    path = tmp_path / "vrrpd.toml"
    path.write_text(
        '[[vrrp_instance]]\nname = "VI_1"\ninterface = "eth0"\nvirtual_router_id = 51\n'
        'virtual_ipaddress = ["192.0.2.100/24"]\nnotify = "/etc/vrrpd/notify.sh"\n'
    )
    args = ["check-config", "--config", str(path), "--no-interface-check"]
    assert vrrpd(*args, environ={}).returncode == 2
    assert vrrpd(*args, "--no-file-check", environ={}).returncode == 0


def test_config_and_openshift_are_exclusive() -> None:
    proc = vrrpd("run", "--openshift", "--config", "/etc/vrrpd/vrrpd.toml", environ={})
    assert proc.returncode == 2 and "not allowed with argument" in proc.stderr
