"""The operator's own client signs in with a kubeconfig's embedded credentials: kind's
kubeconfig carries `certificate-authority-data`, `client-certificate-data` and
`client-key-data` base64-encoded, which kopf's login hands over as they are."""

from __future__ import annotations

import base64
import datetime
import ssl
from collections.abc import Callable
from pathlib import Path

import kopf
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from jobwarden.engine.kube import _ssl_context


def _self_signed(name: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda pem: base64.b64encode(pem).decode(), id="base64 text (a kubeconfig)"),
        pytest.param(lambda pem: pem.decode(), id="PEM text"),
        pytest.param(lambda pem: pem, id="PEM bytes"),
    ],
)
def test_embedded_credentials_are_read_however_they_come(
    encode: Callable[[bytes], str | bytes], tmp_path: Path
) -> None:
    ca, _ = _self_signed("the cluster's CA")
    cert, key = _self_signed("jobwarden-operator")
    info = kopf.ConnectionInfo(
        server="https://127.0.0.1:6443",
        ca_data=encode(ca),
        certificate_data=encode(cert),
        private_key_data=encode(key),
    )
    context = _ssl_context(info, tmp_path)
    assert isinstance(context, ssl.SSLContext)
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("commonName", "the cluster's CA"),),)
    ]
    assert (tmp_path / "client.crt").read_bytes() == cert
    assert (tmp_path / "client.key").read_bytes() == key
