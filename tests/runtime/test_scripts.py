"""Named checks and state programs at run time (issue 14 items 1-4): a [[vrrp_script]] runs its command
with arguments and no shell, keepalived's counter decides its status; notify_<state> programs run before
notify; programs run as the configured user."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.support.aio import run
from vrrpd.protocol.tracking import ScriptCounter
from vrrpd.runtime.healthcheck import Credentials, ScriptRunner, run_program
from vrrpd.runtime.notify import Notifier


def test_a_script_runs_with_its_arguments_and_its_status_follows_keepalived(tmp_path: Path) -> None:
    flag = tmp_path / "ok"
    flag.write_text("")
    changes: list[tuple[str, bool]] = []

    async def main() -> None:
        # `test -e FILE` exits 0 while the file exists: a check with arguments, no shell needed.
        runner = ScriptRunner(
            "chk",
            ["/usr/bin/test", "-e", str(flag)],
            ScriptCounter(rise=1, fall=2),
            lambda name, ok: changes.append((name, ok)),
            interval=0.05,
            timeout=1.0,
        )
        runner.start()
        for _ in range(100):
            if changes:
                break
            await asyncio.sleep(0.02)
        flag.unlink()
        for _ in range(200):
            if len(changes) > 1:
                break
            await asyncio.sleep(0.02)
        await runner.stop()

    run(main())
    assert changes == [("chk", True), ("chk", False)]


def test_shell_syntax_reaches_the_program_as_arguments(tmp_path: Path) -> None:
    """No implicit shell: `echo a | cat > FILE` is echo with four arguments (as keepalived runs it)."""
    out = tmp_path / "never"

    async def main() -> int | None:
        outcome = await run_program(["/bin/echo", "a", "|", "cat", ">", str(out)], 2.0)
        return outcome.rc

    assert run(main()) == 0
    assert not out.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="switching user needs root")
def test_programs_run_as_the_script_user() -> None:
    nobody = pwd.getpwnam("nobody")
    # pytest's tmp_path is private to root: nobody needs a directory it can reach and write.
    shared = Path(tempfile.mkdtemp(prefix="vrrpd-script-user-"))
    shared.chmod(0o777)
    out = shared / "id.txt"

    async def main() -> None:
        argv = ["/bin/sh", "-c", f"echo $(id -u):$(id -g):$(id -G) > {out}"]
        outcome = await run_program(argv, 2.0, credentials=Credentials(nobody.pw_uid, nobody.pw_gid))
        assert outcome.ok, outcome

    try:
        run(main())
        # keepalived's set_script_env: uid, gid, and no supplementary groups but the gid.
        assert out.read_text().split() == [f"{nobody.pw_uid}:{nobody.pw_gid}:{nobody.pw_gid}"]
    finally:
        shutil.rmtree(shared)


def test_state_programs_run_before_notify_with_their_own_arguments(tmp_path: Path) -> None:
    out = tmp_path / "calls.txt"
    record = tmp_path / "record.sh"
    record.write_text(f'#!/bin/sh\necho "$*" >> {out}\n')
    record.chmod(0o755)

    async def main() -> None:
        notifier = Notifier(
            [str(record), "generic"],
            2.0,
            states={"MASTER": [str(record), "became", "master"], "FAULT": [str(record), "fault!"]},
        )
        notifier.start()
        notifier.notify("VI_1", "BACKUP", 100)
        notifier.notify("VI_1", "MASTER", 100)
        notifier.notify("VI_1", "FAULT", 100)
        await notifier.drain(5.0)
        await notifier.close()

    run(main())
    assert out.read_text().splitlines() == [
        "generic INSTANCE VI_1 BACKUP 100",
        "became master",
        "generic INSTANCE VI_1 MASTER 100",
        "fault!",
        "generic INSTANCE VI_1 FAULT 100",
    ]


def test_state_programs_alone_are_enough(tmp_path: Path) -> None:
    """A cloud failover hook is often only notify_master (no notify at all)."""
    out = tmp_path / "calls.txt"
    record = tmp_path / "record.sh"
    record.write_text(f'#!/bin/sh\necho "$*" >> {out}\n')
    record.chmod(0o755)

    async def main() -> None:
        notifier = Notifier(None, 2.0, states={"MASTER": [str(record), "assign", "203.0.113.10"]})
        notifier.start()
        notifier.notify("VI_1", "BACKUP", 100)
        notifier.notify("VI_1", "MASTER", 100)
        await notifier.drain(5.0)
        await notifier.close()

    run(main())
    assert out.read_text().splitlines() == ["assign 203.0.113.10"]
