"""Configuration contract: every key from both sides of its bounds, defaults, cross-field rules,
environment precedence and the one-line error format."""

from __future__ import annotations

import os
import re
import stat
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

import msgspec
import pytest

from vrrpd.config import (
    MAX_CONFIG_BYTES,
    MAX_EXCLUDED,
    MAX_NESTING,
    Config,
    ConfigError,
    GlobalConfig,
    HealthCheckConfig,
    InstanceConfig,
    ListenAddress,
    check_interfaces,
    describe,
    fields_of,
    from_dict,
    load_config,
    parse_config,
    to_dict,
)

SOURCE = "test.toml"

# Values are TOML literals, so a test can also write a wrongly typed value.
BASE_INSTANCE = {
    "name": '"VI_1"',
    "interface": '"eth0"',
    "virtual_router_id": "51",
    "virtual_ipaddress": '["192.0.2.100/24"]',
}
BASE_CHECK = {"tcp_port": "9736"}


def toml(
    instance: dict[str, str] | None = None,
    check: dict[str, str] | None = None,
    global_: dict[str, str] | None = None,
) -> str:
    """A one-instance document: BASE_INSTANCE updated with ``instance``; a check if ``check``."""
    lines = []
    if global_ is not None:
        lines += ["[global]", *(f"{key} = {value}" for key, value in global_.items())]
    lines.append("[[vrrp_instance]]")
    fields = {**BASE_INSTANCE, **(instance or {})}
    lines += [f"{key} = {value}" for key, value in fields.items() if value]
    if check is not None:
        lines.append("[vrrp_instance.check]")
        fields = {**BASE_CHECK, **check}
        lines += [f"{key} = {value}" for key, value in fields.items() if value]
    return "\n".join(lines) + "\n"


def parse(text: str, env: dict[str, str] | None = None) -> Config:
    return parse_config(text, SOURCE, env={} if env is None else env)


def error_of(text: str, env: dict[str, str] | None = None) -> str:
    """The one error line, without the line numbers after the file name (test_lines.py checks those)."""
    with pytest.raises(ConfigError) as info:
        parse(text, env)
    message = str(info.value)
    assert "\n" not in message
    return re.sub(rf"(?<={re.escape(SOURCE)}):\d+(?=: )", "", message)


@pytest.fixture
def executable(tmp_path: Path) -> Path:
    path = tmp_path / "notify"
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


# --- a valid configuration and its defaults -------------------------------------------------


def test_minimal_config_and_defaults() -> None:
    config = parse(toml())
    assert len(config.vrrp_instance) == 1
    inst = config.vrrp_instance[0]
    assert (inst.name, inst.interface, inst.virtual_router_id) == ("VI_1", "eth0", 51)
    assert inst.priority == 100
    assert inst.advert_int == 1
    assert inst.preempt is True
    assert inst.preempt_delay == 0.0
    assert inst.auth_pass is None
    assert inst.auth_data is None
    assert inst.unicast_peer == ()
    assert inst.unicast_src_ip is None
    assert inst.notify is None
    assert inst.notify_timeout == 10.0
    assert (inst.garp_master_repeat, inst.garp_master_delay, inst.garp_master_refresh) == (5, 5.0, 0.0)
    assert inst.check is None
    assert inst.is_owner is False
    g = config.global_
    assert g.control_socket == Path("/run/vrrpd/vrrpd.sock")
    assert g.log_format == "auto"
    assert g.metrics_listen is None
    assert g.router_id  # the hostname
    assert config.source == SOURCE


def test_full_example_types() -> None:
    config = parse(
        toml(
            instance={
                "priority": "255",
                "advert_int": "3",
                "preempt": "false",
                "preempt_delay": "1.5",
                "virtual_ipaddress": '["192.0.2.100/24", "192.0.2.101"]',
                "auth_pass": '"secret"',
                "unicast_peer": '["192.0.2.12", "192.0.2.13"]',
                "unicast_src_ip": '"192.0.2.11"',
            },
            check={"host": '"192.0.2.11"', "interval": "2", "timeout": "0.5", "rise": "2"},
            global_={"router_id": '"node-a"', "metrics_listen": '"127.0.0.1:9650"'},
        )
    )
    inst = config.vrrp_instance[0]
    assert inst.vips == (IPv4Interface("192.0.2.100/24"), IPv4Interface("192.0.2.101/32"))
    assert inst.is_owner
    assert inst.preempt_delay == 1.5 and isinstance(inst.preempt_delay, float)
    assert inst.auth_data == b"secret\0\0"
    assert inst.unicast_peer == (IPv4Address("192.0.2.12"), IPv4Address("192.0.2.13"))
    assert inst.unicast_src_ip == IPv4Address("192.0.2.11")
    check = inst.check
    assert isinstance(check, HealthCheckConfig)
    assert (check.tcp_port, check.host, check.script) == (9736, IPv4Address("192.0.2.11"), None)
    assert (check.interval, check.timeout, check.rise, check.fall, check.weight) == (2.0, 0.5, 2, 1, 0)
    assert isinstance(check.interval, float)
    assert config.global_.router_id == "node-a"
    assert config.global_.metrics_listen == ListenAddress("127.0.0.1", 9650)
    assert str(config.global_.metrics_listen) == "127.0.0.1:9650"


