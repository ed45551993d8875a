"""The daemon asks the kernel for no timer slack (a backup's last sleep before a takeover must not wake
late), through /proc/self/timerslack_ns, and carries on where procfs refuses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from vrrpd.runtime.daemon import TIMER_SLACK_NS, set_timer_slack


def test_timer_slack_is_written_where_asked(tmp_path: Path) -> None:
    target = tmp_path / "timerslack_ns"
    assert set_timer_slack(path=str(target))
    assert target.read_text() == str(TIMER_SLACK_NS)


def test_a_refused_write_leaves_the_default() -> None:
    assert not set_timer_slack(path="/proc/self/no-such-file/timerslack_ns")


def test_the_kernel_takes_it_for_the_process() -> None:
    # In a child: the test runner's own slack stays as it was.
    code = (
        "from vrrpd.runtime.daemon import set_timer_slack\n"
        "before = open('/proc/self/timerslack_ns').read().strip()\n"
        "ok = set_timer_slack()\n"
        "print(before, ok, open('/proc/self/timerslack_ns').read().strip())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    before, ok, after = out.stdout.split()
    assert ok == "True" and after == str(TIMER_SLACK_NS) and before != after
