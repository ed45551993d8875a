"""The OpenShift ipfailover contract: ``vrrpd run --openshift`` and friends.

- `env`: the ``OPENSHIFT_HA_*`` variables, their defaults and rules (`values` reads single values as the
  image's bash does);
- `host`: what the host tells (`HostFacts`), and the image's choice of interface;
- `plan`: this node's configuration (interface, address, spread priorities, the validated Config);
- `render`: the equivalent TOML and the check-config summary;
- `run`: ``check-config --openshift`` and ``run --openshift`` (the firewall table around the daemon);
- `spread`: priorities that spread the masters; `manifest`: the Kubernetes YAML.
"""