def test_models_are_frozen() -> None:
    config = parse(toml())
    with pytest.raises(AttributeError, match="immutable"):
        config.vrrp_instance[0].priority = 1  # type: ignore[misc]


def test_vip_default_prefix_is_32() -> None:
    inst = parse(toml({"virtual_ipaddress": '["192.0.2.101"]'})).vrrp_instance[0]
    assert inst.vips == (IPv4Interface("192.0.2.101/32"),)


# --- every key from both sides ----------------------------------------------------------------

LONG = "x" * 64
# (table, keys, valid): table "instance", "check" or "global"; keys are TOML literals.
BOUNDS: list[tuple[str, dict[str, str], bool]] = [
    ("instance", {"virtual_router_id": "1"}, True),
    ("instance", {"virtual_router_id": "0"}, False),
    ("instance", {"virtual_router_id": "255"}, True),
    ("instance", {"virtual_router_id": "256"}, False),
    ("instance", {"virtual_router_id": '"51"'}, False),
    ("instance", {"virtual_router_id": "51.0"}, False),
    ("instance", {"virtual_router_id": "true"}, False),
    ("instance", {"priority": "1"}, True),
    ("instance", {"priority": "0"}, False),
    ("instance", {"priority": "255"}, True),
    ("instance", {"priority": "256"}, False),
    ("instance", {"advert_int": "1"}, True),
    ("instance", {"advert_int": "0"}, False),
    ("instance", {"advert_int": "255"}, True),
    ("instance", {"advert_int": "256"}, False),
    ("instance", {"advert_int": "1.5"}, False),
    ("instance", {"preempt": "false"}, True),
    ("instance", {"preempt": '"yes"'}, False),
    ("instance", {"preempt_delay": "0"}, True),
    ("instance", {"preempt_delay": "-0.1"}, False),
    ("instance", {"preempt_delay": "3600"}, True),
    ("instance", {"preempt_delay": "3600.5"}, False),
    ("instance", {"notify_timeout": "0.1"}, True),
    ("instance", {"notify_timeout": "0"}, False),
    ("instance", {"notify_timeout": "3600"}, True),
    ("instance", {"notify_timeout": "3601"}, False),
    ("instance", {"garp_master_repeat": "1"}, True),
    ("instance", {"garp_master_repeat": "0"}, False),
    ("instance", {"garp_master_repeat": "100"}, True),
    ("instance", {"garp_master_repeat": "101"}, False),
    ("instance", {"garp_master_delay": "0"}, True),
    ("instance", {"garp_master_delay": "-1"}, False),
    ("instance", {"garp_master_delay": "3600"}, True),
    ("instance", {"garp_master_delay": "3601"}, False),
    ("instance", {"garp_master_refresh": "0"}, True),
    ("instance", {"garp_master_refresh": "-1"}, False),
    ("instance", {"garp_master_refresh": "86400"}, True),
    ("instance", {"garp_master_refresh": "86401"}, False),
    ("instance", {"auth_pass": '"a"'}, True),
    ("instance", {"auth_pass": '""'}, False),
    ("instance", {"auth_pass": '"12345678"'}, True),
    ("instance", {"auth_pass": '"123456789"'}, False),
    ("instance", {"auth_pass": '"a b"'}, False),
    ("instance", {"auth_pass": '"pässwd"'}, False),
    ("instance", {"name": '"a"'}, True),
    ("instance", {"name": '""'}, False),
    ("instance", {"name": f'"{LONG}"'}, True),
    ("instance", {"name": f'"{LONG}y"'}, False),
    ("instance", {"name": '"has space"'}, False),
    ("instance", {"interface": '"e"'}, True),
    ("instance", {"interface": '""'}, False),
    ("instance", {"interface": '"abcdefghijklmno"'}, True),
    ("instance", {"interface": '"abcdefghijklmnop"'}, False),
    ("instance", {"interface": '"a/b"'}, False),
    ("instance", {"virtual_ipaddress": '["192.0.2.1"]'}, True),
    ("instance", {"virtual_ipaddress": "[]"}, True),  # keepalived's cloud-failover instances (issue 14)
    ("instance", {"virtual_ipaddress": '"192.0.2.1"'}, False),
    ("instance", {"virtual_ipaddress": '["192.0.2.1/33"]'}, False),
    ("instance", {"virtual_ipaddress": '["192.0.2.256"]'}, False),
    ("instance", {"virtual_ipaddress": '["224.0.0.18"]'}, False),
    ("instance", {"virtual_ipaddress": '["0.0.0.0"]'}, False),
    ("instance", {"virtual_ipaddress": '["127.0.0.1"]'}, False),
    ("instance", {"virtual_ipaddress": '["192.0.2.0/24"]'}, True),  # a host address to Linux, as keepalived
    ("instance", {"virtual_ipaddress": '["192.0.2.255/24"]'}, False),
    ("instance", {"virtual_ipaddress": '["192.0.2.0/31"]'}, True),
    ("instance", {"virtual_ipaddress": "[1]"}, False),
    ("instance", {"unicast_peer": '["192.0.2.12"]'}, True),
    ("instance", {"unicast_peer": '["not-an-ip"]'}, False),
    ("instance", {"unicast_peer": '["224.0.0.18"]'}, False),
    ("instance", {"unicast_peer": '["192.0.2.12"]', "unicast_src_ip": '"192.0.2.11"'}, True),
    ("instance", {"unicast_src_ip": '"192.0.2"', "unicast_peer": '["192.0.2.12"]'}, False),
    ("instance", {"notify": '"relative/path"'}, False),
    ("instance", {"notify": '"/nonexistent/vrrpd-notify"'}, False),
    ("check", {"tcp_port": "1"}, True),
    ("check", {"tcp_port": "0"}, False),
    ("check", {"tcp_port": "65535"}, True),
    ("check", {"tcp_port": "65536"}, False),
    ("check", {"interval": "0.001", "timeout": "0.001"}, True),
    ("check", {"interval": "0", "timeout": "0.001"}, False),
    ("check", {"interval": "3600"}, True),
    ("check", {"interval": "3601"}, False),
    ("check", {"timeout": "0.001"}, True),
    ("check", {"timeout": "0"}, False),
    ("check", {"timeout": "3600", "interval": "3600"}, True),
    ("check", {"timeout": "3601", "interval": "3600"}, False),
    ("check", {"rise": "1", "fall": "1"}, True),
    ("check", {"rise": "0"}, False),
    ("check", {"fall": "0"}, False),
    ("check", {"rise": "255", "fall": "255"}, True),
    ("check", {"rise": "256"}, False),
    ("check", {"fall": "256"}, False),
    ("check", {"weight": "0"}, True),
    ("check", {"weight": "-1"}, False),
    ("check", {"weight": "253"}, True),
    ("check", {"weight": "254"}, False),
    ("check", {"host": '"192.0.2.11"'}, True),
    ("check", {"host": '"2001:db8::1"'}, True),  # an IPv6 target (issue 16)
    ("check", {"host": '"::1"'}, True),
    ("check", {"host": '"fe80::1"'}, True),  # reached through the instance's interface
    ("check", {"host": '"ff02::1"'}, False),
    ("check", {"host": '"::"'}, False),
    (
        "check",
        {"host": '"127.0.0.1"'},
        True,
    ),  # a service bound to loopback (keepalived </dev/tcp/127.0.0.1/P)
    ("check", {"host": '"224.0.0.18"'}, False),
    ("check", {"host": '"0.0.0.0"'}, False),
    ("global", {"router_id": '"a"'}, True),
    ("global", {"router_id": '""'}, False),
    ("global", {"router_id": f'"{LONG}"'}, True),
    ("global", {"router_id": f'"{LONG}y"'}, False),
    ("global", {"control_socket": '"/tmp/' + "s" * 102 + '"'}, True),  # 107 bytes
    ("global", {"control_socket": '"/tmp/' + "s" * 103 + '"'}, False),
    ("global", {"control_socket": '""'}, False),
    ("global", {"log_format": '"json"'}, True),
    ("global", {"log_format": '"console"'}, True),
    ("global", {"log_format": '"xml"'}, False),
    ("global", {"metrics_listen": '"127.0.0.1:9650"'}, True),
    ("global", {"metrics_listen": '"[::1]:9650"'}, True),
    ("global", {"metrics_listen": '"127.0.0.1:1"'}, True),
    ("global", {"metrics_listen": '"127.0.0.1:65535"'}, True),
    ("global", {"metrics_listen": '"127.0.0.1:0"'}, False),
    ("global", {"metrics_listen": '"127.0.0.1:65536"'}, False),
    ("global", {"metrics_listen": '"127.0.0.1"'}, False),
    ("global", {"metrics_listen": '":9650"'}, False),
    ("global", {"metrics_listen": '"[nope]:9650"'}, False),
    ("global", {"metrics_listen": "9650"}, False),
]


