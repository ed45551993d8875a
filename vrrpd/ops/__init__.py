"""What operators talk to: the control socket, ``vrrpd status``, Prometheus metrics and the HTTP probes."""
