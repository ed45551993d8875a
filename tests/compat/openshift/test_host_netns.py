"""`LiveHost` against the image's own ``get_network_device`` on a real network namespace.

The parity test models the host; this one checks the model's premise on a kernel: with
``OPENSHIFT_HA_NETWORK_INTERFACE`` unset, vrrpd's live interface choice (interfaces from the kernel,
the route to 8.8.8.8 through netlink) is the device the image's bash (``ip addr show``, ``ip route
get``) picks, and the primary address is the one its ``ifconfig`` reads. Without a copy of the
image's ``lib/`` (see `tests.compat.openshift.image`) or without ``ifconfig``, vrrpd's choice is
checked against the expected device alone.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.compat.openshift import image
from vrrpd.testing.lab import Lab
from vrrpd.testing.plugin import LabFactory

pytestmark = pytest.mark.netns

OURS = """
from vrrpd.compat.openshift.host import LiveHost, image_interface
host = LiveHost()
choice = image_interface(host, None)
print(choice.name, host.primary_address(choice.name) if choice.name else None)
"""


def ours(lab: Lab, node: str) -> str:
    return lab.run(node, [sys.executable, "-c", OURS]).stdout.strip()


def theirs(lab: Lab, node: str, lib: Path | None, expected: str) -> str:
    """The image's own answer, or (without its script or ifconfig here) the expected one."""
    if lib is None or shutil.which("ifconfig") is None:
        return expected
    script = (
        f'source {lib}/utils.sh; dev=$(get_network_device ""); echo "$dev $(get_device_ip_address "$dev")"'
    )
    out = lab.run(node, ["bash", "--norc", "-c", script]).stdout.strip()
    return out if len(out.split()) == 2 else f"{out} None"


def test_live_host_picks_the_interface_and_address_the_image_picks(
    vrrp_lab: LabFactory, tmp_path: Path
) -> None:
    found = image.find_lib(tmp_path)
    lib = found.lib if found is not None else None
    lab = vrrp_lab(nodes=1)
    node = lab.nodes[0]
    # Only the lab's eth0: none of the image's list exists, so the default route decides.
    lab.run(node, ["ip", "route", "replace", "default", "dev", "eth0"])
    expected = f"eth0 {lab.ip(node)}"
    assert ours(lab, node) == theirs(lab, node, lib, expected) == expected
    # An eth1 appears (a node with two NICs): the image's list puts it before the default route.
    lab.run(node, ["ip", "link", "add", "eth1", "type", "veth", "peer", "name", "h15peer"])
    lab.run(node, ["ip", "addr", "add", "198.51.100.7/24", "dev", "eth1"])
    expected = "eth1 198.51.100.7"
    assert ours(lab, node) == theirs(lab, node, lib, expected) == expected
    # enp0s8 comes before eth1 in the image's list (and has no address: the check has nothing to probe).
    lab.run(node, ["ip", "link", "add", "enp0s8", "type", "veth", "peer", "name", "h15peer2"])
    expected = "enp0s8 None"
    assert ours(lab, node) == theirs(lab, node, lib, expected) == expected