@pytest.mark.parametrize(("table", "keys", "valid"), BOUNDS)
def test_bounds(table: str, keys: dict[str, str], valid: bool) -> None:
    if table == "instance":
        text = toml(instance=keys)
    elif table == "check":
        text = toml(check=keys)
    else:
        text = toml(global_=keys)
    if valid:
        parse(text)
        return
    message = error_of(text)
    key = next(iter(keys))  # the key under test comes first
    assert message.startswith(f"{SOURCE}: ")
    assert key in message
    assert "must be" in message


def test_vip_count_bounds() -> None:
    def vips(n: int) -> str:
        return "[" + ", ".join(f'"10.0.{i // 200}.{i % 200 + 1}"' for i in range(n)) + "]"

    assert len(parse(toml({"virtual_ipaddress": vips(255)})).vrrp_instance[0].vips) == 255
    assert "virtual_ipaddress" in error_of(toml({"virtual_ipaddress": vips(256)}))


def test_excluded_vips_are_installed_but_not_advertised() -> None:
    def vips(n: int) -> str:
        return "[" + ", ".join(f'"10.1.{i // 200}.{i % 200 + 1}"' for i in range(n)) + "]"

    inst = parse(toml({"virtual_ipaddress_excluded": vips(510)})).vrrp_instance[0]
    assert [str(v) for v in inst.virtual_ipaddress] == ["192.0.2.100/24"]
    assert len(inst.virtual_ipaddress_excluded) == 510
    # `vips` is what a master installs: the advertised addresses first, then the excluded ones.
    assert inst.vips == inst.advertised_vips + inst.excluded_vips
    assert inst.advertised_vips == tuple(v.address for v in inst.virtual_ipaddress)
    assert parse(toml()).vrrp_instance[0].virtual_ipaddress_excluded == ()
    assert f"0..{MAX_EXCLUDED}" in error_of(toml({"virtual_ipaddress_excluded": vips(MAX_EXCLUDED + 1)}))
    # Only excluded addresses, as keepalived allows: the adverts carry a count of 0 (§7.1 compares that).
    only = parse(toml({"virtual_ipaddress": "[]", "virtual_ipaddress_excluded": '["192.0.2.7"]'}))
    assert only.vrrp_instance[0].vips == only.vrrp_instance[0].excluded_vips
    assert "virtual_ipaddress_excluded[0]" in error_of(toml({"virtual_ipaddress_excluded": '["224.0.0.1"]'}))


