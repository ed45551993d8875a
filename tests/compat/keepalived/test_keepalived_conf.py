"""`vrrpd import-keepalived`: keepalived.conf grammar, keyword conversion, findings and the CLI (issue 4).

No namespaces here: keepalived's own reading of the same fixtures (its --dump-conf) is compared with ours
in tests/runtime/test_interop_keepalived.py, and the converted configurations run against keepalived there.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.support.keepalived import Spec, TcpCheck, keepalived_text
from vrrpd.cli.main import main as cli_main
from vrrpd.compat.keepalived.conf import KeepalivedConfError, Location, parse_file, parse_text, split_words
from vrrpd.compat.keepalived.importer import Conversion, Finding, _toml_value, convert, convert_parsed
from vrrpd.config import parse_config, to_dict

CHECK_CONFIG = [sys.executable, "-m", "vrrpd", "check-config"]
DATA = Path(__file__).parents[2] / "data" / "keepalived"


def conv(text: str, tmp_path: Path, config_id: str = "node") -> Conversion:
    """Convert keepalived.conf text written to tmp_path/keepalived.conf."""
    path = tmp_path / "keepalived.conf"
    path.write_text(textwrap.dedent(text))
    return convert(path, config_id)


def instances(conversion: Conversion) -> list[dict[str, Any]]:
    """The converted instances as plain dicts, loaded through vrrpd's own schema.

    Programs (notify, check scripts) name files on the host that will run vrrpd: not checked here.
    """
    assert conversion.toml, [str(f) for f in conversion.findings]
    config = parse_config(conversion.toml, "<converted>", env={}, check_files=False)
    return [to_dict(inst) for inst in config.vrrp_instance]


def lost(conversion: Conversion) -> list[tuple[int, str]]:
    return [(f.where.line if f.where else 0, f.keyword) for f in conversion.lost]


def notes(conversion: Conversion) -> list[tuple[int, str]]:
    return [(f.where.line if f.where else 0, f.keyword) for f in conversion.findings if f.level == "note"]


def instance(text: str, tmp_path: Path, **expect: Any) -> dict[str, Any]:
    """Convert one instance block (indented text) and return its vrrpd keys."""
    c = conv(text, tmp_path)
    found = instances(c)
    assert len(found) == 1
    for key, value in expect.items():
        assert found[0].get(key) == value, (key, found[0])
    return found[0]


MINIMAL = """
    vrrp_instance VI_1 {
        interface eth0
        virtual_router_id 51
        virtual_ipaddress {
            192.0.2.100/24
        }
    }
