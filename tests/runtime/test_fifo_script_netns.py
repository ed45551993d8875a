"""notify_fifo_script (keepalived's notify_fifo_script) run by the daemon in the namespace lab.

The daemon creates its notify FIFO, starts the reader with the FIFO's path as its last argument, the
reader sees the state lines, and at exit the reader is stopped before the FIFO goes. Every wait is bounded.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.daemons import config_text, start_vrrpd, wait_for
from vrrpd.testing.plugin import LabFactory

pytestmark = pytest.mark.netns


def test_the_daemon_runs_its_fifo_reader_and_stops_it_at_exit(vrrp_lab: LabFactory) -> None:
    lab = vrrp_lab(nodes=1)
    logs = Path(lab.log_dir)
    fifo, lines, args, pid = logs / "run" / "notify.fifo", logs / "lines", logs / "args", logs / "reader.pid"
    reader = logs / "reader.sh"
    reader.write_text(f'#!/bin/sh\necho $$ > "{pid}"\necho "$@" > "{args}"\nexec cat "$2" >> "{lines}"\n')
    reader.chmod(0o755)
    text = config_text(lab, "n1").replace(
        "[global]\n", f'[global]\nnotify_fifo = "{fifo}"\nnotify_fifo_script = ["{reader}", "--tag"]\n'
    )
    proc = start_vrrpd(lab, "n1", text)
    try:
        assert wait_for(lambda: lines.exists() and "MASTER" in lines.read_text(), 15.0), proc.log_text()
        assert args.read_text() == f"--tag {fifo}\n"
        assert lines.read_text() == 'INSTANCE "VI_1" BACKUP 100\nINSTANCE "VI_1" MASTER 100\n'
        reader_pid = int(pid.read_text())
    finally:
        proc.stop(10.0)
    with pytest.raises(ProcessLookupError):
        os.kill(reader_pid, 0)
    assert not fifo.exists()  # the daemon created it: removed at exit, after its reader stopped
    assert '"notify_fifo_script_exited"' not in proc.log_text()