def test_metrics_listen_empty_means_off() -> None:
    config = parse(toml(global_={"metrics_listen": '""'}))
    assert config.global_.metrics_listen is None


def test_an_instance_mixing_ipv4_and_ipv6_is_refused() -> None:
    # IPv6 is VRRPv3's (tests/config/test_config_v3.py); one family per instance, as keepalived.
    message = error_of(toml({"virtual_ipaddress": '["192.0.2.1", "2001:db8::1/64"]', "version": "3"}))
    assert "vrrp_instance[0].virtual_ipaddress[1]" in message
    assert "one address family per instance" in message


def test_executable_paths(tmp_path: Path, executable: Path) -> None:
    inst = parse(
        toml({"notify": f'"{executable}"'}, check={"tcp_port": "", "script": f'"{executable}"'})
    ).vrrp_instance[0]
    assert inst.notify == (str(executable),)  # a command: the program, no arguments
    assert inst.check is not None and inst.check.script == executable

    plain = tmp_path / "plain"
    plain.write_text("")
    plain.chmod(0o644)
    assert "not executable" in error_of(toml({"notify": f'"{plain}"'}))
    assert "not executable" in error_of(toml(check={"tcp_port": "", "script": f'"{plain}"'}))
    assert "no such file" in error_of(toml({"notify": f'"{tmp_path}"'}))  # a directory
    assert "absolute" in error_of(toml({"notify": '"notify.sh"'}))


# --- cross-field rules ------------------------------------------------------------------------

SECOND = """
[[vrrp_instance]]
name = "{name}"
interface = "{interface}"
virtual_router_id = {vrid}
virtual_ipaddress = ["{vip}"]
"""


def two(name: str = "VI_2", interface: str = "eth0", vrid: int = 52, vip: str = "192.0.2.200") -> str:
    return toml() + SECOND.format(name=name, interface=interface, vrid=vrid, vip=vip)


def test_two_distinct_instances_are_valid() -> None:
    assert len(parse(two()).vrrp_instance) == 2
    # The same VRID on another interface is another virtual router.
    assert len(parse(two(interface="eth1", vrid=51)).vrrp_instance) == 2


