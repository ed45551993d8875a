"""Configuration keys of keepalived parity (issue 14): instances without VIPs, virtual routes and rules.

Both sides of each rule: the table that loads (and what it loads as) and the one refused with a one-line
error naming the key.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from vrrpd.config import ConfigError, RouteConfig, RuleConfig, describe, parse_config, to_dict

HEAD = """
[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
"""


def load(extra: str = ""):  # type: ignore[no-untyped-def]
    return parse_config(HEAD + extra, "test.toml", env={})


def refused(extra: str) -> str:
    with pytest.raises(ConfigError) as exc:
        load(extra)
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_an_instance_without_vips_loads_and_describes_itself() -> None:
    config = load()
    assert config.vrrp_instance[0].virtual_ipaddress == ()
    assert config.vrrp_instance[0].vips == ()
    assert "vips: none (adverts carry no address" in describe(config)
    assert load("virtual_ipaddress = []\n").vrrp_instance[0].vips == ()


def test_more_than_255_advertised_vips_are_still_refused() -> None:
    vips = ", ".join(f'"192.0.2.{i}"' for i in range(1, 255)) + ', "198.51.100.1", "198.51.100.2"'
    assert "virtual_ipaddress" in refused(f"virtual_ipaddress = [{vips}]\n")


def test_routes_and_rules_load_with_their_values() -> None:
    config = load(
        """
[[vrrp_instance.virtual_routes]]
to = "198.51.100.0/24"
via = "192.0.2.1"
dev = "eth0"
src = "192.0.2.100"
metric = 5
table = 100
scope = "global"

[[vrrp_instance.virtual_routes]]
to = "default"
via = "192.0.2.254"

[[vrrp_instance.virtual_routes]]
to = "203.0.113.0/24"
type = "blackhole"

[[vrrp_instance.virtual_rules]]
from = "192.0.2.100"
table = 100
priority = 100

[[vrrp_instance.virtual_rules]]
to = "203.0.113.9"
iif = "eth0"
fwmark = 16
type = "prohibit"
"""
    )
    inst = config.vrrp_instance[0]
    first, default, blackhole = inst.virtual_routes
    assert first == RouteConfig(
        to=IPv4Network("198.51.100.0/24"),
        via=IPv4Address("192.0.2.1"),
        dev="eth0",
        src=IPv4Address("192.0.2.100"),
        metric=5,
        table=100,
        scope="global",
    )
    assert default.to == IPv4Network("0.0.0.0/0")
    assert str(default) == "default via 192.0.2.254"
    assert str(blackhole) == "blackhole 203.0.113.0/24"
    lookup, prohibit = inst.virtual_rules
    assert lookup == RuleConfig(from_=IPv4Network("192.0.2.100/32"), table=100, priority=100)
    assert str(prohibit) == "to 203.0.113.9/32 iif eth0 fwmark 0x10 prohibit"
    text = describe(config)
    assert "route (while master): 198.51.100.0/24 via 192.0.2.1 dev eth0 src 192.0.2.100" in text
    assert "rule (while master): from 192.0.2.100/32 priority 100 table 100" in text
    # The TOML key is "from" both ways.
    assert to_dict(inst)["virtual_rules"][0]["from"] == "192.0.2.100/32"


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('to = "198.51.100.7/24"\nvia = "192.0.2.1"', "host bits set"),
        ('to = "198.51.100.0/24"', "needs via, dev or both"),
        ('to = "198.51.100.0/24"\ntype = "blackhole"\nvia = "192.0.2.1"', "has no next hop"),
        ('to = "198.51.100.0/24"\nvia = "192.0.2.1"\ntable = 255', "except 253 and 255"),
        ('to = "198.51.100.0/24"\nvia = "192.0.2.1"\nscope = "galaxy"', "scope"),
        ('to = "2001:db8::/32"\nvia = "192.0.2.1"', "IPv6 is not supported yet"),
        ('to = "198.51.100.0/24"\ngateway = "192.0.2.1"', "unknown key (known: dev, metric"),
    ],
)
def test_a_bad_route_is_refused_naming_its_key(table: str, expected: str) -> None:
    text = refused(f"\n[[vrrp_instance.virtual_routes]]\n{table}\n")
    assert "vrrp_instance[0].virtual_routes[0]" in text
    assert expected in text


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('from = "192.0.2.100"', "needs a table"),
        ('from = "192.0.2.100"\ntable = 100\ntype = "prohibit"', "looks up no table"),
        ('from = "192.0.2.100"\ntable = 253', "except 253 and 255"),
        ('from = "192.0.2.100"\ntable = 100\npriority = 0', "1..32765"),
    ],
)
def test_a_bad_rule_is_refused_naming_its_key(table: str, expected: str) -> None:
    text = refused(f"\n[[vrrp_instance.virtual_rules]]\n{table}\n")
    assert "vrrp_instance[0].virtual_rules[0]" in text
    assert expected in text


SYNC = """
[[vrrp_script]]
name = "chk"
script = "/bin/true"
{weight}

[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
virtual_ipaddress = ["192.0.2.101"]
{track}

[[vrrp_instance]]
name = "VI_2"
interface = "eth0"
virtual_router_id = 52
virtual_ipaddress = ["192.0.2.102"]

[[vrrp_sync_group]]
name = "G"
group = {group}
{extra}
"""


def sync(group: str = '["VI_1", "VI_2"]', weight: str = "", track: str = "", extra: str = "") -> str:
    return SYNC.format(group=group, weight=weight, track=track, extra=extra)


def test_a_sync_group_loads_and_its_track_script_goes_to_every_member() -> None:
    config = parse_config(sync(extra='track_script = ["chk"]\nnotify = "/bin/true"'), "t", env={})
    (group,) = config.vrrp_sync_group
    assert group.group == ("VI_1", "VI_2") and group.notify == ("/bin/true",)
    assert [[t.name for t in i.track_script] for i in config.vrrp_instance] == [["chk"], ["chk"]]
    assert config.sync_group_of("VI_2") is group
    # Tracked by the instance itself already: not twice.
    config = parse_config(sync(track='track_script = ["chk"]', extra='track_script = ["chk"]'), "t", env={})
    assert [t.name for t in config.vrrp_instance[0].track_script] == ["chk"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            sync(group='["VI_1", "VI_3"]'),
            'vrrp_sync_group[0].group[1] = "VI_3": no [[vrrp_instance]] has this name',
        ),
        (sync(group='["VI_1", "VI_1"]'), "listed twice"),
        (sync(group="[]"), "a list of 1 or more"),
        (sync(extra='track_script = ["nope"]'), "no [[vrrp_script]] has this name"),
        (sync(weight="weight = -20", track='track_script = ["chk"]'), "tracks chk with a weight"),
        (sync(extra="typo = 1"), "unknown key"),
    ],
)
def test_a_bad_sync_group_is_refused_in_one_line(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "t", env={})
    assert expected in str(exc.value)
    assert "\n" not in str(exc.value)


def test_a_groups_own_weighted_script_keeps_its_weight_on_every_member() -> None:
    """keepalived 2.2.7 (vrrp.c: sync_group_tracking_init) adds a group's tracked scripts with their weights
    whatever sync_group_tracking_weight says (its --dump-conf lists "VI_1, weight -20" under the script):
    only a member's *own* weighted tracking is ignored without it."""
    config = parse_config(sync(weight="weight = -20", extra='track_script = ["chk"]'), "t", env={})
    assert [config._weight(t) for i in config.vrrp_instance for t in i.track_script] == [-20, -20]


def test_tracking_weight_lets_members_keep_weighted_checks() -> None:
    text = sync(weight="weight = -20", track='track_script = ["chk"]', extra="tracking_weight = true")
    assert parse_config(text, "t", env={}).vrrp_sync_group[0].tracking_weight


def test_track_interface_entries_and_dont_track_primary() -> None:
    inst = load(
        'track_interface = ["eth1", { name = "eth2", weight = -20, reverse = true }]\n'
        "dont_track_primary = true\n"
    ).vrrp_instance[0]
    assert [(t.name, t.weight, t.reverse) for t in inst.track_interface] == [
        ("eth1", 0, False),
        ("eth2", -20, True),
    ]
    assert inst.dont_track_primary
    assert "tracked twice" in refused('track_interface = ["eth1", { name = "eth1", weight = 5 }]\n')
    assert "<= 253" in refused('track_interface = [{ name = "eth1", weight = 254 }]\n')
    assert "must be an interface name" in refused("track_interface = [7]\n")


def test_a_weighted_track_interface_in_a_sync_group_needs_tracking_weight() -> None:
    text = sync(track='track_interface = [{ name = "eth1", weight = -20 }]')
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "t", env={})
    assert "tracks interface eth1 with a weight" in str(exc.value)
    assert (
        parse_config(sync(track='track_interface = ["eth1"]'), "t", env={}).vrrp_instance[0].track_interface
    )


def test_a_vrrpv3_instance_needs_an_address_as_in_keepalived() -> None:
    assert "VRRPv3 needs at least one address" in refused("version = 3\n")
    assert load("version = 2\n").vrrp_instance[0].vips == ()


def test_describe_names_the_tracked_interfaces_and_the_sync_groups() -> None:
    config = parse_config(sync(track='track_interface = ["eth1"]\ndont_track_primary = true'), "t", env={})
    text = describe(config)
    assert "tracks interfaces: eth1 (FAULT while down)" in text
    assert "own interface down: no FAULT (dont_track_primary)" in text
    assert "sync group G: VI_1, VI_2 change state together" in text


def test_describe_names_the_tracked_files_and_processes_and_the_ipv6_virtual_mac() -> None:
    config = parse_config(
        HEAD
        + 'virtual_ipaddress = ["192.0.2.51"]\n'
        + 'track_file = [{ name = "fo", weight = -10 }]\ntrack_process = ["ha"]\n'
        + '[[vrrp_instance]]\nname = "VI_6"\ninterface = "eth0"\nvirtual_router_id = 51\nversion = 3\n'
        + 'virtual_ipaddress = ["2001:db8::51"]\nuse_vmac = true\n'
        + '[[vrrp_track_file]]\nname = "fo"\nfile = "/run/fo"\n'
        + '[[vrrp_track_process]]\nname = "ha"\nprocess = "haproxy"\nquorum = 2\nweight = -20\n',
        "t",
        env={},
    )
    text = describe(config)
    assert "tracks files: fo (weight -10 × value, /run/fo)" in text
    assert "tracks processes: ha (weight -20, up with 2..any of haproxy)" in text
    assert "virtual MAC: vrrp.51 (macvlan on eth0, 00:00:5e:00:02:33)" in text
