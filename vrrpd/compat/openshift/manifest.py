"""``vrrpd manifest``: Kubernetes YAML for an ipfailover deployment, the successor of ``oadm ipfailover``.

This module owns the shape of what we deploy: a ServiceAccount and a Deployment (strategy Recreate,
one pod per node by required pod anti-affinity) or a DaemonSet; host networking; only NET_ADMIN and
NET_RAW (privileged only on request, for OpenShift SCCs); the ``OPENSHIFT_HA_*`` environment the
container's ``vrrpd run --openshift`` reads; liveness and readiness probes that ask the daemon itself over
HTTP (`vrrpd.ops.metrics`: /healthz and /readyz). Flag values are validated by the same code as the
environment (`vrrpd.compat.openshift.env.parse_env`), so a bad ``--virtual-ips`` is one line naming the flag.

YAML is written by a small emitter for the few types used here (every string double-quoted, so "80"
and "true" stay strings), not a YAML library: the daemon's image needs no extra dependency for it.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from vrrpd import __version__
from vrrpd.compat.openshift import env as openshift
from vrrpd.config import ConfigError, GlobalConfig, from_dict

__all__ = ["Options", "add_parser", "main", "objects", "render", "to_yaml"]

DEFAULT_IMAGE = f"vrrpd:{__version__}"
DEFAULT_METRICS_LISTEN = "127.0.0.1:9650"
KINDS = ("deployment", "daemonset")
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # RFC 1123 label: names and label values
_LABEL_KEY_RE = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_SELECTOR_LABEL = "ipfailover"  # the label oadm ipfailover put on its pods; kept for familiarity

# Which flag sets which variable: errors found by openshift.parse_env are reported under the flag.
_FLAG_FOR = {
    openshift.CONFIG_NAME: "NAME",
    openshift.VIRTUAL_IPS: "--virtual-ips",
    openshift.VIP_GROUPS: "--virtual-ip-groups",
    openshift.NETWORK_INTERFACE: "--interface",
    openshift.MONITOR_PORT: "--watch-port",
    openshift.CHECK_SCRIPT: "--check-script",
    openshift.CHECK_INTERVAL: "--check-interval",
    openshift.NOTIFY_SCRIPT: "--notify-script",
    openshift.PREEMPTION: "--preemption-strategy",
    openshift.VRRP_ID_OFFSET: "--vrrp-id-offset",
    openshift.REPLICA_COUNT: "--replicas",
    openshift.UNICAST_PEERS: "--unicast-peers",
    openshift.SPREAD_NODES: "--spread-nodes",
}


@dataclass(frozen=True)
class Options:
    """The validated flags."""

    name: str
    env: dict[str, str]  # the OPENSHIFT_HA_* variables, as strings
    kind: str = "deployment"
    replicas: int = 1
    selector: dict[str, str] | None = None
    namespace: str | None = None
    service_account: str | None = None
    image: str = DEFAULT_IMAGE
    privileged: bool = False
    metrics_listen: str = DEFAULT_METRICS_LISTEN


def _issue(flag: str, value: str | None, problem: str) -> ConfigError:
    return ConfigError(openshift.EnvIssue(flag, problem, value=None if value is None else f'"{value}"'))


def _parse_selector(text: str) -> dict[str, str]:
    selector: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key, eq, value = part.partition("=")
        if not eq or not _LABEL_KEY_RE.match(key) or not _LABEL_VALUE_RE.match(value) or len(value) > 63:
            raise _issue("--selector", text, 'must be node labels "key=value[,key=value...]", e.g. "ha=true"')
        selector[key] = value
    return selector


def options_from_args(args: argparse.Namespace) -> Options:
    """Validate the parsed flags into `Options`; ConfigError (one line) names the flag."""
    name: str = args.name
    if not _NAME_RE.match(name) or len(name) > min(63, openshift.MAX_NAME_LENGTH):
        raise _issue(
            "NAME",
            name,
            f"must be 1..{min(63, openshift.MAX_NAME_LENGTH)} lower-case letters, digits or '-', starting "
            "and ending with a letter or digit",
        )
    replicas = 1
    if args.replicas is not None:
        text = args.replicas.strip()
        if not text.isdigit() or not 1 <= int(text) <= 254:
            raise _issue("--replicas", args.replicas, "must be an integer 1..254")
        replicas = int(text)
    env: dict[str, str] = {
        openshift.CONFIG_NAME: name,
        openshift.VIRTUAL_IPS: args.virtual_ips or "",
        openshift.MONITOR_PORT: args.watch_port,
        openshift.REPLICA_COUNT: str(replicas),
        openshift.PREEMPTION: args.preemption_strategy,
        openshift.CHECK_INTERVAL: args.check_interval,
    }
    optional = {
        openshift.VIP_GROUPS: args.virtual_ip_groups,
        openshift.VRRP_ID_OFFSET: args.vrrp_id_offset,
        openshift.NETWORK_INTERFACE: args.interface,
        openshift.CHECK_SCRIPT: args.check_script,
        openshift.NOTIFY_SCRIPT: args.notify_script,
        openshift.UNICAST_PEERS: args.unicast_peers,
        openshift.SPREAD_NODES: args.spread_nodes,
    }
    env |= {var: value for var, value in optional.items() if value is not None}
    if args.firewall:
        env[openshift.NFTABLES_RULE] = "accept-vrrp"
    if args.iptables_chain:
        # oadm's flag, kept so its command lines carry over; any value just turns the rule on.
        env[openshift.IPTABLES_CHAIN] = args.iptables_chain
    try:
        # The scripts live in the pod, not on this machine: only their form is checked here.
        openshift.parse_env(env, check_files=False)
    except ConfigError as exc:
        issues = [replace(i, source=_FLAG_FOR.get(i.source, i.source)) for i in exc.issues]
        raise ConfigError(*issues) from None
    try:
        from_dict(GlobalConfig, {"metrics_listen": args.metrics_listen})
    except ConfigError:
        raise _issue(
            "--metrics-listen", args.metrics_listen, 'must be "host:port", e.g. "127.0.0.1:9650"'
        ) from None
    if args.metrics_listen == "":
        raise _issue("--metrics-listen", "", "the probes need it: give a host:port")
    if args.service_account is not None and not _NAME_RE.match(args.service_account):
        raise _issue("--service-account", args.service_account, "must be a lower-case RFC 1123 name")
    if args.namespace is not None and not _NAME_RE.match(args.namespace):
        raise _issue("--namespace", args.namespace, "must be a lower-case RFC 1123 name")
    if not args.image or any(c.isspace() for c in args.image):
        raise _issue("--image", args.image, "must be an image reference, e.g. registry.example/vrrpd:0.1.0")
    return Options(
        name=name,
        env=env,
        kind=args.kind,
        replicas=replicas,
        selector=_parse_selector(args.selector) if args.selector else None,
        namespace=args.namespace,
        service_account=args.service_account,
        image=args.image,
        privileged=args.privileged,
        metrics_listen=args.metrics_listen,
    )


# ---------------------------------------------------------------------------------------------
# The objects


def _probe_target(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    # The kubelet probes from the host's network namespace, which a hostNetwork pod shares, so a
    # loopback listener is reachable; a wildcard listener is probed on loopback too.
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return host, int(port)


def _security_context(privileged: bool) -> dict[str, Any]:
    if privileged:
        # For OpenShift's "privileged" SCC; Kubernetes refuses allowPrivilegeEscalation: false with it.
        return {"privileged": True, "readOnlyRootFilesystem": True, "runAsUser": 0}
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsUser": 0,  # capabilities reach only root's processes without ambient-capability support
        "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
    }


def objects(opts: Options) -> list[dict[str, Any]]:
    """The ServiceAccount and the Deployment or DaemonSet, as plain data."""
    account = opts.service_account or opts.name
    match = {_SELECTOR_LABEL: opts.name}
    labels = {"app.kubernetes.io/name": "vrrpd", "app.kubernetes.io/instance": opts.name, **match}
    meta: dict[str, Any] = {"name": opts.name, "labels": labels}
    if opts.namespace:
        meta["namespace"] = opts.namespace
    probe_host, probe_port = _probe_target(opts.metrics_listen)

    def probe(path: str, period: int, failures: int) -> dict[str, Any]:
        return {
            "httpGet": {"host": probe_host, "port": probe_port, "path": path},
            "periodSeconds": period,
            "timeoutSeconds": 2,
            "failureThreshold": failures,
        }

    env: list[dict[str, Any]] = [{"name": var, "value": value} for var, value in opts.env.items()]
    env += [
        {"name": "VRRPD_ROUTER_ID", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "VRRPD_LOG_FORMAT", "value": "json"},
        {"name": "VRRPD_METRICS_LISTEN", "value": opts.metrics_listen},
    ]
    container = {
        "name": "vrrpd",
        "image": opts.image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["run", "--openshift"],
        "env": env,
        "securityContext": _security_context(opts.privileged),
        "startupProbe": probe("/healthz", 1, 30),
        "livenessProbe": probe("/healthz", 10, 3),
        "readinessProbe": probe("/readyz", 5, 2),
        "resources": {"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "volumeMounts": [{"name": "run", "mountPath": "/run/vrrpd"}, {"name": "tmp", "mountPath": "/tmp"}],
    }
    pod_spec: dict[str, Any] = {
        "serviceAccountName": account,
        "hostNetwork": True,  # the VIPs go on the node's own interface
        # A Service named vrrpd or openshift-ha would inject VRRPD_SERVICE_HOST, OPENSHIFT_HA_PORT… into
        # the pod; the daemon tolerates them, but they have no business in its environment.
        "enableServiceLinks": False,
        "dnsPolicy": "ClusterFirstWithHostNet",
        # A graceful stop hands over in well under a second (priority-0 advert); 10 s is plenty.
        "terminationGracePeriodSeconds": 10,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": [
            {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
        ],
    }
    if opts.selector:
        pod_spec["nodeSelector"] = dict(opts.selector)
    template = {"metadata": {"labels": labels}, "spec": pod_spec}
    spec: dict[str, Any] = {"selector": {"matchLabels": match}, "template": template}
    if opts.kind == "deployment":
        # Two pods of one configuration on one node would run the same VRIDs twice: forbid it outright
        # (the image relied on a hostPort clash for this), and never surge during a rollout.
        pod_spec["affinity"] = {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": match}, "topologyKey": "kubernetes.io/hostname"}
                ]
            }
        }
        workload = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {"replicas": opts.replicas, "strategy": {"type": "Recreate"}, **spec},
        }
    else:
        workload = {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": meta,
            "spec": {
                "updateStrategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
                },
                **spec,
            },
        }
    account_meta: dict[str, Any] = {"name": account, "labels": labels}
    if opts.namespace:
        account_meta["namespace"] = opts.namespace
    service_account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": account_meta}
    return [service_account, workload]


# ---------------------------------------------------------------------------------------------
# YAML

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]*$")


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        import json  # noqa: PLC0415 - only for the quoting

        return json.dumps(value, ensure_ascii=False)  # JSON strings are YAML double-quoted scalars
    if value == {}:
        return "{}"
    if value == []:
        return "[]"
    raise TypeError(f"cannot render {type(value).__name__} as YAML")


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, dict | list) or not value


def _emit(value: Any, indent: int) -> list[str]:
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, dict) and value:
        for key, item in value.items():
            shown = key if _PLAIN_KEY.match(key) else _scalar(key)
            if _is_scalar(item):
                lines.append(f"{pad}{shown}: {_scalar(item)}")
            else:
                lines.append(f"{pad}{shown}:")
                # Lists sit at their key's indentation (kubectl's style); maps one level deeper.
                lines += _emit(item, indent if isinstance(item, list) else indent + 1)
        return lines
    if isinstance(value, list) and value:
        for item in value:
            if _is_scalar(item):
                lines.append(f"{pad}- {_scalar(item)}")
            else:
                sub = _emit(item, indent + 1)
                lines.append(f"{pad}- {sub[0][len(pad) + 2 :]}")
                lines += sub[1:]
        return lines
    return [f"{pad}{_scalar(value)}"]


def to_yaml(documents: Sequence[Mapping[str, Any]]) -> str:
    """Several YAML documents, each introduced by ``---``."""
    return "".join("---\n" + "\n".join(_emit(dict(doc), 0)) + "\n" for doc in documents)


def render(opts: Options) -> str:
    """The manifest text."""
    header = (
        f"# vrrpd {__version__} ipfailover manifest for {opts.name!r}: "
        f"{opts.env[openshift.VIRTUAL_IPS]} (`vrrpd manifest`)\n"
    )
    return header + to_yaml(objects(opts))


# ---------------------------------------------------------------------------------------------
# Command line


def add_parser(commands: Any) -> None:
    """Register ``vrrpd manifest`` on the CLI's subparsers."""
    p = commands.add_parser(
        "manifest",
        help="print Kubernetes YAML for an ipfailover deployment (successor of `oadm ipfailover`)",
    )
    # Values are taken as strings and validated by us, so a bad one is one line naming the flag.
    p.add_argument("name", nargs="?", default="ipfailover", metavar="NAME", help="name (default: ipfailover)")
    p.add_argument("--virtual-ips", metavar="LIST", help="VIPs and ranges, e.g. 10.245.2.101-105 (required)")
    p.add_argument("--replicas", metavar="N", help="pods (Deployment); the expected node count (default: 1)")
    p.add_argument("--selector", metavar="K=V[,K=V]", help="node labels the pods run on")
    p.add_argument("--kind", choices=KINDS, default="deployment", help="workload kind (default: deployment)")
    p.add_argument("--watch-port", default="80", metavar="PORT", help="TCP port checked on the node; 0: none")
    p.add_argument(
        "--interface",
        metavar="IF",
        help="interface for VRRP and the VIPs (default: as the image picks on each node: the first of "
        "enp0s3, enp0s8, eth1, ens3 that exists, else the default-route device)",
    )
    p.add_argument(
        "--vrrp-id-offset",
        metavar="N",
        help=f"VRID = offset + group number (default: {openshift.DEFAULT_VRRP_ID_OFFSET}, as the image)",
    )
    p.add_argument("--virtual-ip-groups", metavar="N", help="VRRP groups the VIPs are split into")
    p.add_argument("--check-script", metavar="PATH", help="check script in the pod (replaces --watch-port)")
    p.add_argument("--check-interval", default="2", metavar="SECONDS", help="check interval (default: 2)")
    p.add_argument("--notify-script", metavar="PATH", help="script in the pod called on state changes")
    p.add_argument(
        "--preemption-strategy",
        default=openshift.DEFAULT_PREEMPTION,
        metavar="S",
        help='"nopreempt" or "preempt_delay N" (default: "preempt_delay 300")',
    )
    p.add_argument("--unicast-peers", metavar="LIST", help="the nodes' addresses: unicast, exact spread")
    p.add_argument("--spread-nodes", metavar="LIST", help="every node's address: exact spread, multicast")
    p.add_argument("--firewall", action="store_true", help="add the nftables table accepting VRRP")
    p.add_argument("--iptables-chain", metavar="CHAIN", help="oadm's flag: same as --firewall")
    p.add_argument("--service-account", metavar="NAME", help="service account (default: NAME)")
    p.add_argument("--namespace", metavar="NS", help="namespace to put in the objects")
    p.add_argument("--image", default=DEFAULT_IMAGE, help=f"vrrpd image (default: {DEFAULT_IMAGE})")
    p.add_argument("--privileged", action="store_true", help="privileged container (OpenShift SCC)")
    p.add_argument(
        "--metrics-listen",
        default=DEFAULT_METRICS_LISTEN,
        metavar="HOST:PORT",
        help=f"health/metrics listener the probes use (default: {DEFAULT_METRICS_LISTEN})",
    )


def main(args: argparse.Namespace) -> int:
    """Print the manifest; a bad flag is ConfigError (the CLI prints it as one line, exit 2)."""
    sys.stdout.write(render(options_from_args(args)))
    return 0
