"""The webhooks' certificates: creation, rotation without a failed call, storage,
and a real TLS handshake with the files kopf's server loads."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from jobwarden.settings import OperatorConfig
from jobwarden.webhooks import certs
from jobwarden.webhooks.runtime import CertFiles, _write_atomic, serving_names

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
NAMES = ["127.0.0.1"]
DAY = datetime.timedelta(days=1)


def fresh(names: list[str] = NAMES, now: datetime.datetime = T0) -> certs.CertState:
    state, plan = certs.rotate(None, names, now)
    assert plan.new_ca and plan.issue
    return state


def names_of(cert: x509.Certificate) -> list[str]:
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(n.value) for n in sans]


def test_a_first_start_creates_a_ca_and_a_serving_certificate() -> None:
    names = ["127.0.0.1", "jobwarden-webhook.jobwarden-system.svc"]
    state = fresh(names)
    assert len(state.cas) == 1 and state.cert is not None
    assert names_of(state.cert) == names
    state.cert.verify_directly_issued_by(state.cas[0])
    assert state.cert.not_valid_before_utc < T0  # backdated for clocks a little behind
    assert state.cert.not_valid_after_utc == T0 + certs.SERVING_VALIDITY
    assert not certs.plan_rotation(state, names, T0 + DAY).changes


def test_the_serving_certificate_is_renewed_a_month_before_it_expires() -> None:
    state = fresh()
    assert not certs.plan_rotation(state, NAMES, T0 + 59 * DAY).changes
    renewed, plan = certs.rotate(state, NAMES, T0 + 61 * DAY)
    assert plan.issue and not plan.new_ca
    assert renewed.cas == state.cas  # same CA: the bundle does not change
    assert renewed.cert is not None and renewed.cert != state.cert
    assert "serving certificate expires" in plan.reasons[0]


def test_a_change_of_names_reissues_the_certificate() -> None:
    state = fresh()
    renewed, plan = certs.rotate(state, ["jobwarden.example"], T0 + DAY)
    assert plan.issue and renewed.cert is not None
    assert names_of(renewed.cert) == ["jobwarden.example"]


def test_the_ca_is_renewed_in_two_steps_then_the_old_one_leaves_the_bundle() -> None:
    state = fresh()
    old_ca = state.cas[0]
    soon = old_ca.not_valid_after_utc - certs.CA_RENEW_BEFORE + DAY
    # Keep the serving certificate itself fresh, so only the CA's age matters here.
    assert state.ca_key is not None
    cert, key = certs.issue_serving(old_ca, state.ca_key, NAMES, soon - DAY)
    state = certs.CertState(state.cas, state.ca_key, cert, key)

    step1, plan = certs.rotate(state, NAMES, soon)
    assert plan.new_ca and not plan.issue  # first only trusted ...
    assert len(step1.cas) == 2 and step1.cert == state.cert
    assert step1.cert is not None
    step1.cert.verify_directly_issued_by(old_ca)

    assert not certs.plan_rotation(step1, NAMES, soon + datetime.timedelta(minutes=5)).changes
    later = soon + certs.CA_PROPAGATION
    step2, plan = certs.rotate(step1, NAMES, later)
    assert plan.issue and not plan.new_ca  # ... then it signs
    assert step2.cert is not None
    step2.cert.verify_directly_issued_by(step2.cas[1])
    assert step2.cas == step1.cas

    after_expiry = old_ca.not_valid_after_utc + DAY
    step3, plan = certs.rotate(step2, NAMES, after_expiry)
    assert step3.cas == (step2.cas[1],)
    assert plan.drop == (old_ca,)


def test_a_certificate_whose_ca_expired_is_replaced_at_once() -> None:
    state = fresh()
    years_later = state.cas[0].not_valid_after_utc + 30 * DAY
    renewed, plan = certs.rotate(state, NAMES, years_later)
    assert plan.new_ca and plan.issue
    assert len(renewed.cas) == 1 and renewed.cas[0] != state.cas[0]
    assert renewed.cert is not None
    renewed.cert.verify_directly_issued_by(renewed.cas[0])


def test_secret_round_trip_and_garbage() -> None:
    state = fresh()
    loaded = certs.from_secret_data(certs.secret_data(state))
    assert loaded is not None
    assert loaded.cas == state.cas and loaded.cert == state.cert
    assert not certs.plan_rotation(loaded, NAMES, T0 + DAY).changes
    assert certs.from_secret_data(None) is None
    assert certs.from_secret_data({"ca.crt": "bm90IGEgY2VydA=="}) is None
    assert certs.from_secret_data({"tls.crt": "%%%"}) is None


def test_a_ca_key_that_does_not_fit_starts_over() -> None:
    state = fresh()
    broken = certs.CertState(state.cas, certs.new_key(), state.cert, state.key)
    assert certs.plan_rotation(broken, NAMES, T0).new_ca


def test_the_api_server_can_verify_the_files_kopf_serves(tmp_path: Path) -> None:
    """A TLS handshake in memory: server with tls.pem (certificate + key in one file),
    client trusting only the bundle and checking the IP SAN, as the API server does."""
    state = fresh(now=datetime.datetime.now(datetime.UTC))
    files = CertFiles.for_config(OperatorConfig(), tmp_path)
    assert files.ca is not None
    _write_atomic(files.ca, certs.ca_bundle_pem(state))
    _write_atomic(files.cert, certs.serving_pem(state))
    assert not _write_atomic(files.cert, certs.serving_pem(state))  # unchanged: untouched
    assert files.cert.stat().st_mode & 0o777 == 0o600

    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(files.cert, files.key)
    client_context = ssl.create_default_context(cafile=str(files.ca))
    _handshake(server_context, client_context, "127.0.0.1")
    with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
        _handshake(server_context, client_context, "10.0.0.1")
    stranger = ssl.create_default_context(cafile=str(files.ca))
    other = fresh(now=datetime.datetime.now(datetime.UTC))
    stranger.load_verify_locations(cadata=certs.ca_bundle_pem(other).decode())
    _handshake(server_context, stranger, "127.0.0.1")  # a bundle of several CAs works too


def _handshake(server_context: ssl.SSLContext, client_context: ssl.SSLContext, host: str) -> None:
    """Complete a TLS handshake in memory (raises what the client's checks raise)."""
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_context.wrap_bio(client_in, client_out, server_hostname=host)
    server = server_context.wrap_bio(server_in, server_out, server_side=True)
    done: set[str] = set()
    for _ in range(10):
        for name, side, outgoing, incoming in (
            ("client", client, client_out, server_in),
            ("server", server, server_out, client_in),
        ):
            if name not in done:
                try:
                    side.do_handshake()
                    done.add(name)
                except ssl.SSLWantReadError:
                    pass
            incoming.write(outgoing.read())
        if done == {"client", "server"}:
            return
    raise AssertionError("the handshake did not complete")


@pytest.mark.parametrize(
    ("config", "names"),
    [
        (OperatorConfig(webhook_address="127.0.0.1"), ["127.0.0.1"]),
        (OperatorConfig(), ["127.0.0.1"]),
        (OperatorConfig(webhook_host="webhook.example"), ["webhook.example"]),
        (
            OperatorConfig(webhook_service="jobwarden-webhook"),
            [
                "jobwarden-webhook.jobwarden-system.svc",
                "jobwarden-webhook.jobwarden-system.svc.cluster.local",
            ],
        ),
    ],
)
def test_serving_names_follow_the_configuration(config: OperatorConfig, names: list[str]) -> None:
    assert serving_names(config) == names


def test_webhook_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBWARDEN_WEBHOOK_PORT", "8443")
    monkeypatch.setenv("JOBWARDEN_WEBHOOK_FAILURE_POLICY", "Ignore")
    monkeypatch.setenv("JOBWARDEN_WEBHOOK_CERT_SOURCE", "files")
    config = OperatorConfig.from_env()
    assert (config.webhook_port, config.webhook_failure_policy) == (8443, "Ignore")
    assert config.webhook_cert_source == "files"
    monkeypatch.setenv("JOBWARDEN_WEBHOOK_FAILURE_POLICY", "fail")
    with pytest.raises(ValueError, match="JOBWARDEN_WEBHOOK_FAILURE_POLICY='fail'"):
        OperatorConfig.from_env()
