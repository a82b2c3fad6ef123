"""The process node in tests: pods that must really run (the export worker, SDK jobs)
are placed on it; everything else stays on kwok's simulated nodes.

See `devcluster.processnode` for what it does like a kubelet.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from devcluster.processnode import NODE_KIND, NODE_LABEL, PLACEMENT, ProcessNodeProcess

#: The Node name the test session's process node registers.
TEST_NODE_NAME = "process-node-tests"


class ProcessNode:
    """A running process node: where its files are and how to place pods on it."""

    def __init__(self, process: ProcessNodeProcess) -> None:
        self.process = process
        self.name = process.name
        self.root = process.root.resolve()

    def placement(self) -> dict[str, Any]:
        """`nodeSelector` and `tolerations` that put a pod on this very node."""
        placement = copy.deepcopy(PLACEMENT)
        placement["nodeSelector"]["kubernetes.io/hostname"] = self.name
        return placement

    def host_path(self, path: str) -> Path:
        """Where a hostPath volume's `path` is on this node."""
        return self.root / "hostpath" / path.lstrip("/")

    def pod_logs(self, namespace: str, pod: str) -> str:
        """Every container log of a pod (all its incarnations), for failure messages."""
        texts = []
        for log in sorted((self.root / "logs").glob(f"{namespace}_{pod}_*/*.log")):
            texts.append(f"--- {log.parent.name}/{log.name}\n{log.read_text(errors='replace')}")
        return "\n".join(texts)

    def log_tail(self, lines: int = 40) -> str:
        """The end of the node's own log."""
        try:
            text = self.process.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


__all__ = ["NODE_KIND", "NODE_LABEL", "TEST_NODE_NAME", "ProcessNode"]
