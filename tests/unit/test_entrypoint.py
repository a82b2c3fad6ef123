"""The operator process loads no Kubernetes client library it does not use."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from jobwarden.__main__ import keep_out_unused_clients
keep_out_unused_clients()
import kopf
import jobwarden.controller
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("kubernetes", "pykube")
                and sys.modules[m] is not None)
print(",".join(loaded) or "none")
"""


def test_the_operator_process_does_not_load_the_kubernetes_client() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "none", out.stdout


def test_without_the_guard_kopf_would_load_it() -> None:
    """The guard is what keeps it out (kopf imports it when installed)."""
    probe = PROBE.replace("keep_out_unused_clients()\n", "")
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert "kubernetes.client" in out.stdout.split(",")
