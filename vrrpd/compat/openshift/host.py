"""This node as the ``--openshift`` configuration sees it, and the image's choice of interface.

`HostFacts` is the only way the OpenShift layer looks at the host: which interfaces exist (in kernel
order), an interface's primary IPv4 address, and the device of the route to 8.8.8.8. `LiveHost` asks the
kernel; tests pass a model. `image_interface` repeats the ipfailover image's ``get_network_device``
(``lib/utils.sh``): the configured name if it exists, else the first existing of
``enp0s3 enp0s8 eth1 ens3``, else the device of the route to 8.8.8.8.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Protocol

__all__ = ["IMAGE_INTERFACES", "ROUTE_PROBE", "HostFacts", "InterfaceChoice", "LiveHost", "image_interface"]

# The image's VBOX_INTERFACES, tried in this order after the configured name.
IMAGE_INTERFACES = ("enp0s3", "enp0s8", "eth1", "ens3")
# The image's last resort: `ip route get 8.8.8.8`, i.e. the device of the default route.
ROUTE_PROBE = IPv4Address("8.8.8.8")


class HostFacts(Protocol):
    """What the configuration needs to know about the host it runs on."""

    def interface_names(self) -> list[str]: ...
    def primary_address(self, interface: str) -> IPv4Address | None: ...
    def route_interface(self) -> str | None: ...


class LiveHost:
    """The real host: interface names from the kernel, addresses and routes through netlink."""

    def interface_names(self) -> list[str]:
        return [name for _, name in socket.if_nameindex()]

    def primary_address(self, interface: str) -> IPv4Address | None:
        from vrrpd.kernel.netlink import Netlink  # noqa: PLC0415 - pyroute2 is heavy; only when needed

        async def look() -> IPv4Address | None:
            async with Netlink(subscribe=False) as netlink:
                return (await netlink.link(interface)).primary

        return asyncio.run(look())

    def route_interface(self) -> str | None:
        from vrrpd.kernel.netlink import Netlink  # noqa: PLC0415

        async def look() -> str | None:
            async with Netlink(subscribe=False) as netlink:
                return await netlink.route_device(ROUTE_PROBE)

        return asyncio.run(look())


@dataclass(frozen=True)
class InterfaceChoice:
    """The interface the image would bind, and how it got there (for the log and check-config)."""

    name: str | None  # None: the image found none (it wrote an empty `interface`)
    how: str


def image_interface(host: HostFacts, configured: str | None) -> InterfaceChoice:
    """``get_network_device "$OPENSHIFT_HA_NETWORK_INTERFACE"``, with the reason for the choice."""
    existing = set(host.interface_names())
    words = configured.split() if configured else []
    for name in (*words, *IMAGE_INTERFACES):
        if name in existing:
            if name in words:
                return InterfaceChoice(name, "as configured")
            listed = ", ".join(IMAGE_INTERFACES)
            return InterfaceChoice(
                name, f"the first of {listed} that exists on this host, as the image picks"
            )
    device = host.route_interface()
    if device is None:
        return InterfaceChoice(
            None, f"none of {', '.join(IMAGE_INTERFACES)} exists and there is no default route"
        )
    return InterfaceChoice(
        device,
        f"none of {', '.join(IMAGE_INTERFACES)} exists: the device of the route to {ROUTE_PROBE}, as the "
        "image picks",
    )
