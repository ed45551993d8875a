"""The OpenShift ipfailover contract: ``OPENSHIFT_HA_*`` environment, VIP spreading, the Kubernetes
manifest."""
