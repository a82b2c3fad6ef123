"""Pods that must really run (workers, SDK jobs, the chart's operator) in tests: on the
local cluster's real node (devcluster.realnode), or, on a cluster named by KUBECONFIG,
on that cluster's own nodes.

The node is started lazily, by the session fixture `real_node` that only those tests
request: sessions that run other tests never touch the machine-wide real node.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devcluster.binaries import ClusterError
from devcluster.image import Image, content_key, ensure_image, image_ref
from devcluster.realnode import NODE_KIND, NODE_LABEL, NODE_NAME, PLACEMENT, RealNode
from tests.support.cluster import TestCluster


class RealNodeHandle:
    """Where real pods run and with which image; paths for their hostPath volumes."""

    def __init__(
        self,
        image: str,
        *,
        node: RealNode | None,
        data_dir: Path | None,
        name: str | None = None,
        placement: dict[str, Any] | None = None,
    ) -> None:
        self.image = image
        self.node = node
        self.data_dir = data_dir
        self._name = name
        self._placement = placement if placement is not None else {}

    @classmethod
    def local(cls, node: RealNode, image: Image, data_dir: Path) -> RealNodeHandle:
        """The local cluster's real node, with jobwarden's image imported."""
        _writable_dir(data_dir)
        return cls(image.ref, node=node, data_dir=data_dir, name=NODE_NAME, placement=PLACEMENT)

    @classmethod
    def external(cls, cluster: TestCluster, image: str, data_dir: Path) -> RealNodeHandle:
        """A cluster we did not start (kind …), the image loaded by the user (`kind load
        image-archive`, see docs/install.md) and named by JOBWARDEN_TEST_IMAGE.

        Its nodes labelled `jobwarden.dev/node-kind=real` if it has any (a local cluster
        of another session or of `make up`, whose other nodes are kwok's: pods select
        and tolerate them as on the local cluster), else any of its nodes (kind's all
        run real containers). hostPath directories work when that node is this machine
        (one of its addresses is this machine's)."""
        image = os.environ.get("JOBWARDEN_TEST_IMAGE") or image
        nodes = cluster.kube().get("/api/v1/nodes", labelSelector=f"{NODE_LABEL}={NODE_KIND}")
        real = nodes.get("items") or []
        if not real:
            return cls(image, node=None, data_dir=None)
        name = real[0]["metadata"]["name"] if len(real) == 1 else None
        addresses = {
            a["address"] for n in real for a in (n.get("status") or {}).get("addresses") or []
        }
        here = addresses & machine_addresses()
        if here and len(real) == 1:
            _writable_dir(data_dir)
            return cls(image, node=None, data_dir=data_dir, name=name, placement=PLACEMENT)
        return cls(image, node=None, data_dir=None, name=name, placement=PLACEMENT)

    @property
    def name(self) -> str | None:
        """The Node's name (None on an external cluster with several: any of them)."""
        return self._name

    def placement(self) -> dict[str, Any]:
        """`nodeSelector` and `tolerations` that put a pod on the real node (none on an
        external cluster whose nodes all run real containers)."""
        return copy.deepcopy(self._placement)

    def host_dir(self, name: str) -> Path:
        """A directory on the node for a hostPath volume, writable by the image's user
        and readable by the test (the node is this machine)."""
        if self.data_dir is None:
            raise AssertionError(
                "this test reads the worker's files on the node: it needs a real node "
                "that is this machine (the local cluster's; that of a KUBECONFIG cluster "
                "is not)"
            )
        path = self.data_dir / name
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o777)
        return path

    def work_volume(self, name: str) -> dict[str, Any]:
        """A volume for a worker's scratch files: a hostPath directory the test can read
        on the local real node, an emptyDir elsewhere."""
        if self.data_dir is None:
            return {"name": "work", "emptyDir": {}}
        return {
            "name": "work",
            "hostPath": {"path": str(self.host_dir(name)), "type": "Directory"},
        }

    def kubelet_log(self, lines: int = 40) -> str:
        """The end of the kubelet's log, for failure messages."""
        return self.node.log_tail("kubelet", lines) if self.node is not None else ""


def machine_addresses() -> set[str]:
    """Addresses of this machine's interfaces (`ip -json address`)."""
    listed = json.loads(
        subprocess.run(
            ["ip", "-json", "address"], capture_output=True, text=True, check=True, timeout=10
        ).stdout
    )
    return {info["local"] for link in listed for info in link.get("addr_info", [])}


def _writable_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o777)  # the image's user (65532) writes there


class RealNodeService:
    """The session's real node, started on first use and restartable (a test of
    `make down` needs the machine's one real node for itself, see devcluster.realnode)."""

    def __init__(self, cluster: TestCluster, root: Path) -> None:
        self.cluster = cluster
        self.root = root
        self.node: RealNode | None = None
        self.handle: RealNodeHandle | None = None

    def ensure_running(self) -> RealNodeHandle:
        """The handle, starting the node (and building/importing the image) if needed."""
        if self.handle is not None:
            return self.handle
        if self.cluster.local is None:
            self.handle = RealNodeHandle.external(
                self.cluster, image_ref(content_key()), self.root / "data"
            )
            return self.handle
        if os.geteuid() != 0:
            pytest.fail(
                "this test runs real containers on the local cluster's real node, whose "
                "kubelet needs root (cgroups, mounts, sysctls): run the tests as root, as "
                "CI does, or against a cluster named by KUBECONFIG",
                pytrace=False,
            )
        try:
            image = ensure_image()
        except ClusterError as error:
            pytest.fail(f"jobwarden's image could not be built: {error}", pytrace=False)
        node = RealNode(
            self.root / "node",
            server=self.cluster.local.server,
            pki_dir=self.cluster.local.pki_dir,
            admin_kubeconfig=self.cluster.kubeconfig(),
            kubectl=self.cluster.local.binaries.kubectl,
        )
        try:
            node.start()
            node.import_image(image.archive)
        except ClusterError as error:
            pytest.fail(f"the real node did not start: {error}", pytrace=False)
        self.node = node
        self.handle = RealNodeHandle.local(node, image, self.root / "data")
        return self.handle

    def stop(self) -> None:
        """Stop the node (pods first) and free the machine's real-node lock."""
        if self.node is not None:
            self.node.stop()
        self.node = self.handle = None
