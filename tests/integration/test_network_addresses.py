"""Traffic stays on this machine: every Node, pod and endpoint address of the local
cluster is 127.0.0.1, one of this machine's own interface addresses, or an address
inside a network namespace devcluster made (it makes none today). docs/network.md says
which component talks to which address."""

from __future__ import annotations

import functools
import ipaddress
import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from devcluster.install import OperatorProcess
from jobwarden.api.paths import resource_path
from tests.support import runs
from tests.support.cluster import TestCluster
from tests.support.kube import JSON
from tests.support.realnode import RealNodeHandle
from tests.support.runs import jobrun, sim
from tests.support.wait import wait_until

pytestmark = pytest.mark.cluster


def machine_addresses() -> set[str]:
    """Addresses of this machine's interfaces (`ip -json address`)."""
    listed = json.loads(
        subprocess.run(
            ["ip", "-json", "address"], capture_output=True, text=True, check=True, timeout=10
        ).stdout
    )
    return {info["local"] for link in listed for info in link.get("addr_info", [])}


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
