"""Traffic stays on this machine: every Node, pod and endpoint address of the local
cluster is 127.0.0.1, one of this machine's own interface addresses, or an address
inside a network namespace devcluster made (it makes none today); no Node has an
address the API server would look up in DNS to reach its kubelet, and asking for the
logs of a simulated pod is answered on this machine. docs/network.md says which
component talks to which address."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devcluster.install import OperatorProcess
from jobwarden.api.paths import resource_path
from tests.support import runs
from tests.support.cluster import TestCluster
from tests.support.kube import JSON, KubeError
from tests.support.realnode import RealNodeHandle, machine_addresses
from tests.support.runs import jobrun, sim
from tests.support.wait import wait_until

pytestmark = pytest.mark.cluster


def hosts_file_names() -> set[str]:
    """Names /etc/hosts resolves: looking them up asks no DNS server."""
    names: set[str] = set()
    for line in Path("/etc/hosts").read_text().splitlines():
        names.update(line.split("#", 1)[0].split()[1:])
    return names


#: Node address types the API server may use to reach a kubelet by name.
NAME_TYPES = ("Hostname", "InternalDNS", "ExternalDNS")


def names_to_look_up(node: JSON) -> list[str]:
    """The Node's addresses that are names a DNS server would be asked for (neither an
    IP address nor a name in /etc/hosts)."""
    local = hosts_file_names()
    found = []
    for entry in node.get("status", {}).get("addresses") or []:
        if entry["type"] not in NAME_TYPES:
            continue
        try:
            ipaddress.ip_address(entry["address"])
        except ValueError:
            if entry["address"] not in local:
                found.append(f"{entry['type']} {entry['address']}")
    return found


def devcluster_netns_addresses() -> set[str]:
    """Addresses inside network namespaces devcluster creates: none (no pod network;
    real-node pods use the host's network), so nothing is allowed from there."""
    return set()


def cluster_addresses(cluster: TestCluster) -> Iterator[tuple[str, str]]:
    """(where, address) for every Node, pod and endpoint address in the cluster."""
    admin = cluster.kube()
    for node in admin.get("/api/v1/nodes")["items"]:
        for entry in node.get("status", {}).get("addresses") or []:
            if entry["type"] != "Hostname":
                yield f"Node {node['metadata']['name']} {entry['type']}", entry["address"]
    for pod in admin.get("/api/v1/pods")["items"]:
        where = f"Pod {pod['metadata']['namespace']}/{pod['metadata']['name']}"
        status: dict[str, Any] = pod.get("status") or {}
        for key in ("podIP", "hostIP"):
            if status.get(key):
                yield f"{where} {key}", status[key]
        for key in ("podIPs", "hostIPs"):
            for entry in status.get(key) or []:
                yield f"{where} {key}", entry["ip"]
    for slice_ in admin.get("/apis/discovery.k8s.io/v1/endpointslices")["items"]:
        where = f"EndpointSlice {slice_['metadata']['namespace']}/{slice_['metadata']['name']}"
        for endpoint in slice_.get("endpoints") or []:
            for address in endpoint.get("addresses") or []:
                yield where, address
    for endpoints in admin.get("/api/v1/endpoints")["items"]:
        where = f"Endpoints {endpoints['metadata']['namespace']}/{endpoints['metadata']['name']}"
        for subset in endpoints.get("subsets") or []:
            for entry in [
                *(subset.get("addresses") or []),
                *(subset.get("notReadyAddresses") or []),
            ]:
                yield where, entry["ip"]


def _service(name: str, selector: dict[str, str]) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": selector, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def test_every_node_pod_and_endpoint_address_is_on_this_machine(
    cluster: TestCluster,
    operator: OperatorProcess,
    real_node: RealNodeHandle,
    namespace: str,
) -> None:
    if cluster.local is None:
        pytest.skip("a rule of the local cluster: a KUBECONFIG cluster has its own network")
    admin = cluster.kube()
    # Something of every kind: pods on kwok and on the real node, Services (and their
    # endpoints) in front of each.
    runs.create(admin, namespace, jobrun("on-kwok", sim(run_seconds=60)))
    real = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "on-real", "labels": {"app": "real"}},
        "spec": {
            **real_node.placement(),
            "containers": [
                {
                    "name": "c",
                    "image": real_node.image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["python", "-c", "import signal; signal.pause()"],
                }
            ],
            "terminationGracePeriodSeconds": 1,
        },
    }
    admin.create(resource_path("v1", "pods", namespace), real)
    admin.create(resource_path("v1", "services", namespace), _service("real", {"app": "real"}))
    admin.create(
        resource_path("v1", "services", namespace),
        _service("kwok", {"jobwarden.dev/run": "on-kwok"}),
    )

    def address_of(pod: str) -> str | None:
        path = resource_path("v1", "pods", namespace, pod)
        if not admin.exists(path):
            return None
        address: str | None = admin.get(path).get("status", {}).get("podIP")
        return address

    for pod in ("on-real", "on-kwok-1"):  # on-kwok-1: the operator's worker pod of on-kwok
        wait_until(
            functools.partial(address_of, pod),
            timeout=60,
            message=f"the address of pod {pod}",
        )
    wait_until(
        lambda: [
            s
            for s in admin.get(
                resource_path("discovery.k8s.io/v1", "endpointslices", namespace),
                labelSelector="kubernetes.io/service-name=real",
            )["items"]
            if s.get("endpoints")
        ],
        timeout=30,
        message="the real-node pod's Service endpoints",
    )

    allowed = {"127.0.0.1", *machine_addresses(), *devcluster_netns_addresses()}
    seen = list(cluster_addresses(cluster))
    outside = [
        (where, address)
        for where, address in seen
        if address not in allowed and not ipaddress.ip_address(address).is_loopback
    ]
    assert not outside, f"addresses not on this machine (allowed: {sorted(allowed)}): {outside}"
    # It looked at every kind it promises to: Nodes, pods (kwok's and the real node's)
    # and endpoints.
    kinds = {where.split()[0] for where, _ in seen}
    assert {"Node", "Pod", "EndpointSlice"} <= kinds, kinds
    assert any(where.startswith("Node localhost") for where, _ in seen)
    assert any(f"Pod {namespace}/on-kwok" in where for where, _ in seen), seen


