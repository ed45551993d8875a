"""Kubernetes service-link variables never stop vrrpd from starting; typos of real variables still do.

A Service named ``vrrpd`` (or ``openshift-ha``) in the namespace makes the kubelet inject
``VRRPD_SERVICE_HOST``, ``VRRPD_PORT_9650_TCP``… into every pod; before, each pod refused to start on
them (issue 13, item 14).
"""

from __future__ import annotations

import pytest

from vrrpd.config import ConfigError, parse_config
from vrrpd.config.servicelinks import is_service_link

MINIMAL = """
[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
virtual_ipaddress = ["192.0.2.100/24"]
"""

# What the kubelet injects for a Service "vrrpd" with ports 9650/TCP (named "metrics") and 53/UDP.
VRRPD_SERVICE = {
    "VRRPD_SERVICE_HOST": "203.0.113.40",
    "VRRPD_SERVICE_PORT": "9650",
    "VRRPD_SERVICE_PORT_METRICS": "9650",
    "VRRPD_PORT": "tcp://203.0.113.40:9650",
    "VRRPD_PORT_9650_TCP": "tcp://203.0.113.40:9650",
    "VRRPD_PORT_9650_TCP_PROTO": "tcp",
    "VRRPD_PORT_9650_TCP_PORT": "9650",
    "VRRPD_PORT_9650_TCP_ADDR": "203.0.113.40",
    "VRRPD_PORT_53_UDP": "udp://203.0.113.40:53",
    # A Service "vrrpd-metrics", on an IPv6 cluster.
    "VRRPD_METRICS_SERVICE_HOST": "2001:db8::40",
    "VRRPD_METRICS_PORT": "tcp://[2001:db8::40]:9650",
}


@pytest.mark.parametrize(("name", "value"), sorted(VRRPD_SERVICE.items()))
def test_service_link_shapes_are_recognised(name: str, value: str) -> None:
    assert is_service_link(name, value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("VRRPD_LOG_FROMAT", "json"),  # a typo: not the shape of a link
        ("VRRPD_METRICS_PORT", "9650"),  # a link's _PORT is a URL: this is a mistaken setting
        ("VRRPD_SERVICE_HOST", "vrrpd.example"),  # links carry addresses, not names
        ("VRRPD_PORT_9650_TCP_PROTO", "http"),
        ("VRRPD_PORT_9650_TCP", "tcp://203.0.113.40"),
        ("VRRPD_PORT_X_TCP", "tcp://203.0.113.40:1"),
        ("vrrpd_service_host", "203.0.113.40"),
    ],
)
def test_other_names_and_values_are_not_links(name: str, value: str) -> None:
    assert not is_service_link(name, value)


def test_the_daemon_starts_with_a_vrrpd_service_in_the_namespace() -> None:
    config = parse_config(MINIMAL, "vrrpd.toml", {**VRRPD_SERVICE, "VRRPD_ROUTER_ID": "node-a"})
    assert config.global_.router_id == "node-a"


def test_a_typo_is_still_refused_with_a_hint() -> None:
    with pytest.raises(
        ConfigError, match=r"^VRRPD_LOG_FROMAT: unknown vrrpd environment variable; did you mean"
    ):
        parse_config(MINIMAL, "vrrpd.toml", {**VRRPD_SERVICE, "VRRPD_LOG_FROMAT": "json"})
