"""The unprivileged-daemon tests must not depend on where the checkout lives: a clone under /root (mode
0700) gave the daemon started as `nobody` "No module named vrrpd". `vrrpd.testing.public` copies vrrpd and
its run-time dependencies where any user can read them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import vrrpd

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and util-linux setpriv"
)

AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

# Run from the private checkout, as root: make the public copy, then run vrrpd from it as nobody.
FROM_CHECKOUT = """
import subprocess, sys
from vrrpd.testing.public import public_python
import vrrpd
public = public_python()
assert vrrpd.__file__.startswith(sys.argv[1]), vrrpd.__file__  # the copy is made from this checkout
argv = [*sys.argv[2:], *public.argv("-m", "vrrpd", "--version")]
proc = subprocess.run(argv, env=public.env, capture_output=True, text=True, timeout=60)
print(proc.stdout.strip() or proc.stderr.strip().splitlines()[-1])
"""


def test_nobody_runs_vrrpd_from_a_checkout_others_cannot_read(tmp_path: Path) -> None:
    private = tmp_path / "root" / "clone"  # as a clone in /root: others cannot even traverse it
    private.parent.mkdir(mode=0o700)
    shutil.copytree(
        Path(vrrpd.__file__).parent, private / "vrrpd", ignore=shutil.ignore_patterns("__pycache__")
    )
    env = dict(os.environ, PYTHONPATH=str(private))
    # What the tests did: the checkout on PYTHONPATH, run as nobody (-S: no site-packages, as when the
    # virtualenv sits inside the unreadable checkout too).
    before = subprocess.run(
        [*AS_NOBODY, sys.executable, "-S", "-c", "import vrrpd"],
        env=env,
        cwd="/",  # not the test's checkout, which `-c` would put on the path
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert before.returncode != 0 and "No module named 'vrrpd'" in before.stderr, before
    # What they do now.
    after = subprocess.run(
        [sys.executable, "-c", FROM_CHECKOUT, str(private), *AS_NOBODY],
        env=env,
        cwd=private,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert after.returncode == 0 and after.stdout.strip() == f"vrrpd {vrrpd.__version__}", after
