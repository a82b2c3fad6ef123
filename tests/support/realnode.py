"""Pods that must really run (workers, SDK jobs, the chart's operator) in tests: on the
local cluster's real node (devcluster.realnode), or, on a cluster named by KUBECONFIG,
on that cluster's own nodes.

The node is started lazily, by the session fixture `real_node` that only those tests
request: sessions that run other tests never touch the machine-wide real node.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest

from devcluster.binaries import ClusterError
from devcluster.image import Image, content_key, ensure_image, image_ref
from devcluster.realnode import NODE_NAME, PLACEMENT, RealNode
from tests.support.cluster import TestCluster


class RealNodeHandle:
    """Where real pods run and with which image; paths for their hostPath volumes."""

    def __init__(self, image: str, *, node: RealNode | None, data_dir: Path | None) -> None:
        self.image = image
        self.node = node
        self.data_dir = data_dir

    @classmethod
    def local(cls, node: RealNode, image: Image, data_dir: Path) -> RealNodeHandle:
        """The local cluster's real node, with jobwarden's image imported."""
        data_dir.mkdir(parents=True, exist_ok=True)
        data_dir.chmod(0o777)  # the image's user (65532) writes there
        return cls(image.ref, node=node, data_dir=data_dir)

    @classmethod
    def external(cls, image: str) -> RealNodeHandle:
        """A cluster we did not start (kind …): its nodes, the image loaded by the user
        (`kind load image-archive`, see docs/install.md) and named by JOBWARDEN_TEST_IMAGE."""
        return cls(os.environ.get("JOBWARDEN_TEST_IMAGE") or image, node=None, data_dir=None)

    @property
    def name(self) -> str | None:
        """The Node's name (None on an external cluster: any of its nodes)."""
        return NODE_NAME if self.node is not None else None

    def placement(self) -> dict[str, Any]:
        """`nodeSelector` and `tolerations` that put a pod on the real node (none on an
        external cluster, whose nodes all run real containers)."""
        return copy.deepcopy(PLACEMENT) if self.node is not None else {}

    def host_dir(self, name: str) -> Path:
        """A directory on the node for a hostPath volume, writable by the image's user
        and readable by the test (the node is this machine)."""
        if self.data_dir is None:
            raise AssertionError(
                "this test reads the worker's files on the node: it needs the local "
                "cluster's real node (the node of a KUBECONFIG cluster is not this machine)"
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
        if self.cluster.local is None:
            return RealNodeHandle.external(image_ref(content_key()))
        if self.node is not None and self.handle is not None:
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
