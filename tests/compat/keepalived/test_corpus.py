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

from tests.support.keepalived_dump import (
    KEEPALIVED,
    SANDBOX_PATH,
    command_words,
    dump_config,
    instances_of,
    scripts_of,
)
from vrrpd.compat.keepalived.importer import Conversion, convert
from vrrpd.testing.lab import unavailable_reason

CORPUS = Path(__file__).parents[2] / "data" / "keepalived" / "corpus"
FILES = sorted(CORPUS.glob("*.conf"))
# keepalived's -i: the files with @conditional lines are read as the node the file was rendered for.
CONFIG_IDS = {"32-keepalived-operator": "keepalived-group-abcde", "38-stretch-nfsv4-keepalived": "nfs1"}

# Why a finding may say "not carried over".
OUT_OF_SCOPE = "not VRRP: LVS virtual servers, e-mail"
KEEPALIVED_REFUSES = "keepalived itself refuses this (its dump shows it)"
V3 = "VRRPv3 / IPv6 (issue 16)"
BAD_SOURCE = "a multicast address as the adverts' source (RFC 1122 §3.2.1.3 forbids one): vrrpd refuses it"
# neutron's unit-test data (07) gives two virtual routers the same excluded addresses: whichever leaves MASTER
# first would delete the address the other still serves; vrrpd refuses one VIP in two instances.
SHARED_VIP = "one address as a VIP of two virtual routers: vrrpd refuses it (one would remove the other's)"

EXPECTED_LOST: dict[str, dict[str, str]] = {
    "07-neutron-l3-ha": {
        "38:mcast_src_ip": BAD_SOURCE,
        "46:virtual_ipaddress_excluded": SHARED_VIP,
        "47:virtual_ipaddress_excluded": SHARED_VIP,
        "48:virtual_ipaddress_excluded": SHARED_VIP,
    },
    "11-vyos-rfc3768-unicast": {
        "51:virtual_server": OUT_OF_SCOPE,
    },
    "18-saltstack-formula-pillar": {
        "43:virtual_server": OUT_OF_SCOPE,
        "87:virtual_server": OUT_OF_SCOPE,
    },
    "39-ip-failover-ovh-sync-group": {
        "25:mcast_src_ip": KEEPALIVED_REFUSES,
        "46:mcast_src_ip": KEEPALIVED_REFUSES,
        "67:mcast_src_ip": KEEPALIVED_REFUSES,
    },
}


def config_id(path: Path) -> str:
    return CONFIG_IDS.get(path.stem, "corpus")


def conversion(path: Path) -> Conversion:
    return convert(path, config_id(path))


def lost_keys(conv: Conversion) -> list[str]:
    # A refused value is shown after the key ("virtual_ipaddress_excluded = ..."): the key is what counts.
    return [f"{f.where.line if f.where else 0}:{f.keyword.split(' = ')[0]}" for f in conv.lost]


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


NOTIFY_LINES = {
    "notify": "Generic",
    "notify_master": "Master",
    "notify_backup": "Backup",
    "notify_fault": "Fault",
    "notify_stop": "Stop",
}


def _resolved(argv: list[str] | None) -> list[str] | None:
    """A converted command as keepalived shows it: the program found in the PATH (in the sandbox, a
    missing one is a stand-in in /usr/local/bin) and its symbolic links resolved."""
    if argv is None:
        return None
    program = argv[0]
    if "/" not in program:
        program = shutil.which(program, path=SANDBOX_PATH) or f"/usr/local/bin/{program}"
    real = os.path.realpath(program)  # /bin/x is /usr/bin/x on a merged-/usr host, as keepalived sees it
    # keepalived keeps the name it was given when a link's target has another name.
    if os.path.basename(real) != os.path.basename(program):
        real = os.path.join(os.path.dirname(real), os.path.basename(program))
    program = real
    return [program, *argv[1:]]


def _tracked(inst: dict[str, Any], scripts: dict[str, dict[str, Any]], conv: Conversion) -> list[str]:
    """An instance's tracked scripts as keepalived's dump lists them: "name weight N[ reverse]"."""
    lines = []
    for entry in inst.get("track_script", []):
        track = {"name": entry} if isinstance(entry, str) else entry
        script = scripts[track["name"]]
        weight = track.get("weight", script.get("weight", 0))
        reverse = track.get("reverse", script.get("weight_reverse", False))
        lines.append(f"{track['name']} weight {weight}{' reverse' if reverse else ''}")
    if "check" in inst:  # a "</dev/tcp/..." vrrp_script converted to the native TCP check
        (tcp,) = [f for f in conv.findings if "TCP connect test" in f.message][:1]
        lines.insert(0, f"{tcp.keyword.split()[-1]} weight {-inst['check']['weight']}")
    return lines


