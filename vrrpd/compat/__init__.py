"""Compatibility with what vrrpd replaces: keepalived.conf import and the OpenShift ipfailover environment."""
