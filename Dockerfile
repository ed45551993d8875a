# vrrpd for OpenShift/Kubernetes ipfailover, built from this checkout:
#   docker build -t vrrpd:0.1.0 .
# The pod (see `vrrpd manifest`) runs it with hostNetwork and the NET_ADMIN + NET_RAW capabilities; by hand:
#   docker run --rm --network host --cap-drop ALL --cap-add NET_ADMIN --cap-add NET_RAW \
#     -e OPENSHIFT_HA_VIRTUAL_IPS=192.0.2.100 -e OPENSHIFT_HA_NETWORK_INTERFACE=eth0 vrrpd:0.1.0
FROM python:3.11-slim-bookworm

# tini: PID 1 must reap orphans of notify/check scripts and pass SIGTERM on (vrrpd then sends its
# priority-0 advertisement); it is an init, not a shell. nftables: the optional VRRP accept table.
# No kmod/ip_vs (VRRP does not need IPVS) and no iproute2 (vrrpd speaks netlink itself).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends nftables tini \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY pyproject.toml README.md /src/
COPY vrrpd /src/vrrpd
RUN pip install /src && rm -rf /src

LABEL org.opencontainers.image.title="vrrpd" \
      org.opencontainers.image.description="Pure-Python VRRP daemon (VRRPv2 RFC 3768, VRRPv3 RFC 5798); drop-in for the ipfailover keepalived" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.k8s.display-name="vrrpd IP failover" \
      io.openshift.tags="openshift,ha,ip,failover,vrrp"

# Root inside the container, but with only the capabilities the pod grants (NET_ADMIN, NET_RAW):
# without ambient-capability support in Kubernetes, a non-root user could not use them.
# hadolint ignore=DL3002
USER 0
ENTRYPOINT ["/usr/bin/tini", "--", "vrrpd"]
CMD ["run", "--openshift"]