CROSS: list[tuple[str, list[str]]] = [
    (two(name="VI_1"), ['vrrp_instance[1].name = "VI_1"', "vrrp_instance[0]"]),
    (two(vrid=51), ["vrrp_instance[1].virtual_router_id = 51", "VRID 51 on eth0", "VI_1"]),
    (two(vip="192.0.2.100/32"), ["vrrp_instance[1].virtual_ipaddress[0]", "192.0.2.100", "VI_1"]),
    (
        toml({"virtual_ipaddress": '["192.0.2.1/24", "192.0.2.1"]'}),
        ["virtual_ipaddress[1]", "duplicate of virtual_ipaddress[0]"],
    ),
    (
        toml({"virtual_ipaddress_excluded": '["192.0.2.7", "192.0.2.100/32"]'}),
        ["virtual_ipaddress_excluded[1]", "duplicate of virtual_ipaddress[0]"],
    ),
    (
        toml({"virtual_ipaddress_excluded": '["192.0.2.7", "192.0.2.7/24"]'}),
        ["virtual_ipaddress_excluded[1]", "duplicate of virtual_ipaddress_excluded[0]"],
    ),
    (
        two() + 'virtual_ipaddress_excluded = ["192.0.2.100/32"]\n',
        ["vrrp_instance[1].virtual_ipaddress_excluded[0]", "192.0.2.100", "VI_1"],
    ),
    (
        toml({"unicast_peer": '["192.0.2.7"]', "virtual_ipaddress_excluded": '["192.0.2.7"]'}),
        ["unicast_peer[0]", "virtual addresses"],
    ),
    (
        toml(check={"script": '"/bin/sh"'}),
        ["vrrp_instance[0].check.tcp_port = 9736", "exactly one of tcp_port and script"],
    ),
    (toml(check={"tcp_port": ""}), ["vrrp_instance[0].check:", "exactly one of tcp_port and script"]),
    (
        toml(check={"tcp_port": "", "script": '"/bin/sh"', "host": '"192.0.2.1"'}),
        ["check.host", "only to a tcp_port check"],
    ),
    (toml(check={"interval": "1", "timeout": "2"}), ["check.timeout = 2.0", "must not exceed interval"]),
    (
        toml({"priority": "255"}, check={"weight": "10"}),
        ["vrrp_instance[0].check.weight = 10", "owner", "cannot change"],
    ),
    (
        toml({"unicast_peer": '["192.0.2.12", "192.0.2.12"]'}),
        ["unicast_peer[1]", "listed twice"],
    ),
    (
        toml({"unicast_peer": '["192.0.2.11"]', "unicast_src_ip": '"192.0.2.11"'}),
        ["unicast_peer[0]", "cannot peer with itself"],
    ),
    (toml({"unicast_peer": '["192.0.2.100"]'}), ["unicast_peer[0]", "virtual addresses"]),
    (toml({"unicast_src_ip": '"192.0.2.11"'}), ["unicast_src_ip", "only with unicast_peer"]),
    (
        toml({"unicast_peer": '["192.0.2.12"]', "mcast_src_ip": '"192.0.2.11"'}),
        ["mcast_src_ip", "not with unicast_peer"],
    ),
    (toml({"mcast_src_ip": '"224.0.0.1"'}), ["mcast_src_ip", "unicast address"]),
    (toml({"mcast_src_ip": '"2001:db8::1"'}), ["mcast_src_ip", "one address family per instance"]),
    (
        toml({"mcast_src_ip": '"fe80::1"', "virtual_ipaddress": '["2001:db8::100/64"]', "version": "3"})
        + SECOND.format(name="VI_2", interface="eth0", vrid=52, vip="2001:db8::200/64")
        + "version = 3\n",
        ["vrrp_instance[1].mcast_src_ip", "VI_1", "one address"],
    ),
]


def test_mcast_src_ip_is_the_configured_source_of_every_instance_on_the_interface() -> None:
    text = toml({"mcast_src_ip": '"198.51.100.7"'}) + two().removeprefix(toml())
    text += 'mcast_src_ip = "198.51.100.7"\n'
    config = parse(text)
    assert [i.src_ip for i in config.vrrp_instance] == [IPv4Address("198.51.100.7")] * 2
    # Another interface has its own socket, and its own source.
    assert parse(toml({"mcast_src_ip": '"198.51.100.7"'}) + two(interface="eth1").removeprefix(toml()))


def test_ipv4_instances_of_one_interface_may_each_have_their_own_source() -> None:
    """Each IPv4 instance advertises from its own source, as in keepalived (one with mcast_src_ip, one
    with the interface's own address; two different unicast_src_ip): nothing is refused."""
    mixed = parse(toml({"mcast_src_ip": '"198.51.100.7"'}) + two().removeprefix(toml()))
    assert [i.src_ip for i in mixed.vrrp_instance] == [IPv4Address("198.51.100.7"), None]
    peers = {"unicast_peer": '["192.0.2.21"]'}
    unicast = parse(
        toml({**peers, "unicast_src_ip": '"192.0.2.11"'})
        + two().removeprefix(toml())
        + 'unicast_peer = ["192.0.2.22"]\nunicast_src_ip = "192.0.2.12"\n'
    )
    assert [i.src_ip for i in unicast.vrrp_instance] == [IPv4Address("192.0.2.11"), IPv4Address("192.0.2.12")]


