"""The keepalived.conf corpus (tests/data/keepalived/corpus, issue 14): forty files from public projects.

Two promises are held here for every file:

* `vrrpd import-keepalived` converts it without raising, and what it reports as not carried over is
  exactly known: only what a VRRP daemon should not do (LVS, e-mail), what keepalived itself refuses, and
  the features still being built — each entry of `EXPECTED_LOST` says which. A finding not in the table
  fails; the table only shrinks.
* keepalived 2.2.7's own `--dump-conf` of the file (run in a throwaway sandbox: tests/support/
  keepalived_dump.py) shows, for every instance the import converted, the values the import wrote.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.support.keepalived_dump import KEEPALIVED, dump_config, instances_of
from vrrpd.compat.keepalived.importer import Conversion, convert
from vrrpd.testing.lab import unavailable_reason

CORPUS = Path(__file__).parents[2] / "data" / "keepalived" / "corpus"
FILES = sorted(CORPUS.glob("*.conf"))
# keepalived's -i: the files with @conditional lines are read as the node the file was rendered for.
CONFIG_IDS = {"32-keepalived-operator": "keepalived-group-abcde", "38-stretch-nfsv4-keepalived": "nfs1"}

# Why a finding may say "not carried over".
OUT_OF_SCOPE = "not VRRP: LVS virtual servers, e-mail"
KEEPALIVED_REFUSES = "keepalived itself refuses this (its dump shows it)"
AH = "IPsec AH authentication (auth_type AH) is not supported"
V3 = "VRRPv3 / IPv6 (issue 16)"
H14A = "issue 14 items 1-4 and 10, in progress: checks with arguments, script users, weights, notify_*, GARP"
H14B = "issue 14 items 5-9, in progress: no-VIP instances, VIP dev/label, tracking, sync groups, vmac, routes"
OTHER = "not supported yet"

EXPECTED_LOST: dict[str, dict[str, str]] = {
    "02-osixia-docker-keepalived": {
        "2:default_interface": H14A,
    },
    "03-keepalived-hcloud": {
        "5:script_user": H14A,
        "55:track_script chk_proxy": H14A,
        "56:track_script chk_ingress-node-1-1_203.0.113.10": H14A,
        "60:notify_master": H14A,
    },
    "04-hetzner-robot-failover": {
        "13:notify": H14A,
    },
    "05-kolla-ansible-loadbalancer": {
        "22:198.51.100.250 dev eth1": H14B,
    },
    "06-octavia-amphora": {
        "16:garp_master_refresh_repeat": H14A,
    },
    "07-neutron-l3-ha": {
        "13:auth_type": AH,
        "23:198.51.100.0/24 dev eth1": H14B,
        "24:203.0.113.0/24 dev eth2": H14B,
        "25:198.18.0.0/24 dev eth2": H14B,
        "26:198.18.1.0/24 dev eth10": H14B,
        "38:mcast_src_ip": H14B,
        "46:203.0.113.0/24 dev eth2": H14B,
        "47:198.18.0.0/24 dev eth6": H14B,
        "48:198.18.1.0/24 dev eth10": H14B,
    },
    "09-cephadm-ingress": {
        "3:enable_script_security": H14A,
        "4:script_user": H14A,
        "8:vrrp_script check_backend": H14A,
    },
    "10-vyos-sync-group": {
        "7:dynamic_interfaces": H14A,
        "8:script_user": H14A,
        "9:vrrp_garp_interval": H14A,
        "12:notify_fifo_script": H14A,
        "16:vrrp_script healthcheck_LAN": H14A,
        "47:garp_master_refresh_repeat": H14A,
    },
    "11-vyos-rfc3768-unicast": {
        "7:dynamic_interfaces": H14A,
        "8:script_user": H14A,
        "11:notify_fifo_script": H14A,
        "38:203.0.113.10/24 dev eth3": H14B,
        "51:virtual_server": OUT_OF_SCOPE,
    },
    "13-ansible-keepalived-sync-group": {},
    "14-kube-keepalived-vip": {
        "4:vrrp_version": V3,
        "5:vrrp_iptables": H14A,
        "7:script_user": H14A,
        "8:enable_script_security": H14A,
    },
    "15-postgresql-cluster-haproxy": {
        "3:enable_script_security": H14A,
        "4:script_user": H14A,
        "10:vrrp_script chk_command_100": H14A,
    },
    "16-oefenweb-haproxy": {
        "17:vrrp_script chk_haproxy": H14A,
        "35:192.0.2.10/24 label eth1:1": H14B,
    },
    "18-saltstack-formula-pillar": {
        "43:virtual_server": OUT_OF_SCOPE,
        "87:virtual_server": OUT_OF_SCOPE,
    },
    "19-neoassist-rancher-haproxy": {
        "9:script_user": H14A,
        "10:enable_script_security": H14A,
        "14:vrrp_script chk_haproxy": H14A,
    },
    "20-alterway-docker-keepalived": {
        "6:vrrp_script chk_health": H14A,
        "16:192.0.2.254 label eth0:vip": H14B,
    },
    "21-visibilityspots-keepalived": {
        "2:default_interface": H14A,
        "14:192.0.2.11 - 192.0.2.12": H14A,
    },
    "22-cplieger-smoke-test": {
        "15:enable_script_security": H14A,
        "16:script_user": H14A,
        "22:vrrp_script chk_test": H14A,
    },
    "23-recruitee-ovh-failover": {
        "2:vrrp_script chk_haproxy": H14A,
        "16:198.51.100.2 198.51.100.3": H14A,
        "28:notify_master": H14A,
    },
    "24-ednz-keepalived-container": {
        "2:script_user": H14A,
        "3:enable_script_security": H14A,
    },
    "25-cookeem-kubeadm-ha": {
        "15:mcast_src_ip": H14B,
    },
    "26-devopsgroupeu-haproxy": {
        "3:enable_script_security": H14A,
        "4:script_user": H14A,
        "8:vrrp_script haproxy_check": H14A,
    },
    "27-cloudstack-redundant-router": {
        "39:auth_type": AH,
        "44:192.0.2.1/24 brd 192.0.2.255": H14A,
        "51:notify_backup": H14A,
        "52:notify_primary": H14A,
        "53:notify_fault": H14A,
    },
    "28-ceph-ansible-rgw-loadbalancer": {
        "9:vrrp_script check_haproxy": H14A,
    },
    "29-openshift-on-prem-api-ingress": {
        "2:enable_script_security": H14A,
        "3:script_user": H14A,
        "4:max_auto_priority": H14A,
        "20:vrrp_script chk_ocp_lb": H14A,
        "30:vrrp_script chk_ocp_both": H14A,
        "40:vrrp_script chk_ingress": H14A,
        "48:vrrp_script chk_default_ingress": H14A,
    },
    "30-tripleo-image-elements": {
        "2:vrrp_script chk_haproxy": H14A,
        "20:2001:db8::5cc1:afff:fe58:143b/64": V3,  # IPv6 in an IPv4 instance: keepalived skips it
    },
    "31-openstack-ansible-haproxy": {
        "4:enable_script_security": H14A,
        "5:script_user": H14A,
        "45:track_script pingable_check_script": H14A,
        "64:track_script pingable_check_script": H14A,
    },
    "32-keepalived-operator": {
        "6:vrrp_script default/web": H14A,
        "16:vrrp_instance default/web": H14A,
        "34:vrrp_instance demo/dns/192.0.2.201": H14A,
        "49:vrrp_instance demo/dns/192.0.2.202": H14A,
    },
    "34-cloudfoundry-haproxy-boshrelease": {
        "3:lvs_id": H14A,
        "9:vrrp_script check_haproxy": H14A,
    },
    "36-understanding-keepalived-3-node-master": {
        "8:vrrp_script check_nginx": H14A,
    },
    "38-stretch-nfsv4-keepalived": {
        "2:script_user": H14A,
        "6:vrrp_script ping_client": H14A,
        "12:vrrp_script check_nfs": H14A,
    },
    "39-ip-failover-ovh-sync-group": {
        "4:enable_script_security": H14A,
        "5:script_user": H14A,
        "10:vrrp_script chk_haproxy": H14A,
        "25:mcast_src_ip": KEEPALIVED_REFUSES,
        "39:notify_master": H14A,
        "46:mcast_src_ip": H14B,
        "60:notify_master": H14A,
        "67:mcast_src_ip": H14B,
        "81:notify_master": H14A,
    },
    "40-docker-swarm-keepalived-node3": {
        "2:default_interface": H14A,
    },
}


def config_id(path: Path) -> str:
    return CONFIG_IDS.get(path.stem, "corpus")


def conversion(path: Path) -> Conversion:
    return convert(path, config_id(path))


def lost_keys(conv: Conversion) -> list[str]:
    return [f"{f.where.line if f.where else 0}:{f.keyword}" for f in conv.lost]


def test_the_corpus_has_forty_files_each_with_its_source() -> None:
    sources = (CORPUS / "SOURCES.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([^`]+\.conf)` \|", sources, re.MULTILINE))
    assert len(FILES) >= 40
    assert listed == {path.name for path in FILES}


TEST_NETS = [
    ipaddress.ip_network(net)
    for net in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/15", "2001:db8::/32")
]


ADDRESS = re.compile(r"(?<![\w.:])[0-9a-fA-F:.]+(?:/\d+)?(?![\w.:])")


def test_every_corpus_address_is_test_net() -> None:
    """The sandboxed keepalived never gets an address up, but the rule is TEST-NET only, everywhere."""
    for path in FILES:
        for word in re.findall(
            r"(?<![\w.:])[0-9a-fA-F:.]+(?:/\d+)?(?![\w.:])", path.read_text(encoding="utf-8")
        ):
            if "." in word and word.split("/")[0].count(".") != 3:
                continue  # a number such as "1.9", not an address
            try:
                ip = ipaddress.ip_interface(word).ip
            except ValueError:
                continue
            if ip.is_multicast or ip.is_unspecified or ip.is_loopback or ip.is_reserved:
                continue  # 224.0.0.18, 0.0.0.0/0, 127.0.0.1, a netmask 255.255.255.0
            assert any(ip in net for net in TEST_NETS if net.version == ip.version), (path.name, word)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_the_import_loses_only_what_is_known(path: Path) -> None:
    conv = conversion(path)  # never raises: a refused value is a finding
    expected = EXPECTED_LOST.get(path.stem, {})
    unexpected = [key for key in lost_keys(conv) if key not in expected]
    assert not unexpected, [str(f) for f in conv.lost]
    if not expected:
        assert conv.complete, [str(f) for f in conv.findings]


# ---------------------------------------------------------------------------------------------------
# keepalived's own reading of each file


def _needs_sandbox() -> None:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    if not Path(KEEPALIVED).exists() or shutil.which("unshare") is None:
        pytest.skip("needs keepalived and unshare")


def _base_interface(shown: str) -> str:
    """keepalived shows a vmac instance's interface as "eth2v30v4, vmac on eth2, ...": the base is eth2."""
    return shown.split("vmac on ", 1)[1].split(",", 1)[0] if "vmac on " in shown else shown


