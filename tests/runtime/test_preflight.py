"""The start-up privilege check: refused in one line naming what is missing, or let through."""

from __future__ import annotations

import pytest

from vrrpd.runtime.preflight import CAP_NET_ADMIN, CAP_NET_RAW, effective_capabilities, refusal

BOTH = (1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW)
DOCKER = 0xA80425FB  # Docker's default set: CAP_NET_RAW, no CAP_NET_ADMIN


def status(cap_eff: int) -> str:
    return f"Name:\tvrrpd\nCapInh:\t0000000000000000\nCapEff:\t{cap_eff:016x}\nCapBnd:\t000001ffffffffff\n"


def test_capeff_is_read_from_the_status_text() -> None:
    assert effective_capabilities(status(0x3000)) == 0x3000
    assert effective_capabilities("Name:\tx\n") is None
    assert effective_capabilities("CapEff:\tzz\n") is None


@pytest.mark.parametrize("euid", [0, 65534])
def test_both_capabilities_are_enough_root_or_not(euid: int) -> None:
    assert refusal(status(BOTH), euid=euid) is None
    assert refusal(status(0x1FFFFFFFFFF), euid=euid) is None


def test_root_in_a_default_docker_container_is_refused_naming_cap_net_admin() -> None:
    assert DOCKER >> CAP_NET_RAW & 1 and not DOCKER >> CAP_NET_ADMIN & 1
    line = refusal(status(DOCKER), euid=0)
    assert line is not None and "\n" not in line
    assert line.startswith("missing capability CAP_NET_ADMIN (needed: CAP_NET_ADMIN to add and remove")
    assert "CAP_NET_RAW" not in line and "--cap-add NET_ADMIN" in line and "0xa80425fb" in line


def test_root_without_either_names_both() -> None:
    line = refusal(status(0), euid=0)
    assert line is not None and line.startswith("missing capabilities CAP_NET_ADMIN and CAP_NET_RAW")
    assert "--cap-add NET_ADMIN --cap-add NET_RAW" in line


def test_a_non_root_user_is_named_with_what_it_lacks() -> None:
    line = refusal(status(1 << CAP_NET_RAW), euid=65534)
    assert line is not None and "\n" not in line
    assert line.startswith("running as user ") and "(uid 65534), not root, without CAP_NET_ADMIN (" in line
    line = refusal(status(0), euid=4242424)  # no passwd entry
    assert line is not None and line.startswith("running as user uid 4242424, not root")
    assert "without CAP_NET_ADMIN and CAP_NET_RAW" in line


def test_without_proc_nothing_is_refused() -> None:
    assert refusal("", euid=1000) is None
