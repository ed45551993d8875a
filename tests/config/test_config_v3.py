"""The VRRPv3 keys of the configuration: `version` (per instance and in [global]), centisecond `advert_int`,
IPv6 addresses, `accept` — each accepted where RFC 5798 allows it and refused with one precise line where
it does not (an IPv6 VIP in a v2 instance, 0.005 s, v3 with auth_pass, ...)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, IPv6Interface

import pytest

from tests.config.test_config import SOURCE, error_of, parse, toml
from vrrpd.config import InstanceConfig, from_dict
from vrrpd.config.describe import describe
from vrrpd.config.diff import restart_reason

V6 = {"virtual_ipaddress": '["2001:db8::100/64"]', "version": "3"}


def instance(text: str) -> InstanceConfig:
    return parse(text).vrrp_instance[0]


# -- version ---------------------------------------------------------------------------------------------


def test_version_defaults_to_2() -> None:
    inst = instance(toml())
    assert inst.version == 2
    assert parse(toml()).global_.version == 2


def test_version_per_instance() -> None:
    assert instance(toml({"version": "3"})).version == 3


def test_global_version_is_the_default_of_every_instance() -> None:
    # keepalived's global vrrp_version.
    assert instance(toml(global_={"version": "3"})).version == 3


def test_instance_version_wins_over_global() -> None:
    assert instance(toml({"version": "2"}, global_={"version": "3"})).version == 2


def test_global_version_from_the_environment() -> None:
    assert instance(toml()).version == 2
    assert parse(toml(), env={"VRRPD_VERSION": "3"}).vrrp_instance[0].version == 3


@pytest.mark.parametrize("value", ["1", "4", '"3"', "3.0", "true"])
def test_bad_versions(value: str) -> None:
    assert error_of(toml({"version": value})) == (
        f"{SOURCE}: vrrp_instance[0].version = {value}: must be 2 or 3"
    )


def test_bad_global_version_from_the_environment_names_the_variable() -> None:
    message = error_of(toml(), env={"VRRPD_VERSION": "4"})
    assert message == "VRRPD_VERSION: global.version = 4: must be 2 or 3"


# -- advert_int ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"), [("0.01", 0.01), ("0.1", 0.1), ("1", 1), ("2.5", 2.5), ("40.95", 40.95)]
)
def test_v3_intervals_in_centisecond_steps(text: str, seconds: float) -> None:
    assert instance(toml({"version": "3", "advert_int": text})).advert_int == seconds


@pytest.mark.parametrize("text", ["0.005", "0.015", "40.96", "41", "255"])
def test_v3_intervals_outside_the_field_are_refused(text: str) -> None:
    assert error_of(toml({"version": "3", "advert_int": text})) == (
        f"{SOURCE}: vrrp_instance[0].advert_int = {text}: "
        "must be 0.01..40.95 seconds in steps of 0.01 (VRRPv3 counts centiseconds)"
    )


def test_v2_needs_whole_seconds() -> None:
    message = error_of(toml({"advert_int": "0.5"}))
    assert message == (
        f"{SOURCE}: vrrp_instance[0].advert_int = 0.5: VRRPv2 advertises whole seconds: must be a whole "
        "number 1..255 (sub-second intervals need version = 3)"
    )


def test_v2_whole_seconds_written_as_a_float_are_fine() -> None:
    assert instance(toml({"advert_int": "2.0"})).advert_int == 2


def test_an_integer_interval_stays_an_integer() -> None:
    # `describe` and to_dict show 1, not 1.0.
    assert repr(instance(toml()).advert_int) == "1"


def test_zero_and_negative_intervals() -> None:
    assert "advert_int = 0" in error_of(toml({"version": "3", "advert_int": "0"}))
    assert "advert_int = -0.1" in error_of(toml({"version": "3", "advert_int": "-0.1"}))


# -- IPv6 ------------------------------------------------------------------------------------------------


def test_ipv6_instance() -> None:
    inst = instance(
        toml({**V6, "virtual_ipaddress_excluded": '["2001:db8::200"]', "unicast_peer": '["fe80::2"]'})
    )
    assert inst.family == 6
    assert inst.advertised_vips == (IPv6Interface("2001:db8::100/64"),)
    assert inst.excluded_vips == (IPv6Interface("2001:db8::200/128"),)  # default /128
    assert inst.unicast_peer == (IPv6Address("fe80::2"),)


def test_ipv6_link_local_vip_is_allowed() -> None:
    # RFC 5798 §5.2.9 even asks that an IPv6 advert's first address be the link-local one.
    assert instance(toml({**V6, "virtual_ipaddress": '["fe80::100/64", "2001:db8::100/64"]'})).family == 6


def test_ipv6_vip_in_a_v2_instance_is_refused() -> None:
    message = error_of(toml({"virtual_ipaddress": '["2001:db8::100/64"]'}))
    assert message == (
        f'{SOURCE}: vrrp_instance[0].virtual_ipaddress[0] = "2001:db8::100": IPv6 needs VRRPv3: set '
        "version = 3 (in this [[vrrp_instance]] or in [global])"
    )


def test_ipv6_vip_with_the_global_version_3() -> None:
    assert instance(toml({"virtual_ipaddress": '["2001:db8::100/64"]'}, global_={"version": "3"})).family == 6


@pytest.mark.parametrize(
    ("key", "value", "where"),
    [
        ("virtual_ipaddress", '["2001:db8::100/64", "192.0.2.100/24"]', "virtual_ipaddress[1]"),
        ("virtual_ipaddress_excluded", '["192.0.2.200"]', "virtual_ipaddress_excluded[0]"),
        ("unicast_peer", '["192.0.2.2"]', "unicast_peer[0]"),
    ],
)
def test_one_family_per_instance(key: str, value: str, where: str) -> None:
    message = error_of(toml({**V6, key: value}))
    assert f"vrrp_instance[0].{where} = " in message
    assert (
        "is IPv4 but virtual_ipaddress[0] is IPv6: one address family per instance (as keepalived)" in message
    )


@pytest.mark.parametrize("vip", ["ff02::1", "::", "::1"])
def test_ipv6_vips_that_cannot_be_owned(vip: str) -> None:
    assert "must be a unicast address" in error_of(toml({**V6, "virtual_ipaddress": f'["{vip}"]'}))


def test_ipv6_unicast_source() -> None:
    inst = instance(toml({**V6, "unicast_peer": '["2001:db8::2"]', "unicast_src_ip": '"2001:db8::1"'}))
    assert inst.unicast_src_ip == IPv6Address("2001:db8::1")


def test_ipv4_instance_family() -> None:
    assert instance(toml()).family == 4
    assert instance(toml({"virtual_ipaddress": "[]"})).family == 4


def test_vip_uniqueness_holds_across_families() -> None:
    text = toml(V6) + toml({**V6, "name": '"VI_2"', "virtual_router_id": "52"}).replace("[global]\n", "")
    assert "already a virtual address of vrrp_instance[0]" in error_of(text)


# -- authentication --------------------------------------------------------------------------------------


def test_v3_with_auth_pass_is_refused_without_echoing_it() -> None:
    message = error_of(toml({"version": "3", "auth_pass": '"secret"'}))
    assert message == (
        f"{SOURCE}: vrrp_instance[0].auth_pass = <hidden>: VRRPv3 has no authentication (RFC 5798 §9): "
        "remove auth_pass, or use version = 2"
    )
    assert "secret" not in message


def test_v2_keeps_auth_pass() -> None:
    assert instance(toml({"auth_pass": '"secret"'})).auth_pass == "secret"


# -- accept ----------------------------------------------------------------------------------------------


def test_accept_defaults_to_true_as_keepalived() -> None:
    assert instance(toml()).accept is True
    assert instance(toml({"accept": "true", "version": "3"})).accept is True
    assert "must be true or false" in error_of(toml({"accept": '"no"'}))


def test_accept_false() -> None:
    assert instance(toml({"accept": "false", "version": "3"})).accept is False
    summary = describe(parse(toml({"accept": "false"})))
    assert "accept packets to the VIPs as master: no" in summary
    # The address owner accepts whatever Accept_Mode says (§6.4.3).
    owner = parse(toml({"accept": "false", "priority": "255"}))
    assert "accept packets to the VIPs as master: yes" in describe(owner)


# -- beyond the file -------------------------------------------------------------------------------------


def test_from_dict_takes_v3_instances() -> None:
    inst = from_dict(
        InstanceConfig,
        {
            "name": "v6",
            "interface": "eth0",
            "virtual_router_id": 7,
            "version": 3,
            "advert_int": 0.1,
            "virtual_ipaddress": ["2001:db8::7/64"],
        },
    )
    assert (inst.version, inst.advert_int, inst.family) == (3, 0.1, 6)


def test_describe_shows_version_interval_and_accept() -> None:
    summary = describe(parse(toml({**V6, "advert_int": "0.1"})))
    assert "advert_int 0.1s, preempt yes (delay 0s), VRRPv3" in summary
    assert "accept packets to the VIPs as master: yes" in summary
    assert "multicast ff02::12" in summary
    assert "advert_int 1s, preempt yes (delay 0s), VRRPv2" in describe(parse(toml()))


def test_changing_version_or_family_is_a_restart() -> None:
    v2 = instance(toml())
    v3 = instance(toml({"version": "3"}))
    v6 = instance(toml(V6))
    assert "VRRP version changes" in restart_reason(v2, v3, ("version",))
    assert "address family changes" in restart_reason(v3, v6, ("virtual_ipaddress",))
    faster = instance(toml({"version": "3", "advert_int": "0.1"}))
    assert restart_reason(v3, faster, ("advert_int",)) == ""


def test_peers_of_both_families_parse_as_addresses() -> None:
    assert instance(toml({"unicast_peer": '["192.0.2.2"]'})).unicast_peer == (IPv4Address("192.0.2.2"),)


# -- one VRID for both families (RFC 5798 §1) ----------------------------------------------------------------


def _two(first_vip: str, second_vip: str) -> str:
    return "".join(
        f'[[vrrp_instance]]\nname = "{name}"\ninterface = "eth0"\nvirtual_router_id = 51\nversion = 3\n'
        f'virtual_ipaddress = ["{vip}"]\n'
        for name, vip in (("VI_4", first_vip), ("VI_6", second_vip))
    )


def test_an_ipv4_and_an_ipv6_instance_may_share_a_vrid() -> None:
    config = parse(_two("192.0.2.100/24", "2001:db8::100/64"))
    assert [(i.virtual_router_id, i.family) for i in config.vrrp_instance] == [(51, 4), (51, 6)]


@pytest.mark.parametrize(
    ("first", "second"), [("192.0.2.100/24", "192.0.2.101/24"), ("2001:db8::1/64", "2001:db8::2/64")]
)
def test_a_vrid_twice_in_one_family_is_still_refused(first: str, second: str) -> None:
    family = 6 if ":" in first else 4
    message = error_of(_two(first, second))
    assert "vrrp_instance[1].virtual_router_id = 51" in message
    assert f"already used by vrrp_instance[0] (VI_4) for IPv{family}" in message
