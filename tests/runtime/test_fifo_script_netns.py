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


def test_the_reader_goes_with_a_killed_daemon(vrrp_lab: LabFactory) -> None:
    """SIGKILL leaves vrrpd no time to stop its reader: the kernel's parent-death signal does (as keepalived
    asks for its own FIFO script), so a restarted daemon never finds an orphan reading its FIFO."""
    lab = vrrp_lab(nodes=1)
    logs = Path(lab.log_dir)
    fifo, lines, pid = logs / "run" / "notify.fifo", logs / "lines", logs / "reader.pid"
    reader = logs / "reader.sh"
    # As such readers are written: reopen the FIFO whenever its writer went, so EOF never ends it.
    reader.write_text(
        f'#!/bin/sh\necho $$ > "{pid}"\n'
        f'while :; do while read -r l; do echo "$l" >> "{lines}"; done < "$1"; done\n'
    )
    reader.chmod(0o755)
    text = config_text(lab, "n1").replace(
        "[global]\n", f'[global]\nnotify_fifo = "{fifo}"\nnotify_fifo_script = ["{reader}"]\n'
    )
    proc = start_vrrpd(lab, "n1", text)
    try:
        assert wait_for(lambda: lines.exists() and "BACKUP" in lines.read_text(), 15.0), proc.log_text()
        reader_pid = int(pid.read_text())
        proc.kill()
        proc.wait(10.0)
    finally:
        proc.stop(10.0)

    def gone() -> bool:
        try:
            os.kill(reader_pid, 0)
        except ProcessLookupError:
            return True
        # A zombie until its parent (now init or a subreaper) reaps it: gone as far as the FIFO goes.
        return Path(f"/proc/{reader_pid}/stat").read_text().split(") ")[1].startswith("Z")

    survived = not wait_for(gone, 5.0)
    if survived:
        os.kill(reader_pid, 9)  # no orphan left behind by a failing run
    assert not survived, "the FIFO reader outlived the killed daemon"
