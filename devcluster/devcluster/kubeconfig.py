"""kubeconfig files: one per identity, each a user of the same cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from devcluster.pki import KeyPair


def write_cert_kubeconfig(
    path: Path, *, server: str, ca_file: Path, pair: KeyPair, user: str
) -> None:
    """A kubeconfig whose user is a client certificate signed by the cluster CA."""
    credentials = {"client-certificate": str(pair.cert), "client-key": str(pair.key)}
    _write_kubeconfig(path, server=server, ca_file=ca_file, user=user, credentials=credentials)


def write_token_kubeconfig(
    path: Path, *, server: str, ca_file: Path, token: str, user: str
) -> None:
    """A kubeconfig whose user is a bearer token (the API server's static token file)."""
    _write_kubeconfig(path, server=server, ca_file=ca_file, user=user, credentials={"token": token})


def _write_kubeconfig(
    path: Path, *, server: str, ca_file: Path, user: str, credentials: dict[str, str]
) -> None:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "jobwarden-dev",
                "cluster": {"server": server, "certificate-authority": str(ca_file)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": credentials,
            }
        ],
        "contexts": [{"name": user, "context": {"cluster": "jobwarden-dev", "user": user}}],
        "current-context": user,
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    path.chmod(0o600)


def write_impersonating_kubeconfig(
    source: Path, path: Path, user: str, groups: tuple[str, ...]
) -> None:
    """Copy of an admin kubeconfig that acts as `user` through impersonation.

    Used on clusters we did not start (kind, …), where we hold no CA to issue a
    certificate; the API server still reports the impersonated user and groups
    as the requester, so webhooks and RBAC see a real identity.
    """
    document: dict[str, Any] = yaml.safe_load(source.read_text())
    current = document.get("current-context")
    contexts = {c["name"]: c["context"] for c in document.get("contexts", [])}
    if current not in contexts:
        raise ValueError(f"{source}: current-context {current!r} not found")
    user_name = contexts[current]["user"]
    for entry in document.get("users", []):
        if entry["name"] == user_name:
            entry["user"]["as"] = user
            if groups:
                entry["user"]["as-groups"] = [*groups, "system:authenticated"]
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    path.chmod(0o600)
