"""keepalived's per-VIP options in the schema (issue 14 item 6): a `virtual_ipaddress` entry is an address
string or a table with dev / label / scope / brd / no_track, each refused with a one-line error naming
its key and value."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface

import pytest

from vrrpd.config import ConfigError, VipConfig, parse_config, to_dict
from vrrpd.config.diff import Change, plan
from vrrpd.config.schema import Config, TrackInterface

SOURCE = "vip.toml"


def config(vips: str, extra: str = "") -> Config:
    text = f"""
[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
virtual_ipaddress = {vips}
{extra}
"""
    return parse_config(text, SOURCE, env={})


def error(vips: str, extra: str = "") -> str:
    with pytest.raises(ConfigError) as info:
        config(vips, extra)
    return str(info.value)


def test_strings_and_tables_mix_and_keep_their_order() -> None:
    inst = config(
        '["192.0.2.100/24", { address = "192.0.2.10/24", dev = "eth1", label = "eth1:vip", scope = "link", '
        'brd = "192.0.2.255", no_track = true }]'
    ).vrrp_instance[0]
    plain, full = inst.virtual_ipaddress
    assert plain == VipConfig(address=IPv4Interface("192.0.2.100/24")) and plain.plain
    assert full == VipConfig(
        address=IPv4Interface("192.0.2.10/24"),
        dev="eth1",
        label="eth1:vip",
        scope="link",
        brd=IPv4Address("192.0.2.255"),
        no_track=True,
    )
    assert inst.vips == (IPv4Interface("192.0.2.100/24"), IPv4Interface("192.0.2.10/24"))
    # keepalived's dump order, as `ip address` reads it.
    assert str(full) == "192.0.2.10/24 brd 192.0.2.255 dev eth1 scope link label eth1:vip no_track"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            '{ address = "192.0.2.10/24", scope = "universe" }',
            'vrrp_instance[0].virtual_ipaddress[0].scope = "universe": must be one of "global", "site", '
            '"link", "host", "nowhere"',
        ),
        (
            '{ address = "192.0.2.10/24", dev = "eth 1" }',
            'vrrp_instance[0].virtual_ipaddress[0].dev = "eth 1": must be a network interface name',
        ),
        (
            '{ address = "192.0.2.10/24", label = "a-label-too-long" }',
            'vrrp_instance[0].virtual_ipaddress[0].label = "a-label-too-long": must be an address label of '
            "1..15 characters",
        ),
        (
            '{ address = "192.0.2.10/24", brd = "2001:db8::1" }',
            'vrrp_instance[0].virtual_ipaddress[0].brd = "2001:db8::1": IPv6 is not supported here',
        ),
        (
            '{ address = "192.0.2.10/24", no_track = "yes" }',
            'vrrp_instance[0].virtual_ipaddress[0].no_track = "yes": must be true or false',
        ),
        (
            '{ address = "192.0.2.10/24", device = "eth1" }',
            'vrrp_instance[0].virtual_ipaddress[0].device = "eth1": unknown key; did you mean "dev"?',
        ),
        ('{ dev = "eth1" }', "vrrp_instance[0].virtual_ipaddress[0].address: missing (required: an IPv4"),
        (
            '{ address = "192.0.2.300/24" }',
            'vrrp_instance[0].virtual_ipaddress[0].address = "192.0.2.300/24": must be an IPv4 or IPv6',
        ),
        ("[1]", "vrrp_instance[0].virtual_ipaddress[0] = [1]: must be an IPv4 or IPv6 address"),
    ],
)
def test_a_bad_option_is_one_line_naming_key_and_value(entry: str, message: str) -> None:
    text = error(f"[{entry}]")
    assert text.startswith(f"{SOURCE}:6: {message}"), text  # the file's line of virtual_ipaddress
    assert "\n" not in text


@pytest.mark.parametrize("key", ["label", "scope", "brd"])
def test_ipv4_only_options_are_refused_on_an_ipv6_vip(key: str) -> None:
    value = {"label": "eth0:6", "scope": "link", "brd": "192.0.2.255"}[key]
    text = error(f'[{{ address = "2001:db8::10/64", {key} = "{value}" }}]', "version = 3")
    assert f'vrrp_instance[0].virtual_ipaddress[0].{key} = "{value}": applies to IPv4 addresses only' in text


def test_the_same_address_twice_is_refused_whatever_its_options() -> None:
    text = error('["192.0.2.10/24", { address = "192.0.2.10/24", dev = "eth1" }]')
    assert 'virtual_ipaddress[1] = "192.0.2.10/24": duplicate of virtual_ipaddress[0]' in text


def test_a_vip_dev_is_tracked_at_weight_0_unless_no_track() -> None:
    inst = config(
        '[{ address = "192.0.2.10/24", dev = "eth1" }, { address = "192.0.2.11/24", dev = "eth2", '
        'no_track = true }, { address = "192.0.2.12/24", dev = "eth0" }, { address = "192.0.2.13/24", '
        'dev = "eth1" }]',
        'track_interface = [{ name = "eth1", weight = 10 }, { name = "eth3", weight = -5 }]',
    ).vrrp_instance[0]
    # keepalived's add_vrrp_to_interface: the VIP's weight 0 replaces the track_interface weight of eth1;
    # eth2 (no_track) and eth0 (the instance's own interface) add nothing.
    assert inst.tracked_interfaces == (
        TrackInterface(name="eth1", weight=0),
        TrackInterface(name="eth3", weight=-5),
    )
    assert inst.track_interface[0].weight == 10  # the configured value itself is unchanged
    assert [inst.vip_dev(v) for v in inst.vip_entries] == ["eth1", "eth2", None, "eth1"]


def test_to_dict_writes_a_plain_vip_as_its_address() -> None:
    cfg = config('["192.0.2.100/24", { address = "192.0.2.10/24", label = "eth0:1" }]')
    data = to_dict(cfg)["vrrp_instance"][0]
    assert data["virtual_ipaddress"] == ["192.0.2.100/24", {"address": "192.0.2.10/24", "label": "eth0:1"}]


def test_a_reload_changing_a_vips_options_restarts_the_instance() -> None:
    old = config('["192.0.2.100/24"]')
    relabelled = config('[{ address = "192.0.2.100/24", label = "eth0:1" }]')
    (p,) = plan(old, relabelled).instances
    assert p.change is Change.RESTART and "options" in p.reason
    # Adding a plain address stays a live change.
    (p,) = plan(old, config('["192.0.2.100/24", "192.0.2.101/24"]')).instances
    assert p.change is Change.LIVE
