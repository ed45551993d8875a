"""Programs vrrpd runs (issue 14 items 1, 2, 4): keepalived's command splitting, the PATH search, script
users and keepalived's refusal of programs someone other than root can change; [[vrrp_script]],
track_script and notify_* in the schema."""

from __future__ import annotations

import os
import pwd
import textwrap
from pathlib import Path

import pytest

from vrrpd.config import ConfigError, check_programs, describe, parse_config
from vrrpd.config.programs import (
    CommandError,
    ids_of,
    insecure_component,
    needs_protection,
    resolve,
    shell_syntax,
    split_command,
)

# ---------------------------------------------------------------------------------------------------
# split_command: keepalived's alloc_strvec_quoted_escaped, word for word. The expectations marked (ka)
# are what keepalived 2.2.7 printed for the corpus files (its "Command = " dump lines).


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("killall -0 haproxy", ["killall", "-0", "haproxy"]),  # (ka) 28-ceph-ansible
        ("ss -ltn | grep ':::80 '", ["ss", "-ltn", "|", "grep", ":::80 "]),  # (ka) 23-recruitee
        (
            "/usr/bin/timeout 0.9 /usr/bin/curl -o /dev/null -Lfs http://localhost:1936/healthz/ready",
            [
                "/usr/bin/timeout",
                "0.9",
                "/usr/bin/curl",
                "-o",
                "/dev/null",
                "-Lfs",
                "http://localhost:1936/healthz/ready",
            ],
        ),  # (ka) 29-openshift
        ("/bin/sh -c 'pgrep x > /dev/null'", ["/bin/sh", "-c", "pgrep x > /dev/null"]),
        ('a "b c"d e', ["a", "b cd", "e"]),  # quotes join with adjacent text, like a shell
        ("a\\ b", ["a b"]),
        (r"tab\there \x41\102 \"q\"", ["tab\there", "AB", '"q"']),
        ("'it''s'", ["its"]),
        ("  spaced   out  ", ["spaced", "out"]),
        ("", []),
    ],
)
def test_split_command_as_keepalived(text: str, words: list[str]) -> None:
    assert split_command(text) == words


@pytest.mark.parametrize("text", ['a "open', "a 'open", "trailing\\"])
def test_what_keepalived_cannot_parse_is_an_error(text: str) -> None:
    with pytest.raises(CommandError):
        split_command(text)


@pytest.mark.parametrize(
    ("argv", "found"),
    [
        (["ss", "-ltn", "|", "grep", ":80"], "|"),
        (["ping", "-c", "1", "192.0.2.1", "1>&2"], "1>&2"),
        (["pgrep", "x", ">", "/dev/null"], ">"),
        (["test", "$(cat /x)"], "$(cat /x)"),
        (["/bin/sh", "-c", "a | b"], None),  # an explicit shell: its business
        (["killall", "-0", "haproxy"], None),
    ],
)
def test_shell_syntax_is_named(argv: list[str], found: str | None) -> None:
    assert shell_syntax(argv) == found


def test_bare_names_are_found_in_a_fixed_path(tmp_path: Path) -> None:
    assert resolve("/x/y") == Path("/x/y")
    sh = resolve("sh")
    assert sh is not None and sh.is_absolute()
    assert resolve("no-such-program-vrrpd") is None
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    assert resolve("tool", (str(tmp_path),)) == tool
    tool.chmod(0o644)
    assert resolve("tool", (str(tmp_path),)) is None  # not executable: keep searching


# ---------------------------------------------------------------------------------------------------
# Script security (keepalived's check_security)


@pytest.fixture
def root_dir(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("needs root: files owned by root and by others")
    base = tmp_path / "safe"
    base.mkdir(mode=0o755)
    # tmp_path's own parents are root's with safe modes on this host (/tmp has the sticky bit).
    return base


def test_a_root_owned_path_is_safe(root_dir: Path) -> None:
    program = root_dir / "check.sh"
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    assert insecure_component(program) is None


def test_a_world_writable_program_is_unsafe(root_dir: Path) -> None:
    program = root_dir / "check.sh"
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o757)
    assert insecure_component(program) == (program, "is writable by everyone")


def test_a_directory_writable_by_others_is_unsafe_unless_sticky(root_dir: Path) -> None:
    sub = root_dir / "drop"
    sub.mkdir()
    program = sub / "check.sh"
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    sub.chmod(0o777)
    assert insecure_component(program) == (sub, "is writable by everyone")
    sub.chmod(0o1777)  # like /tmp: others can add files but not replace ours
    assert insecure_component(program) is None


def test_a_program_owned_by_another_user_is_unsafe(root_dir: Path) -> None:
    program = root_dir / "check.sh"
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    nobody = pwd.getpwnam("nobody")
    os.chown(program, nobody.pw_uid, nobody.pw_gid)
    assert insecure_component(program) == (program, f"is owned by uid {nobody.pw_uid}, not root")


def test_only_programs_run_with_roots_power_are_checked(root_dir: Path) -> None:
    program = root_dir / "check.sh"
    program.write_text("")
    program.chmod(0o755)
    assert needs_protection(program, 0, 0)
    assert not needs_protection(program, 65534, 65534)
    program.chmod(0o4755)  # set-uid root
    assert needs_protection(program, 65534, 65534)


def test_script_users_follow_keepalived() -> None:
    nobody = pwd.getpwnam("nobody")
    assert ids_of("nobody", None) == (nobody.pw_uid, nobody.pw_gid)
    assert ids_of(str(nobody.pw_uid), "0") == (nobody.pw_uid, 0)
    with pytest.raises(LookupError, match="no user 'no-such-user'"):
        ids_of("no-such-user", None)
    with pytest.raises(LookupError, match="no group"):
        ids_of("nobody", "no-such-group")
    try:
        pwd.getpwnam("keepalived_script")
    except KeyError:
        assert ids_of(None, None) == (os.geteuid(), os.getegid())  # keepalived: else itself


