"""``vrrpd manifest``: the two seed examples render, parse as YAML, validate against the Kubernetes
schemas bundled with kubernetes-validate (offline), and carry what an ipfailover pod needs.

The 10.245.2.x addresses of the examples only ever appear in YAML text here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from vrrpd.cli.main import main
from vrrpd.compat.openshift import manifest
from vrrpd.compat.openshift.plan import load

ROUTER_US_WEST = [
    "ipf-ha-router-us-west",
    "--replicas=5",
    "--watch-port=80",
    "--selector=ha-router=geo-us-west",
    "--virtual-ips=10.245.2.101-105",
    "--iptables-chain=INPUT",
    "--service-account=ipfailover",
]
GEO_CACHE = [
    "ipf-ha-geo-cache",
    "--replicas=4",
    "--watch-port=9736",
    "--selector=ha-cache=geo",
    "--virtual-ips=10.245.2.101-104",
    "--service-account=ipfailover",
]
# OpenShift 4.14 is Kubernetes 1.27; and the newest schemas bundled.
KUBERNETES_VERSIONS = ["1.27.0", "1.30.0", kubernetes_validate.latest_version()]


def render(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[str, list[dict[str, Any]]]:
    assert main(["manifest", *args]) == 0
    text = capsys.readouterr().out
    return text, list(yaml.safe_load_all(text))


def workload(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = [d for d in docs if d["kind"] in ("Deployment", "DaemonSet")]
    return found


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    found: list[dict[str, Any]] = workload(docs)["spec"]["template"]["spec"]["containers"]
    assert len(found) == 1
    return found[0]


def env_of(docs: list[dict[str, Any]]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(docs)["env"] if "value" in e}


@pytest.mark.parametrize("example", [ROUTER_US_WEST, GEO_CACHE], ids=["router-us-west", "geo-cache"])
@pytest.mark.parametrize("kind", ["deployment", "daemonset"])
@pytest.mark.parametrize("privileged", [False, True])
def test_examples_validate_against_kubernetes_schemas(
    example: list[str], kind: str, privileged: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = [f"--kind={kind}", *(["--privileged"] if privileged else [])]
    _, docs = render([*example, *extra], capsys)
    assert [d["kind"] for d in docs] == [
        "ServiceAccount",
        "Deployment" if kind == "deployment" else "DaemonSet",
    ]
    for doc in docs:
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)  # raises on any schema error


def test_router_us_west_example(capsys: pytest.CaptureFixture[str]) -> None:
    text, docs = render(ROUTER_US_WEST, capsys)
    account, deployment = docs
    assert account["metadata"]["name"] == "ipfailover"
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    assert spec["replicas"] == 5
    assert spec["strategy"] == {"type": "Recreate"}
    assert pod["hostNetwork"] is True
    # A Service named vrrpd or openshift-ha must not inject VRRPD_SERVICE_HOST & co. (issue 13, item 14).
    assert pod["enableServiceLinks"] is False
    assert pod["serviceAccountName"] == "ipfailover"
    assert pod["nodeSelector"] == {"ha-router": "geo-us-west"}
    # One pod per node by required anti-affinity on the hostname (not the image's hostPort trick).
    (term,) = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    c = container(docs)
    assert "ports" not in c
    assert c["args"] == ["run", "--openshift"]
    assert c["securityContext"]["capabilities"] == {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]}
    assert "privileged" not in c["securityContext"]
    assert env_of(docs) == {
        "OPENSHIFT_HA_CONFIG_NAME": "ipf-ha-router-us-west",
        "OPENSHIFT_HA_VIRTUAL_IPS": "10.245.2.101-105",
        "OPENSHIFT_HA_MONITOR_PORT": "80",
        "OPENSHIFT_HA_REPLICA_COUNT": "5",
        "OPENSHIFT_HA_PREEMPTION": "preempt_delay 300",
        "OPENSHIFT_HA_CHECK_INTERVAL": "2",
        "OPENSHIFT_HA_IPTABLES_CHAIN": "INPUT",
        "VRRPD_LOG_FORMAT": "json",
        "VRRPD_METRICS_LISTEN": "127.0.0.1:9650",
    }
    assert "10.245.2.101-105" in text


def test_probes_ask_the_daemon_over_http(capsys: pytest.CaptureFixture[str]) -> None:
    _, docs = render([*GEO_CACHE, "--metrics-listen=0.0.0.0:9651"], capsys)
    c = container(docs)
    for probe, path in (
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ):
        assert c[probe]["httpGet"] == {"host": "127.0.0.1", "port": 9651, "path": path}
        assert "exec" not in c[probe]  # no pgrep
    assert env_of(docs)["VRRPD_METRICS_LISTEN"] == "0.0.0.0:9651"


def test_the_rendered_environment_is_what_the_container_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    # Round trip: the pod's env, fed to `vrrpd run --openshift`'s parser on a node, gives the groups.
    _, docs = render([*GEO_CACHE, "--virtual-ip-groups=2", "--vrrp-id-offset=10"], capsys)
    env = env_of(docs) | {"VRRPD_ROUTER_ID": "node-a"}
    plan = load(env, host=None, node_address=IPv4Address("192.0.2.11"))
    assert [(i.name, i.virtual_router_id, len(i.vips)) for i in plan.config.vrrp_instance] == [
        ("ipf_ha_geo_cache_VIP_1", 11, 2),
        ("ipf_ha_geo_cache_VIP_2", 12, 2),
    ]


def test_daemonset(capsys: pytest.CaptureFixture[str]) -> None:
    _, docs = render([*GEO_CACHE, "--kind=daemonset"], capsys)
    spec = workload(docs)["spec"]
    assert "replicas" not in spec and "affinity" not in spec["template"]["spec"]
    # Two pods of one configuration on one node would run the same VRIDs twice: never surge.
    assert spec["updateStrategy"]["rollingUpdate"] == {"maxUnavailable": 1, "maxSurge": 0}


def test_privileged_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    _, docs = render([*GEO_CACHE, "--privileged", "--namespace=openshift-ipf"], capsys)
    context = container(docs)["securityContext"]
    assert context["privileged"] is True and "allowPrivilegeEscalation" not in context
    assert all(d["metadata"]["namespace"] == "openshift-ipf" for d in docs)


def test_all_flags_reach_the_environment(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        *GEO_CACHE,
        "--interface=ens3",
        "--check-script=/etc/keepalive/check.sh",  # lives in the pod, not here: only its form is checked
        "--check-interval=3",
        "--notify-script=/etc/keepalive/notify.sh",
        "--preemption-strategy=nopreempt",
        "--vrrp-id-offset=0",
        "--unicast-peers=10.0.0.11,10.0.0.12",
        "--firewall",
        "--image=registry.example/vrrpd:1.0",
    ]
    _, docs = render(args, capsys)
    env = env_of(docs)
    assert env["OPENSHIFT_HA_NETWORK_INTERFACE"] == "ens3"
    assert env["OPENSHIFT_HA_CHECK_SCRIPT"] == "/etc/keepalive/check.sh"
    assert env["OPENSHIFT_HA_CHECK_INTERVAL"] == "3"
    assert env["OPENSHIFT_HA_NOTIFY_SCRIPT"] == "/etc/keepalive/notify.sh"
    assert env["OPENSHIFT_HA_PREEMPTION"] == "nopreempt"
    assert env["OPENSHIFT_HA_VRRP_ID_OFFSET"] == "0"
    assert env["OPENSHIFT_HA_UNICAST_PEERS"] == "10.0.0.11,10.0.0.12"
    assert env["OPENSHIFT_HA_NFTABLES_RULE"]
    assert container(docs)["image"] == "registry.example/vrrpd:1.0"


def test_yaml_round_trips_exactly() -> None:
    opts = manifest.Options(name="x", env={"A": "true", "B": "80", "C": 'quo"te: #not-a-comment'})
    objects = manifest.objects(opts)
    assert list(yaml.safe_load_all(manifest.to_yaml(objects))) == objects


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (["ipf"], "vrrpd: --virtual-ips: missing (required: "),
        (["ipf", "--virtual-ips=10.245.2.101-99"], 'vrrpd: --virtual-ips = "10.245.2.101-99": '),
        (["ipf", "--virtual-ips=2001:db8::a-c"], 'vrrpd: --virtual-ips = "2001:db8::a-c": '),
        (["ipf", "--virtual-ips=10.245.2.1", "--replicas=0"], 'vrrpd: --replicas = "0": must be an integer'),
        (["ipf", "--virtual-ips=10.245.2.1", "--replicas=five"], 'vrrpd: --replicas = "five"'),
        (["Ipf_X", "--virtual-ips=10.245.2.1"], 'vrrpd: NAME = "Ipf_X": must be'),
        (
            ["ipf", "--virtual-ips=10.245.2.1", "--selector=a b"],
            'vrrpd: --selector = "a b": must be node labels',
        ),
        (
            ["ipf", "--virtual-ips=10.245.2.1", "--watch-port=http"],
            'vrrpd: --watch-port = "http": the image\'s check could never connect (FAULT for ever); '
            "must be a TCP port",
        ),
        (
            ["ipf", "--virtual-ips=10.245.2.1", "--preemption-strategy=eager"],
            'vrrpd: --preemption-strategy = "eager"',
        ),
        (["ipf", "--virtual-ips=10.245.2.1", "--vrrp-id-offset=255"], 'vrrpd: --vrrp-id-offset = "255"'),
        (
            ["ipf", "--virtual-ips=10.245.2.1", "--check-script=bin/check.sh"],
            'vrrpd: --check-script = "bin/check.sh"',
        ),
        (["ipf", "--virtual-ips=10.245.2.1", "--metrics-listen=9650"], 'vrrpd: --metrics-listen = "9650"'),
        (
            ["ipf", "--virtual-ips=10.245.2.1", "--metrics-listen="],
            'vrrpd: --metrics-listen = "": the probes',
        ),
        (["ipf", "--virtual-ips=10.245.2.1", "--image=a b"], 'vrrpd: --image = "a b"'),
    ],
)
def test_bad_flags_are_one_line_exit_2(
    args: list[str], start: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["manifest", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(start), captured.err
    assert len(captured.err.strip().splitlines()) == 1


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare(1)")
def test_validation_needs_no_network(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A new network namespace has only a down loopback: if the validator fetched schemas, it would fail.
    text, _ = render(GEO_CACHE, capsys)
    path = tmp_path / "geo-cache.yaml"
    path.write_text(text)
    validator = Path(sys.executable).with_name("kubernetes-validate")
    proc = subprocess.run(
        ["unshare", "--net", str(validator), "--strict", "-k", "1.27.0", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("passed") == 2