def _seconds(shown: str) -> float:
    """ "1 sec" (VRRPv2) or "1000 milli-sec" (VRRPv3) in seconds."""
    number, unit = shown.split()
    return int(number) / 1000 if unit.startswith("milli") else int(number)


def _vip(text: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    return ipaddress.ip_interface(text.split(maxsplit=1)[0])


@pytest.mark.netns
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_keepalived_reads_each_file_as_the_import_does(path: Path) -> None:
    _needs_sandbox()
    prefix = os.environ.get("VRRPD_LAB_PREFIX", "vrrpd")
    dump = dump_config(path, config_id=config_id(path), prefix=prefix)
    kept = instances_of(dump)
    conv = conversion(path)
    converted: list[dict[str, Any]] = tomllib.loads(conv.toml).get("vrrp_instance", []) if conv.toml else []
    if "permanent error CONFIG" in dump:
        assert path.stem in EXPECTED_LOST and KEEPALIVED_REFUSES in EXPECTED_LOST[path.stem].values()
        return
    by_router = {
        (_base_interface(k.values["Interface"]), k.values["Virtual Router ID"]): k for k in kept.values()
    }
    for inst in converted:
        # Matched by (interface, VRID): a name vrrpd cannot take is renamed, with a finding.
        router = by_router.get((inst["interface"], str(inst["virtual_router_id"])))
        assert router is not None, (inst["name"], sorted(kept))
        name, ka = router.name, router.values
        assert inst["name"] == name or any(name in f.keyword for f in conv.lost), name
        assert ka["Virtual Router ID"] == str(inst["virtual_router_id"]), name
        assert ka["Priority"] == str(inst["priority"]), name
        assert _seconds(ka["Advert interval"]) == inst["advert_int"], name
        assert ka["Preempt"] == ("enabled" if inst["preempt"] else "disabled"), name
        assert ka.get("Preempt delay", "0 secs") == f"{inst.get('preempt_delay', 0):g} secs", name
        assert ka.get("Password") == inst.get("auth_pass"), name
        # An address the import could not carry over is a finding (held by EXPECTED_LOST); the others
        # must be keepalived's, in keepalived's order.
        vips = [_vip(v) for v in router.vips + router.excluded]
        ours = [
            ipaddress.ip_interface(v)
            for v in inst.get("virtual_ipaddress", []) + inst.get("virtual_ipaddress_excluded", [])
        ]
        assert ours == [v for v in vips if v in ours], name
        peers = [p.split()[0] for p in router.peers]
        assert inst.get("unicast_peer", []) == [p for p in peers if p in inst.get("unicast_peer", [])], name
