"""kubeconfig as kubectl reads it: which server, which namespace, how to sign in.

The plugin's own reader, so that installing it brings no `kubernetes` package (which
from version 36 requires aiohttp, and from 37 pydantic: the operator's weight). It
follows client-go's clientcmd rules:

- files: `--kubeconfig` alone, else every file of `$KUBECONFIG` merged (the first
  file to define a name, or `current-context`, wins), else `~/.kube/config`, else,
  inside a pod, the service account;
- relative paths are relative to the file that holds them; `*-data` wins over the
  file of the same thing;
- users: client certificates, `token`, `tokenFile` (read at each request), basic
  auth, exec credential plugins (`client.authentication.k8s.io/v1` and `v1beta1`,
  cached until they expire or the server answers 401), the `oidc` auth-provider's
  `id-token`, and impersonation (`as`, `as-groups`, `as-uid`, `as-user-extra`);
- clusters: `certificate-authority(-data)`, `insecure-skip-tls-verify`,
  `tls-server-name`, `proxy-url` (HTTP proxies).
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JSON = dict[str, Any]

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
EXEC_API_VERSIONS = (
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
)
#: The cluster extension handed to exec plugins as `spec.cluster.config`.
EXEC_EXTENSION = "client.authentication.k8s.io/exec"
#: A credential this close to its expiry is fetched again before use.
EXPIRY_MARGIN = datetime.timedelta(seconds=10)


class ConfigError(Exception):
    """No usable kubeconfig or in-cluster configuration."""


class CredentialError(Exception):
    """A credential could not be obtained when a request needed it (exec plugin)."""


@dataclass(frozen=True)
class ExecPlugin:
    """A `users[].user.exec` entry: a command that prints an ExecCredential."""

    api_version: str
    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    install_hint: str = ""
    interactive_mode: str = "IfAvailable"
    cluster_info: JSON | None = None  # given to the command when provideClusterInfo


@dataclass(frozen=True)
class Connection:
    """Where requests go and how they authenticate: one context of a kubeconfig."""

    server: str
    namespace: str = "default"
    context: str | None = None
    source: str = ""  # the kubeconfig's path(s), or "in-cluster", for messages
    ca_pem: str | None = None
    insecure: bool = False
    tls_server_name: str | None = None
    proxy_url: str | None = None
    client_cert_pem: tuple[str, str] | None = None  # certificate, key
    token: str | None = None
    token_file: Path | None = None
    basic: tuple[str, str] | None = None
    exec_plugin: ExecPlugin | None = None
    impersonate: tuple[tuple[str, str], ...] = ()  # header, value (repeatable)


# ----------------------------------------------------------------------- loading
def load(
    kubeconfig: str | None = None,
    context: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Connection:
    """The connection of `context` (default: the current one) as kubectl would use it."""
    env = os.environ if environ is None else environ
    if kubeconfig:
        path = Path(kubeconfig).expanduser()
        if not path.exists():
            raise ConfigError(f"the kubeconfig file {kubeconfig} does not exist")
        paths = [path]
    elif env.get("KUBECONFIG"):
        named = [Path(p).expanduser() for p in env["KUBECONFIG"].split(os.pathsep) if p]
        paths = [p for p in named if p.exists()]
        if not paths:
            raise ConfigError(f"none of the KUBECONFIG files exists: {env['KUBECONFIG']}")
    elif (default := Path(env.get("HOME", "~"), ".kube", "config").expanduser()).exists():
        paths = [default]
    elif env.get("KUBERNETES_SERVICE_HOST"):
        return in_cluster(env)
    else:
        raise ConfigError("no kubeconfig: set KUBECONFIG or --kubeconfig, or create ~/.kube/config")
    return from_files(paths, context)


def in_cluster(environ: Mapping[str, str], directory: Path = SERVICE_ACCOUNT) -> Connection:
    """The pod's service account, as client-go's rest.InClusterConfig reads it."""
    host, port = (
        environ.get("KUBERNETES_SERVICE_HOST", ""),
        environ.get("KUBERNETES_SERVICE_PORT", "443"),
    )
    token_file = directory / "token"
    if not host or not token_file.exists():
        raise ConfigError(
            f"no kubeconfig and no in-cluster configuration (KUBERNETES_SERVICE_HOST, {token_file})"
        )
    if ":" in host:
        host = f"[{host}]"
    ca = directory / "ca.crt"
    namespace_file = directory / "namespace"
    namespace = namespace_file.read_text().strip() if namespace_file.exists() else ""
    return Connection(
        server=f"https://{host}:{port}",
        namespace=namespace or "default",
        source="in-cluster",
        ca_pem=ca.read_text() if ca.exists() else None,
        token_file=token_file,
    )


@dataclass
class _Merged:
    """The merged files: each named entry with the directory its file is in."""

    clusters: dict[str, tuple[JSON, Path]] = field(default_factory=dict)
    users: dict[str, tuple[JSON, Path]] = field(default_factory=dict)
    contexts: dict[str, JSON] = field(default_factory=dict)
    current: str = ""


def from_files(paths: Sequence[Path], context: str | None = None) -> Connection:
    """The connection of `context` in the merge of `paths` (first definition wins)."""
    import yaml  # noqa: PLC0415 - not for `--help`

    merged = _Merged()
    for path in paths:
        try:
            document = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise ConfigError(f"cannot read the kubeconfig {path}: {error}") from None
        if not isinstance(document, dict):
            raise ConfigError(f"the kubeconfig {path} is not a mapping")
        base = path.resolve().parent
        for key, into in (("clusters", merged.clusters), ("users", merged.users)):
            for entry in _entries(document, key, path):
                into.setdefault(entry["name"], (entry.get(key[:-1]) or {}, base))
        for entry in _entries(document, "contexts", path):
            merged.contexts.setdefault(entry["name"], entry.get("context") or {})
        merged.current = merged.current or str(document.get("current-context") or "")
    source = os.pathsep.join(str(p) for p in paths)
    name = context or merged.current
    if not name:
        raise ConfigError(f"the kubeconfig {source} sets no current-context: use --context")
    if name not in merged.contexts:
        raise ConfigError(f'context "{name}" does not exist in the kubeconfig')
    chosen = merged.contexts[name]
    cluster_name, user_name = str(chosen.get("cluster") or ""), str(chosen.get("user") or "")
    if cluster_name not in merged.clusters:
        raise ConfigError(f'context "{name}" names cluster "{cluster_name}", which is not defined')
    cluster, cluster_dir = merged.clusters[cluster_name]
    user, user_dir = merged.users.get(user_name, ({}, Path()))
    server = str(cluster.get("server") or "").rstrip("/")
    if not server:
        raise ConfigError(f'cluster "{cluster_name}" has no server')
    return Connection(
        server=server,
        namespace=str(chosen.get("namespace") or "default"),
        context=name,
        source=source,
        ca_pem=_pem(cluster, "certificate-authority", cluster_dir),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        tls_server_name=cluster.get("tls-server-name") or None,
        proxy_url=cluster.get("proxy-url") or None,
        client_cert_pem=_client_cert(user, user_dir),
        token=_token(user),
        token_file=_path(user.get("tokenFile"), user_dir),
        basic=(str(user["username"]), str(user.get("password") or ""))
        if user.get("username")
        else None,
        exec_plugin=_exec(user.get("exec"), user_dir, cluster),
        impersonate=_impersonation(user),
    )


def _entries(document: JSON, key: str, path: Path) -> list[JSON]:
    entries = document.get(key) or []
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and e.get("name") for e in entries
    ):
        raise ConfigError(f"the kubeconfig {path}: `{key}` must be a list of named entries")
    return entries


def _path(value: Any, base: Path) -> Path | None:
    if not value:
        return None
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else base / path


def _pem(holder: JSON, key: str, base: Path) -> str | None:
    """`key-data` (base64 PEM) or the file `key` names, as PEM text."""
    if holder.get(f"{key}-data"):
        try:
            return base64.b64decode(str(holder[f"{key}-data"]), validate=True).decode()
        except ValueError:  # binascii.Error, UnicodeDecodeError
            raise ConfigError(f"{key}-data is not base64-encoded PEM") from None
    path = _path(holder.get(key), base)
    if path is None:
        return None
    try:
        return path.read_text()
    except OSError as error:
        raise ConfigError(f"cannot read {key} {path}: {error}") from None


def _client_cert(user: JSON, base: Path) -> tuple[str, str] | None:
    cert = _pem(user, "client-certificate", base)
    key = _pem(user, "client-key", base)
    if cert and key:
        return cert, key
    if cert or key:
        raise ConfigError("the kubeconfig user has a client certificate or key, not both")
    return None


def _token(user: JSON) -> str | None:
    if user.get("token"):
        return str(user["token"])
    provider = user.get("auth-provider")
    if not provider:
        return None
    name = str(provider.get("name") or "")
    config = provider.get("config") or {}
    if name == "oidc" and config.get("id-token"):
        return str(config["id-token"])
    raise ConfigError(
        f'the kubeconfig user\'s auth-provider "{name}" is not supported: use an exec '
        "credential plugin (kubectl removed the gcp and azure providers in 1.26)"
    )


def _exec(spec: Any, base: Path, cluster: JSON) -> ExecPlugin | None:
    if not spec:
        return None
    api_version = str(spec.get("apiVersion") or "")
    if api_version not in EXEC_API_VERSIONS:
        raise ConfigError(f"exec plugin apiVersion {api_version!r} is not supported")
    command = str(spec.get("command") or "")
    if not command:
        raise ConfigError("the exec plugin has no command")
    if os.sep in command and not Path(command).is_absolute():
        command = str(base / command)  # relative to the kubeconfig, as client-go does
    cluster_info = None
    if spec.get("provideClusterInfo"):
        cluster_info = {
            "server": cluster.get("server"),
            "tls-server-name": cluster.get("tls-server-name"),
            "insecure-skip-tls-verify": bool(cluster.get("insecure-skip-tls-verify")),
            "certificate-authority-data": cluster.get("certificate-authority-data"),
            "proxy-url": cluster.get("proxy-url"),
            "config": next(
                (
                    e.get("extension")
                    for e in cluster.get("extensions") or ()
                    if isinstance(e, dict) and e.get("name") == EXEC_EXTENSION
                ),
                None,
            ),
        }
        cluster_info = {k: v for k, v in cluster_info.items() if v not in (None, "", False)}
    return ExecPlugin(
        api_version=api_version,
        command=command,
        args=tuple(str(a) for a in spec.get("args") or ()),
        env=tuple((str(e["name"]), str(e.get("value", ""))) for e in spec.get("env") or ()),
        install_hint=str(spec.get("installHint") or ""),
        interactive_mode=str(spec.get("interactiveMode") or "IfAvailable"),
        cluster_info=cluster_info,
    )


def _impersonation(user: JSON) -> tuple[tuple[str, str], ...]:
    headers: list[tuple[str, str]] = []
    if user.get("as"):
        headers.append(("Impersonate-User", str(user["as"])))
    headers += [("Impersonate-Group", str(g)) for g in user.get("as-groups") or ()]
    if user.get("as-uid"):
        headers.append(("Impersonate-Uid", str(user["as-uid"])))
    for key, values in (user.get("as-user-extra") or {}).items():
        headers += [(f"Impersonate-Extra-{key}", str(v)) for v in values or ()]
    return tuple(headers)


# ----------------------------------------------------------------- credentials
@dataclass(frozen=True)
class ExecCredential:
    """What an exec plugin printed: a token or a client certificate, maybe expiring."""

    token: str | None
    client_cert_pem: tuple[str, str] | None
    expires: datetime.datetime | None

    def fresh(self, now: datetime.datetime) -> bool:
        """Still usable at `now`."""
        return self.expires is None or now + EXPIRY_MARGIN < self.expires


def run_exec_plugin(plugin: ExecPlugin, environ: Mapping[str, str] | None = None) -> ExecCredential:
    """Run the plugin and read its ExecCredential (stderr, e.g. a login prompt, goes
    to the user; stdin only when the plugin may be interactive and there is a terminal)."""
    interactive = plugin.interactive_mode != "Never" and sys.stdin.isatty()
    if plugin.interactive_mode == "Always" and not interactive:
        raise CredentialError(f"the exec plugin {plugin.command} needs a terminal")
    spec: JSON = {"interactive": interactive}
    if plugin.cluster_info is not None:
        spec["cluster"] = plugin.cluster_info
    env = dict(os.environ if environ is None else environ)
    env.update(plugin.env)
    env["KUBERNETES_EXEC_INFO"] = json.dumps(
        {"apiVersion": plugin.api_version, "kind": "ExecCredential", "spec": spec}
    )
    try:
        result = subprocess.run(
            [plugin.command, *plugin.args],
            stdout=subprocess.PIPE,
            stdin=None if interactive else subprocess.DEVNULL,
            env=env,
            check=False,
        )
    except OSError as error:
        hint = f"\n{plugin.install_hint}" if plugin.install_hint else ""
        message = f"cannot run the exec plugin {plugin.command}: {error}{hint}"
        raise CredentialError(message) from None
    if result.returncode != 0:
        raise CredentialError(f"the exec plugin {plugin.command} exited with {result.returncode}")
    try:
        credential = json.loads(result.stdout)
        status = credential["status"]
    except (ValueError, KeyError, TypeError):
        raise CredentialError(
            f"the exec plugin {plugin.command} printed no ExecCredential with a status"
        ) from None
    if credential.get("apiVersion") != plugin.api_version:
        raise CredentialError(
            f"the exec plugin {plugin.command} answered {credential.get('apiVersion')!r}, "
            f"not {plugin.api_version!r}"
        )
    cert, key = status.get("clientCertificateData"), status.get("clientKeyData")
    if not status.get("token") and not (cert and key):
        raise CredentialError(f"the exec plugin {plugin.command} gave no token or certificate")
    expires = None
    if status.get("expirationTimestamp"):
        expires = datetime.datetime.fromisoformat(
            str(status["expirationTimestamp"]).replace("Z", "+00:00")
        )
    return ExecCredential(
        token=status.get("token") or None,
        client_cert_pem=(str(cert), str(key)) if cert and key else None,
        expires=expires,
    )


class Credentials:
    """The headers and TLS settings of a connection's requests, kept current: exec
    credentials are fetched again when they expire or after `invalidate()` (a 401)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._lock = threading.Lock()
        self._exec: ExecCredential | None = None
        self.generation = 0  # changes when the TLS client certificate changes

    @property
    def refreshable(self) -> bool:
        """A 401 may be cured by fetching the credential again."""
        return self.connection.exec_plugin is not None

    def invalidate(self) -> None:
        """Forget the exec plugin's credential (the server refused it)."""
        with self._lock:
            self._exec = None

    def _exec_credential(self) -> ExecCredential | None:
        plugin = self.connection.exec_plugin
        if plugin is None:
            return None
        with self._lock:
            now = datetime.datetime.now(datetime.UTC)
            if self._exec is None or not self._exec.fresh(now):
                previous = self._exec.client_cert_pem if self._exec else None
                self._exec = run_exec_plugin(plugin)
                if self._exec.client_cert_pem != previous:
                    self.generation += 1
            return self._exec

    def headers(self) -> list[tuple[str, str]]:
        """Authorization and impersonation headers for the next request."""
        connection = self.connection
        headers = list(connection.impersonate)
        token = connection.token
        credential = self._exec_credential()
        if credential is not None and credential.token:
            token = credential.token
        if token is None and connection.token_file is not None:
            try:  # read at each request: the kubelet rotates bound tokens
                token = connection.token_file.read_text().strip() or None
            except OSError as error:
                raise CredentialError(f"cannot read tokenFile: {error}") from None
        if token:
            headers.append(("Authorization", f"Bearer {token}"))
        elif connection.basic is not None:
            pair = ":".join(connection.basic).encode()
            headers.append(("Authorization", "Basic " + base64.b64encode(pair).decode()))
        return headers

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context: the cluster's CA (else the system's), or no verification
        when the kubeconfig asks for it; the client certificate, if any."""
        connection = self.connection
        credential = self._exec_credential()
        pair = connection.client_cert_pem
        if credential is not None and credential.client_cert_pem:
            pair = credential.client_cert_pem
        try:
            context = ssl.create_default_context()
            if connection.insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            elif connection.ca_pem:
                context = ssl.create_default_context(cadata=connection.ca_pem)
            if pair is not None:
                # The ssl module loads certificates from files only: a private
                # directory, removed as soon as they are loaded.
                with tempfile.TemporaryDirectory(prefix="kubectl-jobwarden-") as scratch:
                    cert, key = Path(scratch, "client.crt"), Path(scratch, "client.key")
                    for target, text in ((cert, pair[0]), (key, pair[1])):
                        target.touch(mode=0o600)
                        target.write_text(text)
                    context.load_cert_chain(cert, key)
        except ssl.SSLError as error:
            raise CredentialError(
                f"the kubeconfig's certificates ({connection.source}): {error}"
            ) from None
        return context