"""

# ---------------------------------------------------------------------------------------------------
# Grammar


def test_comments_anywhere_but_not_in_double_quotes() -> None:
    parsed = parse_text(
        textwrap.dedent(
            r"""
            # a comment
            ! another
            a 1 # trailing
            b "x # y" ! trailing
            c x\#y
            """
        )
    )
    got = [(s.keyword, s.args) for s in parsed.statements]
    assert got == [("a", ("1",)), ("b", ("x # y",)), ("c", ("x#y",))]
    # keepalived's decomment() honours only double quotes: a # inside single quotes starts a comment.
    with pytest.raises(KeepalivedConfError, match="unterminated quote"):
        parse_text("d 'p#q'\n")


def test_unterminated_double_quote_is_an_error_with_its_line() -> None:
    with pytest.raises(KeepalivedConfError, match=r"<text>:3: unterminated quote"):
        parse_text('a 1\n\nb "open\n')


def test_blocks_on_one_line_or_with_the_brace_on_the_next() -> None:
    parsed = parse_text(
        "auth { auth_type PASS\n auth_pass x }\nvrrp_instance V\n{\n  priority 5 }\nempty {}\n", "f.conf"
    )
    auth, inst, empty = parsed.statements
    assert [(s.keyword, s.args) for s in auth.block or []] == [
        ("auth_type", ("PASS",)),
        ("auth_pass", ("x",)),
    ]
    assert inst.args == ("V",) and inst.find("priority")[0].args == ("5",)
    assert inst.find("priority")[0].where == Location("f.conf", 5)
    assert empty.block == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a {\n b 1\n", r"f:1: block opened here is never closed"),
        ("a 1\n}\n", r"f:2: extra '}'"),
        ("{\n", r"f:1: '\{' does not follow a keyword"),
    ],
)
def test_unbalanced_braces_name_the_line(text: str, message: str) -> None:
    with pytest.raises(KeepalivedConfError, match=message):
        parse_text(text, "f")


def test_quotes_join_like_the_shell_and_escapes() -> None:
    assert split_words("""abcd" efg h jkl "mnop""") == ["abcd efg h jkl mnop"]
    assert split_words("""abcd "efg h jkl" mnop""") == ["abcd", "efg h jkl", "mnop"]
    assert split_words("""/bin/bash -c '</dev/tcp/192.0.2.1/80'""") == [
        "/bin/bash",
        "-c",
        "</dev/tcp/192.0.2.1/80",
    ]
    assert split_words(r'"a\x2d/\101\tc\"d"') == ['a-/A\tc"d']


def test_semicolon_separates_nothing() -> None:
    (stmt,) = parse_text("interface eth0 ; virtual_router_id 52\n").statements
    assert stmt.args == ("eth0", ";", "virtual_router_id", "52")


def test_conditional_lines_follow_the_config_id() -> None:
    text = "@main a 1\n@^main b 2\n@other c 3\nd 4\n"
    assert [s.keyword for s in parse_text(text, config_id="main").statements] == ["a", "d"]
    assert [s.keyword for s in parse_text(text, config_id="backup").statements] == ["b", "d"]


def test_parameters_substitute_recursively_and_leave_unknown_ones() -> None:
    text = "$NET=192.0.2\n$VIP=${NET}.100\nvip $VIP\nraw $UNDEFINED $NET.x\nboth ${NET}.1 $NET\n"
    got = [(s.keyword, s.args) for s in parse_text(text).statements]
    # "$NET.x": a reference must be followed by a separator (or written ${NET}), else it stays as is.
    assert got == [
        ("vip", ("192.0.2.100",)),
        ("raw", ("$UNDEFINED", "$NET.x")),
        ("both", ("192.0.2.1", "192.0.2")),
    ]


def test_multiline_parameters_and_seq_blocks_are_reported_not_expanded() -> None:
    text = "$BLOCK= \\\n  a 1 \\\n  b 2\n~SEQ(N, 1, 3)\nc 3\n"
    parsed = parse_text(text, "f")
    assert [s.keyword for s in parsed.statements] == ["c"]
    assert [(u.where.line, u.what) for u in parsed.unsupported] == [
        (1, "multi-line parameter $BLOCK"),
        (4, "~SEQ(N, block"),
    ]


def test_parameter_loop_is_an_error() -> None:
    with pytest.raises(KeepalivedConfError, match="does not terminate"):
        parse_text("$A=${B}\n$B=${A}\nx $A\n")


def test_includes_are_relative_to_the_including_file_sorted_with_braces(tmp_path: Path) -> None:
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "main.conf").write_text("include sub/*.conf\ninclude sub/{x,y}.inc\n")
    (tmp_path / "sub" / "b.conf").write_text("b 1\n")
    (tmp_path / "sub" / "a.conf").write_text("a 1\ninclude deeper/c.conf\n")  # relative to sub/
    (tmp_path / "sub" / "deeper" / "c.conf").write_text("c 1\n")
    (tmp_path / "sub" / "y.inc").write_text("y 1\n")
    (tmp_path / "sub" / "x.inc").write_text("x 1\n")
    parsed = parse_file(tmp_path / "main.conf")
    assert [s.keyword for s in parsed.statements] == ["a", "c", "b", "x", "y"]
    assert parsed.statements[1].where == Location(str(tmp_path / "sub" / "deeper" / "c.conf"), 1)
    assert len(parsed.files) == 6


def test_include_loop_and_unreadable_file_are_errors(tmp_path: Path) -> None:
    (tmp_path / "loop.conf").write_text("include loop.conf\n")
    with pytest.raises(KeepalivedConfError, match="nested more than"):
        parse_file(tmp_path / "loop.conf")
    with pytest.raises(KeepalivedConfError, match="cannot read file"):
        parse_file(tmp_path / "absent.conf")


def test_missing_and_executable_includes_are_skipped_as_keepalived_does(tmp_path: Path) -> None:
    (tmp_path / "main.conf").write_text("include none-*.conf\ninclude exec.conf\na 1\n")
    (tmp_path / "exec.conf").write_text("x 1\n")
    (tmp_path / "exec.conf").chmod(0o755)
    parsed = parse_file(tmp_path / "main.conf")
    assert [s.keyword for s in parsed.statements] == ["a"]
    assert [w.line for w, _ in parsed.missing_includes] == [1, 2]


# ---------------------------------------------------------------------------------------------------
# The ipfailover image's configuration converts cleanly


def test_ipfailover_config_converts_cleanly() -> None:
    c = convert(DATA / "ipfailover.conf")
    assert c.complete, [str(f) for f in c.lost]
    vip1, vip2 = instances(c)
    assert vip1 == {
        "name": "ipf_ha_router_VIP_1",
        "interface": "eth0",
        "virtual_router_id": 1,
        "priority": 18,
        "version": 2,
        "advert_int": 1,
        "accept": True,
        "preempt": True,
        "preempt_delay": 300.0,
        "virtual_ipaddress": ["192.0.2.100/32", "192.0.2.101/32"],
        "virtual_ipaddress_excluded": [],
        "auth_pass": "ipf-ha-r",  # keepalived keeps the first 8 characters of "ipf-ha-router"
        "unicast_peer": ["192.0.2.12", "192.0.2.13"],
        "notify": ["/usr/local/bin/ipf-notify.sh"],
        "notify_timeout": 10.0,
        "garp_master_repeat": 5,
        "garp_master_delay": 5.0,
        "garp_master_refresh": 0.0,
        "garp_master_refresh_repeat": 1,
        "skip_check_adv_addr": False,
        "garp_lower_prio_repeat": 5,
        "garp_lower_prio_delay": 5.0,
        "track_script": [],
        "check": {
            "tcp_port": 80,
            "host": "192.0.2.11",
            "interval": 2.0,
            "timeout": 2.0,
            "rise": 1,
            "fall": 1,
            "weight": 0,
        },
        "virtual_routes": [],
        "virtual_rules": [],
        "track_interface": [],
        "track_file": [],
        "track_process": [],
        "dont_track_primary": False,
        "use_vmac": False,
        "vmac_xmit_base": False,
    }
    # The "master" slot: state MASTER is a note, and keepalived clears preempt_delay with it.
    assert vip2["priority"] == 244 and vip2["preempt_delay"] == 0.0 and vip2["preempt"] is True
    assert vip2["virtual_ipaddress"] == ["192.0.2.102/32"]
    assert (53, "state MASTER") in notes(c) and (56, "preempt_delay") in notes(c)
    assert (4, "notification_email") in notes(c)  # no smtp_alert: e-mail settings change nothing
    assert c.toml.startswith("# Converted from")


def test_legacy_ipfailover_config_converts_cleanly() -> None:
    c = convert(DATA / "ipfailover-legacy.conf")
    assert c.complete, [str(f) for f in c.lost]
    vip1, vip2 = instances(c)
    # The bare `script "</dev/tcp/H/P"` of the older generator is a TCP check too.
    assert vip1["check"]["tcp_port"] == 8080 and vip1["check"]["host"] == "192.0.2.12"
    # state MASTER clears nopreempt in keepalived; the other instance keeps it.
    assert vip1["preempt"] is True and vip2["preempt"] is False
    assert (25, "nopreempt") in notes(c)


def test_grammar_fixture_converts_with_its_includes() -> None:
    c = convert(DATA / "includes" / "keepalived.conf", config_id="main")
    assert c.complete, [str(f) for f in c.lost]
    vi1, vi2 = instances(c)
    assert vi1["priority"] == 150 and vi2["priority"] == 100
    assert vi1["auth_pass"] == "p#ss"
    assert vi1["unicast_peer"] == ["192.0.2.12", "192.0.2.13"]
    assert vi1["notify"] == ["/usr/local/bin/notify-vip"]
    assert vi1["check"]["weight"] == 30 and vi2["check"]["weight"] == 5  # per-instance override
    assert vi1["check"]["fall"] == 1  # "interval 3 ; fall 2": keepalived ignores the "fall 2"
    assert tomllib.loads(c.toml)["global"]["router_id"] == "main router"
    c2 = convert(DATA / "includes" / "keepalived.conf", config_id="backup")
    assert [i["priority"] for i in instances(c2)] == [100, 100]


# ---------------------------------------------------------------------------------------------------
# Every keepalived configuration the interop tests run converts to its vrrpd twin


def _interop_specs() -> list[Spec]:
    a = Spec(vips=("192.0.2.100/24",), name="VI_A", vrid=51)
    return [
        a,
        dataclasses.replace(a, priority=150, auth_pass="s3cret"),
        dataclasses.replace(a, priority=150, auth_pass="s3cret", auth_type="AH"),
        dataclasses.replace(a, priority=150, preempt_delay=2.5),
        dataclasses.replace(a, priority=150, preempt=False),
        dataclasses.replace(a, priority=250, advert_int=2),
        dataclasses.replace(a, unicast_src_ip="192.0.2.11", unicast_peer=("192.0.2.12",)),
        dataclasses.replace(a, notify=sys.executable),
        dataclasses.replace(a, priority=255, keepalived_state="MASTER"),
        dataclasses.replace(a, auth_pass="migr8", check=TcpCheck("192.0.2.11", 9736)),
        dataclasses.replace(a, check=TcpCheck("192.0.2.11", 9736, interval=2, fall=3, weight=60)),
    ]


@pytest.mark.parametrize("spec", _interop_specs(), ids=[f"spec{i}" for i in range(len(_interop_specs()))])
def test_interop_keepalived_configs_convert_to_their_vrrpd_twin(spec: Spec, tmp_path: Path) -> None:
    c = conv(keepalived_text("n1", spec), tmp_path)
    assert c.complete, [str(f) for f in c.lost]
    (got,) = instances(c)
    twin = parse_config(spec.vrrpd(), "<twin>", env={}).vrrp_instance[0]
    assert got == to_dict(twin)


# ---------------------------------------------------------------------------------------------------
# keepalived's quirks, reproduced


def test_state_master_without_priority_means_owner(tmp_path: Path) -> None:
    text = MINIMAL.replace("interface eth0", "state MASTER\n        interface eth0\n        nopreempt")
    c = conv(text, tmp_path)
    (got,) = instances(c)
    assert got["priority"] == 255 and got["preempt"] is True
    assert {kw for _, kw in notes(c)} >= {"state MASTER", "priority", "nopreempt"}


def test_nopreempt_clears_preempt_delay(tmp_path: Path) -> None:
    text = MINIMAL.replace("interface eth0", "interface eth0\n        nopreempt\n        preempt_delay 30")
    c = conv(text, tmp_path)
    assert instances(c)[0]["preempt"] is False and instances(c)[0]["preempt_delay"] == 0.0
    assert (5, "preempt_delay") in notes(c)


@pytest.mark.parametrize(("given", "sent"), [("1.5", 2), ("1.4", 1), ("2.5", 3), ("0.4", 1), ("3", 3)])
def test_advert_int_rounds_like_keepalived(given: str, sent: int, tmp_path: Path) -> None:
    # keepalived 2.2.7 rounds a VRRPv2 interval half up, to at least 1 s (checked on the wire).
    text = MINIMAL.replace("interface eth0", f"interface eth0\n        advert_int {given}")
    instance(text, tmp_path, advert_int=sent)


def test_auth_pass_is_cut_to_eight_characters(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "interface eth0", "interface eth0\n        authentication {\n auth_type PASS\n auth_pass 0123456789 }"
    )
    instance(text, tmp_path, auth_pass="01234567")


def test_auth_type_ah_is_carried_over_with_its_key_cut_to_eight(tmp_path: Path) -> None:
    block = "interface eth0\n        authentication {\n auth_type AH\n auth_pass 0123456789 }"
    c = conv(MINIMAL.replace("interface eth0", block), tmp_path)
    (got,) = instances(c)
    assert (got["auth_type"], got["auth_pass"]) == ("AH", "01234567") and c.complete
    # VRRPv3: keepalived ignores the authentication, so does the import (both keys go).
    c = conv(MINIMAL.replace("interface eth0", "version 3\n        " + block), tmp_path)
    (got,) = instances(c)
    assert "auth_type" not in got and "auth_pass" not in got and c.complete
    # Without auth_pass keepalived runs without authentication: reported.
    c = conv(
        MINIMAL.replace("interface eth0", "interface eth0\n authentication {\n auth_type AH }"), tmp_path
    )
    assert (4, "authentication") in lost(c) and "auth_type" not in instances(c)[0]


def test_state_master_with_ah_keeps_nopreempt_and_preempt_delay(tmp_path: Path) -> None:
    # keepalived 2.2.7 --dump-conf of these two instances (checked by hand): "Initial state master is
    # incompatible with AH authentication - clearing", Wantstate BACKUP, Preempt disabled / Preempt delay 5.
    auth = "authentication {\n auth_type AH\n auth_pass s3cret }"
    for extra, expect in (("nopreempt", {"preempt": False}), ("preempt_delay 5", {"preempt_delay": 5})):
        text = MINIMAL.replace(
            "interface eth0", f"interface eth0\n state MASTER\n priority 100\n {extra}\n {auth}"
        )
        instance(text, tmp_path, priority=100, **expect)
    # Without AH (or as the owner) state MASTER clears them, as before.
    text = MINIMAL.replace("interface eth0", "interface eth0\n state MASTER\n priority 100\n nopreempt")
    instance(text, tmp_path, preempt=True)
    text = MINIMAL.replace("interface eth0", f"interface eth0\n state MASTER\n nopreempt\n {auth}")
    instance(text, tmp_path, priority=255, preempt=True)


def test_global_garp_defaults_apply_unless_the_instance_overrides(tmp_path: Path) -> None:
    text = "global_defs {\n vrrp_garp_master_delay 1\n vrrp_garp_master_refresh 30\n}\n" + MINIMAL.replace(
        "interface eth0", "interface eth0\n        garp_master_delay 2\n        garp_master_repeat 3"
    )
    instance(text, tmp_path, garp_master_delay=2.0, garp_master_repeat=3, garp_master_refresh=30.0)


def test_notify_fifo_and_router_id_go_to_global(tmp_path: Path) -> None:
    text = 'global_defs {\n router_id "lb 1"\n vrrp_notify_fifo /run/keepalived.fifo\n}\n' + MINIMAL
    c = conv(text, tmp_path)
    assert c.complete
    assert tomllib.loads(c.toml)["global"] == {"router_id": "lb 1", "notify_fifo": "/run/keepalived.fifo"}
    bad = conv('global_defs {\n router_id "a\\x7f-b"\n}\n' + MINIMAL, tmp_path)
    assert lost(bad) == [(2, "router_id")] and "global" not in tomllib.loads(bad.toml)


def test_the_fifo_script_of_the_fifo_vrrpd_writes_is_carried_over(tmp_path: Path) -> None:
    fifo = 'global_defs {\n notify_fifo /run/k.fifo\n notify_fifo_script "/usr/bin/reader -v"\n}\n'
    c = conv(fifo + MINIMAL, tmp_path)
    assert c.complete, [str(f) for f in c.findings]
    assert tomllib.loads(c.toml)["global"] == {
        "notify_fifo": "/run/k.fifo",
        "notify_fifo_script": ["/usr/bin/reader", "-v"],
    }
    # keepalived runs a FIFO's script only with that FIFO; a user after it is not carried over.
    alone = conv("global_defs {\n vrrp_notify_fifo_script /usr/bin/reader\n}\n" + MINIMAL, tmp_path)
    assert alone.complete and "global" not in tomllib.loads(alone.toml)
    assert lost(conv(fifo.replace('-v"', '-v" nobody') + MINIMAL, tmp_path)) == [(3, "notify_fifo_script")]
    # Two FIFOs in keepalived, one in vrrpd (the later line's): the other's reader is not carried over.
    both = fifo.replace(" notify_fifo /run/k.fifo", " notify_fifo /run/k.fifo\n vrrp_notify_fifo /run/v.fifo")
    assert lost(conv(both + MINIMAL, tmp_path)) == [(4, "notify_fifo_script")]


def test_gna_interval_goes_to_global(tmp_path: Path) -> None:
    c = conv("global_defs {\n vrrp_gna_interval 0.25\n vrrp_garp_interval 0.1\n}\n" + MINIMAL, tmp_path)
    assert c.complete
    assert tomllib.loads(c.toml)["global"] == {"gna_interval": 0.25, "garp_interval": 0.1}
    assert lost(conv("global_defs {\n vrrp_gna_interval 2\n}\n" + MINIMAL, tmp_path)) == [
        (2, "vrrp_gna_interval")
    ]


@pytest.mark.parametrize("text", ['a"b\\c', "tab\tand\x7fdel\x01", "naïve ✓"])
def test_strings_render_as_toml_that_reads_back(text: str) -> None:
    assert tomllib.loads(f"x = {_toml_value(text)}")["x"] == text


def test_script_timeout_defaults_to_interval_and_weights_carry_over(tmp_path: Path) -> None:
    text = (
        'vrrp_script chk { script "/bin/true"\n interval 4\n weight -20\n rise 2\n fall 3 }\n'
        + MINIMAL.replace("interface eth0", "interface eth0\n        track_script {\n chk\n }")
    ).replace('"/bin/true"', f'"{sys.executable}"')
    got = instance(text, tmp_path)
    assert got["track_script"] == [{"name": "chk"}]
    (script,) = tomllib.loads(conv(text, tmp_path).toml)["vrrp_script"]
    assert script == {
        "name": "chk",
        "script": [sys.executable],
        "interval": 4,  # keepalived's timeout defaults to the interval, as vrrpd's
        "rise": 2,
        "fall": 3,
        "weight": -20,  # keepalived's sign: lowered by 20 while failing
    }


def test_always_true_script_needs_no_check(tmp_path: Path) -> None:
    text = 'vrrp_script chk {\n script "true"\n}\n' + MINIMAL.replace(
        "interface eth0", "interface eth0\n track_script {\n chk\n }"
    )
    c = conv(text, tmp_path)
    assert "check" not in instances(c)[0] and c.complete


# ---------------------------------------------------------------------------------------------------
# What cannot be carried over is reported with its line


def test_unsupported_keywords_are_each_reported_with_their_line() -> None:
    c = convert(DATA / "unsupported.conf")
    assert not c.complete
    assert lost(c) == [
        (3, "vrrp_strict"),
        (59, "smtp_alert"),
        (62, "virtual_server"),
    ]
    # keepalived ignores an IPv6 address in an IPv4 instance: nothing is lost.
    assert (42, "2001:db8::1/64") in notes(c)
    (got,) = instances(c)  # what could be converted still loads
    # issue 14: a VIP's dev and label are carried over (dev eth0, the instance's own, says nothing).
    assert got["virtual_ipaddress"] == [
        {"address": "192.0.2.100/24", "label": "eth0:vip"},
        {"address": "192.0.2.102/24", "dev": "eth1"},
    ]
    assert got["advert_int"] == 2
    assert got["virtual_ipaddress_excluded"] == ["192.0.2.103/32"]
    assert got["use_vmac"] is True  # issue 14: carried over now
    # weight -10 on line 49, set to 0 as keepalived does for a member of the sync group VG_1
    assert got["track_interface"] == [{"name": "eth1", "weight": 0, "reverse": False}]
    assert got["notify_master"] == ["/usr/local/bin/master.sh", "--vip", "192.0.2.100"]
    assert got["notify_backup"] == ["/usr/local/bin/backup.sh"] and got["garp_lower_prio_repeat"] == 2
    # VI_1 is a sync group member: keepalived ignores its weighted scripts, and so does the import.
    assert got["track_script"] == []
    assert {kw for _, kw in notes(c)} >= {"vrrp_instance VI_1: track_script chk_down"}
    converted = tomllib.loads(c.toml)
    assert converted["global"]["enable_script_security"] is True
    assert converted["global"]["script_user"] == "keepalived_script"
    assert "vrrp_script" not in converted


def test_values_vrrpd_refuses_are_dropped_and_reported(tmp_path: Path) -> None:
    text = """
        vrrp_script chk { script "</dev/tcp/127.0.0.1/80"
            interval 1
            timeout 3 }
        vrrp_instance VI_1 {
            interface eth0
            virtual_router_id 51
            authentication { auth_type PASS
                auth_pass "a b" }
            track_script { chk }
            virtual_ipaddress { 192.0.2.100/24 }
        }
        vrrp_instance VI_2 {
            interface eth0
            virtual_router_id 51
            virtual_ipaddress { 192.0.2.101/24 }
        }
    """
    c = conv(text, tmp_path)
    (got,) = instances(c)
    assert "auth_pass" not in got
    problems = {kw: f.message for f in c.lost if (kw := f.keyword.split(" =")[0])}
    check = {"tcp_port": 80, "interval": 1.0, "timeout": 1.0, "rise": 1, "fall": 1, "weight": 0}
    assert got["check"] == check | {"host": "127.0.0.1"}  # a loopback service is a valid check target
    assert "> interval 1" in problems["vrrp_script chk"]
    assert "printable ASCII" in problems["auth_pass"]
    assert "already used" in problems["virtual_router_id"]  # VI_2 duplicates the VRID: dropped
    assert "<hidden>" in str(next(f for f in c.lost if f.keyword.startswith("auth_pass")))


def test_notify_with_arguments_and_multiple_track_scripts(tmp_path: Path) -> None:
    text = f"""
        vrrp_script a {{
            script "{sys.executable}"
        }}
        vrrp_script b {{
            script "{sys.executable}"
        }}
        vrrp_instance VI_1 {{
            interface eth0
            virtual_router_id 51
            notify "/usr/bin/logger -t vrrp"
            track_script {{
                a
                b weight -10
                c
            }}
            virtual_ipaddress {{ 192.0.2.100/24 }}
        }}
    """
    c = conv(text, tmp_path)
    assert lost(c) == []
    assert (15, "track_script c") in notes(c)  # no such vrrp_script: keepalived ignores it
    (got,) = instances(c)
    assert got["notify"] == ["/usr/bin/logger", "-t", "vrrp"]
    assert got["track_script"] == [{"name": "a"}, {"name": "b", "weight": -10}]


def test_an_ipv6_instance_converts_to_vrrpv3(tmp_path: Path) -> None:
    # keepalived runs IPv6 instances as VRRPv3 whatever vrrp_version says (issue 16: converted, no longer
    # dropped as unsupported).
    text = MINIMAL.replace("192.0.2.100/24", "2001:db8::1") + MINIMAL.replace("VI_1", "VI_2").replace(
        "51", "52"
    ).replace("100/24", "101/24")
    c = conv(text, tmp_path)
    assert c.complete, [str(f) for f in c.lost]
    v6, v4 = instances(c)
    assert (v6["name"], v6["version"], v6["virtual_ipaddress"]) == ("VI_1", 3, ["2001:db8::1/128"])
    assert (v4["name"], v4["version"]) == ("VI_2", 2)


def test_an_instance_name_vrrpd_refuses_is_renamed_and_reported(tmp_path: Path) -> None:
    c = conv(MINIMAL.replace("VI_1", "_web*vip"), tmp_path)
    assert instances(c)[0]["name"] == "i_web_vip"
    assert lost(c) == [(2, "vrrp_instance _web*vip")]


def test_namespace_slash_names_are_kept(tmp_path: Path) -> None:
    """keepalived-operator names its instances namespace/service."""
    c = conv(MINIMAL.replace("VI_1", "default/web"), tmp_path)
    assert instances(c)[0]["name"] == "default/web" and c.complete


def test_long_names_stay_unique_when_shortened(tmp_path: Path) -> None:
    long = "x" * 70
    second = MINIMAL.replace("VI_1", long + "b").replace("51", "52").replace(".100", ".101")
    text = MINIMAL.replace("VI_1", long + "a") + second
    names = [inst["name"] for inst in instances(conv(text, tmp_path))]
    assert names == ["x" * 64, "x" * 62 + "-2"]


def test_finding_renders_file_line_keyword_level_message() -> None:
    f = Finding(Location("/etc/keepalived/keepalived.conf", 7), "use_vmac", "not carried over", "why")
    assert str(f) == "/etc/keepalived/keepalived.conf:7: use_vmac: not carried over: why"


def test_convert_parsed_names_its_source() -> None:
    c = convert_parsed(parse_text(textwrap.dedent(MINIMAL)), "inline")
    assert c.complete and "# Converted from inline" in c.toml


# ---------------------------------------------------------------------------------------------------
# The command line


def test_cli_writes_toml_and_exits_0_when_complete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "vrrpd.toml"
    assert cli_main(["import-keepalived", str(DATA / "ipfailover.conf"), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "2 instance(s) converted from 1 file(s); 0 item(s) not carried over" in err
    assert f"{DATA / 'ipfailover.conf'}:53: state MASTER: note:" in err
    assert len(instances(Conversion(out.read_text(), [], 2, []))) == 2


def test_cli_exits_1_and_writes_nothing_when_partial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "vrrpd.toml"
    assert cli_main(["import-keepalived", str(DATA / "unsupported.conf"), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert not out.exists()
    assert f"vrrpd: {DATA / 'unsupported.conf'}:3: vrrp_strict: not carried over:" in err
    assert "3 item(s) not carried over; nothing written (--allow-partial writes it anyway)" in err
    assert (
        cli_main(["import-keepalived", str(DATA / "unsupported.conf"), "-o", str(out), "--allow-partial"])
        == 0
    )
    assert out.exists()
    assert (
        subprocess.run(
            [*CHECK_CONFIG, "--no-interface-check", "--no-file-check", "--config", str(out)],
            capture_output=True,
            check=False,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])},
        ).returncode
        == 0
    )


def test_cli_exits_2_with_one_line_when_unreadable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.conf"
    bad.write_text("vrrp_instance VI_1 {\n")
    assert cli_main(["import-keepalived", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"vrrpd: {bad}:1: block opened here is never closed (missing '}}')"]
    assert cli_main(["import-keepalived", str(tmp_path / "absent.conf")]) == 2


def test_cli_stdout_and_config_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli_main(["import-keepalived", str(DATA / "includes" / "keepalived.conf"), "--config-id", "main"])
        == 0
    )
    out = capsys.readouterr().out
    assert 'router_id = "main router"' in out and "priority = 150" in out


def test_cli_no_instance_is_a_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "k.conf"
    path.write_text("global_defs {\n router_id x\n}\n")
    assert cli_main(["import-keepalived", str(path), "--allow-partial"]) == 1
    assert "no vrrp_instance could be converted" in capsys.readouterr().err


def test_excluded_vips_convert_and_blocks_merge(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "    }\n",
        "        virtual_ipaddress_excluded {\n            192.0.2.101\n        }\n"
        "        virtual_ipaddress_excluded {\n            192.0.2.102/24\n        }\n    }\n",
    )
    instance(
        text,
        tmp_path,
        virtual_ipaddress=["192.0.2.100/24"],
        virtual_ipaddress_excluded=["192.0.2.101/32", "192.0.2.102/24"],
    )


def test_vips_beyond_255_move_to_excluded_as_keepalived_does(tmp_path: Path) -> None:
    addresses = [f"198.51.100.{i}" for i in range(1, 255)] + [f"203.0.113.{i}" for i in range(1, 47)]
    text = MINIMAL.replace("            192.0.2.100/24\n", "".join(f"            {a}\n" for a in addresses))
    c = conv(text, tmp_path)
    (got,) = instances(c)
    assert got["virtual_ipaddress"] == [f"{a}/32" for a in addresses[:255]]
    assert got["virtual_ipaddress_excluded"] == [f"{a}/32" for a in addresses[255:]]
    assert any(keyword == "virtual_ipaddress" for _, keyword in notes(c)) and c.complete


def test_skip_check_adv_addr_carries_over_from_global_defs_or_the_instance(tmp_path: Path) -> None:
    text = "global_defs {\n    vrrp_skip_check_adv_addr\n}\n" + MINIMAL
    c = conv(text, tmp_path)
    assert c.complete and instances(c)[0]["skip_check_adv_addr"] is True
    text = MINIMAL.replace("interface eth0", "interface eth0\n        skip_check_adv_addr off")
    assert instances(conv(text, tmp_path))[0]["skip_check_adv_addr"] is False
