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

from devcluster.image import Image
from devcluster.realnode import NODE_NAME, PLACEMENT, RealNode


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

    def kubelet_log(self, lines: int = 40) -> str:
        """The end of the kubelet's log, for failure messages."""
        return self.node.log_tail("kubelet", lines) if self.node is not None else ""
