"""vrrpd: a pure-Python VRRPv2 daemon (RFC 3768) for floating virtual IPs on Linux."""

__version__ = "0.1.0"
