"""The container image, tested without a container engine (none runs here).

- The Dockerfile's structure, parsed with dockerfile-parse: slim Python base, exec-form entrypoint with
  an init and no shell, the command `vrrpd run --openshift`, only the needed Debian packages.
- Its install steps, replayed: the build context is assembled as `.dockerignore` and the COPY lines say,
  the RUN pip line is executed into a clean venv, and the image's command runs from that venv.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def dockerfile() -> DockerfileParser:
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    return parser


def instructions(parser: DockerfileParser, name: str) -> list[str]:
    return [i["value"] for i in parser.structure if i["instruction"] == name]


def test_base_image_is_slim_python(dockerfile: DockerfileParser) -> None:
    assert dockerfile.baseimage.startswith("python:3.11-slim")
    assert len(instructions(dockerfile, "FROM")) == 1


def test_entrypoint_is_exec_form_without_a_shell(dockerfile: DockerfileParser) -> None:
    (entrypoint,) = instructions(dockerfile, "ENTRYPOINT")
    (cmd,) = instructions(dockerfile, "CMD")
    argv = json.loads(entrypoint)  # exec form is a JSON array; shell form would not parse
    assert argv == ["/usr/bin/tini", "--", "vrrpd"]
    assert json.loads(cmd) == ["run", "--openshift"]
    assert not {"sh", "/bin/sh", "bash", "/bin/bash", "-c"} & set(argv + json.loads(cmd))


def test_runs_as_root_with_granted_capabilities_only(dockerfile: DockerfileParser) -> None:
    assert instructions(dockerfile, "USER") == ["0"]
    assert "EXPOSE" not in {i["instruction"] for i in dockerfile.structure}  # host networking, no ports


def test_debian_packages_are_only_what_is_needed(dockerfile: DockerfileParser) -> None:
    runs = " ".join(instructions(dockerfile, "RUN"))
    assert "--no-install-recommends nftables tini" in runs
    assert "rm -rf /var/lib/apt/lists/*" in runs
    assert "modprobe" not in runs and "kmod" not in runs and "ipvs" not in runs.lower()


def dockerignore_allows(path: str) -> bool:
    """`.dockerignore` evaluated for the simple patterns it uses (last match wins, '!' re-includes)."""
    import fnmatch

    allowed = True
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if pattern.startswith("**/"):
            hit = any(fnmatch.fnmatch(part, pattern[3:]) for part in parts)
        else:
            hit = any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes)
        if hit:
            allowed = negate
    return allowed


def build_context(tmp: Path) -> Path:
    """Copy what the build context would hold (per .dockerignore) into `tmp`."""
    context = tmp / "context"
    for path in sorted(ROOT.rglob("*")):
        rel = path.relative_to(ROOT).as_posix()
        if path.is_file() and not rel.startswith((".git/", ".venv/")) and dockerignore_allows(rel):
            target = context / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return context


def test_dockerignore_keeps_the_context_small() -> None:
    assert dockerignore_allows("pyproject.toml") and dockerignore_allows("README.md")
    assert dockerignore_allows("vrrpd/cli/main.py")
    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        "tests/cli/test_cli.py",
        "docs/openshift.md",
        "vrrpd/__pycache__/x.pyc",
    ):
        assert not dockerignore_allows(path), path


def test_install_steps_work_in_a_clean_venv(dockerfile: DockerfileParser, tmp_path: Path) -> None:
    context = build_context(tmp_path)
    # Replay the COPY lines into the image's /src, here <tmp>/src.
    image_src = tmp_path / "src"
    image_src.mkdir()
    for copy in instructions(dockerfile, "COPY"):
        *sources, dest = shlex.split(copy)
        for source in sources:
            origin = context / source
            assert origin.exists(), f"COPY {source}: not in the build context (.dockerignore?)"
            target = tmp_path / dest.lstrip("/") / (origin.name if dest.endswith("/") else "")
            if origin.is_dir():
                shutil.copytree(origin, target)
            else:
                shutil.copy2(origin, target)
    # The RUN pip line, with the image's /src mapped into tmp, into a clean venv. The venv gets no pip of
    # its own (ensurepip alone takes longer than the install): this interpreter's pip drives it.
    (pip_run,) = [r for r in instructions(dockerfile, "RUN") if r.startswith("pip install")]
    assert pip_run == "pip install /src && rm -rf /src"
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, clear=True).create(env_dir)
    # This machine's pip settings (index, certificates, cache) apply; this checkout must not leak in.
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    environ["PATH"] = f"{env_dir / 'bin'}:/usr/bin:/bin"
    pip = [sys.executable, "-m", "pip", "--python", str(env_dir / "bin" / "python")]
    proc = subprocess.run(
        [*pip, "install", "-q", str(image_src)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    vrrpd = env_dir / "bin" / "vrrpd"
    version = subprocess.run(
        [str(vrrpd), "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert version.stdout.startswith("vrrpd ")
    # The image's command (ENTRYPOINT after the init, then CMD) with a bad environment: one line, exit 2.
    (entrypoint,) = instructions(dockerfile, "ENTRYPOINT")
    (cmd,) = instructions(dockerfile, "CMD")
    argv = json.loads(entrypoint)[2:] + json.loads(cmd)
    assert argv == ["vrrpd", "run", "--openshift"]
    bad = subprocess.run(
        [str(env_dir / "bin" / argv[0]), *argv[1:]],
        env={"PATH": environ["PATH"], "OPENSHIFT_HA_VIRTUAL_IPS": "2001:db8::a-c"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith('vrrpd: OPENSHIFT_HA_VIRTUAL_IPS = "2001:db8::a-c": ')
    assert len(bad.stderr.splitlines()) == 1
    # The installed copy is the one that ran, not this checkout.
    where = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", "import vrrpd; print(vrrpd.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=tmp_path,
    )
    assert str(env_dir) in where.stdout
    assert sys.executable not in where.stdout
