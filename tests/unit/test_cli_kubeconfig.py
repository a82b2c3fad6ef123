"""The plugin's kubeconfig reader: clientcmd's rules for files, contexts, paths and
credentials, and exec credential plugins run for real (small scripts)."""

from __future__ import annotations

import base64
import datetime
import json
import ssl
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from jobwarden.client.kubeconfig import (
    ConfigError,
    Connection,
    CredentialError,
    Credentials,
    from_files,
    in_cluster,
    load,
)

JSON = dict[str, Any]


def write(path: Path, document: JSON) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document))
    return path


def kubeconfig(
    *,
    context: str = "dev",
    server: str = "https://127.0.0.1:6443",
    cluster: JSON | None = None,
    user: JSON | None = None,
    namespace: str | None = None,
    current: str | None = "dev",
) -> JSON:
    ctx: JSON = {"cluster": f"{context}-cluster", "user": f"{context}-user"}
    if namespace:
        ctx["namespace"] = namespace
    document: JSON = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": f"{context}-cluster", "cluster": {"server": server, **(cluster or {})}}
        ],
        "users": [{"name": f"{context}-user", "user": user or {}}],
        "contexts": [{"name": context, "context": ctx}],
    }
    if current is not None:
        document["current-context"] = current
    return document


def self_signed() -> tuple[str, str]:
    """A certificate and key in PEM, as a client certificate would be."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def exec_plugin(directory: Path, status: JSON, *, api_version: str = "v1") -> Path:
    """A credential plugin that records each run (and what it was given) and prints
    an ExecCredential with `status`."""
    script = directory / "bin" / "credential-plugin"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, pathlib, sys\n"
        "runs = pathlib.Path(__file__).with_name('runs.jsonl')\n"
        "with runs.open('a') as out:\n"
        "    out.write(json.dumps({'info': json.loads(os.environ['KUBERNETES_EXEC_INFO']),\n"
        "                          'greeting': os.environ.get('GREETING'),\n"
        "                          'args': sys.argv[1:]}) + '\\n')\n"
        f"status = {json.dumps(status)!r}\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/"
        f"{api_version}', 'kind': 'ExecCredential', 'status': json.loads(status)}}))\n"
    )
    script.chmod(0o755)
    return script


def runs_of(script: Path) -> list[JSON]:
    log = script.with_name("runs.jsonl")
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def exec_user(**extra: Any) -> JSON:
    return {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": "./bin/credential-plugin",  # relative to the kubeconfig
            "args": ["get-token", "--cluster", "dev"],
            "env": [{"name": "GREETING", "value": "hello"}],
            "interactiveMode": "Never",
            **extra,
        }
    }


def authorization(connection: Connection) -> str | None:
    return dict(Credentials(connection).headers()).get("Authorization")


# ------------------------------------------------------------------------- files
def test_the_first_file_to_define_a_name_wins(tmp_path: Path) -> None:
    first = write(tmp_path / "a" / "config", kubeconfig(namespace="team-a"))
    second_doc = kubeconfig(server="https://elsewhere:6443", current="other")
    second_doc["contexts"].append({"name": "other", "context": {"cluster": "dev-cluster"}})
    second = write(tmp_path / "b" / "config", second_doc)
    connection = load(environ={"KUBECONFIG": f"{first}:{tmp_path / 'missing'}:{second}"})
    assert connection.server == "https://127.0.0.1:6443"  # dev-cluster from the first file
    assert connection.namespace == "team-a" and connection.context == "dev"
    other = load(context="other", environ={"KUBECONFIG": f"{first}:{second}"})
    assert other.context == "other" and other.namespace == "default"


def test_the_current_context_comes_from_the_first_file_that_sets_one(tmp_path: Path) -> None:
    first = kubeconfig(context="a", current=None)
    second = write(tmp_path / "2", kubeconfig(context="b", current="b"))
    connection = from_files([write(tmp_path / "1", first), second])
    assert connection.context == "b"


def test_explicit_kubeconfig_and_the_default_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(home / ".kube" / "config", kubeconfig(namespace="from-home"))
    assert load(environ={"HOME": str(home)}).namespace == "from-home"
    other = write(tmp_path / "other", kubeconfig(namespace="explicit"))
    environ = {"HOME": str(home), "KUBECONFIG": str(tmp_path / "nope")}
    assert load(str(other), environ=environ).namespace == "explicit"
    with pytest.raises(ConfigError, match="none of the KUBECONFIG files exists"):
        load(environ=environ)
    with pytest.raises(ConfigError, match="no kubeconfig"):
        load(environ={"HOME": str(tmp_path / "nobody")})


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (kubeconfig(current="prod"), 'context "prod" does not exist'),
        (kubeconfig(current=None), "sets no current-context"),
        ({**kubeconfig(), "clusters": []}, 'names cluster "dev-cluster", which is not defined'),
        (kubeconfig(server=""), 'cluster "dev-cluster" has no server'),
        ({**kubeconfig(), "users": {"dev-user": {}}}, "must be a list of named entries"),
        (
            kubeconfig(user={"auth-provider": {"name": "gcp"}}),
            'auth-provider "gcp" is not supported: use an exec',
        ),
        (kubeconfig(user={"client-certificate-data": "eA=="}), "not both"),
    ],
)
def test_broken_kubeconfigs_are_explained(tmp_path: Path, document: JSON, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_files([write(tmp_path / "config", document)])


def test_relative_paths_are_relative_to_their_file_and_data_wins(tmp_path: Path) -> None:
    cert, key = self_signed()
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.crt").write_text(cert)
    (tmp_path / "certs" / "user.crt").write_text("not this one")
    (tmp_path / "certs" / "user.key").write_text(key)
    user = {
        "client-certificate": "certs/user.crt",
        "client-certificate-data": base64.b64encode(cert.encode()).decode(),
        "client-key": "certs/user.key",
    }
    document = kubeconfig(cluster={"certificate-authority": "certs/ca.crt"}, user=user)
    connection = from_files([write(tmp_path / "config", document)])
    assert connection.ca_pem == cert
    assert connection.client_cert_pem == (cert, key)
    context = Credentials(connection).ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "alice"),),)]


def test_insecure_and_tls_server_name(tmp_path: Path) -> None:
    cluster = {"insecure-skip-tls-verify": True, "tls-server-name": "api.internal"}
    connection = from_files([write(tmp_path / "c", kubeconfig(cluster=cluster))])
    assert connection.insecure and connection.tls_server_name == "api.internal"
    context = Credentials(connection).ssl_context()
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname


# ------------------------------------------------------------------ credentials
def test_token_basic_oidc_and_token_file(tmp_path: Path) -> None:
    def user_connection(user: JSON) -> Connection:
        return from_files([write(tmp_path / "config", kubeconfig(user=user))])

    assert authorization(user_connection({"token": "abc"})) == "Bearer abc"
    assert authorization(user_connection({"username": "u", "password": "p"})) == (
        "Basic " + base64.b64encode(b"u:p").decode()
    )
    oidc = {"auth-provider": {"name": "oidc", "config": {"id-token": "jwt"}}}
    assert authorization(user_connection(oidc)) == "Bearer jwt"
    (tmp_path / "token").write_text("first\n")
    credentials = Credentials(user_connection({"tokenFile": "token"}))
    assert dict(credentials.headers())["Authorization"] == "Bearer first"
    (tmp_path / "token").write_text("rotated\n")
    assert dict(credentials.headers())["Authorization"] == "Bearer rotated"
    assert authorization(user_connection({})) is None


def test_impersonation_headers(tmp_path: Path) -> None:
    user = {
        "token": "admin",
        "as": "alice",
        "as-groups": ["team-a", "system:authenticated"],
        "as-uid": "42",
        "as-user-extra": {"scopes": ["view", "edit"]},
    }
    connection = from_files([write(tmp_path / "c", kubeconfig(user=user))])
    assert Credentials(connection).headers() == [
        ("Impersonate-User", "alice"),
        ("Impersonate-Group", "team-a"),
        ("Impersonate-Group", "system:authenticated"),
        ("Impersonate-Uid", "42"),
        ("Impersonate-Extra-scopes", "view"),
        ("Impersonate-Extra-scopes", "edit"),
        ("Authorization", "Bearer admin"),
    ]


def test_in_cluster_reads_the_service_account(tmp_path: Path) -> None:
    cert, _ = self_signed()
    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "ca.crt").write_text(cert)
    (tmp_path / "namespace").write_text("jobs\n")
    env = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    connection = in_cluster(env, tmp_path)
    assert connection.server == "https://[fd00::1]:443"
    assert connection.namespace == "jobs" and connection.source == "in-cluster"
    assert authorization(connection) == "Bearer sa-token"
    with pytest.raises(ConfigError, match="no in-cluster configuration"):
        in_cluster({}, tmp_path)


# --------------------------------------------------------------------- exec plugins
def test_an_exec_token_is_cached_until_it_expires(tmp_path: Path) -> None:
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    script = exec_plugin(tmp_path, {"token": "t1", "expirationTimestamp": soon.isoformat()})
    cluster = {
        "certificate-authority-data": base64.b64encode(b"pem").decode(),
        "extensions": [
            {"name": "other.example/thing", "extension": {"not": "this"}},
            {"name": "client.authentication.k8s.io/exec", "extension": {"audience": "dev"}},
        ],
    }
    user = exec_user(provideClusterInfo=True)
    connection = from_files([write(tmp_path / "config", kubeconfig(cluster=cluster, user=user))])
    credentials = Credentials(connection)
    assert dict(credentials.headers())["Authorization"] == "Bearer t1"
    assert dict(credentials.headers())["Authorization"] == "Bearer t1"
    (run,) = runs_of(script)  # one run for both requests
    assert run["args"] == ["get-token", "--cluster", "dev"] and run["greeting"] == "hello"
    assert run["info"]["apiVersion"] == "client.authentication.k8s.io/v1"
    assert run["info"]["spec"]["interactive"] is False
    assert run["info"]["spec"]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert (
        run["info"]["spec"]["cluster"]["certificate-authority-data"]
        == cluster["certificate-authority-data"]
    )
    assert run["info"]["spec"]["cluster"]["config"] == {"audience": "dev"}
    credentials.invalidate()  # what a 401 does
    credentials.headers()
    assert len(runs_of(script)) == 2


def test_an_expired_exec_token_is_fetched_again(tmp_path: Path) -> None:
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
    script = exec_plugin(tmp_path, {"token": "t", "expirationTimestamp": past.isoformat()})
    connection = from_files([write(tmp_path / "config", kubeconfig(user=exec_user()))])
    credentials = Credentials(connection)
    credentials.headers()
    credentials.headers()
    assert len(runs_of(script)) == 2
    assert "cluster" not in runs_of(script)[0]["info"]["spec"]  # provideClusterInfo unset


def test_an_exec_client_certificate_goes_into_the_tls_context(tmp_path: Path) -> None:
    cert, key = self_signed()
    exec_plugin(tmp_path, {"clientCertificateData": cert, "clientKeyData": key})
    connection = from_files([write(tmp_path / "config", kubeconfig(user=exec_user()))])
    credentials = Credentials(connection)
    assert credentials.headers() == []  # no token: the certificate authenticates
    before = credentials.generation
    credentials.ssl_context()  # loads the certificate and key (a mismatch would raise)
    assert credentials.generation == before and before > 0


@pytest.mark.parametrize(
    ("status", "api_version", "message"),
    [
        ({}, "v1", "gave no token or certificate"),
        ({"token": "t"}, "v1beta1", "answered 'client.authentication.k8s.io/v1beta1'"),
    ],
)
def test_bad_exec_answers_are_explained(
    tmp_path: Path, status: JSON, api_version: str, message: str
) -> None:
    exec_plugin(tmp_path, status, api_version=api_version)
    connection = from_files([write(tmp_path / "config", kubeconfig(user=exec_user()))])
    with pytest.raises(CredentialError, match=message):
        Credentials(connection).headers()


def test_a_missing_exec_plugin_shows_its_install_hint(tmp_path: Path) -> None:
    user = exec_user(installHint="install it with: brew install credential-plugin")
    connection = from_files([write(tmp_path / "config", kubeconfig(user=user))])
    with pytest.raises(CredentialError, match=r"(?s)cannot run the exec plugin.*brew install"):
        Credentials(connection).headers()


def test_broken_certificates_are_explained(tmp_path: Path) -> None:
    cert, _ = self_signed()
    _, other_key = self_signed()
    not_base64 = kubeconfig(cluster={"certificate-authority-data": "not base64!"})
    with pytest.raises(ConfigError, match="certificate-authority-data is not base64"):
        from_files([write(tmp_path / "a", not_base64)])
    user = {
        "client-certificate-data": base64.b64encode(cert.encode()).decode(),
        "client-key-data": base64.b64encode(other_key.encode()).decode(),
    }
    mismatched = from_files([write(tmp_path / "b", kubeconfig(user=user))])
    with pytest.raises(CredentialError, match="the kubeconfig's certificates"):
        Credentials(mismatched).ssl_context()
