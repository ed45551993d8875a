"""`vrrpd run` carries out the Startup event before the daemon's imports (`vrrpd.runtime.prestart`, issue 17),
and the daemon adopts what it started: checked on the wire and in the log, with real daemons in namespaces."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.daemons import VIP, adverts, config_text, log_events, start_vrrpd, wait_for
from vrrpd.testing.lab import Lab
from vrrpd.testing.plugin import LabFactory

pytestmark = pytest.mark.netns


@pytest.fixture
def lab(vrrp_lab: LabFactory) -> Lab:
    return vrrp_lab(nodes=1, prefix="vp")


def _stamp(event: dict[str, object]) -> float:
    return datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00")).timestamp()


def test_owner_starts_before_the_daemon_and_is_adopted(lab: Lab) -> None:
    cap = lab.capture()
    proc = start_vrrpd(lab, "n1", config_text(lab, "n1", priority=255))
    assert wait_for(lambda: lab.holders(VIP) == ["n1"], 5)
    time.sleep(1.5)  # the adopted Adver_Timer's next advert
    proc.terminate()
    assert proc.wait() == 0
    events = cap.stop()
    sent = adverts(events, lab.ip("n1"))
    # One advert at the start (not a second one from the daemon), the next one an interval later from the
    # adopted router, and the shutdown's priority 0 (§6.4.3): the daemon took the router over.
    assert [a.priority for a in sent][:2] == [255, 255]
    assert 0.95 <= sent[1].time - sent[0].time <= 1.1
    assert sent[-1].priority == 0
    assert lab.holders(VIP) == []
    log = log_events(proc)
    change = next(e for e in log if e.get("event") == "state_change")
    started = next(e for e in log if e.get("event") == "started")
    assert (change["old"], change["new"], change["reason"]) == ("INIT", "MASTER", "address_owner")
    # The log line carries the transition's time: before the daemon's "started", by the first advert.
    assert _stamp(change) < _stamp(started)
    assert abs(_stamp(change) - sent[0].time) < 0.005


def test_startup_error_after_prestart_undoes_it(lab: Lab) -> None:
    # A second daemon whose control socket is taken fails after its owner instance was started: it must
    # give the VIP up again (priority-0 advert, VIP removed), as a daemon that stops does.
    first = start_vrrpd(lab, "n1", config_text(lab, "n1", priority=100))
    assert wait_for(lambda: any(e.get("event") == "started" for e in log_events(first)), 10)
    cap = lab.capture()
    other = config_text(lab, "n1", priority=255, virtual_router_id=52, virtual_ipaddress=["192.0.2.101/24"])
    second = start_vrrpd(lab, "n1", other, tag="-second")
    assert second.wait(10) == 1
    events = cap.stop()
    assert [a.priority for a in adverts(events, lab.ip("n1"), vrid=52)] == [255, 0]
    assert "192.0.2.101" not in " ".join(lab.addresses("n1"))
    err = Path(lab.log_dir, "n1-second-vrrpd.log").read_text().strip().splitlines()
    assert err[-1].startswith("vrrpd: ") and "control" in err[-1], err
    first.terminate()
    assert first.wait() == 0