@pytest.mark.parametrize(("text", "expected"), CROSS)
def test_cross_field_errors(text: str, expected: list[str]) -> None:
    message = error_of(text)
    assert message.startswith(f"{SOURCE}: ")
    for part in expected:
        assert part in message


def test_owner_with_zero_weight_check_is_valid() -> None:
    inst = parse(toml({"priority": "255"}, check={"weight": "0"})).vrrp_instance[0]
    assert inst.is_owner


def test_structure_errors() -> None:
    assert "vrrp_instance: missing" in error_of("[global]\n")
    assert "[[vrrp_instance]]" in error_of("vrrp_instance = []\n")
    assert "[[vrrp_instance]]" in error_of('[vrrp_instance]\nname = "a"\n')
    missing = error_of(toml({"interface": ""}))
    assert "vrrp_instance[0].interface: missing (required: a network interface name" in missing


def test_unknown_keys_suggest_the_likely_typo() -> None:
    message = error_of(toml({"prioriy": "100"}))
    assert message == f'{SOURCE}: vrrp_instance[0].prioriy = 100: unknown key; did you mean "priority"?'
    assert 'did you mean "global"' in error_of("[globl]\n" + toml())
    message = error_of(toml({"zzz": "1"}))
    assert "unknown key (known: accept, advert_int, auth_pass," in message


# --- interfaces ---------------------------------------------------------------------------------


def test_check_interfaces() -> None:
    check_interfaces(parse(toml({"interface": '"lo"'})))
    with pytest.raises(ConfigError) as info:
        check_interfaces(parse(toml({"interface": '"vrrpd-none0"'})))
    assert str(info.value) == (
        f'{SOURCE}:3: vrrp_instance[0].interface = "vrrpd-none0": no such network interface on this host'
    )


# --- environment --------------------------------------------------------------------------------

SOCKET_FILE = {"control_socket": '"/tmp/file.sock"'}


@pytest.mark.parametrize(
    ("file_keys", "env", "expected"),
    [
        (None, {}, "/run/vrrpd/vrrpd.sock"),
        (SOCKET_FILE, {}, "/tmp/file.sock"),
        (SOCKET_FILE, {"VRRPD_CONTROL_SOCKET": "/tmp/env.sock"}, "/tmp/env.sock"),
        (None, {"VRRPD_CONTROL_SOCKET": "/tmp/env.sock"}, "/tmp/env.sock"),
    ],
)
def test_env_over_file_over_default(
    file_keys: dict[str, str] | None, env: dict[str, str], expected: str
) -> None:
    config = parse(toml(global_=file_keys), env)
    assert config.global_.control_socket == Path(expected)


def test_every_global_key_from_env() -> None:
    env = {
        "VRRPD_ROUTER_ID": "node-b",
        "VRRPD_CONTROL_SOCKET": "/tmp/b.sock",
        "VRRPD_LOG_FORMAT": "json",
        "VRRPD_METRICS_LISTEN": "0.0.0.0:9651",
        "VRRPD_CONFIG": "/etc/ignored.toml",  # allow-listed: read by the CLI, not here
        "VRRPD_LAB_PREFIX": "lab",  # allow-listed: read by the test lab
        "PATH": "/usr/bin",  # not ours
    }
    g = parse(toml(global_={"log_format": '"console"', "router_id": '"node-a"'}), env).global_
    assert g.router_id == "node-b"
    assert g.control_socket == Path("/tmp/b.sock")
    assert g.log_format == "json"
    assert g.metrics_listen == ListenAddress("0.0.0.0", 9651)
    # An empty variable turns an optional listener off even when the file sets it.
    off = parse(toml(global_={"metrics_listen": '"127.0.0.1:9650"'}), {"VRRPD_METRICS_LISTEN": ""})
    assert off.global_.metrics_listen is None


def test_env_error_names_the_variable() -> None:
    message = error_of(toml(), {"VRRPD_LOG_FORMAT": "xml"})
    assert message == (
        'VRRPD_LOG_FORMAT: global.log_format = "xml": must be one of "auto", "json", "console"'
    )


def test_unknown_vrrpd_variable_is_an_error() -> None:
    message = error_of(toml(), {"VRRPD_LOG_FROMAT": "json"})
    assert message.startswith("VRRPD_LOG_FROMAT: unknown vrrpd environment variable")
    assert "did you mean VRRPD_LOG_FORMAT?" in message


def test_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VRRPD_ROUTER_ID", "from-environ")
    assert parse_config(toml(), SOURCE).global_.router_id == "from-environ"


# --- error format and files ---------------------------------------------------------------------


def test_error_format_names_file_key_value_and_allowed(tmp_path: Path) -> None:
    path = tmp_path / "vrrpd.toml"
    path.write_text(toml({"virtual_router_id": "300"}))
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value) == f"{path}:4: vrrp_instance[0].virtual_router_id = 300: must be an integer 1..255"


