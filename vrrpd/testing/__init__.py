"""Test tooling shipped with vrrpd: the network-namespace lab, its sniffer and a pytest plugin.

`Lab` builds a sealed Ethernet segment of namespaces (needs root and iproute2, nothing else);
`vrrpd.testing.plugin` exposes it to pytest as the `vrrp_lab` fixture factory.
"""

from vrrpd.testing.lab import Capture, Lab, LabError, Process, unavailable_reason, wait_until
from vrrpd.testing.sniff import ArpEvent, Event, IcmpEvent, VrrpEvent

__all__ = [
    "ArpEvent",
    "Capture",
    "Event",
    "IcmpEvent",
    "Lab",
    "LabError",
    "Process",
    "VrrpEvent",
    "unavailable_reason",
    "wait_until",
]
