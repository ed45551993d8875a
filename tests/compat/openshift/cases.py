"""The environments the parity test runs through the image's generator and through vrrpd.

Each case is an ``OPENSHIFT_HA_*`` environment on a modelled host, and what vrrpd must do with it:
``SAME`` (run the same instances, VRIDs, VIPs, interface, authentication, preemption, check, notify and
unicast setup as the image's keepalived) or `Refuse` (one line naming the variable and the difference).
``notes`` are words vrrpd must say aloud when it accepts (the differences it keeps on purpose).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.compat.openshift.image import FakeHost

# Hosts. Addresses are TEST-NET; the route device is what `ip route get 8.8.8.8` names.
ETH0 = FakeHost((("lo", "127.0.0.1"), ("eth0", "192.0.2.11")), route_device="eth0")
ETH0_ETH1 = FakeHost(
    (("lo", "127.0.0.1"), ("eth0", "192.0.2.11"), ("eth1", "198.51.100.11")), route_device="eth0"
)
ENP = FakeHost(
    (("lo", "127.0.0.1"), ("enp0s8", "192.0.2.12"), ("enp0s3", "198.51.100.12")), route_device="enp0s8"
)
ENS3 = FakeHost((("lo", "127.0.0.1"), ("eth0", "192.0.2.13"), ("ens3", "203.0.113.13")), route_device="eth0")
BOND = FakeHost((("lo", "127.0.0.1"), ("bond0", "192.0.2.14")), route_device="bond0")
NO_ROUTE = FakeHost((("lo", "127.0.0.1"), ("bond0", "192.0.2.15")), route_device=None)
NO_ADDRESS = FakeHost((("lo", "127.0.0.1"), ("eth0", "192.0.2.16"), ("eth1", None)), route_device="eth0")


@dataclass(frozen=True)
class Refuse:
    """vrrpd refuses in one line containing each of ``words``."""

    words: tuple[str, ...]


SAME = None


@dataclass(frozen=True)
class Case:
    name: str
    env: dict[str, str]
    host: FakeHost = ETH0
    expect: Refuse | None = SAME
    notes: tuple[str, ...] = field(default=())
    # Keywords `import-keepalived` cannot carry over from the image's file (it does not see the host).
    importer_lost: tuple[str, ...] = field(default=())


def refuse(*words: str) -> Refuse:
    return Refuse(words)


VIPS = "OPENSHIFT_HA_VIRTUAL_IPS"
ONE = {VIPS: "192.0.2.100"}
THREE = {VIPS: "192.0.2.100-102"}

CASES = (
    # Defaults and the interface the image picks.
    Case("defaults", ONE, notes=("interface eth0",)),
    Case("defaults_three_vips", THREE),
    Case("interface_unset_eth0_and_eth1", THREE, ETH0_ETH1, notes=("interface eth1",)),
    Case("interface_blank", {**THREE, "OPENSHIFT_HA_NETWORK_INTERFACE": "  "}, ETH0_ETH1),
    Case("interface_explicit", {**THREE, "OPENSHIFT_HA_NETWORK_INTERFACE": "eth0"}, ETH0_ETH1),
    Case("interface_padded", {**THREE, "OPENSHIFT_HA_NETWORK_INTERFACE": " eth1 "}, ETH0_ETH1),
    Case("interface_enp_list_order", ONE, ENP, notes=("interface enp0s3",)),
    Case("interface_ens3_before_route", ONE, ENS3, notes=("interface ens3",)),
    Case("interface_route_device", ONE, BOND, notes=("interface bond0",)),
    Case(
        "interface_missing_falls_back",
        {**ONE, "OPENSHIFT_HA_NETWORK_INTERFACE": "eth7"},
        ETH0_ETH1,
        refuse("OPENSHIFT_HA_NETWORK_INTERFACE", "eth7", "the image used eth1"),
    ),
    Case(
        "interface_none_at_all", ONE, NO_ROUTE, refuse("OPENSHIFT_HA_NETWORK_INTERFACE", "no default route")
    ),
    Case(
        "interface_without_ipv4",
        {**ONE, "OPENSHIFT_HA_NETWORK_INTERFACE": "eth1"},
        NO_ADDRESS,
        refuse("OPENSHIFT_HA_NETWORK_INTERFACE", "no IPv4 address"),
    ),
    Case(
        "interface_two_words",
        {**ONE, "OPENSHIFT_HA_NETWORK_INTERFACE": "eth9 eth0"},
        ETH0_ETH1,
        refuse("OPENSHIFT_HA_NETWORK_INTERFACE", "the image took the first of these words that exists"),
    ),
    # VIP lists: ranges, separators, spacing.
    Case("vips_range_and_single", {VIPS: "192.0.2.100-102,192.0.2.110"}),
    Case("vips_range_full_end", {VIPS: "192.0.2.100-192.0.2.102"}),
    Case("vips_comma_space", {VIPS: "192.0.2.100, 192.0.2.101,  192.0.2.102"}),
    Case("vips_padded_and_trailing_comma", {VIPS: "  192.0.2.100 ,192.0.2.101, "}),
    Case("vips_tab_after_comma", {VIPS: "192.0.2.100,\t192.0.2.101"}),
    Case("vips_space_separated", {VIPS: "192.0.2.100 192.0.2.101"}, expect=refuse(VIPS, "spaces")),
    Case("vips_range_space_separated", {VIPS: "192.0.2.100-102 192.0.2.110"}, expect=refuse(VIPS, "spaces")),
    Case("vips_range_reversed", {VIPS: "192.0.2.105-100"}, expect=refuse(VIPS, "dropped")),
    Case("vips_range_past_255", {VIPS: "192.0.2.250-260"}, expect=refuse(VIPS, "192.0.2.256")),
    Case("vips_range_across_subnets", {VIPS: "192.0.2.5-198.51.100.7"}, expect=refuse(VIPS, "192.0.2.5-7")),
    Case("vips_prefix_length", {VIPS: "192.0.2.100/24"}, expect=refuse(VIPS, "prefix")),
    Case("vips_leading_zero", {VIPS: "192.0.2.010"}, expect=refuse(VIPS, "192.0.2.010")),
    # IPv6: keepalived ran such an instance as VRRPv3 (no authentication); its ranges count in hex.
    Case("vips_ipv6", {VIPS: "2001:db8::10"}),
    Case("vips_ipv6_hex_range", {VIPS: "2001:db8::9-11"}),
    Case(
        "vips_ipv4_and_ipv6_groups",
        {VIPS: "192.0.2.100-101, 2001:db8::1A-1B", "OPENSHIFT_HA_VIP_GROUPS": "2"},
    ),
    Case(
        "vips_ipv6_lower_case_range",
        {VIPS: "2001:db8::a-c"},
        expect=refuse(VIPS, "upper-case A-F"),
    ),
    Case(
        "vips_families_mixed_in_a_group",
        {VIPS: "192.0.2.100, 2001:db8::10", "OPENSHIFT_HA_VIP_GROUPS": "1"},
        expect=refuse(VIPS, "mixes IPv4 and IPv6", "ran it as IPv4"),
    ),
    Case(
        "vips_ipv6_with_unicast_peers",
        {VIPS: "2001:db8::10", "OPENSHIFT_HA_UNICAST_PEERS": "192.0.2.12"},
        expect=refuse("OPENSHIFT_HA_UNICAST_PEERS", "one address family"),
    ),
    Case("vips_unset", {}, expect=refuse(VIPS, "missing")),
    Case("vips_duplicate", {VIPS: "192.0.2.100,192.0.2.100"}, expect=refuse(VIPS, "twice")),
    # Groups.
    Case("groups_two_of_four", {VIPS: "192.0.2.100-103", "OPENSHIFT_HA_VIP_GROUPS": "2"}),
    Case("groups_three_of_seven", {VIPS: "192.0.2.100-106", "OPENSHIFT_HA_VIP_GROUPS": "3"}),
    Case("groups_more_than_vips", {VIPS: "192.0.2.100-101", "OPENSHIFT_HA_VIP_GROUPS": "10"}),
    Case("groups_zero", {**THREE, "OPENSHIFT_HA_VIP_GROUPS": "0"}),
    Case(
        "groups_not_a_number",
        {**THREE, "OPENSHIFT_HA_VIP_GROUPS": "two"},
        expect=refuse("OPENSHIFT_HA_VIP_GROUPS", "one group per VIP"),
    ),
    Case(
        "groups_leading_zero",
        {**THREE, "OPENSHIFT_HA_VIP_GROUPS": "08"},
        expect=refuse("OPENSHIFT_HA_VIP_GROUPS", "octal"),
    ),
    # VRID offsets and exclusions.
    Case("offset_zero", {**THREE, "OPENSHIFT_HA_VRRP_ID_OFFSET": "0"}),
    Case("offset_thirty", {**THREE, "OPENSHIFT_HA_VRRP_ID_OFFSET": "30"}),
    Case(
        "offset_octal",
        {**THREE, "OPENSHIFT_HA_VRRP_ID_OFFSET": "010"},
        expect=refuse("OPENSHIFT_HA_VRRP_ID_OFFSET", "octal", "9"),
    ),
    Case(
        "offset_bad_octal",
        {**THREE, "OPENSHIFT_HA_VRRP_ID_OFFSET": "08"},
        expect=refuse("OPENSHIFT_HA_VRRP_ID_OFFSET", "octal"),
    ),
    Case(
        "offset_past_255",
        {VIPS: "192.0.2.100-109", "OPENSHIFT_HA_VRRP_ID_OFFSET": "250"},
        expect=refuse("OPENSHIFT_HA_VRRP_ID_OFFSET", "256", "keepalived"),
    ),
    Case("excluded_space_separated", {**THREE, "HA_EXCLUDED_VRRP_IDS": "11 13"}),
    Case(
        "excluded_comma_separated",
        {**THREE, "HA_EXCLUDED_VRRP_IDS": "11,13"},
        expect=refuse("HA_EXCLUDED_VRRP_IDS", "space"),
    ),
    # Unicast and source addresses.
    Case("unicast_peers", {**THREE, "OPENSHIFT_HA_UNICAST_PEERS": "192.0.2.11,192.0.2.12,192.0.2.13"}),
    Case("unicast_peers_comma_space", {**THREE, "OPENSHIFT_HA_UNICAST_PEERS": "192.0.2.12, 192.0.2.13"}),
    Case(
        "unicast_peers_space_separated",
        {**THREE, "OPENSHIFT_HA_UNICAST_PEERS": "192.0.2.12 192.0.2.13"},
        expect=refuse("OPENSHIFT_HA_UNICAST_PEERS", "spaces"),
    ),
    Case(
        "unicast_source_address",
        {
            **THREE,
            "OPENSHIFT_HA_UNICAST_PEERS": "192.0.2.12,192.0.2.13",
            "UNICAST_SOURCE_IPADDRESS": "192.0.2.21",
        },
    ),
    Case(
        "unicast_source_without_peers",
        {**THREE, "UNICAST_SOURCE_IPADDRESS": "192.0.2.21"},  # multicast from it: mcast_src_ip
    ),
    Case(
        "multicast_source_with_peers",
        {**THREE, "OPENSHIFT_HA_UNICAST_PEERS": "192.0.2.12", "MULTICAST_SOURCE_IPADDRESS": "192.0.2.21"},
    ),
    Case(
        "multicast_source_is_primary",
        {**THREE, "MULTICAST_SOURCE_IPADDRESS": "192.0.2.11"},  # the importer carries it: mcast_src_ip
    ),
    Case(
        "multicast_source_other",
        {**THREE, "MULTICAST_SOURCE_IPADDRESS": "192.0.2.21"},  # not the interface's: mcast_src_ip
    ),
    Case(
        "use_unicast_false_with_peers",
        {**THREE, "OPENSHIFT_HA_UNICAST_PEERS": "192.0.2.12", "OPENSHIFT_HA_USE_UNICAST": "false"},
    ),
    # Checks and notify scripts.
    Case("check_port", {**THREE, "OPENSHIFT_HA_MONITOR_PORT": "8080"}),
    Case("check_port_zero", {**THREE, "OPENSHIFT_HA_MONITOR_PORT": "0"}),
    Case(
        "check_port_garbled",
        {**THREE, "OPENSHIFT_HA_MONITOR_PORT": "8o80"},
        expect=refuse("OPENSHIFT_HA_MONITOR_PORT", "880"),
    ),
    Case("check_interval", {**THREE, "OPENSHIFT_HA_CHECK_INTERVAL": "5"}),
    Case("check_interval_decimal", {**THREE, "OPENSHIFT_HA_CHECK_INTERVAL": "1.5"}, notes=("1 s",)),
    Case("check_script", {**THREE, "OPENSHIFT_HA_CHECK_SCRIPT": "/usr/bin/env"}),
    Case(
        "check_script_replaces_port",
        {**THREE, "OPENSHIFT_HA_CHECK_SCRIPT": "/usr/bin/env", "OPENSHIFT_HA_MONITOR_PORT": "443"},
    ),
    Case(
        "check_script_missing",
        {**THREE, "OPENSHIFT_HA_CHECK_SCRIPT": "/nonexistent/check"},
        expect=refuse("OPENSHIFT_HA_CHECK_SCRIPT", "without"),
    ),
    # import-keepalived carries commands with arguments over (issue 14), split as keepalived splits them.
    Case(
        "check_script_with_arguments",
        {**THREE, "OPENSHIFT_HA_CHECK_SCRIPT": "/usr/bin/env 'a b' c"},
    ),
    Case(
        "check_script_bare_name",
        {**THREE, "OPENSHIFT_HA_CHECK_SCRIPT": "env true"},
    ),
    Case(
        "check_script_relative_path",
        {**THREE, "OPENSHIFT_HA_CHECK_SCRIPT": "bin/check"},
        expect=refuse("OPENSHIFT_HA_CHECK_SCRIPT", "relative path"),
    ),
    Case("notify_script", {**THREE, "OPENSHIFT_HA_NOTIFY_SCRIPT": "/bin/true"}),
    Case(
        "notify_script_with_arguments",
        {**THREE, "OPENSHIFT_HA_NOTIFY_SCRIPT": "/usr/bin/env logger -t ha"},
    ),
    Case(
        "notify_script_missing",
        {**THREE, "OPENSHIFT_HA_NOTIFY_SCRIPT": "/nonexistent/notify"},
        expect=refuse("OPENSHIFT_HA_NOTIFY_SCRIPT", "without"),
    ),
    # Preemption.
    Case("preempt_default", THREE, notes=("state MASTER",)),
    Case("preempt_delay_custom", {**THREE, "OPENSHIFT_HA_PREEMPTION": "preempt_delay 60"}),
    Case("preempt_delay_decimal", {**THREE, "OPENSHIFT_HA_PREEMPTION": "preempt_delay 2.5"}),
    Case("nopreempt", {**THREE, "OPENSHIFT_HA_PREEMPTION": "nopreempt"}),
    Case("preempt_without_delay", {**THREE, "OPENSHIFT_HA_PREEMPTION": "preempt"}),
    Case(
        "preempt_delay_past_keepalived_limit",
        {**THREE, "OPENSHIFT_HA_PREEMPTION": "preempt_delay 3600"},
        expect=refuse("OPENSHIFT_HA_PREEMPTION", "0..1000"),
    ),
    Case(
        "nopreempt_padded",
        {**THREE, "OPENSHIFT_HA_PREEMPTION": " nopreempt"},
        expect=refuse("OPENSHIFT_HA_PREEMPTION", "state MASTER"),
    ),
    Case(
        "preemption_unknown",
        {**THREE, "OPENSHIFT_HA_PREEMPTION": "always"},
        expect=refuse("OPENSHIFT_HA_PREEMPTION", "unknown keyword"),
    ),
    # Names and replica counts.
    Case("name_with_dashes", {**THREE, "OPENSHIFT_HA_CONFIG_NAME": "ipf-ha-router-us-west"}),
    Case("name_with_dots", {**THREE, "OPENSHIFT_HA_CONFIG_NAME": "ha.example"}),
    Case(
        "name_too_long",
        {**ONE, "OPENSHIFT_HA_CONFIG_NAME": "a" * 60},
        expect=refuse("OPENSHIFT_HA_CONFIG_NAME", "the image"),
    ),
    Case(
        "name_with_other_punctuation",
        {**THREE, "OPENSHIFT_HA_CONFIG_NAME": "ha@1"},
        expect=refuse("OPENSHIFT_HA_CONFIG_NAME", "the image named its instances ha1_VIP_<n>"),
    ),
    Case("replicas_three", {**THREE, "OPENSHIFT_HA_REPLICA_COUNT": "3"}),
    # Kubernetes service links and typos.
    Case(
        "service_links",
        {
            **THREE,
            "OPENSHIFT_HA_SERVICE_HOST": "203.0.113.40",
            "OPENSHIFT_HA_SERVICE_PORT": "9650",
            "OPENSHIFT_HA_PORT": "tcp://203.0.113.40:9650",
            "OPENSHIFT_HA_PORT_9650_TCP": "tcp://203.0.113.40:9650",
            "OPENSHIFT_HA_PORT_9650_TCP_ADDR": "203.0.113.40",
            "OPENSHIFT_HA_PORT_9650_TCP_PORT": "9650",
            "OPENSHIFT_HA_PORT_9650_TCP_PROTO": "tcp",
        },
    ),
    Case(
        "typo",
        {**THREE, "OPENSHIFT_HA_MONITOR_PROT": "8080"},
        expect=refuse("OPENSHIFT_HA_MONITOR_PROT", "did you mean OPENSHIFT_HA_MONITOR_PORT"),
    ),
)