def test_several_errors_stay_on_one_line() -> None:
    message = error_of(toml({"priority": "0", "advert_int": "0"}))
    assert message.count(f"{SOURCE}: ") == 2
    assert "; " in message


def test_every_table_reports_its_own_errors() -> None:
    # One mistake per table, in [global], two instances and a check: all of them are named at once.
    text = (
        toml({"priority": "0"}, check={"rise": "0"}, global_={"log_format": '"xml"'})
        + SECOND.format(name="VI_2", interface="eth0", vrid=300, vip="192.0.2.200")
        + SECOND.format(name="VI_3", interface="eth0", vrid=53, vip="192.0.2.300")
    )
    issues = error_of(text).split("; test.toml: ")
    assert [issue.split(" = ")[0].removeprefix(f"{SOURCE}: ") for issue in issues] == [
        "global.log_format",
        "vrrp_instance[0].priority",
        "vrrp_instance[0].check.rise",
        "vrrp_instance[1].virtual_router_id",
        "vrrp_instance[2].virtual_ipaddress[0]",
    ]


def test_a_table_with_bad_keys_skips_its_cross_field_rules() -> None:
    # The rules need every key valid: a bad VRID is reported alone, not with a follow-up rule error.
    message = error_of(two(vrid=0) + SECOND.format(name="VI_1", interface="eth0", vrid=9, vip="198.51.100.9"))
    assert message == f"{SOURCE}: vrrp_instance[1].virtual_router_id = 0: must be an integer 1..255"


def test_wrongly_shaped_tables() -> None:
    assert error_of("vrrp_instance = [1]\n") == (
        f"{SOURCE}: vrrp_instance[0] = 1: must be at least one [[vrrp_instance]] table"
    )
    message = error_of(toml({"check": "5"}))
    assert message == f"{SOURCE}: vrrp_instance[0].check = 5: must be a [vrrp_instance.check] table"
    message = error_of(toml(check={"tcp_port": "80", "bogus": "1"}))
    assert message.startswith(f"{SOURCE}: vrrp_instance[0].check.bogus = 1: unknown key (known: fall, host,")


def test_error_values_with_newlines_stay_on_one_line() -> None:
    message = error_of(toml({"interface": '"a\\nb"'}))
    assert "vrrp_instance[0].interface" in message


def test_toml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[global]\nlog_format = = 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert message.startswith(f"{path}:2: TOML syntax error at column 14: ")
    assert "\n" not in message


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.toml: cannot read file: No such file"):
        load_config(tmp_path / "missing.toml", env={})
    with pytest.raises(ConfigError, match="cannot read file"):
        load_config(tmp_path, env={})
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(binary, env={})


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_permission_denied(tmp_path: Path) -> None:
    path = tmp_path / "secret.toml"
    path.write_text(toml())
    path.chmod(0)
    try:
        with pytest.raises(ConfigError, match="Permission denied"):
            load_config(path, env={})
    finally:
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)


# --- the password stays secret --------------------------------------------------------------------


def test_password_never_shown() -> None:
    config = parse(toml({"auth_pass": '"s3cr3t"'}, check={}))
    summary = describe(config)
    assert "s3cr3t" not in summary
    assert "auth: yes" in summary
    assert "s3cr3t" not in repr(config)
    assert "s3cr3t" not in str(config)
    message = error_of(toml({"auth_pass": '"s3cr3t-too-long"'}))
    assert "s3cr3t" not in message
    assert "vrrp_instance[0].auth_pass = <hidden>: must be 1..8 printable ASCII" in message


def test_repr_shows_the_instance_but_not_its_password() -> None:
    inst = parse(toml({"auth_pass": '"s3cr3t"'})).vrrp_instance[0]
    assert repr(inst).startswith("InstanceConfig(name='VI_1', interface='eth0', virtual_router_id=51,")
    assert "auth_pass" not in repr(inst) and "s3cr3t" not in str([inst])


@pytest.mark.parametrize(
    "key",
    ["auth_pas", "authpass", "password", "passwd", "secret", "api_token", "auth_key", "credentials", "PWD"],
)
def test_unknown_keys_that_look_like_secrets_never_echo_their_value(key: str) -> None:
    # A misspelled auth_pass used to be echoed verbatim in check-config, reload_failed and last_error.
    message = error_of(toml({key: '"s3cr3tpw"'}))
    assert "s3cr3tpw" not in message
    assert f"vrrp_instance[0].{key} = <hidden>: unknown key" in message
    message = error_of(toml(global_={key: '["s3cr3tpw", {a = "s3cr3tpw"}]'}))
    assert "s3cr3tpw" not in message and f"global.{key} = <hidden>" in message


def test_other_unknown_keys_still_show_their_value() -> None:
    message = error_of(toml({"priorty": "100"}))
    assert 'vrrp_instance[0].priorty = 100: unknown key; did you mean "priority"?' in message


