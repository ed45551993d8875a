"""A copy of vrrpd that any user can run: for tests that start the daemon as an unprivileged user.

The checkout (and the virtualenv in it) may live where other users cannot read — a clone under /root is
mode 0700 — and then a daemon started as `nobody` fails with "No module named vrrpd", or cannot even
execute the venv's interpreter. `public_python` copies the vrrpd package and the distributions it needs
at run time (found through their installed metadata, so an editable install works too) into a fresh
world-readable directory, once per process, and answers the base interpreter plus the environment that
imports from that copy. The copy is removed at exit.

This module owns only that copy; it never changes permissions of anything it did not create.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

import vrrpd

__all__ = ["NOBODY", "PublicPython", "PublicPythonError", "public_python"]

NOBODY = 65534
_AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
_SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
_lock = threading.Lock()
_copy: PublicPython | None = None


class PublicPythonError(RuntimeError):
    """No interpreter an unprivileged user can run was found; the message lists what was tried."""


class PublicPython:
    """An interpreter path and a ``PYTHONPATH`` under which every user can ``import vrrpd``."""

    def __init__(self, python: str, path: Path) -> None:
        self.python = python
        self.path = path

    @property
    def env(self) -> dict[str, str]:
        """Environment additions for a child: only the public copy on the import path."""
        return {"PYTHONPATH": str(self.path), "PYTHONDONTWRITEBYTECODE": "1"}

    def argv(self, *args: str) -> list[str]:
        """``[python, -s, *args]``; ``-s`` keeps the user's own site-packages out."""
        return [self.python, "-s", *args]


def public_python() -> PublicPython:
    """The process-wide public copy, made on first use (a few MB; about a second). Needs root and
    util-linux setpriv (it checks that user nobody can import vrrpd from it); PublicPythonError if no
    interpreter on this machine lets it."""
    global _copy  # noqa: PLW0603 - one copy per test process
    with _lock:
        if _copy is None:
            _copy = _make()
            atexit.register(shutil.rmtree, _copy.path.parent, True)
        return _copy


def _make() -> PublicPython:
    root = Path(tempfile.mkdtemp(prefix="vrrpd-public-"))
    root.chmod(0o755)
    site = root / "site"
    site.mkdir(mode=0o755)
    package = Path(vrrpd.__file__).resolve().parent
    shutil.copytree(package, site / "vrrpd", ignore=shutil.ignore_patterns("__pycache__"))
    for dist in _runtime_distributions("vrrpd"):
        for path in _files(dist):
            dest = site / path
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(str(dist.locate_file(path)), dest)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            Path(dirpath, name).chmod(0o755)
        for name in filenames:
            Path(dirpath, name).chmod(0o644)
    return PublicPython(_interpreter(site), site)


def _interpreter(site: Path) -> str:
    """The first interpreter of our version that `nobody` can run and import the copy with.

    The venv's own may sit inside the unreadable checkout, and so may the one it was made from (pyenv
    under /root); a system one of the same minor version runs the same byte code and C extensions.
    """
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [sys.executable, getattr(sys, "_base_executable", sys.executable)]
    for name in (f"python{version}", "python3"):
        found = shutil.which(name, path=_SYSTEM_PATH)
        if found:
            candidates.append(found)
    wanted = f"({sys.version_info.major}, {sys.version_info.minor})"
    probe = f"import sys, vrrpd, structlog, msgspec, pyroute2; assert sys.version_info[:2] == {wanted}"
    tried: list[str] = []
    for python in dict.fromkeys(os.path.realpath(c) for c in candidates):
        if not _reachable_by_others(Path(python)):
            tried.append(f"{python}: not reachable by other users")
            continue
        argv = [*_AS_NOBODY, python, "-s", "-c", probe]
        env = {"PYTHONPATH": str(site), "PATH": _SYSTEM_PATH}
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
        if proc.returncode == 0:
            return python
        last = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        tried.append(f"{python}: {last}")
    raise PublicPythonError("no interpreter an unprivileged user can run vrrpd with: " + "; ".join(tried))


def _reachable_by_others(path: Path) -> bool:
    """Every directory above ``path`` searchable, and the file executable, by any user (mode bits).

    An interpreter that cannot look up its own prefix (a pyenv build under /root) still starts — setpriv
    resolves the path before it drops privileges — but then falls back to another installation's
    standard library: not the interpreter we mean.
    """
    return all(p.stat().st_mode & 0o001 for p in (path, *path.parents))


def _runtime_distributions(name: str) -> Iterator[metadata.Distribution]:
    """The distributions ``name`` needs at run time (extras and other platforms' markers left out)."""
    env: dict[str, str] = {k: str(v) for k, v in default_environment().items()} | {"extra": ""}
    seen = {_norm(name)}
    todo = [name]
    while todo:
        for text in metadata.requires(todo.pop()) or []:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            key = _norm(req.name)
            if key in seen:
                continue
            seen.add(key)
            todo.append(req.name)
            with contextlib.suppress(metadata.PackageNotFoundError):
                yield metadata.distribution(req.name)


def _files(dist: metadata.Distribution) -> Iterator[str]:
    for path in dist.files or []:
        text = str(path)
        # Scripts land outside site-packages ("../../bin/x"); byte code is rebuilt or skipped.
        if text.startswith("..") or "__pycache__" in path.parts:
            continue
        yield text


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
