"""The cluster the integration tests run against: the local control plane started
for the session, or any cluster named by KUBECONFIG (kind, …)."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

from kubernetes import client, config

from devcluster.binaries import Binaries, ClusterError
from devcluster.cluster import IDENTITIES, LocalCluster
from devcluster.kubeconfig import write_impersonating_kubeconfig
from tests.support.kube import Kube


class TestCluster:
    """Per-identity kubeconfigs, API clients and kubectl for one cluster."""

    __test__ = False  # not a test class, despite its name

    def __init__(self, kubeconfigs: dict[str, Path], kubectl_path: str, local: LocalCluster | None):
        self._kubeconfigs = kubeconfigs
        self.kubectl_path = kubectl_path
        self.local = local

    @classmethod
    def start_local(cls, workdir: Path) -> TestCluster:
        """Start the local control plane in `workdir` (raises ClusterError)."""
        local = LocalCluster(workdir, die_with_parent=True)
        local.start()
        kubeconfigs = {name: local.kubeconfig(name) for name in IDENTITIES}
        return cls(kubeconfigs, str(local.binaries.kubectl), local)

    @classmethod
    def from_kubeconfig(cls, admin_kubeconfig: Path, workdir: Path) -> TestCluster:
        """Use an existing cluster; other identities act through impersonation."""
        if not admin_kubeconfig.exists():
            raise ClusterError(f"KUBECONFIG names {admin_kubeconfig}, which does not exist")
        kubeconfigs = {"admin": admin_kubeconfig}
        for name, identity in IDENTITIES.items():
            if name != "admin":
                path = workdir / f"{name}.kubeconfig"
                write_impersonating_kubeconfig(
                    admin_kubeconfig, path, identity.user, identity.groups
                )
                kubeconfigs[name] = path
        try:
            kubectl = str(Binaries.locate().kubectl)
        except ClusterError:
            kubectl = shutil.which("kubectl") or "kubectl"
        return cls(kubeconfigs, kubectl, None)

    def stop(self) -> None:
        """Stop the local control plane, if this session started one."""
        if self.local is not None:
            self.local.stop()

    def kubeconfig(self, identity: str = "admin") -> Path:
        """The kubeconfig file of an identity: admin, operator, alice, bob, carol."""
        return self._kubeconfigs[identity]

    def api(self, identity: str = "admin") -> client.ApiClient:
        """A (cached) Kubernetes API client acting as `identity`."""
        return _api_client(str(self.kubeconfig(identity)))

    def kube(self, identity: str = "admin") -> Kube:
        """A raw-JSON client acting as `identity`."""
        return Kube(self.api(identity))

    def kubectl(
        self,
        *args: str,
        identity: str = "admin",
        input: str | None = None,
        check: bool = True,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl as `identity`; raises with stderr when `check` and it fails."""
        result = subprocess.run(
            [self.kubectl_path, f"--kubeconfig={self.kubeconfig(identity)}", *args],
            input=input,
            capture_output=True,
            check=False,
            text=True,
            timeout=timeout,
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig(identity))},
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} (as {identity}) failed with {result.returncode}:\n"
                f"{result.stderr}{result.stdout}"
            )
        return result


@cache
def _api_client(kubeconfig: str) -> client.ApiClient:
    api: client.ApiClient = config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    return api
