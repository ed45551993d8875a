"""`vrrpd.runtime.prestart` (issue 17): the §6.4.1 Startup carried out before the daemon's imports.

What it may import is the point of it: the owner's first advert (or BACKUP) must not wait for asyncio,
structlog or the runtime's steady-state modules, checked in a fresh interpreter. The start itself, the
handover to the daemon and the log line's time are exercised by the lab tests that start daemons
(tests/runtime/test_prestart_netns.py).
"""

from __future__ import annotations

import json
import subprocess
import sys

from vrrpd.config import Config, from_dict
from vrrpd.runtime.prestart import eligible

# Only what the Startup event needs may come before the first advert; these are the steady state's.
STEADY_STATE = (
    "asyncio",
    "structlog",
    "vrrpd.logs",
    "vrrpd.kernel.netlink",
    "vrrpd.runtime.instance",
    "vrrpd.runtime.interface",
    "vrrpd.runtime.daemon",
    "vrrpd.runtime.healthcheck",
    "vrrpd.runtime.notify",
    "vrrpd.ops.status",
    "vrrpd.ops.control",
    "pyroute2",
    "ssl",
)


def test_prestart_imports_nothing_of_the_steady_state() -> None:
    probe = "import json, sys; import vrrpd.runtime.prestart; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(json.loads(out.stdout.splitlines()[-1]))
    assert [m for m in STEADY_STATE if m in loaded] == []


def _config(**instance: object) -> Config:
    base = {"name": "VI_1", "interface": "eth0", "virtual_router_id": 51, "priority": 100}
    return from_dict(
        Config, {"vrrp_instance": [{**base, "virtual_ipaddress": ["192.0.2.10/32"], **instance}]}
    )


def test_only_plain_instances_are_prestarted() -> None:
    plain = _config()
    assert eligible(plain, plain.vrrp_instance[0])
    for extra in (
        {"check": {"tcp_port": 80}},
        {"unicast_peer": ["192.0.2.2"]},
        {"track_interface": [{"name": "eth1"}]},
        {"use_vmac": True},
    ):
        config = _config(**extra)
        assert not eligible(config, config.vrrp_instance[0]), extra
