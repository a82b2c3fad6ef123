"""A client certificate for a user, issued by any cluster through its certificates API.

On a cluster the tests did not start (kind, …) they hold no CA. Most test identities
act through impersonation (`as` in a kubeconfig), but the operator cannot: kopf's
client ignores `as`, and would act as the admin, whose writes then skip the webhooks
meant for everyone else. A CertificateSigningRequest for the `kube-apiserver-client`
signer, approved by the admin, gives it a real identity, as a cluster's own users get
one (the kube-controller-manager signs it: kind's does, and the local cluster's does).
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from jobwarden.api.paths import resource_path
from tests.support.kube import Kube
from tests.support.wait import wait_until

SIGNER = "kubernetes.io/kube-apiserver-client"
CSR_PATH = resource_path("certificates.k8s.io/v1", "certificatesigningrequests", None)
#: A test session's certificate: long enough for any session, short enough to matter
#: little if left behind (the CSR object itself is deleted once issued).
LIFETIME_SECONDS = 86400


def issue_client_certificate(
    admin: Kube, user: str, groups: tuple[str, ...]
) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for `user` in `groups`, signed by the cluster."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, user)]
    subject += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(subject))
        .sign(key, hashes.SHA256())
    )
    name = f"jobwarden-test-{user}-{uuid.uuid4().hex[:8]}"
    admin.create(
        CSR_PATH,
        {
            "metadata": {"name": name},
            "spec": {
                "request": base64.b64encode(
                    request.public_bytes(serialization.Encoding.PEM)
                ).decode(),
                "signerName": SIGNER,
                "expirationSeconds": LIFETIME_SECONDS,
                "usages": ["client auth"],
            },
        },
    )
    path = f"{CSR_PATH}/{name}"
    try:
        csr = admin.get(path)
        csr["status"] = {
            "conditions": [
                {
                    "type": "Approved",
                    "status": "True",
                    "reason": "JobwardenTests",
                    "message": "a test identity of jobwarden's integration suite",
                }
            ]
        }
        admin.replace(f"{path}/approval", csr)
        issued: dict[str, Any] = {}

        def signed() -> bool:
            issued.update(admin.get(path))
            return bool((issued.get("status") or {}).get("certificate"))

        wait_until(
            signed,
            timeout=60,
            message=f"the cluster's signer to sign CSR {name} (is its csrsigning controller on?)",
        )
    finally:
        admin.delete(path)
    cert = base64.b64decode(issued["status"]["certificate"])
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert, key_pem


def write_certificate_kubeconfig(source: Path, path: Path, cert: bytes, key: bytes) -> None:
    """A copy of `source` (its current context's cluster) signing in with `cert`/`key`."""
    document: dict[str, Any] = yaml.safe_load(source.read_text())
    contexts = {c["name"]: c["context"] for c in document.get("contexts", [])}
    context = contexts[document["current-context"]]
    clusters = {c["name"]: c for c in document.get("clusters", [])}
    cluster = clusters[context["cluster"]]
    user = {
        "client-certificate-data": base64.b64encode(cert).decode(),
        "client-key-data": base64.b64encode(key).decode(),
    }
    out = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "issued", "user": user}],
        "contexts": [{"name": "issued", "context": {"cluster": cluster["name"], "user": "issued"}}],
        "current-context": "issued",
    }
    path.write_text(yaml.safe_dump(out, sort_keys=False))
    path.chmod(0o600)
