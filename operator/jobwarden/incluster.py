"""The operator's in-cluster login, as client-go's `rest.InClusterConfig` reads it.

kopf's own `login_with_service_account` assumes the API server is
`https://kubernetes.default.svc` (cluster DNS, port 443). The kubelet tells every
container where it really is, in KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT;
this login uses them, and the ServiceAccount's token, CA and namespace mounted under
/var/run/secrets/kubernetes.io/serviceaccount. Those files are found through the
path map (`JOBWARDEN_PATH_MAP`, for a worker run as a local process outside a
container; in a real container the paths are what they say).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import kopf

from jobwarden.worker.client import SERVICE_ACCOUNT_DIR, resolve_path

#: kopf's priority for its own service-account login.
PRIORITY = 20


def login_with_service_account(
    settings: kopf.OperatorSettings, environ: Mapping[str, str] | None = None
) -> kopf.ConnectionInfo | None:
    """The pod's ServiceAccount credentials, or None outside a pod (no token, or the
    kubelet's KUBERNETES_SERVICE_HOST/PORT missing)."""
    env = environ if environ is not None else os.environ
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    directory = resolve_path(SERVICE_ACCOUNT_DIR, env)
    token_path, ca_path = directory / "token", directory / "ca.crt"
    namespace_path = directory / "namespace"
    if not host or not port or not token_path.exists():
        return None
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6
    namespace = namespace_path.read_text().strip() if namespace_path.exists() else ""
    return kopf.ConnectionInfo(
        server=f"https://{host}:{port}",
        ca_path=str(ca_path) if ca_path.exists() else None,
        token=token_path.read_text().strip() or None,
        default_namespace=namespace or None,
        trust_env=settings.networking.trust_env,
        priority=PRIORITY,
    )