def test_no_node_has_an_address_to_look_up_in_dns(
    cluster: TestCluster, real_node: RealNodeHandle
) -> None:
    """The API server reaches a kubelet (logs, exec, port-forward) at the Node's first
    address of its --kubelet-preferred-address-types: a name there that /etc/hosts does
    not know would be looked up at a DNS server outside this machine."""
    if cluster.local is None:
        pytest.skip("a rule of the local cluster: a KUBECONFIG cluster has its own DNS")
    nodes = cluster.kube().get("/api/v1/nodes")["items"]
    assert {n["metadata"]["name"] for n in nodes} >= {"kwok-node-0", "localhost"}
    lookups = {n["metadata"]["name"]: names_to_look_up(n) for n in nodes}
    assert not any(lookups.values()), f"Node addresses a DNS server would be asked for: {lookups}"
    real = next(n for n in nodes if n["metadata"]["name"] == "localhost")
    assert {"type": "Hostname", "address": "localhost"} in real["status"]["addresses"]


def test_logs_of_a_simulated_pod_are_answered_on_this_machine(
    cluster: TestCluster, operator: OperatorProcess, namespace: str
) -> None:
    """`kubectl logs` of a pod on a kwok node: kwok serves no logs, so it is an error,
    but kwok's own answer from 127.0.0.1, never a failed DNS lookup of the node's name."""
    if cluster.local is None:
        pytest.skip("a rule of the local cluster: a KUBECONFIG cluster has its own DNS")
    admin = cluster.kube()
    runs.create(admin, namespace, jobrun("talk", sim(run_seconds=120)))
    pod_path = resource_path("v1", "pods", namespace, "talk-1")

    def running() -> JSON | None:
        pod = admin.get(pod_path) if admin.exists(pod_path) else {}
        return pod if pod.get("status", {}).get("phase") == "Running" else None

    pod = wait_until(running, timeout=60, message="the simulated worker talk-1 running")
    node = admin.get(f"/api/v1/nodes/{pod['spec']['nodeName']}")
    assert node["metadata"]["labels"].get("type") == "kwok", node["metadata"]
    # Asking would make the API server look these up in DNS: refuse to ask.
    assert not names_to_look_up(node), (
        f"not asking for the logs: the API server would look {names_to_look_up(node)} up in DNS"
    )
    with pytest.raises(KubeError) as refused:
        admin.get_text(pod_path + "/log")
    message = refused.value.message
    assert "lookup" not in message and "no such host" not in message, message
    # kwok's own answer (its server at the node's 127.0.0.1 and kwok's node port).
    assert 'no logs found for container "main"' in message, message
    shown = cluster.kubectl("logs", "-n", namespace, "talk-1", check=False)
    assert shown.returncode != 0
    assert 'no logs found for container "main"' in shown.stderr, shown.stderr
    runs.cancel(admin, namespace, "talk")
