"""TLS for the admission webhooks: a CA and a serving certificate the operator creates
and rotates itself (no cert-manager needed).

They live in one Secret in the operator's namespace, so every replica serves the same
certificate and the CA bundle in the webhook configurations fits all of them. The
decisions (`plan_rotation`) are pure functions of the stored state and the time.

Rotation without a failed call:
- the serving certificate (90 days) is re-issued when 30 days are left, when its
  names no longer match the configuration, or when its issuer left the bundle;
- the CA (5 years) is renewed when a year is left, in two steps: the new CA is first
  only *added* to the bundle (the API server then trusts both), and the serving
  certificate is re-issued by it `CA_PROPAGATION` later, once every replica and the
  webhook configurations carry the new bundle; an expired CA leaves the bundle.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_VALIDITY: Final = datetime.timedelta(days=5 * 365)
CA_RENEW_BEFORE: Final = datetime.timedelta(days=365)
SERVING_VALIDITY: Final = datetime.timedelta(days=90)
SERVING_RENEW_BEFORE: Final = datetime.timedelta(days=30)
#: How long a new CA is only trusted before it signs: longer than replicas take to
#: re-read the Secret (`CHECK_INTERVAL` in server.py) and re-register the bundle.
CA_PROPAGATION: Final = datetime.timedelta(minutes=15)
#: notBefore lies this far in the past, for clocks a little behind ours.
BACKDATE: Final = datetime.timedelta(minutes=5)

# Keys of the Secret (the kubernetes.io/tls keys plus the CA's).
TLS_CRT: Final = "tls.crt"
TLS_KEY: Final = "tls.key"
CA_CRT: Final = "ca.crt"
CA_KEY: Final = "ca.key"

PrivateKey = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class CertState:
    """What the Secret holds."""

    #: Trusted CAs, oldest first; the last one signs new serving certificates.
    cas: tuple[x509.Certificate, ...]
    ca_key: PrivateKey | None
    cert: x509.Certificate | None = None
    key: PrivateKey | None = None


@dataclass(frozen=True)
class RotationPlan:
    """What to change, and why (for the log)."""

    new_ca: bool = False
    issue: bool = False
    drop: tuple[x509.Certificate, ...] = ()
    reasons: tuple[str, ...] = field(default=())

    @property
    def changes(self) -> bool:
        """Anything to write."""
        return self.new_ca or self.issue or bool(self.drop)


# ------------------------------------------------------------------------- names
def san_names(names: Iterable[str]) -> list[x509.GeneralName]:
    """IP addresses as IP SANs (what Go's TLS checks for an IP URL), others as DNS."""
    result: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            result.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            result.append(x509.DNSName(name))
    return result


def _cert_names(cert: x509.Certificate) -> set[str]:
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    ips = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    return ips | set(sans.get_values_for_type(x509.DNSName))


def _wanted_names(names: Iterable[str]) -> set[str]:
    return {str(ipaddress.ip_address(n)) if _is_ip(n) else n for n in names}


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------- planning
def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _same_key(cert: x509.Certificate, key: PrivateKey | None) -> bool:
    if key is None:
        return False
    encoding, fmt = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(encoding, fmt) == key.public_key().public_bytes(
        encoding, fmt
    )


def plan_rotation(
    state: CertState | None, names: Sequence[str], now: datetime.datetime
) -> RotationPlan:
    """What to create, re-issue or drop so the webhooks keep a valid certificate."""
    if state is None or not state.cas or not _same_key(state.cas[-1], state.ca_key):
        return RotationPlan(new_ca=True, issue=True, reasons=("no usable CA yet",))
    reasons: list[str] = []
    drop = tuple(ca for ca in state.cas if ca.not_valid_after_utc <= now)
    kept = [ca for ca in state.cas if ca not in drop]
    newest = state.cas[-1]
    new_ca = newest.not_valid_after_utc - now < CA_RENEW_BEFORE
    if new_ca:
        reasons.append(f"CA expires {newest.not_valid_after_utc:%Y-%m-%d}: adding a new one")
    if drop:
        reasons.append(f"dropping {len(drop)} expired CA(s) from the bundle")
    issue = False
    cert = state.cert
    if cert is None or not _same_key(cert, state.key):
        issue, why = True, "no serving certificate yet"
    elif _cert_names(cert) != _wanted_names(names):
        issue, why = True, f"names changed to {sorted(_wanted_names(names))}"
    elif cert.not_valid_after_utc - now < SERVING_RENEW_BEFORE:
        issue, why = True, f"serving certificate expires {cert.not_valid_after_utc:%Y-%m-%d}"
    elif not any(_issued_by(cert, ca) for ca in kept) or newest in drop:
        issue, why = True, "its CA is no longer trusted"
    elif not new_ca and not _issued_by(cert, newest):
        settled = now - (newest.not_valid_before_utc + BACKDATE) >= CA_PROPAGATION
        issue, why = settled, "re-issuing by the new CA, now trusted everywhere"
    if issue:
        reasons.append(why)
    return RotationPlan(
        new_ca=new_ca or newest in drop, issue=issue, drop=drop, reasons=tuple(reasons)
    )


# ---------------------------------------------------------------------- issuing
def new_key() -> PrivateKey:
    """An ECDSA P-256 key: small, fast, and accepted by the API server's TLS."""
    return ec.generate_private_key(ec.SECP256R1())


def new_ca(
    now: datetime.datetime, key: PrivateKey | None = None
) -> tuple[x509.Certificate, PrivateKey]:
    """A self-signed CA; its name carries its start so that CAs never share a subject."""
    key = key or new_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "jobwarden"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"jobwarden-webhook-ca-{now:%Y%m%d%H%M%S}"),
        ]
    )
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def issue_serving(
    ca: x509.Certificate,
    ca_key: PrivateKey,
    names: Sequence[str],
    now: datetime.datetime,
    key: PrivateKey | None = None,
) -> tuple[x509.Certificate, PrivateKey]:
    """A serving certificate for `names` (IPs become IP SANs), signed by `ca`."""
    if not names:
        raise ValueError("a serving certificate needs at least one name")
    key = key or new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + SERVING_VALIDITY, ca.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName(san_names(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def rotate(
    state: CertState | None, names: Sequence[str], now: datetime.datetime
) -> tuple[CertState, RotationPlan]:
    """Apply `plan_rotation`: the new state to store, and the plan (for the log)."""
    plan = plan_rotation(state, names, now)
    if not plan.changes:
        assert state is not None
        return state, plan
    cas = [ca for ca in (state.cas if state else ()) if ca not in plan.drop]
    ca_key = state.ca_key if state else None
    if plan.new_ca or ca_key is None or not cas:
        ca, ca_key = new_ca(now)
        cas.append(ca)
    cert, key = (state.cert, state.key) if state else (None, None)
    if plan.issue or cert is None:
        cert, key = issue_serving(cas[-1], ca_key, names, now)
    return CertState(tuple(cas), ca_key, cert, key), plan


# ------------------------------------------------------------------ serialising
def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def ca_bundle_pem(state: CertState) -> bytes:
    """Every trusted CA: the webhook configurations' caBundle."""
    return b"".join(_pem(ca) for ca in state.cas)


def serving_pem(state: CertState) -> bytes:
    """Certificate and key in one file, so a reader never sees a mismatched pair."""
    assert state.cert is not None and state.key is not None
    return _pem(state.cert) + _key_pem(state.key)


def secret_data(state: CertState) -> dict[str, str]:
    """The Secret's `data` (base64)."""
    assert state.cert is not None and state.key is not None and state.ca_key is not None
    raw = {
        TLS_CRT: _pem(state.cert),
        TLS_KEY: _key_pem(state.key),
        CA_CRT: ca_bundle_pem(state),
        CA_KEY: _key_pem(state.ca_key),
    }
    return {k: base64.b64encode(v).decode() for k, v in raw.items()}


def from_secret_data(data: Mapping[str, str] | None) -> CertState | None:
    """The state a Secret holds; None if it holds nothing usable (it is then replaced)."""
    if not data:
        return None
    try:
        raw = {k: base64.b64decode(v) for k, v in data.items()}
        cas = tuple(x509.load_pem_x509_certificates(raw[CA_CRT]))
        ca_key = _load_key(raw[CA_KEY])
        cert = x509.load_pem_x509_certificate(raw[TLS_CRT]) if raw.get(TLS_CRT) else None
        key = _load_key(raw[TLS_KEY]) if raw.get(TLS_KEY) else None
    except (KeyError, ValueError, TypeError, binascii.Error):
        return None
    return CertState(cas, ca_key, cert, key)


def _load_key(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("not an EC key")
    return key
