"""vrrpd: a pure-Python VRRP daemon (VRRPv2 RFC 3768, VRRPv3 RFC 5798) for floating virtual IPs on Linux."""

__version__ = "0.1.0"