@pytest.mark.parametrize(
    "value",
    [
        "[" * 400 + "1" + "]" * 400,
        "{a = " * 400 + "1" + "}" * 400,
        "[" * 40 + "]" * 40,
        "{a=" * 40 + "1" + "}" * 40,
    ],
)
def test_deep_nesting_is_one_line_not_a_recursion_error(value: str, tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text(f"x = {value}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert message == f"{path}: nested deeper than {MAX_NESTING} levels of arrays and tables"


def test_nesting_within_the_bound_is_validated_as_usual() -> None:
    message = error_of(toml(global_={"router_id": "[[[[1]]]]"}))
    assert "global.router_id = [[[[1]]]]: must be" in message


def test_config_file_size_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "huge.toml"
    with path.open("w") as f:
        f.write(toml())
        f.truncate(MAX_CONFIG_BYTES + 1)  # sparse: no need to write megabytes
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value) == (
        f"{path}: file is {MAX_CONFIG_BYTES + 1} bytes; the limit is {MAX_CONFIG_BYTES} bytes (4 MiB)"
    )
    path.write_text(toml())
    assert load_config(path, env={}).vrrp_instance[0].name == "VI_1"


def test_describe_lists_resolved_instances() -> None:
    config = parse(
        toml(
            {"unicast_peer": '["192.0.2.12"]', "virtual_ipaddress": '["192.0.2.100/24", "192.0.2.101"]'},
            check={"weight": "20"},
        )
        + SECOND.format(name="VI_2", interface="eth1", vrid=7, vip="198.51.100.1")
    )
    summary = describe(config)
    assert "instance VI_1: interface eth0, vrid 51, priority 100, advert_int 1s, preempt yes" in summary
    assert "192.0.2.100/24, 192.0.2.101/32" in summary
    assert "auth: no" in summary
    assert "unicast to 192.0.2.12" in summary
    assert "tcp connect" in summary and "9736" in summary and "priority -20" in summary
    assert "instance VI_2: interface eth1, vrid 7" in summary
    assert "check: none" in summary


# --- helpers for other modules and tests ------------------------------------------------------------


BASE_DICT = {
    "name": "VI_1",
    "interface": "eth0",
    "virtual_router_id": 51,
    "virtual_ipaddress": ["192.0.2.100/24"],
}


def test_from_dict_validates_one_table() -> None:
    inst = from_dict(InstanceConfig, BASE_DICT)
    assert inst == parse(toml()).vrrp_instance[0]
    with pytest.raises(ConfigError) as info:
        from_dict(GlobalConfig, {"metrics_listen": "nope"}, source="--metrics-listen")
    assert str(info.value).startswith('--metrics-listen: metrics_listen = "nope": must be a "host:port"')
    assert from_dict(Config, {"vrrp_instance": [dict(BASE_DICT)]}, source="x.toml").source == "x.toml"


def test_to_dict_round_trips_through_from_dict() -> None:
    config = parse(
        toml(
            {"virtual_ipaddress": '["192.0.2.100/24", "192.0.2.101"]', "auth_pass": '"pw"'},
            check={"host": '"192.0.2.11"'},
            global_={"metrics_listen": '"127.0.0.1:9650"', "router_id": '"node-a"'},
        )
    )
    data = to_dict(config)
    assert data["vrrp_instance"][0]["virtual_ipaddress"] == ["192.0.2.100/24", "192.0.2.101/32"]
    assert data["vrrp_instance"][0]["check"] == {
        "tcp_port": 9736,
        "host": "192.0.2.11",
        "interval": 2.0,
        "timeout": 1.0,
        "rise": 1,
        "fall": 1,
        "weight": 0,
    }
    assert "notify" not in data["vrrp_instance"][0]  # None is left out, as TOML cannot say it
    assert data["global"]["router_id"] == "node-a" and "_source" not in data
    data["global"]["metrics_listen"] = "127.0.0.1:9650"  # a ListenAddress is a [host, port] pair here
    # The file's key positions (for error lines) are not configuration: a dict has none.
    assert from_dict(Config, data, source=SOURCE) == msgspec.structs.replace(config, _lines="")


def test_fields_of_lists_configuration_fields_in_order() -> None:
    assert fields_of(GlobalConfig) == (
        "router_id",
        "control_socket",
        "log_format",
        "metrics_listen",
        "notify_fifo",
        "notify_fifo_script",
        "enable_script_security",
        "script_user",
        "script_group",
        "garp_interval",
        "gna_interval",
        "version",
    )
    assert fields_of(Config) == (
        "global_",
        "vrrp_instance",
        "vrrp_script",
        "vrrp_sync_group",
        "vrrp_track_file",
        "vrrp_track_process",
    )
    assert fields_of(InstanceConfig)[:3] == ("name", "interface", "virtual_router_id")
