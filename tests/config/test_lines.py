"""The line an error names: vrrpd.config.lines against hand-counted TOML files."""

from __future__ import annotations

from pathlib import Path

import pytest

from vrrpd.config import ConfigError, check_interfaces, load_config, parse_config
from vrrpd.config.lines import key_lines, line_of

TEXT = '''\
# a comment = not a key
[global]
router_id = "n1"   # trailing comment with [brackets]

[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
virtual_ipaddress = [
  "192.0.2.1",   # priority = 1 inside an array is not a key
  "192.0.2.2",
]
notify = """
priority = 2 inside a multi-line string is not a key
"""
check = { tcp_port = 80, weight = 0 }

[[vrrp_instance]]
"name" = 'VI_2'
interface = "eth0"
virtual_router_id = 52
virtual_ipaddress = ["192.0.2.3"]

[vrrp_instance.check]
tcp_port = 81
'''


def test_keys_and_headers_are_found_on_their_lines() -> None:
    lines = key_lines(TEXT)
    assert lines["global"] == 2
    assert lines["global.router_id"] == 3
    assert lines["vrrp_instance[0]"] == 5
    assert lines["vrrp_instance[0].virtual_ipaddress"] == 9
    assert lines["vrrp_instance[0].notify"] == 13
    assert lines["vrrp_instance[0].check"] == 16
    assert lines["vrrp_instance[1]"] == 18
    assert lines["vrrp_instance[1].name"] == 19
    assert lines["vrrp_instance[1].check"] == 24
    assert lines["vrrp_instance[1].check.tcp_port"] == 25
    # Nothing inside the array or the multi-line string was taken for a key.
    assert "vrrp_instance[0].priority" not in lines


@pytest.mark.parametrize(
    ("key", "line"),
    [
        ("vrrp_instance[0].virtual_ipaddress[1]", 9),  # an element: its key's line
        ("vrrp_instance[0].check.weight", 16),  # inside an inline table: the table's key
        ("vrrp_instance[1].priority", 18),  # a key the table lacks: its header
        ("vrrp_sync_group[0].group", None),  # nothing of it in the file
    ],
)
def test_a_place_without_its_own_line_gets_the_nearest_enclosing_one(key: str, line: int | None) -> None:
    assert line_of(key_lines(TEXT), key) == line


# TEXT without its multi-line notify string (not a valid command), line numbers unchanged.
VALID = TEXT.replace('notify = """\npriority = 2 inside a multi-line string is not a key\n"""', "#\n#\n#")


def test_a_config_error_names_file_line_and_key() -> None:
    text = VALID.replace("virtual_router_id = 52", "virtual_router_id = 300").replace(
        "tcp_port = 81", "tcp_port = 0"
    )
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "/etc/vrrpd/vrrpd.toml", env={})
    assert str(exc.value).startswith("/etc/vrrpd/vrrpd.toml:21: vrrp_instance[1].virtual_router_id = 300: ")
    assert "; /etc/vrrpd/vrrpd.toml:25: vrrp_instance[1].check.tcp_port = 0: " in str(exc.value)


def test_a_value_from_the_environment_names_the_variable_not_a_line() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(VALID, "t.toml", env={"VRRPD_LOG_FORMAT": "xml"})
    assert str(exc.value).startswith("VRRPD_LOG_FORMAT: global.log_format = ")


def test_checks_after_validation_name_the_line_too(tmp_path: Path) -> None:
    # The interface check runs on the host after validation, from the Config alone.
    path = tmp_path / "vrrpd.toml"
    second = 'interface = "eth0"\nvirtual_router_id = 52'
    text = VALID.replace(second, second.replace("eth0", "vrrpd-none0"))
    path.write_text(text.replace('interface = "eth0"', 'interface = "lo"', 1))  # hosts differ: lo exists
    with pytest.raises(ConfigError) as exc:
        check_interfaces(load_config(path, env={}))
    assert (
        str(exc.value)
        == f'{path}:20: vrrp_instance[1].interface = "vrrpd-none0": no such network interface on this host'
    )
