"""Kubernetes service links: the variables a Service injects into every pod of its namespace.

A Service named ``vrrpd`` (or ``openshift-ha``, ``vrrpd-metrics``…) makes the kubelet add
``VRRPD_SERVICE_HOST``, ``VRRPD_SERVICE_PORT``, ``VRRPD_PORT=tcp://…``, ``VRRPD_PORT_9650_TCP_ADDR``… to
each pod unless ``enableServiceLinks: false``. They share our prefixes, so a strict reader of
``VRRPD_*`` or ``OPENSHIFT_HA_*`` would refuse to start on every node at once. `is_service_link`
recognises them by name *and* value, so that a typo of a real variable (``VRRPD_LOG_FROMAT=json``) is
still reported.
"""

from __future__ import annotations

import re
from ipaddress import ip_address

__all__ = ["is_service_link"]

_NAME = re.compile(
    r"^[A-Z][A-Z0-9_]*?_(?:"
    r"(?P<host>SERVICE_HOST)"
    r"|(?P<service_port>SERVICE_PORT(?:_[A-Z0-9_]+)?)"
    r"|(?P<link>PORT(?:_[0-9]{1,5}_(?:TCP|UDP|SCTP))?)"
    r"|(?P<field>PORT_[0-9]{1,5}_(?:TCP|UDP|SCTP)_(?P<which>PROTO|PORT|ADDR))"
    r")$"
)
_URL = re.compile(r"^(?:tcp|udp|sctp)://(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<v4>[0-9.]+)):[0-9]{1,5}$")
_PORT = re.compile(r"^[0-9]{1,5}$")


def _is_ip(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


def is_service_link(name: str, value: str) -> bool:
    """Whether ``name=value`` has the shape of a Kubernetes service-link variable."""
    match = _NAME.match(name)
    if match is None:
        return False
    if match["host"]:
        return _is_ip(value)
    if match["service_port"]:
        return bool(_PORT.match(value))
    if match["link"]:
        url = _URL.match(value)
        return url is not None and _is_ip(url["v6"] or url["v4"])
    which = match["which"]
    if which == "PROTO":
        return value in ("tcp", "udp", "sctp")
    if which == "PORT":
        return bool(_PORT.match(value))
    return _is_ip(value)
