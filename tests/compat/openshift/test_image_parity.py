"""``--openshift`` against the ipfailover image's own generator, case by case (issue 15).

The golden files in ``golden/`` are what openshift/images' ``generate_failover_config`` wrote for each
environment of `tests.compat.openshift.cases` on its modelled host (``index.json`` records the commit).
For each case vrrpd must run the same instances — name, VRID, VIPs, interface, PASS password,
preemption, check, notify program, unicast peers and source — as keepalived reads from that file, or
refuse in one line that names the variable and the difference. `vrrpd import-keepalived` must convert
the same files to the same instances. A last test regenerates every file with the image's script when
a copy is at hand (``VRRPD_IPFAILOVER_LIB`` or the fetched mirror) and compares.
"""

from __future__ import annotations

import json
from dataclasses import replace
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from tests.compat.openshift import image
from tests.compat.openshift.cases import CASES, SAME, Case
from tests.compat.openshift.image import Check, FakeHost, Instance
from vrrpd.cli.main import main
from vrrpd.compat.keepalived.conf import parse_text
from vrrpd.compat.keepalived.importer import convert_parsed
from vrrpd.compat.openshift.plan import load
from vrrpd.config import Config, ConfigError, parse_config

INDEX = json.loads(image.INDEX.read_text())


def golden(case: Case) -> str:
    return (image.GOLDEN / f"{case.name}.conf").read_text()


def instances_of(config: Config, host: FakeHost) -> tuple[Instance, ...]:
    """vrrpd's configuration in the comparison's terms (what the daemon will do, not what it is told)."""
    out = []
    for inst in config.vrrp_instance:
        primary = host.primary_address(inst.interface)
        check = Check("none")
        for track in inst.track_script:
            # The image's one vrrp_script, with keepalived's defaults: a failure is FAULT.
            script = config.scripts[track.name]
            assert (track.weight, track.reverse) == (None, None)
            assert (script.run_timeout, script.rise, script.fall, script.weight) == (script.interval, 1, 1, 0)
            check = Check("script", " ".join(script.script), script.interval)
        if inst.check is not None:
            if inst.check.tcp_port is not None:
                # The daemon connects to check.host, else to the advert source (unicast_src_ip or primary).
                target = inst.check.host or inst.src_ip or primary
                check = Check("tcp", f"{target}:{inst.check.tcp_port}", inst.check.interval)
                assert inst.check.timeout == inst.check.interval  # keepalived: timeout defaults to interval
            else:
                check = Check("script", str(inst.check.script), inst.check.interval)
            assert (inst.check.rise, inst.check.fall, inst.check.weight) == (1, 1, 0)  # failure: FAULT
        if inst.track_script:  # import-keepalived writes the image's vrrp_script as a [[vrrp_script]]
            (track,) = inst.track_script
            script = config.scripts[track.name]
            assert (script.rise, script.fall, track.weight or script.weight) == (1, 1, 0)  # failure: FAULT
            check = Check("script", " ".join(script.script), script.interval)
        source = inst.src_ip if inst.src_ip != primary else None
        out.append(
            Instance(
                name=inst.name,
                interface=inst.interface,
                vrid=inst.virtual_router_id,
                vips=tuple(str(vip.ip) for vip in inst.vips),
                auth_pass=inst.auth_pass,
                preempt=inst.preempt,
                preempt_delay=inst.preempt_delay,
                check=check,
                notify=" ".join(inst.notify) if inst.notify else None,
                # A node's own address in its peer list is no peer (the image lists every node).
                unicast_peers=tuple(
                    sorted({str(p) for p in inst.unicast_peer if p != primary}, key=IPv4Address)
                ),
                source=str(source) if source else None,
            )
        )
    return tuple(out)


def test_every_case_has_its_golden_file_and_source() -> None:
    assert len(CASES) >= 40
    names = [case.name for case in CASES]
    assert len(set(names)) == len(names)
    assert sorted(INDEX["cases"]) == sorted(names)
    assert sorted(p.stem for p in image.GOLDEN.glob("*.conf")) == sorted(names)
    source = INDEX["source"]
    assert source["repository"] == "openshift/images" and len(source["commit"]) == 40
    for case in CASES:  # the golden file was generated from this very case
        recorded = INDEX["cases"][case.name]
        assert recorded["env"] == case.env and recorded["host"] == case.host.describe(), case.name


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_openshift_runs_what_the_image_ran_or_refuses_in_one_line(case: Case) -> None:
    reading = image.read_conf(golden(case), case.host)
    try:
        plan = load(case.env, case.host)
    except ConfigError as exc:
        message = f"vrrpd: {exc}"
        assert case.expect is not SAME, f"refused what the image ran the same way: {message}"
        assert "\n" not in message
        for word in case.expect.words:
            assert word in message, message
        return
    assert case.expect is SAME, f"accepted, but must refuse: {case.expect}"
    assert reading.refused is None and reading.instances, "the image ran nothing: vrrpd must refuse"
    assert instances_of(plan.config, case.host) == reading.instances
    for word in case.notes:
        assert any(word in note for note in plan.notes), (word, plan.notes)
    if any(i.state_master and i.preempt_delay for i in reading.instances):
        # The one kept difference: keepalived cleared preempt_delay on `state MASTER` instances.
        assert any("state MASTER" in note for note in plan.notes), plan.notes


@pytest.mark.parametrize("case", [c for c in CASES if c.expect is SAME], ids=lambda c: c.name)
def test_import_keepalived_converts_the_images_output_to_the_same_instances(case: Case) -> None:
    conversion = convert_parsed(parse_text(golden(case), f"{case.name}.conf"), f"{case.name}.conf")
    assert sorted({f.keyword for f in conversion.lost}) == sorted(case.importer_lost), conversion.lost
    imported = instances_of(_config(conversion.toml), case.host)
    plan = load(case.env, case.host)
    expected = instances_of(plan.config, case.host)
    masters = {i.name for i in image.read_conf(golden(case), case.host).instances if i.state_master}
    # keepalived clears preempt_delay on `state MASTER`, and the importer says so; --openshift keeps it.
    expected = tuple(replace(i, preempt_delay=0.0) if i.name in masters else i for i in expected)
    # What the importer reported as not carried over is absent from its output (and it exits 1).
    if any(keyword.startswith("vrrp_script") for keyword in case.importer_lost):
        expected = tuple(replace(i, check=Check("none")) for i in expected)
    if "notify" in case.importer_lost:
        expected = tuple(replace(i, notify=None) for i in expected)
    assert expected == imported


def test_import_keepalived_exits_0_on_the_images_default_output(tmp_path: Path) -> None:
    out = tmp_path / "vrrpd.toml"
    assert main(["import-keepalived", str(image.GOLDEN / "defaults.conf"), "-o", str(out)]) == 0
    assert _config(out.read_text()).vrrp_instance[0].name == "OpenShift_IPFailover_VIP_1"


def _config(toml: str) -> Config:

    return parse_config(toml, "<imported>", {})


def test_the_live_script_still_writes_the_golden_files(tmp_path: Path) -> None:
    lib = image.find_lib(tmp_path)
    if lib is None:
        pytest.skip(f"no copy of the image's lib/ ({image.LIB_VARIABLE} unset, no fetched mirror)")
    changed = [
        case.name for case in CASES if image.generate(lib.lib, case.env, case.host).conf != golden(case)
    ]
    assert not changed, (
        f"openshift/images {lib.commit[:12]} (golden: {INDEX['source']['commit'][:12]}) writes other files "
        f"for {changed}: review, then `python -m tests.compat.openshift.image`"
    )
