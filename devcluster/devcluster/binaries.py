"""Where the control plane's binaries are: the per-version cache filled by build.sh."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

DEVCLUSTER_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = DEVCLUSTER_DIR.parent


class ClusterError(RuntimeError):
    """The local control plane could not be built, started or reached."""


def cache_dir() -> Path:
    """The binary cache, outside the repository, shared by every checkout."""
    configured = os.environ.get("JOBWARDEN_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "jobwarden"


def pinned_versions() -> dict[str, str]:
    """The versions in devcluster/versions.env (KEY=value lines)."""
    versions: dict[str, str] = {}
    for raw_line in (DEVCLUSTER_DIR / "versions.env").read_text().splitlines():
        line = raw_line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            versions[key.strip()] = value.strip()
    return versions


def _source_hash(wrapper: str) -> str:
    """First 8 hex digits of sha256(main.go + go.mod) of a wrapper module, as build.sh."""
    module = DEVCLUSTER_DIR / "gomod" / wrapper
    data = (module / "main.go").read_bytes() + (module / "go.mod").read_bytes()
    return hashlib.sha256(data).hexdigest()[:8]


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of every program the local cluster runs."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path
    kwok: Path
    helm: Path
    kstatus: Path  # Flux's kstatus library as a command (tests of GitOps health)
    kubernetes_version: str

    @classmethod
    def locate(cls) -> Binaries:
        """Find the cached binaries, or say which is missing and how to build it."""
        versions = pinned_versions()
        bin_dir = cache_dir() / "bin"
        k8s = bin_dir / f"kubernetes-{versions['KUBERNETES_VERSION']}"
        found = cls(
            etcd=bin_dir / f"etcd-{versions['ETCD_VERSION']}" / "etcd",
            kube_apiserver=k8s / "kube-apiserver",
            kube_controller_manager=k8s / "kube-controller-manager",
            kube_scheduler=k8s / "kube-scheduler",
            kubectl=k8s / "kubectl",
            kwok=bin_dir / f"kwok-{versions['KWOK_VERSION']}" / "kwok",
            helm=bin_dir / f"helm-{versions['HELM_VERSION']}" / "helm",
            kstatus=bin_dir
            / f"kstatus-{versions['FLUX_CLI_UTILS_VERSION']}-{_source_hash('kstatus')}"
            / "kstatus",
            kubernetes_version=versions["KUBERNETES_VERSION"],
        )
        missing = [
            str(path)
            for path in (
                found.etcd,
                found.kube_apiserver,
                found.kube_controller_manager,
                found.kube_scheduler,
                found.kubectl,
                found.kwok,
                found.helm,
                found.kstatus,
            )
            if not os.access(path, os.X_OK)
        ]
        if missing:
            raise ClusterError(
                "control-plane binaries are missing: "
                + ", ".join(missing)
                + f"; build them with `bash {DEVCLUSTER_DIR / 'build.sh'}`"
                + " (or `make cluster-binaries`)"
            )
        return found
