"""Run `kubectl jobwarden` (the installed plugin) as a test identity would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.cluster import TestCluster

PLUGIN = Path(sys.executable).parent / "kubectl-jobwarden"


def run_plugin(
    cluster: TestCluster, namespace: str, *args: str, identity: str = "admin"
) -> subprocess.CompletedProcess[str]:
    """The plugin's answer (never raises on its exit code); its kubeconfig is the
    identity's own, whatever KUBECONFIG the test session has."""
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    return subprocess.run(
        [str(PLUGIN), "--kubeconfig", str(cluster.kubeconfig(identity)), "-n", namespace, *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        env=env,
        check=False,
    )