def _base_interface(shown: str) -> str:
    """keepalived shows a vmac instance's interface as "eth2v30v4, vmac on eth2, ...": the base is eth2."""
    return shown.split("vmac on ", 1)[1].split(",", 1)[0] if "vmac on " in shown else shown


def _seconds(shown: str) -> float:
    """ "1 sec" (VRRPv2) or "1000 milli-sec" (VRRPv3) in seconds."""
    number, unit = shown.split()
    return int(number) / 1000 if unit.startswith("milli") else int(number)


def _vip(text: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    return ipaddress.ip_interface(text.split(maxsplit=1)[0])


VipOptions = tuple[str | None, str | None, str, str | None, bool]  # brd, dev, scope, label, no_track


def _dumped_options(text: str, interface: str) -> VipOptions:
    """A VIP line of keepalived's dump (format_ipaddress: "ADDR [brd B] dev D[@BASE] [use_vmac] scope S
    [label L] ... [no_track] ...") as (brd, dev, scope, label, no_track); dev None when it is the
    instance's interface or its virtual MAC interface ("vrrp.30@eth2")."""
    words = text.split()[1:]
    value = {k: words[i + 1] for i, k in enumerate(words[:-1]) if k in ("brd", "dev", "scope", "label")}
    dev: str | None = value["dev"]
    if dev is not None and ("@" in dev or dev == interface):
        dev = None
    return value.get("brd"), dev, value["scope"], value.get("label"), "no_track" in words


def _our_options(entry: str | dict[str, Any], interface: str) -> VipOptions:
    """A converted VIP entry's options, as `_dumped_options` gives keepalived's."""
    table: dict[str, Any] = {"address": entry} if isinstance(entry, str) else entry
    dev = table.get("dev")
    return (
        table.get("brd"),
        None if dev == interface else dev,
        str(table.get("scope", "global")),
        table.get("label"),
        bool(table.get("no_track", False)),
    )


def _address(entry: str | dict[str, Any]) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    return ipaddress.ip_interface(entry if isinstance(entry, str) else entry["address"])


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
    data = tomllib.loads(conv.toml) if conv.toml else {}
    by_name = {s["name"]: s for s in data.get("vrrp_script", [])}
    dumped = scripts_of(dump)
    for script in by_name.values():  # each converted [[vrrp_script]] is keepalived's vrrp_script
        ka_script = dumped[script["name"]].values
        assert command_words(ka_script["Command"]) == _resolved(script["script"]), script["name"]
        assert ka_script["Interval"] == f"{script['interval']} sec", script["name"]
        assert ka_script["Timeout"] == f"{script.get('timeout', 0)} sec", script["name"]
        assert (ka_script["Rise"], ka_script["Fall"]) == (str(script["rise"]), str(script["fall"])), script[
            "name"
        ]
        reverse = " reverse" if script.get("weight_reverse") else ""
        assert ka_script["Weight"] == f"{script.get('weight', 0)}{reverse}", script["name"]
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
        auth = inst.get("auth_type", "PASS") if "auth_pass" in inst else None
        kinds = {None: "none", "PASS": "SIMPLE_PASSWORD", "AH": "IPSEC_AH"}  # VRRPv3 shows none at all
        assert ka.get("Authentication type", "none") == kinds[auth], name
        if auth != "AH":  # keepalived's dump shows no AH key
            assert ka.get("Password") == inst.get("auth_pass"), name
        # An address the import could not carry over is a finding (held by EXPECTED_LOST); the others
        # must be keepalived's, in keepalived's order.
        vips = [_vip(v) for v in router.vips + router.excluded]
        entries = inst.get("virtual_ipaddress", []) + inst.get("virtual_ipaddress_excluded", [])
        ours = [_address(v) for v in entries]
        assert ours == [v for v in vips if v in ours], name
        # And each one's options (dev, label, scope, brd, no_track) are keepalived's.
        options = {_vip(v): _dumped_options(v, inst["interface"]) for v in router.vips + router.excluded}
        for entry in entries:
            assert _our_options(entry, inst["interface"]) == options[_address(entry)], (name, entry)
        assert _tracked(inst, by_name, conv) == router.scripts, name
        for key, label in NOTIFY_LINES.items():
            shown = ka.get(f"{label} state transition script")
            assert (command_words(shown) if shown else None) == _resolved(inst.get(key)), (name, key)
        peers = [p.split()[0] for p in router.peers]
        assert inst.get("unicast_peer", []) == [p for p in peers if p in inst.get("unicast_peer", [])], name
