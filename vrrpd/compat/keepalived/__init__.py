"""keepalived.conf: a parser that reads it as keepalived does, and `vrrpd import-keepalived`."""