# ---------------------------------------------------------------------------------------------------
# The schema


def config_text(body: str, global_: str = "") -> str:
    return textwrap.dedent(
        f"""
        [global]
        {global_}

        [[vrrp_instance]]
        name = "VI_1"
        interface = "eth0"
        virtual_router_id = 51
        virtual_ipaddress = ["192.0.2.100/24"]
        """
    ) + textwrap.dedent(body)


def test_vrrp_scripts_are_named_and_tracked_with_their_own_or_the_instances_weight() -> None:
    text = config_text(
        """
        track_script = ["chk_haproxy", { name = "chk_api", weight = 10, reverse = true }]

        [[vrrp_script]]
        name = "chk_haproxy"
        script = "killall -0 haproxy"
        weight = -20
        fall = 2

        [[vrrp_script]]
        name = "chk_api"
        script = ["/bin/sh", "-c", "exit 0"]
        """
    )
    config = parse_config(text, "<t>", env={})
    haproxy, api = config.vrrp_script
    assert haproxy.script[0].endswith("/killall") and haproxy.script[1:] == ("-0", "haproxy")
    assert (haproxy.weight, haproxy.fall, haproxy.run_timeout) == (-20, 2, 1.0)
    assert api.script == ("/bin/sh", "-c", "exit 0")
    tracks = config.vrrp_instance[0].track_script
    assert [(t.name, t.weight, t.reverse) for t in tracks] == [
        ("chk_haproxy", None, None),
        ("chk_api", 10, True),
    ]


X = '[[vrrp_script]]\nname = "x"\nscript = "/bin/true"'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            'track_script = ["nope"]',
            'vrrp_instance[0].track_script[0] = "nope": no [[vrrp_script]] has this name',
        ),
        (
            'track_script = [{ name = "x", weight = 300 }]\n' + X,
            "track_script[0]",
        ),
        (
            'track_script = ["x", "x"]\n[[vrrp_script]]\nname = "x"\nscript = "/bin/true"',
            "tracked twice",
        ),
        ('[[vrrp_script]]\nname = "x"\nscript = "no-such-program-vrrpd"', "not found in the PATH"),
        ('[[vrrp_script]]\nname = "x"\nscript = "/bin/true \'open"', "missing terminating"),
        ('[[vrrp_script]]\nname = "x"\nscript = "/bin/true"\nweight = -254', "an integer -253..253"),
        ('[[vrrp_script]]\nname = "x"\nscript = "/bin/true"\ngroup = "nogroup"', "applies only with user"),
        (
            X + "\n" + X,
            "also used by vrrp_script[0]",
        ),
    ],
)
def test_bad_scripts_are_one_line_errors(body: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(config_text(body), "<t>", env={})
    assert message in str(exc.value)
    assert "\n" not in str(exc.value).strip() or len(exc.value.issues) > 1


def test_notify_programs_take_arguments() -> None:
    config = parse_config(
        config_text(
            """
            notify = "/bin/true INSTANCE-ARG"
            notify_master = "/bin/sh -c 'echo master'"
            notify_backup = ["/bin/true", "backup"]
            notify_fault = "true fault"
            notify_stop = "/bin/true"
            """
        ),
        "<t>",
        env={},
    )
    inst = config.vrrp_instance[0]
    assert inst.notify == ("/bin/true", "INSTANCE-ARG")
    assert inst.notify_master == ("/bin/sh", "-c", "echo master")
    assert inst.notify_backup == ("/bin/true", "backup")
    assert inst.notify_fault is not None and inst.notify_fault[1:] == ("fault",)
    assert inst.notify_stop == ("/bin/true",)


def test_enable_script_security_refuses_a_program_others_can_change(root_dir: Path) -> None:
    program = root_dir / "check.sh"
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o757)
    body = f'track_script = ["chk"]\n[[vrrp_script]]\nname = "chk"\nscript = "{program} --fast"\n'
    relaxed = parse_config(config_text(body, 'script_user = "root"'), "<t>", env={})
    (warning,) = check_programs(relaxed)  # keepalived: runs it, logging a security violation
    assert "is writable by everyone" in warning and "enable_script_security" in warning
    strict = parse_config(
        config_text(body, 'script_user = "root"\nenable_script_security = true'), "<t>", env={}
    )
    with pytest.raises(ConfigError, match=r"vrrp_script\[0\]\.script.*writable by everyone"):
        check_programs(strict)
    program.chmod(0o755)
    assert check_programs(strict) == []


def test_a_script_user_that_does_not_exist_is_refused() -> None:
    body = (
        'track_script = ["chk"]\n[[vrrp_script]]\nname = "chk"\nscript = "/bin/true"\nuser = "no-such-user"\n'
    )
    config = parse_config(config_text(body), "<t>", env={})
    with pytest.raises(ConfigError, match="no user 'no-such-user'"):
        check_programs(config)


def test_check_config_describes_tracked_scripts_and_state_programs() -> None:
    text = config_text(
        """
        track_script = ["chk", { name = "chk2", weight = 0, reverse = true }]
        notify_master = "/bin/true promote"

        [[vrrp_script]]
        name = "chk"
        script = "/bin/true -x"
        weight = -20

        [[vrrp_script]]
        name = "chk2"
        script = "/bin/true"
        """
    )
    described = describe(parse_config(text, "<t>", env={}))
    assert (
        "tracks scripts: chk (weight -20, every 1s: /bin/true -x), chk2 (FAULT while failing reversed"
        in described
    )
    assert "notify_master: /bin/true promote" in described
